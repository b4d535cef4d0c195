/**
 * The Debezium-compatible envelope and tombstones end to end (project issue
 * 8): the statements of docs/debezium.md run through PostgreSQL and Kafka,
 * and every field that arrives is compared with the documented examples.
 */
import assert from "node:assert/strict";
import type { Sql } from "postgres";
import { parseLsn } from "../../src/lsn.ts";
import {
  connectorConfig,
  ConnectorProcess,
  dropSlotAndPublication,
  type ReadMessage,
  readTopics,
  testSql,
  uniqueName,
} from "./harness.ts";

const integration = { sanitizeOps: false, sanitizeResources: false };
const DOC_PATH = new URL("../../docs/debezium.md", import.meta.url);
/** How far a time in a message may be from the test's clock. */
const CLOCK_TOLERANCE_MS = 60_000;

type Json = Record<string, unknown>;

/** The JSON examples of docs/debezium.md, by the name in their `debezium-example` marker. */
function documentedExamples(): Record<string, Json> {
  const text = Deno.readTextFileSync(DOC_PATH);
  const marker = /<!-- debezium-example: (\w+) -->\s*```json\n([\s\S]*?)```/g;
  return Object.fromEntries(
    [...text.matchAll(marker)].map(([, name, json]) => [name, JSON.parse(json)]),
  );
}

/** Runs `statement` in a transaction of its own and returns that transaction's id. */
async function runInTransaction(sql: Sql, statement: string): Promise<number> {
  const [{ xid }] = await sql.begin(async (tx) => {
    await tx.unsafe(statement);
    return await tx`SELECT txid_current()::int8::text AS xid`;
  });
  return Number(xid);
}

function assertNearNow(ms: unknown, what: string): void {
  assert.equal(typeof ms, "number", `${what} is not a number`);
  assert.ok(Math.abs((ms as number) - Date.now()) < CLOCK_TOLERANCE_MS, `${what} ${ms} is not now`);
}

/**
 * Compares a Debezium message with a documented example field by field: the
 * same fields in the same order, equal values except the positions and times,
 * which must match the message's headers (and `xid`, when known) instead.
 */
function assertLikeExample(message: ReadMessage, example: Json, table: string, xid?: number) {
  const value = JSON.parse(message.value!) as Json;
  const source = value.source as Json;
  const documented = example.source as Json;
  assert.deepEqual(Object.keys(value), Object.keys(example), "envelope fields");
  assert.deepEqual(Object.keys(source), Object.keys(documented), "source fields");
  for (const field of ["before", "after", "op", "transaction"]) {
    assert.deepEqual(value[field], example[field], field);
  }
  const fixed = [
    "version",
    "connector",
    "name",
    "snapshot",
    "db",
    "schema",
    "xmin",
    "origin",
    "origin_lsn",
  ];
  for (const field of fixed) assert.deepEqual(source[field], documented[field], `source.${field}`);
  assert.equal(source.table, table);

  const lsn = parseLsn(message.headers["pg2kafka.lsn"]);
  const commitLsn = parseLsn(message.headers["pg2kafka.commit_lsn"]);
  const snapshot = value.op === "r";
  assert.equal(source.lsn, Number(lsn));
  assert.equal(source.txId, Number(message.headers["pg2kafka.xid"]));
  if (xid !== undefined) assert.equal(source.txId, xid);
  // The first element is the end of the commit received before: past the previous
  // transaction's commit record, not past this event (null for snapshot rows).
  const [first, second] = JSON.parse(source.sequence as string);
  assert.equal(second, String(lsn));
  if (snapshot) assert.equal(first, null);
  else assert.ok(first !== null && BigInt(first) <= lsn && BigInt(first) < commitLsn, first);
  assertNearNow(value.ts_ms, "ts_ms");
  assertNearNow(source.ts_ms, "source.ts_ms");
  assert.equal(Math.floor(Number(value.ts_us) / 1000), value.ts_ms, "ts_us");
  assert.equal(Math.floor(Number(source.ts_us) / 1000), source.ts_ms, "source.ts_us");
  assert.equal(message.headers["__debezium.context.connectorLogicalName"], "main");
  assert.ok((source.ts_ms as number) <= (value.ts_ms as number), "committed after it was sent");
}

Deno.test(
  "Debezium envelopes and tombstones match the documented examples field by field",
  integration,
  async () => {
    const sql = testSql();
    const table = uniqueName("customers");
    const slot = `${table}_slot`;
    const publication = `${table}_pub`;
    const anne = `(1, 'Anne', 'Kretchmar', 'annek@noanswer.org')`;
    await sql.unsafe(`CREATE TABLE ${table} (
      id int PRIMARY KEY, first_name text NOT NULL, last_name text NOT NULL, email text NOT NULL)`);
    // Read by the initial snapshot.
    await sql.unsafe(`INSERT INTO ${table} VALUES ${anne}`);
    const connector = ConnectorProcess.start(connectorConfig({
      slot,
      publication,
      tables: [`public.${table}`],
      targets: `
[[targets]]
name = "debezium"
tables = ["public.${table}"]
topic = "{source}.{schema}.{table}"
format = "debezium"
tombstones = true
ops = ["insert", "update", "delete", "snapshot"]

[[targets]]
name = "compacted_json"
tables = ["public.${table}"]
topic = "tests.{table}.json"
tombstones = true
`,
    }));
    try {
      await connector.waitForLine(/streaming slot/);
      const xids = [
        await runInTransaction(sql, `DELETE FROM ${table} WHERE id = 1`),
        await runInTransaction(sql, `INSERT INTO ${table} VALUES ${anne}`),
        await runInTransaction(sql, `UPDATE ${table} SET first_name = 'Anne Marie' WHERE id = 1`),
        await runInTransaction(sql, `DELETE FROM ${table} WHERE id = 1`),
      ];
      const debeziumTopic = `main.public.${table}`;
      const jsonTopic = `tests.${table}.json`;
      const messages = await readTopics(
        [debeziumTopic, jsonTopic],
        (m) =>
          m.filter((x) => x.topic === debeziumTopic).length >= 7 &&
          m.filter((x) => x.topic === jsonTopic).length >= 7,
      );
      const debezium = messages.filter((m) => m.topic === debeziumTopic);
      const json = messages.filter((m) => m.topic === jsonTopic);
      // Every message of the row shares its key, so one partition keeps them in order.
      for (const m of messages) assert.equal(m.key, '{"id":1}');
      assert.equal(new Set(debezium.map((m) => m.partition)).size, 1);

      const examples = documentedExamples();
      const [read, firstDelete, firstTombstone, insert, update, secondDelete, secondTombstone] =
        debezium;
      assertLikeExample(read, examples.read, table);
      assertLikeExample(firstDelete, examples.delete, table, xids[0]);
      assertLikeExample(insert, examples.insert, table, xids[1]);
      assertLikeExample(update, examples.update, table, xids[2]);
      assertLikeExample(secondDelete, examples.delete, table, xids[3]);
      for (const tombstone of [firstTombstone, secondTombstone]) {
        assert.equal(tombstone.value, null);
        assert.equal(tombstone.headers["pg2kafka.op"], "delete");
      }
      assert.deepEqual(
        json.map((m) => m.value === null ? null : JSON.parse(m.value).op),
        ["snapshot", "delete", null, "insert", "update", "delete", null],
      );
      assert.equal((await connector.stop("SIGTERM")).code, 0);
    } finally {
      await connector.stop("SIGKILL");
      await dropSlotAndPublication(sql, slot, publication);
      await sql.end();
    }
  },
);
