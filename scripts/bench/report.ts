/**
 * The bench's report: the machine it ran on, and the results as Markdown
 * tables (ready for docs/benchmarks.md) and as JSON.
 *
 * @module
 */
import type { FilterBenchResult } from "../bench_filter.ts";
import type { BenchOptions } from "./options.ts";
import type { ProfileSummary } from "./profile.ts";
import type { ProcessUsage } from "./proc.ts";
import type { BacklogRun, LatencyRun, LiveRun, RecvlogicalBaseline } from "./runs.ts";
import type { SourcesRun } from "./sources.ts";
import { ratio } from "./stats.ts";

const BYTES_PER_MIB = 1_048_576;
const KIB_PER_GIB = 1_048_576;
const MS_PER_SECOND = 1_000;
const MICROS_PER_SECOND = 1_000_000;
const KAFKA_POM = new URL("../kafka/pom.xml", import.meta.url);

/** Where the bench ran. */
export interface MachineInfo {
  readonly cpus: number;
  readonly cpuModel: string;
  readonly memoryGiB: number;
  readonly kernel: string;
  /** 1-, 5- and 15-minute load averages when the bench started and ended. */
  readonly loadAtStart: readonly number[];
  loadAtEnd?: readonly number[];
  readonly deno: string;
  readonly v8: string;
  readonly postgres: string;
  readonly kafka: string;
}

/** Key figures of one repetition (changes/s unless named otherwise). */
export interface RepetitionSummary {
  readonly recvlogical: number | null;
  readonly backlog: number | null;
  readonly backlogToRecvlogical: number | null;
  readonly live: number | null;
  readonly latencyP99Ms: number | null;
  readonly huge: number | null;
  /** The highest peak RSS of the connector over the repetition's runs. */
  readonly peakRssBytes: number;
}

/** Everything one bench session measured. */
export interface BenchReport {
  readonly startedAt: string;
  machine: MachineInfo;
  readonly options: BenchOptions;
  filter?: readonly FilterBenchResult[];
  recvlogical?: RecvlogicalBaseline;
  backlog?: BacklogRun;
  live?: LiveRun;
  latency?: LatencyRun;
  huge?: BacklogRun;
  /** The many-sources runs, one per source count. */
  sources?: readonly SourcesRun[];
  profile?: ProfileSummary & { readonly file: string };
  /** Connector backlog rate divided by pg_recvlogical's on the same WAL. */
  backlogToRecvlogical?: number | null;
  /** The same, with the connector's clock started when its slot became active. */
  streamingToRecvlogical?: number | null;
  /** The key figures of every repetition, to show the spread behind the medians. */
  repetitions?: readonly RepetitionSummary[];
}

/** The 1-, 5- and 15-minute load averages now (from /proc/loadavg). */
export async function loadAverage(): Promise<number[]> {
  const text = await Deno.readTextFile("/proc/loadavg").catch(() => "");
  const LOAD_FIELDS = 3;
  return text.split(" ").slice(0, LOAD_FIELDS).map(Number);
}

async function firstMatch(path: string | URL, pattern: RegExp): Promise<string | null> {
  const text = await Deno.readTextFile(path).catch(() => "");
  return pattern.exec(text)?.[1]?.trim() ?? null;
}

/** Describes this machine and the versions of what the bench runs on. */
export async function machineInfo(
  postgresVersion: string,
  loadAtStart: readonly number[],
): Promise<MachineInfo> {
  const memKib = Number(await firstMatch("/proc/meminfo", /^MemTotal:\s+(\d+) kB/m) ?? 0);
  return {
    cpus: navigator.hardwareConcurrency,
    cpuModel: await firstMatch("/proc/cpuinfo", /^model name\s*:(.*)$/m) ?? "unknown",
    memoryGiB: Math.round((memKib / KIB_PER_GIB) * 10) / 10,
    kernel: Deno.osRelease(),
    loadAtStart,
    deno: Deno.version.deno,
    v8: Deno.version.v8,
    postgres: postgresVersion,
    kafka: await firstMatch(KAFKA_POM, /<kafka\.version>([^<]+)</) ?? "unknown",
  };
}

/**
 * A Markdown table with columns padded to line up.
 *
 * @example
 * ```ts
 * markdownTable(["a", "b"], [["1", "22"]]);
 * // "| a | b  |\n| - | -- |\n| 1 | 22 |"
 * ```
 */
