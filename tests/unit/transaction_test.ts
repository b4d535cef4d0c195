import assert from "node:assert/strict";
import { ConfigError, parseConfig, type TargetConfig } from "../../src/config/mod.ts";
import { handInto, MemorySink } from "../fixtures/memory_sink.ts";
import type { ChangeEvent, ChangeOp, Row } from "../../src/model.ts";
import { Metrics } from "../../src/telemetry/metrics.ts";
import { Checkpoint, type TransactionHandle } from "../../src/pipeline/checkpoint.ts";
import { InflightBudget } from "../../src/pipeline/inflight.ts";
import type { OutgoingMessage } from "../../src/pipeline/message.ts";
import { Router } from "../../src/pipeline/router.ts";
import { usesTransactionFields } from "../../src/pipeline/transaction.ts";

const COMMIT_TIME_MICROS = 1_700_000_000_123_456n;
const SMALL_PART = "1KiB";
const SMALL_PART_BYTES = 1024;

function config(targets: string): string {
  return `
[[sources]]
name = "main"
database = "app"
user = "app"
tables = ["public.orders", "public.customers"]
[kafka]
brokers = ["127.0.0.1:9092"]
${targets}`;
}

function targetsOf(targets: string): readonly TargetConfig[] {
  return parseConfig(config(targets), { origin: "test.toml", env: {} }).targets;
}

/** A router over one transaction target of `tables`, with extra TOML lines. */
function bench(lines: string, tables = '["public.*"]') {
  const sink = new MemorySink();
  const checkpoint = new Checkpoint();
  const metrics = new Metrics();
  const account = new InflightBudget({ maxMessages: 100_000, maxBytes: 1 << 30 }).account("main");
  const router = new Router(
    { source: "main", metrics, hand: handInto(checkpoint, account, sink) },
    targetsOf(`
[[targets]]
name = "tx"
tables = ${tables}
mode = "transaction"
topic = "tx.{source}"
${lines}`),
  );
  return { sink, checkpoint, metrics, account, router };
}

let lsn = 0x1000n;

/** A transaction: its xid, commit LSN and a builder of its changes. */
function transaction(xid: number) {
  const commitLsn = 0x100000n * BigInt(xid);
  return {
    xid,
    commitLsn,
    endLsn: commitLsn + 0x30n,
    change(op: ChangeOp, table: string, images: { before?: Row; after?: Row }): ChangeEvent {
      lsn += 0x10n;
      return {
        op,
        schema: "public",
        table,
        before: images.before ?? null,
        after: images.after ?? null,
        unchanged: [],
        keyColumns: ["id"],
        lsn,
        commitLsn,
        xid,
        commitTimeMicros: COMMIT_TIME_MICROS,
      };
    },
  };
}

type Bench = ReturnType<typeof bench>;

/** Begins, routes and commits a transaction the way the source's session does. */
function run(b: Bench, xid: number, events: ChangeEvent[], endLsn: bigint): TransactionHandle {
  const tx = b.checkpoint.begin(xid);
  for (const event of events) b.router.route(event, tx);
  b.router.commit(tx);
  b.checkpoint.commit(tx, endLsn);
  return tx;
}

function ack(b: Bench, messages: readonly OutgoingMessage[]): void {
  for (const message of messages) {
    b.account.release(message.size);
    b.checkpoint.settle(message.origin.tx);
  }
}

// deno-lint-ignore no-explicit-any
type Json = any;

const values = (messages: readonly OutgoingMessage[]): Json[] =>
  messages.map((m) => JSON.parse(m.value!));

async function counted(metrics: Metrics): Promise<Record<string, number>> {
  const { values } = await metrics.changes.get();
  return Object.fromEntries(
    values.filter((v) => v.value > 0).map((
      v,
    ) => [`${v.labels.target}/${v.labels.outcome}`, v.value]),
  );
}

