/**
 * The first change end to end (project issue 2): rows changed in PostgreSQL
 * arrive in Kafka in the message contract, the slot never confirms what Kafka
 * has not acked, and a restart loses nothing.
 */
import assert from "node:assert/strict";
import {
  confirmedFlushLsn,
  connectorConfig,
  ConnectorProcess,
  currentWalLsn,
  dropSlotAndPublication,
  readTopics,
  stack,
  testSql,
  uniqueName,
  waitFor,
} from "./harness.ts";

const integration = { sanitizeOps: false, sanitizeResources: false };
const LSN_TEXT = /^[0-9A-F]+\/[0-9A-F]+$/;
const HOLD_OBSERVATION_MS = 4_000;

interface Fixture {
  table: string;
  slot: string;
  publication: string;
  topic: string;
  config: string;
}

async function setUp(sql: ReturnType<typeof testSql>, columns: string): Promise<Fixture> {
  const table = uniqueName("e2e");
  await sql.unsafe(`CREATE TABLE ${table} (${columns})`);
  const topic = `tests.${table}`;
  const slot = `${table}_slot`;
  const publication = `${table}_pub`;
  const config = connectorConfig({
    slot,
    publication,
    tables: [`public.${table}`],
    targets: `
[[targets]]
name = "rows"
tables = ["public.${table}"]
topic = "tests.{table}"
`,
  });
  return { table, slot, publication, topic, config };
}

Deno.test(
  "insert, update and delete arrive with the exact key, value and headers",
  integration,
  async () => {
    const sql = testSql();
    const fx = await setUp(sql, "id int PRIMARY KEY, name text, amount numeric, tags text[]");
    const connector = ConnectorProcess.start(fx.config);
    try {
      await connector.waitForLine(/streaming slot/);
      const xids: number[] = [];
      for (
        const statement of [
          `INSERT INTO ${fx.table} VALUES (1, 'Ada', 12345678901234567890.5, '{a,"b c"}')`,
          `UPDATE ${fx.table} SET name = 'Grace' WHERE id = 1`,
          `DELETE FROM ${fx.table} WHERE id = 1`,
        ]
      ) {
        const [{ xid }] = await sql.begin(async (tx) => {
          await tx.unsafe(statement);
          return await tx`SELECT txid_current()::int AS xid`;
        });
        xids.push(xid);
      }
      const messages = await readTopics([fx.topic], (m) => m.length >= 3);
      assert.equal(messages.length, 3);
      const values = messages.map((m) => JSON.parse(m.value!));
      assert.deepEqual(messages.map((m) => m.key), ['{"id":1}', '{"id":1}', '{"id":1}']);
      assert.deepEqual(values.map((v) => [v.op, v.schema, v.table, v.before, v.after]), [
        ["insert", "public", fx.table, null, {
          id: 1,
          name: "Ada",
          amount: "12345678901234567890.5",
          tags: ["a", "b c"],
        }],
        ["update", "public", fx.table, null, {
          id: 1,
          name: "Grace",
          amount: "12345678901234567890.5",
          tags: ["a", "b c"],
        }],
        ["delete", "public", fx.table, { id: 1 }, null],
      ]);
      assert.deepEqual(values.map((v) => v.xid), xids);
      for (const [i, message] of messages.entries()) {
        const value = values[i];
        assert.match(value.lsn, LSN_TEXT);
        assert.ok(Math.abs(Date.parse(value.commit_ts) - Date.now()) < 60_000, value.commit_ts);
        assert.deepEqual(message.headers, {
          "pg2kafka.lsn": value.lsn,
          "pg2kafka.commit_lsn": value.commit_lsn,
          "pg2kafka.xid": String(xids[i]),
          "pg2kafka.table": `public.${fx.table}`,
          "pg2kafka.op": value.op,
          "pg2kafka.source": "main",
        });
      }
      assert.equal((await connector.stop("SIGTERM")).code, 0);
    } finally {
      await connector.stop("SIGKILL");
      await dropSlotAndPublication(sql, fx.slot, fx.publication);
      await sql.end();
    }
  },
);

