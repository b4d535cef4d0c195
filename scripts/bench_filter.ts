/**
 * Benchmark of filter evaluation: evaluations per second of compiled filters
 * over small sets of realistic inputs, the median of several runs. It has no
 * pass/fail threshold; it reports.
 *
 * Run directly to print a table:
 *
 * ```sh
 * bash scripts/deno.sh run scripts/bench_filter.ts
 * ```
 *
 * @module
 */
import { compileFilter, type FilterInput } from "../src/filter/mod.ts";

/** The filter the issue asks to measure: three clauses joined by `&&`. */
export const THREE_CLAUSE_FILTER =
  "op == 'update' && new.status in ['paid', 'shipped'] && new.amount > 100";

const EVALUATIONS_PER_RUN = 1_000_000;
const WARM_UP_EVALUATIONS = 200_000;
const RUNS = 7;
const MILLISECONDS_PER_SECOND = 1_000;

/** One measured case. */
export interface FilterBenchResult {
  /** What was evaluated. */
  readonly name: string;
  /** Median evaluations per second over the runs. */
  readonly evaluationsPerSecond: number;
}

interface BenchCase {
  readonly name: string;
  readonly source: string;
  readonly inputs: readonly FilterInput[];
}

function orderUpdate(status: string, amount: unknown, previous = "new"): FilterInput {
  return {
    op: "update",
    schema: "public",
    table: "orders",
    old: { id: 1001, status: previous, amount, sku: "A-17" },
    new: { id: 1001, customer_id: 77, status, amount, sku: "A-17", currency: "EUR" },
  };
}

const ORDER_INSERT: FilterInput = {
  op: "insert",
  schema: "public",
  table: "orders",
  old: null,
  new: { id: 1002, customer_id: 78, status: "new", amount: 40, sku: "B-3", currency: "EUR" },
};

const CASES: readonly BenchCase[] = [
  {
    name: "three clauses, matching update (every clause runs)",
    source: THREE_CLAUSE_FILTER,
    inputs: [orderUpdate("paid", 250), orderUpdate("shipped", 1200)],
  },
  {
    name: "three clauses, amount as a numeric string (PostgreSQL numeric)",
    source: THREE_CLAUSE_FILTER,
    inputs: [orderUpdate("paid", "250.00"), orderUpdate("shipped", "1200.50")],
  },
  {
    name: "three clauses, insert (rejected by the first clause)",
    source: THREE_CLAUSE_FILTER,
    inputs: [ORDER_INSERT],
  },
  {
    name: "three clauses, mixed stream",
    source: THREE_CLAUSE_FILTER,
    inputs: [
      orderUpdate("paid", 250),
      ORDER_INSERT,
      orderUpdate("cancelled", 300),
      orderUpdate("shipped", "99.99"),
    ],
  },
  {
    name: "changed() and matches",
    source: "changed(status) && new.sku matches '^A-\\\\d+$'",
    inputs: [orderUpdate("paid", 250), orderUpdate("paid", 250, "paid")],
  },
];

/** Evaluates `count` times, cycling through the inputs; returns how many were kept. */
function evaluateMany(
  evaluate: (input: FilterInput) => boolean,
  inputs: readonly FilterInput[],
  count: number,
): number {
  let kept = 0;
  let next = 0;
  for (let index = 0; index < count; index++) {
    if (evaluate(inputs[next])) kept++;
    next = next + 1 === inputs.length ? 0 : next + 1;
  }
  return kept;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

async function measure(benchCase: BenchCase): Promise<FilterBenchResult> {
  const filter = compileFilter(benchCase.source);
  const evaluate = (input: FilterInput) => filter.evaluate(input);
  evaluateMany(evaluate, benchCase.inputs, WARM_UP_EVALUATIONS);
  const rates: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    const started = performance.now();
    evaluateMany(evaluate, benchCase.inputs, EVALUATIONS_PER_RUN);
    const seconds = (performance.now() - started) / MILLISECONDS_PER_SECOND;
    rates.push(EVALUATIONS_PER_RUN / seconds);
    // Let timers and other tasks run between measurements.
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
  return { name: benchCase.name, evaluationsPerSecond: Math.round(median(rates)) };
}

/**
 * Measures evaluations per second of the three-clause filter
 * {@linkcode THREE_CLAUSE_FILTER} over realistic inputs, plus a filter with
 * `changed()` and `matches`.
 *
 * @example
 * ```ts
 * for (const { name, evaluationsPerSecond } of await benchFilter()) {
 *   console.log(name, evaluationsPerSecond);
 * }
 * ```
 */
export async function benchFilter(): Promise<FilterBenchResult[]> {
  const results: FilterBenchResult[] = [];
  for (const benchCase of CASES) results.push(await measure(benchCase));
  return results;
}

if (import.meta.main) {
  const results = await benchFilter();
  const width = Math.max(...results.map((result) => result.name.length));
  console.log(`${"case".padEnd(width)}  evaluations/s`);
  for (const { name, evaluationsPerSecond } of results) {
    console.log(
      `${name.padEnd(width)}  ${evaluationsPerSecond.toLocaleString("en-US").padStart(13)}`,
    );
  }
}
