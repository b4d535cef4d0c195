import assert from "node:assert/strict";
import { SnapshotProgress } from "../../src/source/snapshot_progress.ts";

Deno.test("SnapshotProgress.report() gives the percent done and the time left at the rate so far", () => {
  const progress = new SnapshotProgress({ rows: 1_000, kind: "exact" }, 0);
  progress.advance(200);
  progress.advance(50);
  assert.deepEqual(progress.report(10_000), {
    rows: 250,
    expected: 1_000,
    percent: 25,
    secondsLeft: 30,
  });
});

Deno.test("SnapshotProgress.report() reaches exactly 100 percent and no time left at the end", () => {
  const progress = new SnapshotProgress({ rows: 3, kind: "exact" }, 0);
  progress.advance(3);
  assert.deepEqual(progress.report(500), { rows: 3, expected: 3, percent: 100, secondsLeft: 0 });
});

Deno.test("SnapshotProgress.report() rounds the percent down so it shows 100 only when done", () => {
  const progress = new SnapshotProgress({ rows: 100_000, kind: "estimate" }, 0);
  progress.advance(99_999);
  assert.equal(progress.report(1_000).percent, 99.9);
});

Deno.test("SnapshotProgress.report() raises an estimate that the rows read passed", () => {
  const progress = new SnapshotProgress({ rows: 100, kind: "estimate" }, 0);
  progress.advance(150);
  const report = progress.report(1_000);
  assert.equal(report.expected, 150);
  assert.equal(report.percent, 100);
  assert.equal(report.secondsLeft, 0);
});

Deno.test("SnapshotProgress.report() gives no time left before the first row", () => {
  const progress = new SnapshotProgress({ rows: 10, kind: "exact" }, 0);
  assert.deepEqual(progress.report(5_000), {
    rows: 0,
    expected: 10,
    percent: 0,
    secondsLeft: undefined,
  });
});

Deno.test("SnapshotProgress.report() calls an empty table done", () => {
  const progress = new SnapshotProgress({ rows: 0, kind: "exact" }, 0);
  assert.equal(progress.report(0).percent, 100);
});

Deno.test("SnapshotProgress.report() claims no total for a table never analyzed", () => {
  const progress = new SnapshotProgress({ rows: 0, kind: "unknown" }, 0);
  progress.advance(42);
  assert.deepEqual(progress.report(1_000), {
    rows: 42,
    expected: undefined,
    percent: undefined,
    secondsLeft: undefined,
  });
});
