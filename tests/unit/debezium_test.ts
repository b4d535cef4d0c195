import assert from "node:assert/strict";
import { parseConfig } from "../../src/config/mod.ts";
import { handInto, MemorySink } from "../fixtures/memory_sink.ts";
import type { ChangeEvent, ChangeOp, EventColumn, RawTuple, Row } from "../../src/model.ts";
import { Metrics } from "../../src/telemetry/metrics.ts";
import { Checkpoint } from "../../src/pipeline/checkpoint.ts";
import {
  DEBEZIUM_HEADER,
  DEBEZIUM_OPS,
  DEBEZIUM_SOURCE_VERSION,
  DebeziumEncoder,
  DEFAULT_DEBEZIUM_OPTIONS,
  encodeDebeziumValue,
  UNAVAILABLE_VALUE_PLACEHOLDER,
} from "../../src/pipeline/debezium.ts";
import { builtinTypeOid } from "../../src/source/values.ts";
import { InflightBudget } from "../../src/pipeline/inflight.ts";
import { Router } from "../../src/pipeline/router.ts";
import { VERSION } from "../../src/version.ts";

const ORIGIN = { name: "main", db: "app" };
const DOC_PATH = new URL("../../docs/debezium.md", import.meta.url);
const MICROS_PER_MS = 1000n;
/** Sub-millisecond part of the documented commit times, so that ts_us differs from ts_ms. */
const COMMIT_MICROS = 123n;
const INT4_OID = builtinTypeOid("int4")!;
const TEXT_OID = builtinTypeOid("text")!;
const ANNE = { id: 1, first_name: "Anne", last_name: "Kretchmar", email: "annek@noanswer.org" };

/** The JSON examples of docs/debezium.md, by the name in their `debezium-example` marker. */
function documentedExamples(): Record<string, unknown> {
  const text = Deno.readTextFileSync(DOC_PATH);
  const marker = /<!-- debezium-example: (\w+) -->\s*```json\n([\s\S]*?)```/g;
  return Object.fromEntries([...text.matchAll(marker)].map(([, name, json]) => [
    name,
    JSON.parse(json),
  ]));
}

interface Positions {
  lsn: bigint;
  commitLsn: bigint;
  xid: number;
  commitMs: number;
}

/** The columns of `public.customers` as pgoutput announces them. */
const CUSTOMER_COLUMNS: readonly EventColumn[] = Object.freeze(
  ["id", "first_name", "last_name", "email"].map((name) => ({
    name,
    valueTypeOid: name === "id" ? INT4_OID : TEXT_OID,
    typeModifier: -1,
    isKey: name === "id",
  })),
);

/** A customers row as pgoutput sends it: every value as text. */
function tuple(row: Row | undefined, columns = CUSTOMER_COLUMNS): RawTuple | null {
  if (row === undefined) return null;
  return columns.map(({ name }) => {
    if (!Object.hasOwn(row, name)) return undefined;
    const value = Object.getOwnPropertyDescriptor(row, name)!.value;
    return value === null ? null : String(value);
  });
}

function customersChange(
  op: ChangeOp,
  images: { before?: Row; after?: Row },
  at: Positions,
): ChangeEvent {
  return {
    op,
    schema: "public",
    table: "customers",
    before: images.before ?? null,
    after: images.after ?? null,
    unchanged: [],
    keyColumns: ["id"],
    lsn: at.lsn,
    commitLsn: at.commitLsn,
    xid: at.xid,
    commitTimeMicros: BigInt(at.commitMs) * MICROS_PER_MS + COMMIT_MICROS,
    columns: CUSTOMER_COLUMNS,
    beforeTuple: tuple(images.before),
    afterTuple: tuple(images.after),
  };
}

/** A key image: the key column, the others null, as pgoutput sends an old key. */
const KEY_ONLY = { id: 1, first_name: null, last_name: null, email: null };

