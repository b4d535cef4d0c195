/**
 * The defect that wedged the pipeline for good, reproduced as it was found:
 * a first transaction touching nine brand-new topics, rows of a table
 * without a key among them, then a TRUNCATE. Keyless messages retried
 * round-robin to other partitions than their first attempt put the
 * idempotent producer's sequence numbers out of step with the broker
 * (OUT_OF_ORDER_SEQUENCE_NUMBER, retried unchanged forever), the slot never
 * moved and /health kept answering 200.
 */
import assert from "node:assert/strict";
import {
  confirmedFlushLsn,
  connectorConfig,
  ConnectorProcess,
  currentWalLsn,
  dropSlotAndPublication,
  readTopics,
  testSql,
  uniqueName,
  waitFor,
} from "./harness.ts";

const integration = { sanitizeOps: false, sanitizeResources: false };

const KEYED_TABLES = ["b", "c", "d", "e", "f", "g", "h", "i"];
const TRUNCATED_TABLES = ["b", "c", "d", "e"];
const KEYLESS_ROWS = 50;
const KEYED_ROWS = 20;
const DELIVERY_TIMEOUT_MS = 120_000;

Deno.test(
  "a first batch over nine new topics with keyless rows and a TRUNCATE is delivered whole and the slot reaches the WAL end",
  integration,
  async () => {
    const sql = testSql();
    const prefix = uniqueName("w");
    const slot = `${prefix}_slot`;
    const publication = `${prefix}_pub`;
    const table = (suffix: string) => `${prefix}_${suffix}`;
    const all = ["a", ...KEYED_TABLES].map(table);
    await sql.unsafe(`CREATE TABLE ${table("a")} (a int, b text)`);
    for (const suffix of KEYED_TABLES) {
      await sql.unsafe(`CREATE TABLE ${table(suffix)} (id int PRIMARY KEY)`);
    }
    const config = connectorConfig({
      slot,
      publication,
      tables: all.map((name) => `public.${name}`),
      source: `snapshot = "never"`,
      kafka: "create_topics = true\ntopic_partitions = 3",
      targets: `
[[targets]]
name = "all"
tables = [${all.map((name) => `"public.${name}"`).join(", ")}]
topic = "${prefix}.{schema}.{table}"
`,
    });
    const connector = ConnectorProcess.start(config);
    try {
      await connector.waitForLine(/streaming slot/);
      await sql.begin(async (tx) => {
        await tx.unsafe(
          `INSERT INTO ${table("a")} SELECT g, 'x' FROM generate_series(1, ${KEYLESS_ROWS}) g`,
        );
        for (const suffix of KEYED_TABLES) {
          await tx.unsafe(
            `INSERT INTO ${table(suffix)} SELECT g FROM generate_series(1, ${KEYED_ROWS}) g`,
          );
        }
      });
      await sql.unsafe(`TRUNCATE ${TRUNCATED_TABLES.map(table).join(", ")}`);
      const walEnd = await currentWalLsn(sql);

      const topics = all.map((name) => `${prefix}.public.${name}`);
      const expected = KEYLESS_ROWS + KEYED_TABLES.length * KEYED_ROWS + TRUNCATED_TABLES.length;
      const distinct = (messages: { value: string | null }[]) =>
        new Set(messages.map((m) => {
          const value = JSON.parse(m.value!);
          return `${value.table}/${value.op}/${value.lsn}`;
        }));
      const messages = await readTopics(
        topics,
        (read) => distinct(read).size >= expected,
        DELIVERY_TIMEOUT_MS,
      );
      const keyless = messages.filter((m) => m.topic === `${prefix}.public.${table("a")}`);
      const keylessLsns = new Set(keyless.map((m) => JSON.parse(m.value!).lsn));
      console.log(
        `wedge reproduction: ${messages.length} message(s) read for ${expected} change(s), ` +
          `${keyless.length} keyless message(s) with ${keylessLsns.size} distinct LSN(s)`,
      );
      assert.equal(distinct(messages).size, expected, "every change delivered");
      assert.equal(keylessLsns.size, KEYLESS_ROWS, "every keyless row delivered");

      await waitFor("the slot to reach the WAL end", async () => {
        const flushed = await confirmedFlushLsn(sql, slot);
        return flushed !== undefined && flushed >= walEnd ? true : undefined;
      }, DELIVERY_TIMEOUT_MS);
      const outOfOrder = connector.lines.filter((line) => /out of order sequence/i.test(line));
      const retries = connector.lines.filter((line) => /Produce failed/.test(line));
      console.log(
        `wedge reproduction: ${retries.length} produce retr(ies), ` +
          `${outOfOrder.length} out-of-order sequence line(s)`,
      );
      const status = await connector.stop("SIGTERM");
      assert.equal(status.code, 0, "a clean stop after everything was acked");
    } finally {
      await connector.stop("SIGKILL");
      await dropSlotAndPublication(sql, slot, publication);
      for (const name of all) await sql.unsafe(`DROP TABLE IF EXISTS ${name}`);
      await sql.end();
    }
  },
);
