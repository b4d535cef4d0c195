/**
 * A source's sessions against a fake database backend and a fake walsender:
 * keys of REPLICA IDENTITY FULL tables, primary-key lookups that keep frames
 * in order, values that do not convert, protocol errors that end the session
 * and the reconnect loop that logs them, keepalive replies, status updates
 * while paused, and idle slot advance.
 */
import assert from "node:assert/strict";
import type { Duplex } from "node:stream";
import type { ChangeOp } from "../../src/model.ts";
import { configureLogging } from "../../src/telemetry/log.ts";
import { Metrics } from "../../src/telemetry/metrics.ts";
import { InflightBudget } from "../../src/pipeline/inflight.ts";
import type { RouteTarget } from "../../src/pipeline/route.ts";
import type { BackendFactory } from "../../src/source/backend.ts";
import type { PrimaryKeys } from "../../src/source/keys.ts";
import { type CommitMessage, decodePgOutput } from "../../src/source/pgoutput.ts";
import { Source, type SourceSettings } from "../../src/source/source.ts";
import { ReplicationStream } from "../../src/source/stream.ts";
import { scenario } from "../fixtures/pgoutput/fixtures.ts";
import { fakeWalsender, keepalive, xlogData } from "../fixtures/walsender.ts";
import { MemorySink } from "../fixtures/memory_sink.ts";

const SLOT_LSN = 0x1000n;
const WAIT_MS = 2_000;
const POLL_MS = 5;
const STATUS_BYTES = 34;
const FLUSH_OFFSET = 9;
const NEVER_MS = 60_000;

/** One session's walsender, as the fake backend opened it. */
interface Walsender {
  duplex: Duplex;
  written: Uint8Array[];
}

interface Harness {
  source: Source;
  sink: MemorySink;
  logs: string[];
  walsenders: Walsender[];
  lookups: number[][];
  running: Promise<void>;
  /** The walsender of the newest session, once it streams. */
  walsender(): Promise<Walsender>;
}

interface HarnessOptions {
  publishedKeys?: PrimaryKeys;
  /** Answers a primary-key lookup; defaults to no key. */
  lookUp?: (ids: readonly number[]) => Promise<PrimaryKeys>;
  maxInflightMessages?: number;
  statusIntervalMs?: number;
}

function settings(statusIntervalMs: number): SourceSettings {
  return {
    name: "main",
    connection: {
      host: "127.0.0.1",
      port: 1,
      database: "app",
      user: "pg2kafka",
      sslmode: "disable",
      connectTimeoutMs: 1000,
    },
    setup: {
      slot: "unit_slot",
      createSlot: true,
      publication: "unit_pub",
      createPublication: true,
      alterPublication: true,
      tables: "all",
    },
    statusIntervalMs,
    messages: false,
    values: {},
    reconnect: { initialMs: 10, maxMs: 20, multiplier: 2, jitter: 0 },
  };
}

const ALL_OPS: ReadonlySet<ChangeOp> = new Set(["insert", "update", "delete", "truncate"]);

const target: RouteTarget = {
  name: "rows",
  matchesTable: () => true,
  ops: ALL_OPS,
  topicFor: (_source, schema, table) => `unit.${schema}.${table}`,
  keyColumns: [],
  filter: null,
  tombstones: false,
};

function start(options: HarnessOptions = {}): Harness {
  const logs: string[] = [];
  configureLogging({ level: "info", format: "json", write: (line) => logs.push(line) });
  const sink = new MemorySink();
  const walsenders: Walsender[] = [];
  const lookups: number[][] = [];
  const backend: BackendFactory = () => ({
    prepare: () => Promise.resolve({ created: false, confirmedFlushLsn: SLOT_LSN }),
    publishedPrimaryKeys: () => Promise.resolve(new Map(options.publishedKeys ?? [])),
    primaryKeys: (ids) => {
      lookups.push([...ids]);
      return options.lookUp?.(ids) ?? Promise.resolve(new Map(ids.map((id) => [id, []])));
    },
    startReplication: (_lsn, handler) => {
      const walsender = fakeWalsender();
      walsenders.push(walsender);
      return Promise.resolve(new ReplicationStream(walsender.duplex, handler));
    },
    close: () => Promise.resolve(),
  });
  const budget = new InflightBudget({
    maxMessages: options.maxInflightMessages ?? 1000,
    maxBytes: 1 << 20,
  });
  const source = new Source(settings(options.statusIntervalMs ?? NEVER_MS), {
    sink,
    account: budget.account("main"),
    metrics: new Metrics(),
    targets: [target],
  }, backend);
  const running = source.run();
  const walsender = async () => {
    await until("the session to stream", () => source.status === "streaming");
    return walsenders.at(-1)!;
  };
  return { source, sink, logs, walsenders, lookups, running, walsender };
}

