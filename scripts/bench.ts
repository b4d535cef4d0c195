/**
 * `deno task bench`: pg2kafka's benchmarks on the local stack. Reports
 * rates, ratios, medians and percentiles as Markdown tables and JSON; never
 * pass/fail on a time. `--help` lists the flags; docs/benchmarks.md explains
 * the runs and how to read them.
 *
 * @module
 */
import { benchFilter } from "./bench_filter.ts";
import { benchKafka } from "./bench/kafka.ts";
import {
  BENCH_USAGE,
  type BenchOptions,
  BenchUsageError,
  parseBenchArgs,
} from "./bench/options.ts";
import { benchSql, serverMajorVersion, serverVersion } from "./bench/postgres.ts";
import { summarizeProfile } from "./bench/profile.ts";
import { type BenchReport, loadAverage, machineInfo, renderReport } from "./bench/report.ts";
import {
  runBacklog,
  type RunContext,
  runHuge,
  runLatency,
  runLive,
  runProfiled,
} from "./bench/runs.ts";
import { ensureStack } from "./bench/stack.ts";
import { ratio } from "./bench/stats.ts";

const EXIT_USAGE = 2;
const PROFILE_TOP = 25;
const REPO_ROOT = new URL("../", import.meta.url).pathname;

const progress = (line: string) => console.error(`bench: ${line}`);

async function runStackParts(report: BenchReport, context: RunContext): Promise<void> {
  const { only } = context.options;
  const has = (part: string) => (only as readonly string[]).includes(part);
  if (has("backlog") || has("recvlogical")) {
    const session = await runBacklog(context, {
      connector: has("backlog"),
      recvlogical: has("recvlogical"),
    }, progress);
    report.backlog = session.backlog;
    report.recvlogical = session.recvlogical;
    const baseline = session.recvlogical?.changesPerSecond;
    if (session.backlog) {
      report.backlogToRecvlogical = ratio(session.backlog.changesPerSecond, baseline);
      report.streamingToRecvlogical = ratio(session.backlog.streamingChangesPerSecond, baseline);
    }
  }
  if (has("live")) report.live = await runLive(context, progress);
  if (has("latency")) report.latency = await runLatency(context, progress);
  if (has("huge")) report.huge = await runHuge(context, progress);
  if (context.options.profile !== null) {
    const written = await runProfiled(context, progress);
    await Deno.copyFile(written, context.options.profile);
    const profile = JSON.parse(await Deno.readTextFile(written));
    report.profile = {
      file: context.options.profile,
      ...summarizeProfile(profile, REPO_ROOT, PROFILE_TOP),
    };
  }
}

function needsStack(options: BenchOptions): boolean {
  return options.only.some((part) => part !== "filter") || options.profile !== null;
}

async function bench(options: BenchOptions): Promise<BenchReport> {
  const startedAt = new Date().toISOString();
  const loadAtStart = await loadAverage();
  const report: BenchReport = {
    startedAt,
    machine: await machineInfo("(not used)", loadAtStart),
    options,
  };
  if (options.only.includes("filter")) {
    progress("filter micro-benchmark");
    report.filter = await benchFilter();
  }
  if (!needsStack(options)) return report;
  const stack = await ensureStack();
  const sql = benchSql(stack);
  const kafka = benchKafka(stack.kafkaBroker);
  const admin = kafka.admin();
  await admin.connect();
  try {
    report.machine = await machineInfo(await serverVersion(sql), loadAtStart);
    const serverMajor = await serverMajorVersion(sql);
    await runStackParts(report, { stack, sql, kafka, admin, options, serverMajor });
  } finally {
    await admin.disconnect();
    await sql.end({ timeout: 1 });
  }
  return report;
}

if (import.meta.main) {
  let options: BenchOptions;
  try {
    options = parseBenchArgs(Deno.args);
  } catch (error) {
    if (!(error instanceof BenchUsageError)) throw error;
    console.error(`${error.message}\n\n${BENCH_USAGE}`);
    Deno.exit(EXIT_USAGE);
  }
  if (options.help) {
    console.log(BENCH_USAGE);
    Deno.exit(0);
  }
  const report = await bench(options);
  report.machine.loadAtEnd = await loadAverage();
  console.log(renderReport(report));
  const json = JSON.stringify(report, null, 2);
  console.log(`\n${json}`);
  if (options.json !== null) await Deno.writeTextFile(options.json, `${json}\n`);
}