export function markdownTable(headers: readonly string[], rows: readonly string[][]): string {
  const widths = headers.map((header, column) =>
    Math.max(header.length, ...rows.map((row) => (row[column] ?? "").length))
  );
  const line = (cells: readonly string[]) =>
    `| ${widths.map((width, column) => (cells[column] ?? "").padEnd(width)).join(" | ")} |`;
  const rule = `| ${widths.map((width) => "-".repeat(width)).join(" | ")} |`;
  return [line(headers), rule, ...rows.map(line)].join("\n");
}

/** A whole number with thousands separators, or "–" for none. */
export function formatCount(value: number | null | undefined): string {
  return value === null || value === undefined ? "–" : Math.round(value).toLocaleString("en-US");
}

function formatSeconds(ms: number | null | undefined): string {
  return ms === null || ms === undefined ? "–" : (ms / MS_PER_SECOND).toFixed(2);
}

function formatRatio(value: number | null | undefined): string {
  return value === null || value === undefined ? "–" : value.toFixed(2);
}

function formatMiB(usage: ProcessUsage | null | undefined): string {
  return usage ? (usage.peakRssBytes / BYTES_PER_MIB).toFixed(0) : "–";
}

function formatCpu(usage: ProcessUsage | null | undefined): string {
  return usage ? usage.cpuSeconds.toFixed(2) : "–";
}

function cpuMicrosPerChange(usage: ProcessUsage | null | undefined, changes: number): string {
  return usage && changes > 0 ? ((usage.cpuSeconds * MICROS_PER_SECOND) / changes).toFixed(1) : "–";
}

function throughputRows(report: BenchReport): string[][] {
  const rows: string[][] = [];
  const baseline = report.recvlogical?.changesPerSecond;
  const add = (
    name: string,
    run: BacklogRun | LiveRun | LatencyRun | null | undefined,
    backlogLike = false,
  ) => {
    if (!run) return;
    rows.push([
      name,
      formatCount(run.changes),
      formatSeconds(run.elapsedMs),
      formatCount(run.changesPerSecond),
      backlogLike ? formatCount(run.streamingChangesPerSecond) : "–",
      name === "backlog"
        ? formatRatio(report.backlogToRecvlogical ?? ratio(run.changesPerSecond, baseline))
        : "–",
      formatMiB(run.connector),
      formatCpu(run.connector),
      cpuMicrosPerChange(run.connector, run.changes),
      formatCpu(run.walsender),
    ]);
  };
  if (report.recvlogical) {
    const r = report.recvlogical;
    rows.push([
      "pg_recvlogical",
      formatCount(r.changes),
      formatSeconds(r.elapsedMs),
      formatCount(r.changesPerSecond),
      "–",
      "1.00",
      "–",
      "–",
      "–",
      formatCpu(r.walsender),
    ]);
  }
  add("backlog", report.backlog, true);
  add("live", report.live);
  add("latency", report.latency);
  add("huge (1 tx)", report.huge, true);
  return rows;
}

/** The report as Markdown: machine, throughput, latency, filter, profile. */
export function renderReport(report: BenchReport): string {
  const m = report.machine;
  const o = report.options;
  const sections = [
    `Machine: ${m.cpus} CPU (${m.cpuModel}), ${m.memoryGiB} GiB, Linux ${m.kernel}; ` +
    `Deno ${m.deno} (V8 ${m.v8}), PostgreSQL ${m.postgres}, Kafka ${m.kafka}; ` +
    `load ${m.loadAtStart.join(" ")} at start, ${m.loadAtEnd?.join(" ") ?? "?"} at end`,
    `Workload: ${formatCount(o.rows)} changes, payload ${o.width} chars, ${o.txSize} changes/tx, ` +
    `mix ${o.mix.insert}/${o.mix.update}/${o.mix.delete} insert/update/delete`,
  ];
  if (o.columnRules) {
    sections.push("Column rules: the bench target hashes status, masks amount, truncates payload");
  }
  if (o.set.length > 0) {
    const settings = o.set.map((s) => `${s.table}.${s.key} = ${s.value}`).join(", ");
    sections.push(`Connector settings changed from the defaults: ${settings}`);
  }
  const rows = throughputRows(report);
  if (rows.length > 0) {
    sections.push(markdownTable([
      "run",
      "changes",
      "seconds",
      "changes/s",
      "changes/s streaming",
      "÷ pg_recvlogical",
      "peak RSS MiB",
      "CPU s",
      "CPU µs/change",
      "walsender CPU s",
    ], rows));
  }
  if (report.repetitions && report.repetitions.length > 1) {
    sections.push(repetitionSection(report.repetitions));
  }
  if (report.live) {
    sections.push(
      `Live: the writer committed ${formatCount(report.live.writerChangesPerSecond)} changes/s; ` +
        `the last message was appended ${
          formatCount(report.live.tailMs)
        } ms after the last commit.`,
    );
  }
  if (report.latency) sections.push(latencySection(report.latency));
  if (report.filter) {
    sections.push(markdownTable(
      ["filter case", "evaluations/s"],
      report.filter.map((r) => [r.name, formatCount(r.evaluationsPerSecond)]),
    ));
  }
  if (report.sources) sections.push(sourcesSection(report.sources));
  if (report.profile) sections.push(profileSection(report.profile));
  return sections.join("\n\n");
}

