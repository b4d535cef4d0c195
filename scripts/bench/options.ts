/**
 * The command line of `deno task bench`: the workload's shape, which parts
 * run, and where the JSON report goes. Every flag has a default, so a bare
 * `deno task bench` is the reference run quoted in docs/benchmarks.md.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { type ConfigOverride, parseOverride } from "./config.ts";

/** The parts of the benchmark, in the order they run. */
export const BENCH_PARTS = [
  "filter",
  "recvlogical",
  "backlog",
  "live",
  "latency",
  "huge",
  "sources",
] as const;

/** Parts left out unless `--only` names them: they take long or need a roomy stack. */
const HEAVY_PARTS: readonly BenchPart[] = ["huge", "sources"];

/** One part of the benchmark. */
export type BenchPart = typeof BENCH_PARTS[number];

/** Share of inserts, updates and deletes in the workload, in percent (sum 100). */
export interface OperationMix {
  readonly insert: number;
  readonly update: number;
  readonly delete: number;
}

/** Everything a bench run is told on its command line. */
export interface BenchOptions {
  /** Row changes written for each throughput run (backlog, live, pg_recvlogical). */
  readonly rows: number;
  /** Characters of the `payload` text column of each row. */
  readonly width: number;
  /** Row changes per transaction. */
  readonly txSize: number;
  /** Operations of the workload. */
  readonly mix: OperationMix;
  /** Offered rate of the latency run, in changes per second. */
  readonly rate: number;
  /** How long the latency run offers its rate, in seconds. */
  readonly duration: number;
  /** Seconds at the start of the latency run left out of its percentiles (JIT, metadata). */
  readonly warmup: number;
  /** Rows of the single transaction of the `huge` part. */
  readonly hugeRows: number;
  /** Source counts of the `sources` part, one database each, one run per count. */
  readonly sources: readonly number[];
  /** How many times each run on the stack repeats; the report gives the median run. */
  readonly repeat: number;
  /** The parts to run. */
  readonly only: readonly BenchPart[];
  /** Where to write the JSON report, or null for stdout only. */
  readonly json: string | null;
  /** Where to write a V8 CPU profile of the connector's backlog run, or null for none. */
  readonly profile: string | null;
  /** The connector's entry module (`main.ts`), to compare a patched build against it. */
  readonly entry: string;
  /** Settings of the connector's config changed from pg2kafka's defaults. */
  readonly set: readonly ConfigOverride[];
  /** Give the bench target three column rules (hash, mask, truncate) to measure their cost. */
  readonly columnRules: boolean;
  /** Print usage and exit. */
  readonly help: boolean;
}

/** The defaults: the reference workload of docs/benchmarks.md. */
export const DEFAULT_OPTIONS: BenchOptions = {
  rows: 100_000,
  width: 100,
  txSize: 10,
  mix: { insert: 60, update: 30, delete: 10 },
  rate: 5_000,
  duration: 20,
  warmup: 2,
  hugeRows: 1_000_000,
  sources: [1, 20, 100],
  repeat: 3,
  only: BENCH_PARTS.filter((part) => !HEAVY_PARTS.includes(part)),
  json: null,
  profile: null,
  entry: new URL("../../main.ts", import.meta.url).pathname,
  set: [],
  columnRules: false,
  help: false,
};

/** The usage text of `deno task bench --help`. */
export const BENCH_USAGE = `deno task bench [options]

Runs pg2kafka's benchmarks on the local stack (scripts/stack.sh up, with the
PG2KAFKA_* stack variables of the environment) and prints a table and JSON.

  --rows N          row changes of each throughput run (default ${DEFAULT_OPTIONS.rows})
  --width N         characters of each row's payload column (default ${DEFAULT_OPTIONS.width})
  --tx-size N       row changes per transaction (default ${DEFAULT_OPTIONS.txSize})
  --mix I,U,D       percent of inserts, updates, deletes (default 60,30,10)
  --rate N          offered changes/s of the latency run (default ${DEFAULT_OPTIONS.rate})
  --duration S      seconds the latency run offers its rate (default ${DEFAULT_OPTIONS.duration})
  --warmup S        first seconds of the latency run left out of its percentiles (default ${DEFAULT_OPTIONS.warmup})
  --huge-rows N     rows of the one-transaction run "huge" (default ${DEFAULT_OPTIONS.hugeRows})
  --sources N,M     source counts of the many-sources run "sources", one database each
                    (default ${DEFAULT_OPTIONS.sources.join(",")})
  --repeat N        runs of each part on the stack; the median run is reported (default ${DEFAULT_OPTIONS.repeat})
  --only A,B        parts to run, of ${BENCH_PARTS.join(",")}
                    (default: all but huge and sources)
  --json FILE       also write the JSON report to FILE
  --profile FILE    also profile a backlog run of the connector (V8 CPU profile to FILE)
  --entry FILE      the connector's entry module (default main.ts), to compare a change
  --set T.K=V       change a setting of the connector's config, e.g. --set kafka.linger=0ms
                    or --set limits.max_inflight_messages=5000 (repeatable)
  --column-rules    give the bench target three column rules (hash status, mask amount,
                    truncate payload) to measure their cost per change
  -h, --help        print this help
`;

