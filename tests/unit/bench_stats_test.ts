import assert from "node:assert/strict";
import {
  median,
  medianBy,
  percentile,
  perSecond,
  ratio,
  summarizeLatencies,
} from "../../scripts/bench/stats.ts";

Deno.test("percentile() takes the nearest rank: the smallest value with p% at or below it", () => {
  const values = Array.from({ length: 100 }, (_, i) => i + 1);
  assert.equal(percentile(values, 50), 50);
  assert.equal(percentile(values, 99), 99);
  assert.equal(percentile(values, 100), 100);
  assert.equal(percentile([7], 1), 7);
});

Deno.test("percentile() of a few values rounds the rank up, never interpolates", () => {
  assert.equal(percentile([10, 20, 30], 50), 20);
  assert.equal(percentile([10, 20, 30], 99), 30);
  assert.equal(percentile([10, 20, 30, 40], 50), 20);
});

Deno.test("percentile() refuses an empty list and a percentile out of range", () => {
  assert.throws(() => percentile([], 50), RangeError);
  assert.throws(() => percentile([1], 0), RangeError);
  assert.throws(() => percentile([1], 101), RangeError);
});

Deno.test("median() is the middle value, or the mean of the two middle ones", () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.throws(() => median([]), RangeError);
});

Deno.test("median() leaves its input unsorted", () => {
  const values = [3, 1, 2];
  median(values);
  assert.deepEqual(values, [3, 1, 2]);
});

Deno.test("summarizeLatencies() reports p50, p99 and max of unsorted latencies", () => {
  const latencies = Array.from({ length: 1_000 }, (_, i) => 1_000 - i);
  latencies.push(5_000);
  assert.deepEqual(summarizeLatencies(latencies), { count: 1_001, p50: 501, p99: 991, max: 5_000 });
});

Deno.test("perSecond() converts a count over milliseconds, and is 0 over no time", () => {
  assert.equal(perSecond(5_000, 2_000), 2_500);
  assert.equal(perSecond(5_000, 0), 0);
});

Deno.test("ratio() is null when the baseline is missing or zero", () => {
  assert.equal(ratio(5, 10), 0.5);
  assert.equal(ratio(5, 0), null);
  assert.equal(ratio(5, null), null);
  assert.equal(ratio(5, undefined), null);
});

Deno.test("medianBy() picks the item with the median key, the lower one of an even count", () => {
  const runs = [{ rate: 9 }, { rate: 3 }, { rate: 5 }, { rate: 7 }];
  assert.deepEqual(medianBy(runs, (run) => run.rate), { rate: 5 });
  assert.deepEqual(medianBy(runs.slice(0, 3), (run) => run.rate), { rate: 5 });
  assert.throws(() => medianBy([], () => 0), RangeError);
});