/**
 * The many-sources runs: start-up, memory and the connections held on the
 * server by purpose (the columns are the purposes any run saw).
 */
export function sourcesSection(runs: readonly SourcesRun[]): string {
  const purposes = [...new Set(runs.flatMap((run) => Object.keys(run.held)))].sort();
  const rows = runs.map((run) => {
    const held = purposes.map((purpose) => formatCount(run.held[purpose] ?? 0));
    const total = Object.values(run.held).reduce((sum, count) => sum + count, 0);
    return [
      formatCount(run.sources),
      formatSeconds(run.startToStreamingMs),
      run.peakRssBytes === null ? "–" : (run.peakRssBytes / BYTES_PER_MIB).toFixed(0),
      run.cpuSeconds === null ? "–" : run.cpuSeconds.toFixed(1),
      ...held,
      formatCount(total),
      formatCount(run.peakConnections),
      formatCount(run.deliveryMs),
    ];
  });
  return "Many sources, one database each (connections held once all stream, by purpose):\n\n" +
    markdownTable([
      "sources",
      "s to all streaming",
      "peak RSS MiB",
      "CPU s",
      ...purposes.map((purpose) => `${purpose} conns`),
      "conns held",
      "most conns at start",
      "ms: 1 change/db delivered",
    ], rows);
}

function repetitionSection(repetitions: readonly RepetitionSummary[]): string {
  const rows = repetitions.map((r, index) => [
    String(index + 1),
    formatCount(r.recvlogical),
    formatCount(r.backlog),
    formatRatio(r.backlogToRecvlogical),
    formatCount(r.live),
    r.latencyP99Ms === null ? "–" : r.latencyP99Ms.toFixed(1),
    formatCount(r.huge),
    r.peakRssBytes > 0 ? (r.peakRssBytes / BYTES_PER_MIB).toFixed(0) : "–",
  ]);
  return `Each repetition (the table above shows the median run of each part):\n\n` +
    markdownTable([
      "#",
      "pg_recvlogical/s",
      "backlog/s",
      "÷",
      "live/s",
      "latency p99 ms",
      "huge/s",
      "peak RSS MiB",
    ], rows);
}

function latencySection(run: LatencyRun): string {
  const l = run.latencyMs;
  return `Latency, commit → broker append, at ${formatCount(run.offeredPerSecond)} changes/s ` +
    `offered (${formatCount(run.committedPerSecond)} committed), ` +
    `first ${run.warmupSeconds} s left out:\n\n` +
    markdownTable(["changes measured", "p50 ms", "p99 ms", "max ms"], [[
      formatCount(l.count),
      l.p50.toFixed(1),
      l.p99.toFixed(1),
      l.max.toFixed(1),
    ]]);
}

function profileSection(profile: ProfileSummary & { readonly file: string }): string {
  const rows = (entries: ProfileSummary["functions"]) =>
    entries.map((e) => [e.name, e.selfMs.toFixed(0), e.percent.toFixed(1)]);
  return `CPU profile of the connector on a backlog (${profile.file}), ` +
    `${(profile.busyMs / MS_PER_SECOND).toFixed(1)} s busy:\n\n` +
    markdownTable(["function (self time)", "ms", "%"], rows(profile.functions)) + "\n\n" +
    markdownTable(["file (self time)", "ms", "%"], rows(profile.files));
}
