/**
 * Benchmark of column rules in the process, without PostgreSQL or Kafka:
 * microseconds per change to apply the three rules of
 * `deno task bench --column-rules` (hash status, mask amount, truncate
 * payload) to a bench row and its key, and the HMAC alone, next to
 * `node:crypto`'s `createHmac` for comparison. It has no pass/fail
 * threshold; it reports medians of CPU time (not wall time, which on a shared
 * machine also counts the time spent waiting for a core).
 *
 * ```sh
 * bash scripts/deno.sh run scripts/bench_columns.ts
 * ```
 *
 * @module
 */
import { createHmac } from "node:crypto";
import { cpuUsage } from "node:process";
import { parseConfig } from "../src/config/mod.ts";
import type { ChangeEvent } from "../src/model.ts";
import { ColumnPolicy, type TablePolicy } from "../src/pipeline/columns.ts";
import { Hmac256 } from "../src/pipeline/hmac.ts";
import {
  BENCH_COLUMN_RULES,
  BENCH_HASH_SECRET,
  BENCH_HASH_SECRET_VARIABLE,
} from "./bench/config.ts";
import { payloadOf } from "./bench/workload.ts";

const RUNS = 7;
const CHANGES_PER_RUN = 200_000;
const WARM_UP_CHANGES = 50_000;
const PAYLOAD_WIDTH = 100;
const STATUSES = ["new", "paid", "shipped"];

/** One measured case: median microseconds per operation. */
export interface ColumnBenchResult {
  readonly name: string;
  readonly microsPerOperation: number;
}

/** The bench table's policy, from the same rules `--column-rules` gives the connector. */
function benchPolicy(): TablePolicy {
  const config = parseConfig(
    `[source]\ndatabase = "app"\nuser = "u"\ntables = ["public.bench"]\n` +
      `[kafka]\nbrokers = ["127.0.0.1:9092"]\n` +
      `[[targets]]\nname = "bench"\ntables = ["public.bench"]\n${BENCH_COLUMN_RULES}`,
    { origin: "bench_columns", env: { [BENCH_HASH_SECRET_VARIABLE]: BENCH_HASH_SECRET } },
  );
  return ColumnPolicy.of(config.targets[0].columnRules)!.forTable("public", "bench")!;
}

/** Update events of the bench table, with old rows, as the decoder builds them. */
function benchEvents(count: number): ChangeEvent[] {
  return Array.from({ length: count }, (_, index) => {
    const row = (status: string) => ({
      id: String(index + 1),
      counter: index,
      status,
      amount: `${index % 1000}.00`,
      payload: payloadOf(PAYLOAD_WIDTH),
      updated_at: "2026-11-30T01:00:00.000000Z",
    });
    return {
      op: "update",
      schema: "public",
      table: "bench",
      before: row(STATUSES[index % STATUSES.length]),
      after: row(STATUSES[(index + 1) % STATUSES.length]),
      unchanged: [],
      keyColumns: ["id"],
      lsn: BigInt(index),
      commitLsn: BigInt(index),
      xid: index,
      commitTimeMicros: 0n,
    };
  });
}

async function medianMicros(operation: (index: number) => unknown, count: number): Promise<number> {
  for (let index = 0; index < WARM_UP_CHANGES; index++) operation(index);
  const perRun: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    // CPU time, not wall time: on a shared machine the wall clock also counts waiting.
    const started = cpuUsage();
    for (let index = 0; index < count; index++) operation(index);
    const used = cpuUsage(started);
    perRun.push((used.user + used.system) / count);
    // Let timers and other tasks run between measurements.
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
  return perRun.sort((a, b) => a - b)[Math.floor(RUNS / 2)];
}

/**
 * Measures the three bench rules per update (old and new row and key), and
 * one HMAC of a short text with pg2kafka's HMAC and with `createHmac`.
 */
export async function benchColumns(): Promise<ColumnBenchResult[]> {
  const policy = benchPolicy();
  const events = benchEvents(1_000);
  const at = (index: number) => events[index % events.length];
  const hmac = new Hmac256(new TextEncoder().encode(BENCH_HASH_SECRET));
  const texts = events.map((_, index) => `user${index}@example.com`);
  const text = (index: number) => texts[index % texts.length];
  return [
    {
      name: "three rules, update with old row and key",
      microsPerOperation: await medianMicros((index) => {
        const event = at(index);
        policy.apply(event);
        return policy.key(event.keyColumns, event.after);
      }, CHANGES_PER_RUN),
    },
    {
      name: "HMAC-SHA-256 of a short text (pg2kafka)",
      microsPerOperation: await medianMicros(
        (index) => hmac.digest(text(index), "hex"),
        CHANGES_PER_RUN,
      ),
    },
    {
      name: "HMAC-SHA-256 of a short text (node:crypto createHmac)",
      microsPerOperation: await medianMicros(
        (index) => createHmac("sha256", BENCH_HASH_SECRET).update(text(index)).digest("hex"),
        CHANGES_PER_RUN / 10,
      ),
    },
  ];
}

if (import.meta.main) {
  const results = await benchColumns();
  const width = Math.max(...results.map((result) => result.name.length));
  console.log(`${"case".padEnd(width)}  µs each`);
  for (const { name, microsPerOperation } of results) {
    console.log(`${name.padEnd(width)}  ${microsPerOperation.toFixed(2).padStart(7)}`);
  }
}
