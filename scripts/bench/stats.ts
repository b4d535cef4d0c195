/**
 * Small statistics for the bench: medians, nearest-rank percentiles, rates
 * and ratios. Pure functions, tested in tests/unit/bench_stats_test.ts.
 *
 * @module
 */

const PERCENT = 100;
const MS_PER_SECOND = 1_000;

/** Percentiles of a set of latencies, in milliseconds. */
export interface LatencySummary {
  /** How many values were summarised. */
  readonly count: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

/**
 * The nearest-rank percentile `p` (0 < p ≤ 100) of values sorted ascending:
 * the smallest value such that at least p% of the values are at or below it.
 *
 * @throws {RangeError} on an empty list or a percentile out of range.
 * @example
 * ```ts
 * percentile([1, 2, 3, 4], 50); // 2
 * percentile([1, 2, 3, 4], 99); // 4
 * ```
 */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) throw new RangeError("A percentile of no values is undefined");
  if (!(p > 0 && p <= PERCENT)) throw new RangeError(`Percentile ${p} is not in (0, 100]`);
  const rank = Math.ceil((p / PERCENT) * sorted.length);
  return sorted[rank - 1];
}

/**
 * The median: the middle value, or the mean of the two middle ones.
 *
 * @throws {RangeError} on an empty list.
 * @example
 * ```ts
 * median([3, 1, 2]); // 2
 * median([4, 1, 3, 2]); // 2.5
 * ```
 */
export function median(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError("The median of no values is undefined");
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/**
 * p50, p99 and max of latencies in milliseconds (sorted in place).
 *
 * @throws {RangeError} on an empty list.
 */
export function summarizeLatencies(values: number[]): LatencySummary {
  values.sort((a, b) => a - b);
  return {
    count: values.length,
    p50: percentile(values, 50),
    p99: percentile(values, 99),
    max: values[values.length - 1],
  };
}

/**
 * Events per second over an interval in milliseconds; 0 for an empty interval.
 *
 * @example
 * ```ts
 * perSecond(5_000, 2_000); // 2500
 * ```
 */
export function perSecond(count: number, milliseconds: number): number {
  return milliseconds > 0 ? (count * MS_PER_SECOND) / milliseconds : 0;
}

/**
 * `part / whole`, or null when the whole is not a positive number (a ratio
 * to a baseline that did not run means nothing).
 */
export function ratio(part: number, whole: number | null | undefined): number | null {
  return whole !== null && whole !== undefined && whole > 0 ? part / whole : null;
}

/**
 * The item whose `key` is the median (the lower one of an even count), so a
 * report quotes one coherent run rather than medians mixed from several.
 *
 * @throws {RangeError} on an empty list.
 * @example
 * ```ts
 * medianBy([{ rate: 9 }, { rate: 3 }, { rate: 5 }], (run) => run.rate); // { rate: 5 }
 * ```
 */
export function medianBy<T>(items: readonly T[], key: (item: T) => number): T {
  if (items.length === 0) throw new RangeError("The median of no items is undefined");
  const sorted = [...items].sort((a, b) => key(a) - key(b));
  return sorted[(sorted.length - 1) >> 1];
}