/** A command line the bench cannot run. */
export class BenchUsageError extends Error {
  /** Creates the error with a message naming the flag at fault. */
  constructor(message: string) {
    super(message);
    this.name = "BenchUsageError";
  }
}

const PERCENT_TOTAL = 100;

const FLAGS = {
  rows: { type: "string" },
  width: { type: "string" },
  "tx-size": { type: "string" },
  mix: { type: "string" },
  rate: { type: "string" },
  duration: { type: "string" },
  warmup: { type: "string" },
  "huge-rows": { type: "string" },
  sources: { type: "string" },
  repeat: { type: "string" },
  only: { type: "string" },
  json: { type: "string" },
  profile: { type: "string" },
  entry: { type: "string" },
  set: { type: "string", multiple: true },
  "column-rules": { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

/**
 * Parses the bench's command line, applying defaults.
 *
 * @throws {BenchUsageError} for an unknown flag or a value out of range.
 * @example
 * ```ts
 * parseBenchArgs(["--rows", "5000", "--only", "backlog,recvlogical"]).rows; // 5000
 * ```
 */
export function parseBenchArgs(args: readonly string[]): BenchOptions {
  let values;
  try {
    ({ values } = parseArgs({ args: [...args], options: FLAGS, strict: true }));
  } catch (error) {
    throw new BenchUsageError(`Bench command line: ${(error as Error).message}`);
  }
  const d = DEFAULT_OPTIONS;
  return {
    rows: positiveInteger("--rows", values.rows, d.rows),
    width: positiveInteger("--width", values.width, d.width),
    txSize: positiveInteger("--tx-size", values["tx-size"], d.txSize),
    mix: values.mix === undefined ? d.mix : parseMix(values.mix),
    rate: positiveInteger("--rate", values.rate, d.rate),
    duration: positiveInteger("--duration", values.duration, d.duration),
    warmup: nonNegativeInteger("--warmup", values.warmup, d.warmup),
    hugeRows: positiveInteger("--huge-rows", values["huge-rows"], d.hugeRows),
    sources: values.sources === undefined ? d.sources : parseCounts("--sources", values.sources),
    repeat: positiveInteger("--repeat", values.repeat, d.repeat),
    only: values.only === undefined ? d.only : parseParts(values.only),
    json: values.json ?? null,
    profile: values.profile ?? null,
    entry: values.entry ?? d.entry,
    set: (values.set ?? []).map(override),
    columnRules: values["column-rules"] ?? false,
    help: values.help ?? false,
  };
}

/**
 * Parses `--mix I,U,D`: whole percentages of inserts, updates and deletes
 * summing to 100.
 *
 * @throws {BenchUsageError} when there are not three whole numbers summing to 100.
 * @example
 * ```ts
 * parseMix("80,15,5"); // { insert: 80, update: 15, delete: 5 }
 * ```
 */
export function parseMix(text: string): OperationMix {
  const parts = text.split(",").map((part) => part.trim());
  const numbers = parts.map(Number);
  const valid = parts.length === 3 &&
    numbers.every((n, i) => parts[i] !== "" && Number.isInteger(n) && n >= 0);
  if (!valid || numbers[0] + numbers[1] + numbers[2] !== PERCENT_TOTAL) {
    throw new BenchUsageError(
      `--mix "${text}" is not three whole percentages of inserts, updates and deletes ` +
        "summing to 100, e.g. 60,30,10",
    );
  }
  return { insert: numbers[0], update: numbers[1], delete: numbers[2] };
}

/**
 * Parses `--only A,B`: a comma-separated list of {@linkcode BENCH_PARTS},
 * returned in the order they run, without duplicates.
 *
 * @throws {BenchUsageError} for an unknown part or an empty list.
 */
export function parseParts(text: string): BenchPart[] {
  const named = text.split(",").map((part) => part.trim()).filter((part) => part !== "");
  const unknown = named.filter((part) => !(BENCH_PARTS as readonly string[]).includes(part));
  if (unknown.length > 0 || named.length === 0) {
    throw new BenchUsageError(
      `--only "${text}" names no part or an unknown one (${unknown.join(", ")}); ` +
        `the parts are ${BENCH_PARTS.join(", ")}`,
    );
  }
  return BENCH_PARTS.filter((part) => named.includes(part));
}

/**
 * Parses a comma-separated list of positive whole numbers, e.g. `--sources 1,20,100`.
 *
 * @throws {BenchUsageError} when the list is empty or holds anything else.
 */
export function parseCounts(flag: string, text: string): number[] {
  const parts = text.split(",").map((part) => part.trim());
  return parts.map((part) => positiveInteger(flag, part, 0));
}

function override(text: string): ConfigOverride {
  try {
    return parseOverride(text);
  } catch (error) {
    throw new BenchUsageError((error as Error).message);
  }
}

function positiveInteger(flag: string, text: string | undefined, fallback: number): number {
  const value = nonNegativeInteger(flag, text, fallback);
  if (value === 0) throw new BenchUsageError(`${flag} must be at least 1, got "${text}"`);
  return value;
}

function nonNegativeInteger(flag: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const value = Number(text.replaceAll("_", ""));
  if (text.trim() === "" || !Number.isSafeInteger(value) || value < 0) {
    throw new BenchUsageError(`${flag} must be a whole number, got "${text}"`);
  }
  return value;
}