async function stop(harness: Harness): Promise<void> {
  await harness.source.stop(0);
  await harness.running;
}

async function until(what: string, condition: () => boolean): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

/** Pushes pgoutput messages as XLogData frames at their captured LSNs. */
function push(walsender: Walsender, messages: readonly { lsn: bigint; bytes: Uint8Array }[]) {
  for (const { lsn, bytes } of messages) walsender.duplex.push(xlogData(lsn, lsn, bytes));
}

/** Flush LSNs of the status updates written so far. */
function flushes(walsender: Walsender): bigint[] {
  return walsender.written.filter((frame) => frame.byteLength === STATUS_BYTES).map((frame) =>
    new DataView(frame.buffer, frame.byteOffset).getBigUint64(FLUSH_OFFSET)
  );
}

const encoder = new TextEncoder();

/** An Insert message of `relationId` with the given text values. */
function insertMessage(relationId: number, values: readonly string[]): Uint8Array {
  const parts: number[] = [0x49];
  const int32 = (n: number) => parts.push(n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
  int32(relationId);
  parts.push(0x4e, values.length >> 8, values.length & 0xff);
  for (const value of values) {
    const bytes = encoder.encode(value);
    parts.push(0x74);
    int32(bytes.length);
    parts.push(...bytes);
  }
  return Uint8Array.from(parts);
}

const FULL = scenario("replica_identity_full");
const FULL_TABLE_ID = 16418;
const DEFAULT = scenario("replica_identity_default");
const DEFAULT_TABLE_ID = 16411;

Deno.test("Source keys a REPLICA IDENTITY FULL table by its primary key", async () => {
  const harness = start({ publishedKeys: new Map([[FULL_TABLE_ID, ["id"]]]) });
  try {
    push(await harness.walsender(), FULL);
    await until("three changes", () => harness.sink.handed.length === 3);
    const sent = harness.sink.handed.map(({ message }) => message);
    assert.deepEqual(sent.map((m) => m.key), ['{"id":1}', '{"id":1}', '{"id":1}']);
    assert.deepEqual(sent.map((m) => JSON.parse(m.value!).op), ["insert", "update", "delete"]);
    assert.deepEqual(JSON.parse(sent[2].value!).before, { id: 1, name: "one", note: "changed" });
    assert.deepEqual(harness.lookups, [], "known from the published tables' keys");
  } finally {
    await stop(harness);
  }
});

Deno.test("Source looks up an unknown FULL table's primary key and keeps later frames in order", async () => {
  const answer = Promise.withResolvers<PrimaryKeys>();
  const harness = start({ lookUp: () => answer.promise });
  try {
    const walsender = await harness.walsender();
    push(walsender, FULL);
    walsender.duplex.push(keepalive(0x3000_0000n, false));
    await until("the lookup", () => harness.lookups.length === 1);
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.deepEqual(harness.lookups, [[FULL_TABLE_ID]]);
    assert.equal(harness.sink.handed.length, 0, "nothing routed before the key is known");
    assert.deepEqual(flushes(walsender), [], "no idle advance past held changes");
    answer.resolve(new Map([[FULL_TABLE_ID, ["id"]]]));
    await until("three changes", () => harness.sink.handed.length === 3);
    const sent = harness.sink.handed.map(({ message }) => message);
    assert.deepEqual(sent.map((m) => JSON.parse(m.value!).op), ["insert", "update", "delete"]);
    assert.deepEqual(sent.map((m) => m.key), ['{"id":1}', '{"id":1}', '{"id":1}']);
  } finally {
    await stop(harness);
  }
});

Deno.test("Source keys a FULL table without a primary key by every column", async () => {
  const harness = start();
  try {
    push(await harness.walsender(), FULL.slice(0, 4));
    await until("the insert", () => harness.sink.handed.length === 1);
    assert.equal(harness.sink.handed[0].message.key, '{"id":1,"name":"one","note":null}');
    assert.deepEqual(harness.lookups, [[FULL_TABLE_ID]]);
  } finally {
    await stop(harness);
  }
});

Deno.test("Source dead-letters a change whose value does not convert and keeps streaming", async () => {
  const harness = start();
  try {
    const walsender = await harness.walsender();
    const [begin, relation, insert, commit] = DEFAULT;
    const bad = { lsn: insert.lsn, bytes: insertMessage(DEFAULT_TABLE_ID, ["x1", "one"]) };
    push(walsender, [begin, relation, bad, insert, commit]);
    await until("two messages", () => harness.sink.handed.length === 2);
    const [deadLettered, delivered] = harness.sink.handed;
    assert.deepEqual({ reason: deadLettered.reason, error: deadLettered.error }, {
      reason: "undecodable",
      error: 'Cannot convert int4 value "x1" in column "id" of public.rid_default: not an integer',
    });
    const raw = JSON.parse(deadLettered.message.value!);
    assert.deepEqual([raw.op, raw.table, raw.after], ["insert", "rid_default", {
      id: "x1",
      name: "one",
    }]);
    assert.equal(deadLettered.message.topic, "unit.public.rid_default");
    assert.equal(delivered.reason, null);
    assert.deepEqual(JSON.parse(delivered.message.value!).after, { id: 1, name: "one" });
    harness.sink.ack();
    const { endLsn } = decodePgOutput(commit.bytes) as CommitMessage;
    await until("the flush past the commit", () => flushes(walsender).includes(endLsn));
  } finally {
    await stop(harness);
  }
});

Deno.test("Source ends the session on a ProtocolError and the reconnect loop logs it", async () => {
  const harness = start();
  try {
    const first = await harness.walsender();
    const [begin, relation, insert] = DEFAULT;
    const truncated = { lsn: insert.lsn, bytes: insert.bytes.subarray(0, insert.bytes.length - 2) };
    push(first, [begin, relation, truncated]);
    await until("a second session", () => harness.walsenders.length === 2);
    const line = harness.logs.find((l) => l.includes("lost its stream"));
    assert.ok(line, harness.logs.join("\n"));
    const record = JSON.parse(line);
    assert.equal(record.level, "ERROR");
    assert.equal(record.properties.attempt, 1);
    assert.match(
      record.properties.error,
      /^Truncated Insert message: needed \d+ bytes at offset \d+/,
    );
    assert.equal(harness.sink.handed.length, 0, "nothing of the broken transaction was routed");
  } finally {
    await stop(harness);
  }
});

Deno.test("Source answers a keepalive that requests a reply at once", async () => {
  const harness = start();
  try {
    const walsender = await harness.walsender();
    walsender.duplex.push(keepalive(SLOT_LSN, true));
    await until("the reply", () => flushes(walsender).length === 1);
    assert.deepEqual(flushes(walsender), [SLOT_LSN]);
  } finally {
    await stop(harness);
  }
});

Deno.test("Source sends a status update every status_interval while reading is paused", async () => {
  const intervalMs = 40;
  const harness = start({ maxInflightMessages: 1, statusIntervalMs: intervalMs });
  try {
    const walsender = await harness.walsender();
    const [begin, relation, insert, commit] = DEFAULT;
    push(walsender, [begin, relation, insert, insert, commit]);
    await until("the first change", () => harness.sink.handed.length === 1);
    const before = flushes(walsender).length;
    await new Promise((resolve) => setTimeout(resolve, intervalMs * 6));
    assert.equal(harness.sink.handed.length, 1, "reading stayed paused at the budget");
    assert.equal(harness.source.status, "paused");
    assert.ok(flushes(walsender).length - before >= 3, `${flushes(walsender).length - before}`);
    harness.sink.ack();
    await until("the second change", () => harness.sink.handed.length === 1);
    harness.sink.ack();
    await until("streaming again", () => harness.source.status === "streaming");
  } finally {
    await stop(harness);
  }
});

Deno.test("Source advances an idle slot to a keepalive's WAL end only when nothing is in flight", async () => {
  const harness = start();
  try {
    const walsender = await harness.walsender();
    const [begin, relation, insert, commit] = DEFAULT;
    push(walsender, [begin, relation, insert, commit]);
    await until("the change", () => harness.sink.handed.length === 1);
    walsender.duplex.push(keepalive(0x2000_0000n, true));
    await until("the reply", () => flushes(walsender).length === 1);
    assert.deepEqual(flushes(walsender), [SLOT_LSN], "the unacked change holds the slot");
    harness.sink.ack();
    walsender.duplex.push(keepalive(0x3000_0000n, true));
    await until("the idle advance", () => flushes(walsender).includes(0x3000_0000n));
  } finally {
    await stop(harness);
  }
});