Deno.test("a transaction target sends one message per transaction with xid, commit LSN, time and count", () => {
  const b = bench("");
  const t = transaction(40);
  const events = [
    t.change("insert", "orders", { after: { id: 1, status: "new" } }),
    t.change("update", "customers", { after: { id: 7, name: "Ada" } }),
    t.change("delete", "orders", { before: { id: 3 } }),
  ];
  run(b, t.xid, events, t.endLsn);
  assert.equal(b.sink.sent.length, 1);
  const [message] = b.sink.sent;
  assert.equal(message.topic, "tx.main");
  assert.equal(message.key, '{"source":"main"}');
  assert.deepEqual(JSON.parse(message.value!), {
    source: "main",
    xid: 40,
    commit_lsn: "0/2800000",
    commit_ts: "2023-11-14T22:13:20.123456Z",
    part: 1,
    last: true,
    event_count: 3,
    events: [
      {
        op: "insert",
        schema: "public",
        table: "orders",
        key: { id: 1 },
        before: null,
        after: { id: 1, status: "new" },
        lsn: `0/${events[0].lsn.toString(16).toUpperCase()}`,
      },
      {
        op: "update",
        schema: "public",
        table: "customers",
        key: { id: 7 },
        before: null,
        after: { id: 7, name: "Ada" },
        lsn: `0/${events[1].lsn.toString(16).toUpperCase()}`,
      },
      {
        op: "delete",
        schema: "public",
        table: "orders",
        key: { id: 3 },
        before: { id: 3 },
        after: null,
        lsn: `0/${events[2].lsn.toString(16).toUpperCase()}`,
      },
    ],
  });
  assert.deepEqual(message.headers, {
    "pg2kafka.lsn": `0/${events[0].lsn.toString(16).toUpperCase()}`,
    "pg2kafka.commit_lsn": "0/2800000",
    "pg2kafka.xid": "40",
    "pg2kafka.source": "main",
    "pg2kafka.part": "1",
    "pg2kafka.last": "true",
  });
  assert.equal(message.origin.events, 3);
});

Deno.test("a transaction larger than max_message_bytes arrives in numbered parts with a final marker", () => {
  const b = bench(`max_message_bytes = "${SMALL_PART}"`);
  const t = transaction(41);
  const rows = 200;
  const events = Array.from(
    { length: rows },
    (_, i) => t.change("insert", "orders", { after: { id: i + 1, note: "x".repeat(40) } }),
  );
  run(b, t.xid, events, t.endLsn);
  const parts = values(b.sink.sent);
  assert.ok(parts.length > 1, `expected several parts, got ${parts.length}`);
  for (const message of b.sink.sent) assert.ok(message.size <= SMALL_PART_BYTES, `${message.size}`);
  assert.deepEqual(parts.map((p) => p.part), parts.map((_, i) => i + 1));
  assert.deepEqual(parts.map((p) => p.last), parts.map((_, i) => i === parts.length - 1));
  assert.deepEqual(
    parts.map((p) => p.event_count),
    parts.map((_, i) => i === parts.length - 1 ? rows : null),
  );
  const ids = parts.flatMap((p) => p.events.map((e: Json) => e.after.id));
  assert.deepEqual(ids, events.map((_, i) => i + 1));
  assert.deepEqual(b.sink.sent.map((m) => m.headers["pg2kafka.last"]).at(-1), "true");
});

Deno.test("a transaction target sends full parts as events arrive, before the commit", () => {
  const b = bench(`max_message_bytes = "${SMALL_PART}"`);
  const t = transaction(42);
  const tx = b.checkpoint.begin(t.xid);
  const rows = 100;
  for (let i = 1; i <= rows; i++) {
    b.router.route(t.change("insert", "orders", { after: { id: i, note: "y".repeat(40) } }), tx);
  }
  const before = values(b.sink.sent);
  assert.ok(before.length > 1, "full parts wait for the commit");
  const buffered = rows - before.reduce((sum, p) => sum + p.events.length, 0);
  assert.ok(buffered > 0 && buffered < rows / before.length + 1, `${buffered} events buffered`);
  assert.ok(before.every((p) => p.last === false));
  b.router.commit(tx);
  const final = values(b.sink.sent.slice(before.length));
  assert.deepEqual(final.map((p) => [p.part, p.last, p.events.length]), [
    [before.length + 1, true, buffered],
  ]);
});

Deno.test("a transaction target's parts hold the slot until every part is acked", () => {
  const b = bench(`max_message_bytes = "${SMALL_PART}"`);
  const t = transaction(43);
  const events = Array.from(
    { length: 60 },
    (_, i) => t.change("insert", "orders", { after: { id: i, note: "z".repeat(40) } }),
  );
  const tx = run(b, t.xid, events, t.endLsn);
  assert.equal(tx.trackedMessages, b.sink.sent.length);
  ack(b, b.sink.sent.slice(0, -1));
  assert.equal(b.checkpoint.flushLsn, 0n);
  ack(b, b.sink.sent.slice(-1));
  assert.equal(b.checkpoint.flushLsn, t.endLsn);
});

