import assert from "node:assert/strict";
import { formatCount, markdownTable, sourcesSection } from "../../scripts/bench/report.ts";
import { commitLsnOf, commitTimeMs, commitTimeOf } from "../../scripts/bench/message_fields.ts";

Deno.test("markdownTable() pads every column to its widest cell", () => {
  assert.equal(
    markdownTable(["run", "changes/s"], [["backlog", "12,000"], ["pg_recvlogical", "30,000"]]),
    [
      "| run            | changes/s |",
      "| -------------- | --------- |",
      "| backlog        | 12,000    |",
      "| pg_recvlogical | 30,000    |",
    ].join("\n"),
  );
});

Deno.test("formatCount() groups thousands and shows a dash for a missing figure", () => {
  assert.equal(formatCount(1_234_567.6), "1,234,568");
  assert.equal(formatCount(null), "–");
});

Deno.test("commitTimeMs() keeps the microseconds of commit_ts as a fraction of a millisecond", () => {
  assert.equal(commitTimeMs("1970-01-01T00:00:01.000250Z"), 1_000.25);
  assert.equal(
    commitTimeMs("2026-11-29T05:30:24.275403Z"),
    Date.UTC(2026, 10, 29, 5, 30, 24, 275) + 0.403,
  );
  assert.equal(commitTimeMs("2026-11-29T05:30:24.5Z"), Date.UTC(2026, 10, 29, 5, 30, 24, 500));
});

Deno.test("commitTimeMs() refuses a time that is not ISO-8601 UTC", () => {
  assert.throws(() => commitTimeMs("2026-11-29 05:30:24"), RangeError);
  assert.throws(() => commitTimeMs("2026-11-29T05:30:24.123+01:00"), RangeError);
});

Deno.test("commitTimeOf() and commitLsnOf() read a pg2kafka message value", () => {
  const value = JSON.stringify({
    op: "insert",
    lsn: "0/1A2B3C8",
    commit_lsn: "0/1A2B4D0",
    commit_ts: "1970-01-01T00:00:02.000001Z",
  });
  assert.equal(commitTimeOf(value), 2_000.001);
  assert.equal(commitLsnOf(value), 0x1A2B4D0n);
});

Deno.test("commitTimeOf() and commitLsnOf() read a Debezium value, with or without schema", () => {
  const payload = { source: { ts_us: 2_000_001, lsn: 0x1A2B3C8 }, op: "c" };
  for (const value of [payload, { schema: {}, payload }]) {
    assert.equal(commitTimeOf(JSON.stringify(value)), 2_000.001);
    assert.equal(commitLsnOf(JSON.stringify(value)), 0x1A2B3C8n);
  }
});

Deno.test("commitTimeOf() refuses a tombstone and a value without commit_ts", () => {
  assert.throws(() => commitTimeOf(null), /tombstone/);
  assert.throws(() => commitTimeOf("{}"), RangeError);
});

Deno.test("sourcesSection() shows each source count with its connections by purpose", () => {
  const run = (sources: number, held: Record<string, number>) => ({
    sources,
    startToStreamingMs: 1500,
    deliveryMs: 420,
    peakRssBytes: 90 * 1_048_576,
    cpuSeconds: 1.25,
    held,
    peakConnections: sources + 3,
    exitCode: 0,
  });
  const text = sourcesSection([
    run(1, { replication: 1, monitor: 1, query: 1 }),
    run(20, { replication: 20, monitor: 1 }),
  ]);
  const lines = text.split("\n");
  assert.match(lines[0], /^Many sources, one database each/);
  assert.match(
    lines[2],
    /\| sources \| s to all streaming \| .* \| monitor conns \| query conns \|/,
  );
  assert.match(lines[4], /^\| 1 +\| 1\.50 +\| 90 +\| 1\.3 +\| 1 +\| 1 +\| 1 +\| 3 +\| 4 +\| 420/);
  assert.match(lines[5], /^\| 20 +\| .*\| 1 +\| 0 +\| 20 +\| 21 +\| 23 /);
});