Deno.test(
  "the slot holds its LSN while Kafka is down and advances once Kafka acks",
  integration,
  async () => {
    const sql = testSql();
    const fx = await setUp(sql, "id int PRIMARY KEY, note text");
    const connector = ConnectorProcess.start(fx.config);
    try {
      await connector.waitForLine(/streaming slot/);
      await sql.unsafe(`INSERT INTO ${fx.table} VALUES (1, 'before the outage')`);
      await readTopics([fx.topic], (m) => m.length >= 1);

      await stack("kafka-stop");
      // The same row, so its two changes share a partition and their order
      // in Kafka is the order of the WAL.
      await sql.unsafe(`UPDATE ${fx.table} SET note = 'during the outage' WHERE id = 1`);
      const changeEnd = await currentWalLsn(sql);
      await new Promise((resolve) => setTimeout(resolve, HOLD_OBSERVATION_MS));
      const held = await confirmedFlushLsn(sql, fx.slot);
      assert.ok(
        held! < changeEnd,
        `slot confirmed ${held} although Kafka never acked ${changeEnd}`,
      );

      await stack("kafka-start");
      const messages = await readTopics([fx.topic], (m) => m.length >= 2);
      assert.deepEqual(messages.map((m) => JSON.parse(m.value!).after.note), [
        "before the outage",
        "during the outage",
      ]);
      await waitFor("the slot to pass the change", async () => {
        const lsn = await confirmedFlushLsn(sql, fx.slot);
        return lsn !== undefined && lsn >= changeEnd ? lsn : undefined;
      });
      assert.equal((await connector.stop("SIGTERM")).code, 0);
    } finally {
      await stack("kafka-start");
      await connector.stop("SIGKILL");
      await dropSlotAndPublication(sql, fx.slot, fx.publication);
      await sql.end();
    }
  },
);

Deno.test(
  "a restarted connector resumes from the slot and loses nothing",
  integration,
  async () => {
    const sql = testSql();
    const fx = await setUp(sql, "id int PRIMARY KEY");
    const rows = 300;
    try {
      const first = ConnectorProcess.start(fx.config);
      await first.waitForLine(/streaming slot/);
      await sql.unsafe(`INSERT INTO ${fx.table} SELECT generate_series(1, ${rows / 2})`);
      await readTopics([fx.topic], (m) => m.length >= rows / 2);
      assert.equal((await first.stop("SIGTERM")).code, 0);

      // Written while no connector runs: the slot keeps them.
      await sql.unsafe(`INSERT INTO ${fx.table} SELECT generate_series(${rows / 2 + 1}, ${rows})`);

      const second = ConnectorProcess.start(fx.config);
      try {
        const messages = await readTopics([fx.topic], (m) => {
          return new Set(m.map((x) => x.key)).size >= rows;
        });
        const ids = new Set(messages.map((m) => JSON.parse(m.key!).id));
        assert.equal(ids.size, rows);
        assert.equal((await second.stop("SIGTERM")).code, 0);
      } finally {
        await second.stop("SIGKILL");
      }
    } finally {
      await dropSlotAndPublication(sql, fx.slot, fx.publication);
      await sql.end();
    }
  },
);

Deno.test(
  "the connector logs the broker's release line and the API versions in use",
  integration,
  async () => {
    const sql = testSql();
    const fx = await setUp(sql, "id int PRIMARY KEY");
    const connector = ConnectorProcess.start(fx.config);
    try {
      const release = (Deno.env.get("PG2KAFKA_KAFKA_VERSION") ?? "4").startsWith("3.")
        ? "Kafka 3\\.x or earlier"
        : "Kafka 4\\.0 or later";
      const line = await connector.waitForLine(
        new RegExp(
          `"release":"${release}","apis":"` +
            "ApiVersions v2, Metadata v6, InitProducerId v1, Produce v7",
        ),
      );
      console.log(`broker check: ${line}`);
      await connector.waitForLine(/streaming slot/);
    } finally {
      await connector.stop();
      await dropSlotAndPublication(sql, fx.slot, fx.publication);
      await sql.unsafe(`DROP TABLE ${fx.table}`);
      await sql.end();
    }
  },
);