/** The changes of the documented example, with the positions and times the docs show. */
const DOCUMENTED = {
  insert: {
    event: customersChange("insert", { after: ANNE }, {
      lsn: 24023128n,
      commitLsn: 24023232n,
      xid: 555,
      commitMs: 1559033904863,
    }),
    previousCommitEnd: 24023119n,
    nowMicros: 1559033904871004,
  },
  update: {
    event: customersChange("update", { after: { ...ANNE, first_name: "Anne Marie" } }, {
      lsn: 24023480n,
      commitLsn: 24023560n,
      xid: 556,
      commitMs: 1559033905120,
    }),
    previousCommitEnd: 24023280n,
    nowMicros: 1559033905125004,
  },
  delete: {
    event: customersChange("delete", { before: KEY_ONLY }, {
      lsn: 24023720n,
      commitLsn: 24023800n,
      xid: 557,
      commitMs: 1559033906002,
    }),
    previousCommitEnd: 24023608n,
    nowMicros: 1559033906010004,
  },
  read: {
    event: customersChange("snapshot", { after: ANNE }, {
      lsn: 24022016n,
      commitLsn: 24022016n,
      xid: 554,
      commitMs: 1559033900000,
    }),
    previousCommitEnd: null,
    nowMicros: 1559033900450004,
  },
};

Deno.test("encodeDebeziumValue() writes exactly the examples of docs/debezium.md", () => {
  const examples = documentedExamples();
  assert.deepEqual(Object.keys(examples).sort(), Object.keys(DOCUMENTED).sort());
  for (const [name, example] of Object.entries(DOCUMENTED)) {
    const { event, previousCommitEnd, nowMicros } = example;
    const encoded = encodeDebeziumValue(event, ORIGIN, previousCommitEnd, () => nowMicros);
    assert.deepEqual(JSON.parse(encoded), examples[name], `example "${name}"`);
    // Field order too, as Debezium writes it.
    assert.equal(encoded, JSON.stringify(examples[name]), `field order of example "${name}"`);
  }
});

Deno.test("encodeDebeziumValue() maps every operation to Debezium's code", () => {
  assert.deepEqual(DEBEZIUM_OPS, {
    insert: "c",
    update: "u",
    delete: "d",
    truncate: "t",
    snapshot: "r",
  });
  const truncate = customersChange("truncate", {}, {
    lsn: 0x100n,
    commitLsn: 0x180n,
    xid: 9,
    commitMs: 1,
  });
  const value = JSON.parse(encodeDebeziumValue(truncate, ORIGIN, null));
  assert.deepEqual([value.op, value.before, value.after], ["t", null, null]);
});

Deno.test("encodeDebeziumValue() names pg2kafka and its version in source.version", () => {
  assert.equal(DEBEZIUM_SOURCE_VERSION, `pg2kafka-${VERSION}`);
});

Deno.test("encodeDebeziumValue() puts Debezium's placeholder in unchanged TOAST columns", () => {
  const columns = [
    ...CUSTOMER_COLUMNS,
    { name: "notes", valueTypeOid: TEXT_OID, typeModifier: -1, isKey: false },
    { name: "__proto__", valueTypeOid: TEXT_OID, typeModifier: -1, isKey: false },
  ];
  const event: ChangeEvent = {
    ...DOCUMENTED.update.event,
    columns,
    afterTuple: tuple({ id: 1, first_name: "Anne Marie", last_name: null, email: null }, columns),
  };
  const value = JSON.parse(encodeDebeziumValue(event, ORIGIN, null));
  assert.deepEqual(value.after, {
    id: 1,
    first_name: "Anne Marie",
    last_name: null,
    email: null,
    notes: UNAVAILABLE_VALUE_PLACEHOLDER,
    ["__proto__"]: UNAVAILABLE_VALUE_PLACEHOLDER,
  });
  assert.equal(UNAVAILABLE_VALUE_PLACEHOLDER, "__debezium_unavailable_value");
});

Deno.test("encodeDebeziumValue() writes LSNs beyond 32 bits as exact decimals", () => {
  const event = customersChange("insert", { after: ANNE }, {
    lsn: 0x1_2345_6789n,
    commitLsn: 0x1_2345_6800n,
    xid: 4_000_000_000,
    commitMs: 1,
  });
  const { source } = JSON.parse(encodeDebeziumValue(event, ORIGIN, 0x1_2345_6700n));
  assert.equal(source.lsn, 0x1_2345_6789);
  assert.equal(source.sequence, `["${0x1_2345_6700}","${0x1_2345_6789}"]`);
  assert.equal(source.txId, 4_000_000_000);
});

