import assert from "node:assert/strict";
import { parseConfig } from "../../src/config/mod.ts";
import { handInto, MemorySink } from "../fixtures/memory_sink.ts";
import type { ChangeEvent, ChangeOp, Row } from "../../src/model.ts";
import { Metrics } from "../../src/telemetry/metrics.ts";
import { Checkpoint } from "../../src/pipeline/checkpoint.ts";
import {
  DEBEZIUM_OPS,
  DEBEZIUM_SOURCE_VERSION,
  encodeDebeziumValue,
  UNAVAILABLE_VALUE_PLACEHOLDER,
} from "../../src/pipeline/debezium.ts";
import { InflightBudget } from "../../src/pipeline/inflight.ts";
import { Router } from "../../src/pipeline/router.ts";
import { VERSION } from "../../src/version.ts";

const ORIGIN = { name: "main", db: "app" };
const DOC_PATH = new URL("../../docs/debezium.md", import.meta.url);
const MICROS_PER_MS = 1000n;
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
    commitTimeMicros: BigInt(at.commitMs) * MICROS_PER_MS,
  };
}

/** The changes of the documented example, with the positions and times the docs show. */
const DOCUMENTED = {
  insert: {
    event: customersChange("insert", { after: ANNE }, {
      lsn: 24023128n,
      commitLsn: 24023232n,
      xid: 555,
      commitMs: 1559033904863,
    }),
    nowMs: 1559033904871,
  },
  update: {
    event: customersChange("update", { after: { ...ANNE, first_name: "Anne Marie" } }, {
      lsn: 24023480n,
      commitLsn: 24023560n,
      xid: 556,
      commitMs: 1559033905120,
    }),
    nowMs: 1559033905125,
  },
  delete: {
    event: customersChange("delete", { before: { id: 1 } }, {
      lsn: 24023720n,
      commitLsn: 24023800n,
      xid: 557,
      commitMs: 1559033906002,
    }),
    nowMs: 1559033906010,
  },
  read: {
    event: customersChange("snapshot", { after: ANNE }, {
      lsn: 24022016n,
      commitLsn: 24022016n,
      xid: 554,
      commitMs: 1559033900000,
    }),
    nowMs: 1559033900450,
  },
};

Deno.test("encodeDebeziumValue() writes exactly the examples of docs/debezium.md", () => {
  const examples = documentedExamples();
  assert.deepEqual(Object.keys(examples).sort(), Object.keys(DOCUMENTED).sort());
  for (const [name, { event, nowMs }] of Object.entries(DOCUMENTED)) {
    const encoded = encodeDebeziumValue(event, ORIGIN, nowMs);
    assert.deepEqual(JSON.parse(encoded), examples[name], `example "${name}"`);
    // Field order too, as Debezium writes it: before, after, source, op, ts_ms, transaction.
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
  const value = JSON.parse(encodeDebeziumValue(truncate, ORIGIN, 2));
  assert.deepEqual([value.op, value.before, value.after], ["t", null, null]);
});

Deno.test("encodeDebeziumValue() names pg2kafka and its version in source.version", () => {
  assert.equal(DEBEZIUM_SOURCE_VERSION, `pg2kafka-${VERSION}`);
});

Deno.test("encodeDebeziumValue() puts Debezium's placeholder in unchanged TOAST columns", () => {
  const event: ChangeEvent = {
    ...DOCUMENTED.update.event,
    after: { id: 1, first_name: "Anne Marie" },
    unchanged: ["notes", "__proto__"],
  };
  const value = JSON.parse(encodeDebeziumValue(event, ORIGIN, 0));
  assert.deepEqual(value.after, {
    id: 1,
    first_name: "Anne Marie",
    notes: UNAVAILABLE_VALUE_PLACEHOLDER,
    ["__proto__"]: UNAVAILABLE_VALUE_PLACEHOLDER,
  });
  assert.equal(UNAVAILABLE_VALUE_PLACEHOLDER, "__debezium_unavailable_value");
  // The event itself keeps its row: other targets encode the same event.
  assert.deepEqual(event.after, { id: 1, first_name: "Anne Marie" });
});

Deno.test("encodeDebeziumValue() writes LSNs beyond 32 bits as exact decimals", () => {
  const event = customersChange("insert", { after: ANNE }, {
    lsn: 0x1_2345_6789n,
    commitLsn: 0x1_2345_6800n,
    xid: 4_000_000_000,
    commitMs: 1,
  });
  const { source } = JSON.parse(encodeDebeziumValue(event, ORIGIN, 1));
  assert.equal(source.lsn, 0x1_2345_6789);
  assert.equal(source.sequence, `["${0x1_2345_6800}","${0x1_2345_6789}"]`);
  assert.equal(source.txId, 4_000_000_000);
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
  return { router, sink, tx: checkpoint.begin(555) };
}

Deno.test("a debezium target sends the envelope under Debezium's key and topic", () => {
  const { router, sink, tx } = routerWith(`format = "debezium"`);
  router.route(DOCUMENTED.insert.event, tx);
  assert.equal(sink.sent.length, 1);
  const [message] = sink.sent;
  assert.equal(message.topic, "main.public.customers");
  assert.equal(message.key, '{"id":1}');
  const value = JSON.parse(message.value!);
  const expected = documentedExamples().insert as Record<string, unknown>;
  assert.ok(Math.abs(value.ts_ms - Date.now()) < 60_000, `ts_ms ${value.ts_ms} is not now`);
  assert.deepEqual({ ...value, ts_ms: 0 }, { ...expected, ts_ms: 0 });
});

Deno.test("tombstones = true follows each delete with a null value under the same key", () => {
  for (const format of ["json", "debezium"]) {
    const { router, sink, tx } = routerWith(`format = "${format}"\ntombstones = true`);
    router.route(DOCUMENTED.insert.event, tx);
    router.route(DOCUMENTED.delete.event, tx);
    const shapes = sink.sent.map((m) => [m.topic, m.key, m.value === null ? null : "value"]);
    assert.deepEqual(shapes, [
      ["main.public.customers", '{"id":1}', "value"],
      ["main.public.customers", '{"id":1}', "value"],
      ["main.public.customers", '{"id":1}', null],
    ], `format ${format}`);
    assert.equal(sink.sent[2].headers["pg2kafka.op"], "delete");
  }
});

Deno.test("tombstones = false sends no tombstone after a delete", () => {
  const { router, sink, tx } = routerWith(`format = "debezium"`);
  router.route(DOCUMENTED.delete.event, tx);
  assert.deepEqual(sink.sent.map((m) => m.value === null), [false]);
  assert.equal(JSON.parse(sink.sent[0].value!).op, "d");
});
