/**
 * `deno task bench`: pg2kafka's benchmarks. Reports medians and ratios, never
 * pass/fail on a time.
 *
 * @module
 */
import { benchFilter } from "./bench_filter.ts";

if (import.meta.main) {
  const results = await benchFilter();
  console.log("Filter evaluation (median of runs):");
  console.table(results.map((r) => ({
    case: r.name,
    "evaluations/s": Math.round(r.evaluationsPerSecond).toLocaleString("en"),
  })));
  console.log(JSON.stringify({ filter: results }));
}