Deno.test("DebeziumEncoder writes a binary value as an encoding error, not a wrong value", () => {
  const event: ChangeEvent = {
    ...DOCUMENTED.insert.event,
    afterTuple: [new Uint8Array([0, 0, 0, 1]), "Anne", "K", "a@b"],
  };
  const encoder = new DebeziumEncoder(DEFAULT_DEBEZIUM_OPTIONS, ORIGIN);
  assert.throws(() => encoder.value(event, null), /binary form.*needs text values/);
});

Deno.test("DebeziumEncoder writes the schema block with the payload when schemas is on", () => {
  const encoder = new DebeziumEncoder({ ...DEFAULT_DEBEZIUM_OPTIONS, schemas: true }, ORIGIN);
  const key = JSON.parse(encoder.key(DOCUMENTED.insert.event, ["id"])!);
  assert.deepEqual(key, {
    schema: {
      type: "struct",
      fields: [{ type: "int32", optional: false, field: "id" }],
      optional: false,
      name: "main.public.customers.Key",
    },
    payload: { id: 1 },
  });
  const value = JSON.parse(encoder.value(DOCUMENTED.insert.event, null));
  assert.deepEqual(Object.keys(value), ["schema", "payload"]);
  assert.equal(value.schema.name, "main.public.customers.Envelope");
  assert.deepEqual(value.payload.after, ANNE);
});

/** A router over one target of `public.customers` configured by `options` (TOML lines). */
function routerWith(options: string) {
  const config = parseConfig(
    `
[[sources]]
name = "main"
database = "app"
user = "app"
tables = ["public.customers"]
[kafka]
brokers = ["127.0.0.1:9092"]
[[targets]]
name = "customers"
tables = ["public.customers"]
topic = "{source}.{schema}.{table}"
${options}`,
    { origin: "test.toml", env: {} },
  );
  const sink = new MemorySink();
  const checkpoint = new Checkpoint();
  const account = new InflightBudget({ maxMessages: 100, maxBytes: 1 << 20 }).account("main");
  const router = new Router({
    source: "main",
    hand: handInto(checkpoint, account, sink),
    metrics: new Metrics(),
    database: "app",
  }, config.targets);
  return { router, sink, checkpoint, tx: checkpoint.begin(555) };
}

Deno.test("a debezium target sends the envelope under Debezium's key, topic and headers", () => {
  const { router, sink, tx } = routerWith(`format = "debezium"`);
  router.route(DOCUMENTED.insert.event, tx);
  assert.equal(sink.sent.length, 1);
  const [message] = sink.sent;
  assert.equal(message.topic, "main.public.customers");
  assert.equal(message.key, '{"id":1}');
  const value = JSON.parse(message.value!);
  const expected = documentedExamples().insert as Record<string, unknown>;
  assert.ok(Math.abs(value.ts_ms - Date.now()) < 60_000, `ts_ms ${value.ts_ms} is not now`);
  const now = { ts_ms: 0, ts_us: 0, ts_ns: 0 };
  const source = { ...(expected.source as object), sequence: '[null,"24023128"]' };
  assert.deepEqual({ ...value, ...now }, { ...expected, ...now, source });
  assert.equal(message.headers[DEBEZIUM_HEADER.logicalName], "main");
  assert.equal(message.headers[DEBEZIUM_HEADER.connectorName], "postgresql");
  assert.equal(message.headers[DEBEZIUM_HEADER.taskId], "0");
  assert.equal(message.headers["pg2kafka.op"], "insert");
});

Deno.test("source.sequence starts with the end LSN of the transaction committed before", () => {
  const { router, sink, checkpoint, tx: first } = routerWith(`format = "debezium"`);
  router.route(DOCUMENTED.insert.event, first);
  router.commit(first);
  checkpoint.commit(first, 24023300n);
  const second = checkpoint.begin(556);
  router.route(DOCUMENTED.update.event, second);
  const sequences = sink.sent.map((m) => JSON.parse(m.value!).source.sequence);
  assert.deepEqual(sequences, ['[null,"24023128"]', '["24023300","24023480"]']);
});

