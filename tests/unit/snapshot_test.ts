import assert from "node:assert/strict";
import { parseConfig } from "../../src/config/mod.ts";
import { snapshotMarkerName } from "../../src/source/snapshot.ts";

/** A config with one source carrying `source` (TOML lines). */
function configWith(source: string): string {
  return `
[[sources]]
name = "main"
database = "app"
user = "app"
tables = ["public.orders"]
${source}
[kafka]
brokers = ["127.0.0.1:9092"]
[[targets]]
name = "orders"
tables = ["public.orders"]
`;
}

function parse(source: string) {
  return parseConfig(configWith(source), { origin: "test.toml", env: {} });
}

Deno.test("parseConfig() reads the snapshot and heartbeat settings of a source", () => {
  const [source] = parse(`
snapshot = "when_needed"
snapshot_fetch_rows = 500
heartbeat_interval = "5s"
heartbeat_table = "pg2kafka_heartbeat"`).sources;
  assert.deepEqual(
    [source.snapshot, source.snapshotFetchRows, source.heartbeatIntervalMs, source.heartbeatTable],
    ["when_needed", 500, 5_000, { schema: "public", table: "pg2kafka_heartbeat" }],
  );
});

Deno.test("parseConfig() reports bad snapshot and heartbeat settings with their paths", () => {
  assert.throws(
    () =>
      parse(`
snapshot = "always"
snapshot_fetch_rows = 0
heartbeat_interval = "5"
heartbeat_table = "1bad.table"`),
    {
      message: [
        "Invalid config in test.toml:",
        `  sources[0].heartbeat_interval: expected a duration such as "500ms", "10s" or "1m30s", ` +
        `found "5" (missing unit; use ms, s, m or h)`,
        `  sources[0].heartbeat_table: expected a table name such as "public.pg2kafka_heartbeat", ` +
        `or "" for none, found "1bad.table" (the schema name "1bad" is not valid: use a letter ` +
        `or _, then letters, digits, _ or $, at most 63 characters)`,
        `  sources[0].snapshot: expected one of "initial", "never", "when_needed", found "always"`,
        "  sources[0].snapshot_fetch_rows: expected an integer of at least 1, found 0",
      ].join("\n"),
    },
  );
});

Deno.test("snapshotMarkerName() suffixes the slot name when it fits in 63 characters", () => {
  assert.equal(snapshotMarkerName("orders"), "orders_snapshot");
  const longest = "s".repeat(63 - "_snapshot".length);
  assert.equal(snapshotMarkerName(longest), `${longest}_snapshot`);
});

Deno.test("snapshotMarkerName() keeps long slot names apart within 63 characters", () => {
  const a = `${"a".repeat(60)}_one`;
  const b = `${"a".repeat(60)}_two`;
  const [markerA, markerB] = [snapshotMarkerName(a), snapshotMarkerName(b)];
  assert.ok(markerA.length <= 63 && markerB.length <= 63, `${markerA} / ${markerB}`);
  assert.notEqual(markerA, markerB);
  assert.match(markerA, /^a+_[0-9a-f]{8}_snapshot$/);
  assert.equal(snapshotMarkerName(a), markerA, "not stable across calls");
});
