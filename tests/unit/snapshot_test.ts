import assert from "node:assert/strict";
import { parseConfig } from "../../src/config/mod.ts";
import { Metrics } from "../../src/telemetry/metrics.ts";
import { InflightBudget } from "../../src/pipeline/inflight.ts";
import type { BackendFactory } from "../../src/source/backend.ts";
import { snapshotMarkerName } from "../../src/source/snapshot.ts";
import { Source, type SourceSettings } from "../../src/source/source.ts";
import { ReplicationStream } from "../../src/source/stream.ts";
import { fakeWalsender } from "../fixtures/walsender.ts";
import { MemorySink } from "../fixtures/memory_sink.ts";

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

/** A sink that takes nothing: these sessions route no change. */
const idleSink = new MemorySink();

const sourceSettings: SourceSettings = {
  name: "main",
  connection: {
    host: "127.0.0.1",
    port: 1,
    database: "app",
    user: "pg2kafka",
    sslmode: "disable",
    connectTimeoutMs: 1_000,
  },
  setup: {
    slot: "unit_slot",
    createSlot: true,
    publication: "unit_pub",
    createPublication: true,
    alterPublication: true,
    tables: "all",
  },
  statusIntervalMs: 60_000,
  messages: false,
  values: {},
  reconnect: { initialMs: 10, maxMs: 20, multiplier: 2, jitter: 0 },
};

/** How long a stopped source may take to return from run(). */
const STOP_LIMIT_MS = 2_000;

Deno.test("a source stopped while its stream starts ends that stream and returns", async () => {
  const startCalled = Promise.withResolvers<void>();
  const release = Promise.withResolvers<void>();
  const walsender = fakeWalsender();
  const backend: BackendFactory = () => ({
    prepare: () => Promise.resolve({ created: true, confirmedFlushLsn: 0x1000n }),
    publishedPrimaryKeys: () => Promise.resolve(new Map()),
    primaryKeys: () => Promise.resolve(new Map()),
    startReplication: async (_lsn, handler) => {
      startCalled.resolve();
      await release.promise;
      return new ReplicationStream(walsender.duplex, handler);
    },
    close: () => Promise.resolve(),
  });
  const source = new Source(sourceSettings, {
    sink: idleSink,
    account: new InflightBudget({ maxMessages: 10, maxBytes: 1024 }).account("main"),
    metrics: new Metrics(),
    targets: [],
  }, backend);
  const running = source.run();
  await startCalled.promise;
  // The snapshot just finished and START_REPLICATION is on its way when SIGTERM arrives.
  await source.stop(0);
  release.resolve();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const returned = await Promise.race([
    running.then(() => true),
    new Promise<false>((resolve) => timer = setTimeout(() => resolve(false), STOP_LIMIT_MS)),
  ]);
  clearTimeout(timer);
  assert.ok(returned, "run() went on streaming after stop()");
  assert.equal(source.status, "stopped");
  assert.ok(walsender.duplex.writableEnded, "the stream started after stop() was left open");
});