Deno.test("a debezium target sends tombstones after deletes by default", () => {
  const { router, sink, tx } = routerWith(`format = "debezium"`);
  router.route(DOCUMENTED.insert.event, tx);
  router.route(DOCUMENTED.delete.event, tx);
  const shapes = sink.sent.map((m) => [m.topic, m.key, m.value === null ? null : "value"]);
  assert.deepEqual(shapes, [
    ["main.public.customers", '{"id":1}', "value"],
    ["main.public.customers", '{"id":1}', "value"],
    ["main.public.customers", '{"id":1}', null],
  ]);
  assert.equal(sink.sent[2].headers["pg2kafka.op"], "delete");
});

Deno.test("tombstones = true follows each delete with a null value in the json format", () => {
  const { router, sink, tx } = routerWith(`format = "json"\ntombstones = true`);
  router.route(DOCUMENTED.delete.event, tx);
  assert.deepEqual(sink.sent.map((m) => [m.key, m.value === null]), [
    ['{"id":1}', false],
    ['{"id":1}', true],
  ]);
});

Deno.test("tombstones = false sends no tombstone after a delete", () => {
  const { router, sink, tx } = routerWith(`format = "debezium"\ntombstones = false`);
  router.route(DOCUMENTED.delete.event, tx);
  assert.deepEqual(sink.sent.map((m) => m.value === null), [false]);
  assert.equal(JSON.parse(sink.sent[0].value!).op, "d");
});

Deno.test("a debezium target skips truncates unless its ops name them", () => {
  const truncate = customersChange("truncate", {}, {
    lsn: 0x100n,
    commitLsn: 0x180n,
    xid: 9,
    commitMs: 1,
  });
  const skipping = routerWith(`format = "debezium"`);
  skipping.router.route(truncate, skipping.tx);
  assert.equal(skipping.sink.sent.length, 0);
  const asking = routerWith(`format = "debezium"\nops = ["truncate"]`);
  asking.router.route(truncate, asking.tx);
  assert.deepEqual(asking.sink.sent.map((m) => [m.key, JSON.parse(m.value!).op]), [[null, "t"]]);
  const json = routerWith(`format = "json"`);
  json.router.route(truncate, json.tx);
  assert.equal(json.sink.sent.length, 1, "the json format keeps sending truncates");
});

Deno.test("[targets.debezium] sets Debezium's handling modes", () => {
  const { router, sink, tx } = routerWith(`format = "debezium"
[targets.debezium]
decimal_handling_mode = "string"
binary_handling_mode = "hex"
unavailable_value_placeholder = "?"
schemas = true`);
  router.route(DOCUMENTED.insert.event, tx);
  assert.deepEqual(Object.keys(JSON.parse(sink.sent[0].value!)), ["schema", "payload"]);
});

Deno.test("[targets.debezium] is refused on a target of another format", () => {
  assert.throws(
    () => routerWith(`format = "json"\n[targets.debezium]\nschemas = true`),
    /targets\[0\]\.debezium: expected no \[targets\.debezium\] table because format is "json"/,
  );
  assert.throws(
    () => routerWith(`format = "debezium"\n[targets.debezium]\ndecimal_handling_mode = "exact"`),
    /decimal_handling_mode/,
  );
});

Deno.test("column rules shape Debezium's rows, key and schema block alike", () => {
  const { router, sink, tx } = routerWith(`format = "debezium"
[targets.debezium]
schemas = true
[[targets.column_rules]]
columns = ["last_name"]
action = "drop"
[[targets.column_rules]]
columns = ["first_name"]
action = "rename"
to = "given_name"
[[targets.column_rules]]
columns = ["email", "id"]
action = "mask"
with = "***"`);
  router.route(DOCUMENTED.insert.event, tx);
  const value = JSON.parse(sink.sent[0].value!);
  assert.deepEqual(value.payload.after, { id: "***", given_name: "Anne", email: "***" });
  const after = value.schema.fields.find((field: { field: string }) => field.field === "after");
  assert.deepEqual(after.fields, [
    { type: "string", optional: false, field: "id" },
    { type: "string", optional: true, field: "given_name" },
    { type: "string", optional: true, field: "email" },
  ]);
  const key = JSON.parse(sink.sent[0].key!);
  assert.deepEqual(key.payload, { id: "***" });
  assert.deepEqual(key.schema.fields, [{ type: "string", optional: false, field: "id" }]);
  assert.ok(!sink.sent[0].value!.includes("annek@noanswer.org"));
});