Deno.test("a transaction whose events are all filtered out sends nothing and counts them", async () => {
  const b = bench(`where = "table == 'orders'"`);
  const t = transaction(44);
  const tx = run(b, t.xid, [
    t.change("insert", "customers", { after: { id: 1 } }),
    t.change("insert", "customers", { after: { id: 2 } }),
  ], t.endLsn);
  assert.equal(b.sink.sent.length, 0);
  assert.equal(b.checkpoint.flushLsn, t.endLsn);
  assert.equal(tx.trackedMessages, 0);
  assert.deepEqual(await counted(b.metrics), { "tx/filtered": 2 });
});

Deno.test("a transaction target's where keeps only the events it selects and counts the rest", async () => {
  const b = bench(`ops = ["insert", "update"]\nwhere = "table == 'orders'"`);
  const t = transaction(45);
  run(b, t.xid, [
    t.change("insert", "orders", { after: { id: 1 } }),
    t.change("insert", "customers", { after: { id: 2 } }),
    t.change("delete", "orders", { before: { id: 1 } }),
    t.change("update", "orders", { after: { id: 1 } }),
  ], t.endLsn);
  const [value] = values(b.sink.sent);
  assert.deepEqual(value.events.map((e: Json) => [e.op, e.table]), [
    ["insert", "orders"],
    ["update", "orders"],
  ]);
  assert.equal(value.event_count, 2);
  assert.equal(b.sink.sent[0].origin.events, 2);
  assert.deepEqual(await counted(b.metrics), { "tx/filtered": 2 });
});

Deno.test("tx.tables selects the events of transactions that touched another table", () => {
  const b = bench(`where = "'public.orders' in tx.tables"`, '["public.customers"]');
  const touching = transaction(46);
  const other = transaction(47);
  run(b, touching.xid, [
    touching.change("insert", "orders", { after: { id: 1 } }),
    touching.change("update", "customers", { after: { id: 5 } }),
  ], touching.endLsn);
  run(b, other.xid, [
    other.change("update", "customers", { after: { id: 6 } }),
  ], other.endLsn);
  assert.deepEqual(values(b.sink.sent).map((v) => [v.xid, v.events.map((e: Json) => e.key.id)]), [
    [46, [5]],
  ]);
});

Deno.test("tx.size and tx.ops describe the whole transaction, so its events wait for the commit", () => {
  const b = bench(`where = "tx.size <= 2 && !('delete' in tx.ops)"`);
  const small = transaction(48);
  const large = transaction(49);
  const withDelete = transaction(50);
  const tx = b.checkpoint.begin(small.xid);
  b.router.route(small.change("insert", "orders", { after: { id: 1 } }), tx);
  b.router.route(small.change("insert", "orders", { after: { id: 2 } }), tx);
  assert.equal(b.sink.sent.length, 0, "decided before the transaction was known whole");
  b.router.commit(tx);
  b.checkpoint.commit(tx, small.endLsn);
  run(
    b,
    large.xid,
    [1, 2, 3].map((id) => large.change("insert", "orders", { after: { id } })),
    large.endLsn,
  );
  run(
    b,
    withDelete.xid,
    [withDelete.change("delete", "orders", { before: { id: 1 } })],
    withDelete.endLsn,
  );
  assert.deepEqual(values(b.sink.sent).map((v) => [v.xid, v.event_count]), [[48, 2]]);
});

Deno.test("a transaction target held for tx.* still splits a large transaction into parts", () => {
  const b = bench(`max_message_bytes = "${SMALL_PART}"\nwhere = "tx.size > 10"`);
  const t = transaction(51);
  const rows = 80;
  run(
    b,
    t.xid,
    Array.from(
      { length: rows },
      (_, i) => t.change("insert", "orders", { after: { id: i, n: "w".repeat(30) } }),
    ),
    t.endLsn,
  );
  const parts = values(b.sink.sent);
  assert.ok(parts.length > 1);
  assert.equal(parts.flatMap((p) => p.events).length, rows);
  assert.deepEqual(parts.map((p) => p.last), parts.map((_, i) => i === parts.length - 1));
});

