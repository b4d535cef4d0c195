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
  type BacklogRun,
  type LatencyRun,
  type LiveRun,
  type RecvlogicalBaseline,
  runBacklog,
  type RunContext,
  runHuge,
  runLatency,
  runLive,
  runProfiled,
} from "./bench/runs.ts";
import { runSources } from "./bench/sources.ts";
import { ensureStack } from "./bench/stack.ts";
import { median, medianBy, ratio } from "./bench/stats.ts";

const EXIT_USAGE = 2;
const PROFILE_TOP = 25;
const REPO_ROOT = new URL("../", import.meta.url).pathname;

const progress = (line: string) => console.error(`bench: ${line}`);

/** What one repetition of the stack runs measured. */
interface Repetition {
  recvlogical: RecvlogicalBaseline | null;
  backlog: BacklogRun | null;
  live: LiveRun | null;
  latency: LatencyRun | null;
  huge: BacklogRun | null;
}

async function runRepetition(context: RunContext): Promise<Repetition> {
  const has = (part: string) => (context.options.only as readonly string[]).includes(part);
  const repetition: Repetition = {
    recvlogical: null,
    backlog: null,
    live: null,
    latency: null,
    huge: null,
  };
  if (has("backlog") || has("recvlogical")) {
    const session = await runBacklog(context, {
      connector: has("backlog"),
      recvlogical: has("recvlogical"),
    }, progress);
    repetition.backlog = session.backlog;
    repetition.recvlogical = session.recvlogical;
  }
  if (has("live")) repetition.live = await runLive(context, progress);
  if (has("latency")) repetition.latency = await runLatency(context, progress);
  if (has("huge")) repetition.huge = await runHuge(context, progress);
  return repetition;
}

function present<T>(values: readonly (T | null)[]): T[] {
  return values.filter((value): value is T => value !== null);
}

/** The median run of each part, and the median of the per-repetition ratios. */
function aggregate(report: BenchReport, repetitions: readonly Repetition[]): void {
  const rate = <T extends { changesPerSecond: number }>(run: T) => run.changesPerSecond;
  const pick = <T>(runs: T[], key: (run: T) => number): T | undefined =>
    runs.length > 0 ? medianBy(runs, key) : undefined;
  report.recvlogical = pick(
    present(repetitions.map((r) => r.recvlogical)),
    rate<RecvlogicalBaseline>,
  );
  report.backlog = pick(present(repetitions.map((r) => r.backlog)), rate<BacklogRun>);
  report.live = pick(present(repetitions.map((r) => r.live)), rate<LiveRun>);
  report.latency = pick(present(repetitions.map((r) => r.latency)), (run) => run.latencyMs.p99);
  report.huge = pick(present(repetitions.map((r) => r.huge)), rate<BacklogRun>);
  // A ratio is taken within one repetition: both readers on the same WAL, at the same time.
  const ratios = (key: "changesPerSecond" | "streamingChangesPerSecond") =>
    present(
      repetitions.map((r) =>
        r.backlog ? ratio(r.backlog[key], r.recvlogical?.changesPerSecond) : null
      ),
    );
  const backlogRatios = ratios("changesPerSecond");
  const streamingRatios = ratios("streamingChangesPerSecond");
  report.backlogToRecvlogical = backlogRatios.length > 0 ? median(backlogRatios) : null;
  report.streamingToRecvlogical = streamingRatios.length > 0 ? median(streamingRatios) : null;
  report.repetitions = repetitions.map((r) => ({
    recvlogical: r.recvlogical?.changesPerSecond ?? null,
    backlog: r.backlog?.changesPerSecond ?? null,
    backlogToRecvlogical: r.backlog
      ? ratio(r.backlog.changesPerSecond, r.recvlogical?.changesPerSecond)
      : null,
    live: r.live?.changesPerSecond ?? null,
    latencyP99Ms: r.latency?.latencyMs.p99 ?? null,
    huge: r.huge?.changesPerSecond ?? null,
    peakRssBytes: Math.max(
      0,
      ...present([r.backlog, r.live, r.latency, r.huge]).map((run) =>
        run.connector?.peakRssBytes ?? 0
      ),
    ),
  }));
}

async function runStackParts(report: BenchReport, context: RunContext): Promise<void> {
  const repetitions: Repetition[] = [];
  const runsOnStack = context.options.only.some((part) => part !== "filter" && part !== "sources");
  for (let n = 1; runsOnStack && n <= context.options.repeat; n++) {
    progress(`repetition ${n} of ${context.options.repeat}`);
    repetitions.push(await runRepetition(context));
  }
  if (repetitions.length > 0) aggregate(report, repetitions);
  // Once, not per repetition: it creates a database per source.
  if (context.options.only.includes("sources")) {
    report.sources = await runSources(context, progress);
  }
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