Deno.test("an event whose filter fails goes alone to the dead-letter topic, the rest in the message", () => {
  const b = bench(`where = "new.amount > 5"`);
  const t = transaction(52);
  run(b, t.xid, [
    t.change("insert", "orders", { after: { id: 1, amount: 10 } }),
    t.change("insert", "orders", { after: { id: 2, amount: true } }),
    t.change("insert", "orders", { after: { id: 3, amount: 20 } }),
  ], t.endLsn);
  assert.deepEqual(values(b.sink.sent).map((v) => v.events.map((e: Json) => e.key.id)), [[1, 3]]);
  assert.equal(b.sink.deadLettered.length, 1);
  const [{ message, reason }] = b.sink.deadLettered;
  assert.equal(reason, "filter_failed");
  assert.equal(message.key, '{"id":2}');
  assert.equal(JSON.parse(message.value!).after.amount, true);
  assert.equal(message.headers["pg2kafka.table"], "public.orders");
  assert.equal(message.origin.events, 1);
});

Deno.test("an event larger than a part travels in a part of its own", () => {
  const b = bench(`max_message_bytes = "${SMALL_PART}"`);
  const t = transaction(53);
  run(b, t.xid, [
    t.change("insert", "orders", { after: { id: 1 } }),
    t.change("insert", "orders", { after: { id: 2, blob: "b".repeat(SMALL_PART_BYTES * 2) } }),
    t.change("insert", "orders", { after: { id: 3 } }),
  ], t.endLsn);
  assert.deepEqual(
    values(b.sink.sent).map((v) => [v.part, v.last, v.events.map((e: Json) => e.key.id)]),
    [[1, false, [1]], [2, false, [2]], [3, true, [3]]],
  );
});

Deno.test("consecutive transactions make separate messages, and one without events none", () => {
  const b = bench("", '["public.orders"]');
  const first = transaction(54);
  const skipped = transaction(55);
  const third = transaction(56);
  run(b, first.xid, [first.change("insert", "orders", { after: { id: 1 } })], first.endLsn);
  run(
    b,
    skipped.xid,
    [skipped.change("insert", "customers", { after: { id: 1 } })],
    skipped.endLsn,
  );
  run(b, third.xid, [third.change("update", "orders", { after: { id: 1 } })], third.endLsn);
  assert.deepEqual(values(b.sink.sent).map((v) => [v.xid, v.part, v.last]), [
    [54, 1, true],
    [56, 1, true],
  ]);
});

Deno.test("usesTransactionFields() finds tx.* anywhere in an expression, and only there", () => {
  assert.equal(usesTransactionFields("tx.size > 10"), true);
  assert.equal(usesTransactionFields("table == 'a' || !(len(tx.tables) > 1)"), true);
  assert.equal(usesTransactionFields("'insert' in tx.ops && new.id > 0"), true);
  assert.equal(usesTransactionFields("new.tx > 10 && old['tx'] == 1"), false);
  assert.equal(usesTransactionFields("'tx.size' == table"), false);
});

Deno.test("the config refuses a transaction target whose topic depends on the table", () => {
  const text = config(`
[[targets]]
name = "tx"
tables = ["public.*"]
mode = "transaction"
topic = "cdc.{source}.{table}"
`);
  assert.throws(() => parseConfig(text, { origin: "test.toml", env: {} }), (error) => {
    assert.ok(error instanceof ConfigError);
    assert.match(
      error.message,
      /targets\[0\]\.topic: expected a topic without \{schema\}, \{table\} or \{op\} because mode is "transaction" \(one message holds changes of many tables\), found \{table\}/,
    );
    return true;
  });
});

Deno.test("an event JSON cannot hold goes to the dead-letter topic without a value", () => {
  const b = bench("");
  const t = transaction(57);
  run(b, t.xid, [
    t.change("insert", "orders", { after: { id: 1 } }),
    t.change("insert", "orders", { after: { id: 2, huge: 1n } }),
  ], t.endLsn);
  assert.deepEqual(values(b.sink.sent).map((v) => v.event_count), [1]);
  assert.deepEqual(
    b.sink.deadLettered.map((d) => [d.reason, d.message.key, d.message.value]),
    [["unencodable", '{"id":2}', null]],
  );
});

Deno.test("a transaction target without a topic writes to pg2kafka.<source>.transactions", () => {
  const [target] = targetsOf(`
[[targets]]
name = "tx"
tables = ["public.*"]
mode = "transaction"
`);
  assert.equal(target.topic, "pg2kafka.{source}.transactions");
  assert.equal(target.topicFor("main", "", "", "insert"), "pg2kafka.main.transactions");
  const [change] = targetsOf(`[[targets]]\nname = "rows"\ntables = ["public.*"]`);
  assert.equal(change.topic, "pg2kafka.{schema}.{table}");
});
