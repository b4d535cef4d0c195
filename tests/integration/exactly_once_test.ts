/**
 * Exactly-once delivery (`kafka.delivery = "exactly_once"`) against the real
 * broker and PostgreSQL: kill -9, a PostgreSQL restart, a broker outage,
 * fencing of a frozen active process by its standby, and a transaction of a
 * million rows. A `read_committed` consumer must see every change once.
 *
 * The figures the issue names are the defaults; `PG2KAFKA_EOS_CHANGES` and
 * `PG2KAFKA_EOS_BIG_ROWS` shrink (or grow) the two heaviest loads.
 */
import assert from "node:assert/strict";
import type { Sql } from "postgres";
import type { Kafka } from "kafkajs";
import {
  connectorConfig,
  ConnectorProcess,
  dropSlotAndPublication,
  processMemory,
  sleep,
  stack,
  testKafka,
  testSql,
  uniqueName,
  waitFor,
} from "./harness.ts";
import { decodeProgress } from "../../src/kafka/progress.ts";

const integration = { sanitizeOps: false, sanitizeResources: false };
const DEAD_LETTER_TOPIC = "tests.eos.dead_letter";
const KILL_TEST_CHANGES = Number(Deno.env.get("PG2KAFKA_EOS_CHANGES") ?? 200_000);
const BIG_TRANSACTION_ROWS = Number(Deno.env.get("PG2KAFKA_EOS_BIG_ROWS") ?? 1_000_000);
const PARTITIONS = 3;

interface Fixture {
  sql: Sql;
  table: string;
  slot: string;
  publication: string;
  topic: string;
  progressTopic: string;
}

async function fixture(): Promise<Fixture> {
  const sql = testSql();
  const table = uniqueName("eos");
  await sql.unsafe(`CREATE TABLE ${table} (id int PRIMARY KEY, v int NOT NULL DEFAULT 0)`);
  return {
    sql,
    table,
    slot: `${table}_slot`,
    publication: `${table}_pub`,
    topic: `tests.${table}`,
    progressTopic: `tests.${table}.progress`,
  };
}

function config(fx: Fixture, kafka = "", extra = ""): string {
  return connectorConfig({
    slot: fx.slot,
    publication: fx.publication,
    tables: [`public.${fx.table}`],
    kafka: `dead_letter_topic = "${DEAD_LETTER_TOPIC}"
delivery = "exactly_once"
topic_partitions = ${PARTITIONS}
${kafka}

[kafka.transactions]
progress_topic = "${fx.progressTopic}"
max_duration = "500ms"`,
    extra,
    targets: `
[[targets]]
name = "rows"
tables = ["public.${fx.table}"]
topic = "tests.{table}"
`,
  });
}

async function tearDown(fx: Fixture, ...connectors: (ConnectorProcess | undefined)[]) {
  for (const connector of connectors) await connector?.stop("SIGKILL");
  await dropSlotAndPublication(fx.sql, fx.slot, fx.publication);
  await fx.sql.end();
}

/** What a `read_committed` consumer saw of the test table's topic. */
interface Seen {
  /** Messages read. */
  count: number;
  /** Messages whose change (key and LSN) was read before. */
  duplicates: number;
  /** Per row id, the `v` of each change in the order read. */
  values: Map<number, number[]>;
  /** Rows whose changes came out of order. */
  outOfOrder: number;
}

/**
 * Reads `topic` from the start with `read_committed` (kafkajs's default)
 * until `done(seen)` holds, then `settleMs` more to catch late duplicates.
 */
async function readCommitted(
  topic: string,
  done: (seen: Seen) => boolean,
  timeoutMs: number,
  settleMs = 3_000,
): Promise<Seen> {
  const kafka = testKafka();
  const seen: Seen = { count: 0, duplicates: 0, values: new Map(), outOfOrder: 0 };
  const changes = new Set<string>();
  const consumer = kafka.consumer({ groupId: uniqueName("eos"), readUncommitted: false });
  const complete = Promise.withResolvers<void>();
  await waitFor(`topic ${topic}`, async () => {
    const admin = kafka.admin();
    await admin.connect();
    const topics = await admin.listTopics().finally(() => admin.disconnect());
    return topics.includes(topic) ? true : undefined;
  }, timeoutMs);
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachBatch: ({ batch }) => {
        for (const message of batch.messages) {
          seen.count++;
          const value = JSON.parse(message.value!.toString());
          const id = value.after.id as number;
          const change = `${id}@${value.lsn}`;
          if (changes.has(change)) seen.duplicates++;
          changes.add(change);
          let values = seen.values.get(id);
          if (values === undefined) seen.values.set(id, values = []);
          if (values.length > 0 && values.at(-1)! >= value.after.v) seen.outOfOrder++;
          values.push(value.after.v);
        }
        if (done(seen)) complete.resolve();
        return Promise.resolve();
      },
    });
    const timer = setTimeout(
      () => complete.reject(new Error(`Read ${seen.count} message(s) of ${topic}, timed out`)),
      timeoutMs,
    );
    await complete.promise.finally(() => clearTimeout(timer));
    await sleep(settleMs);
    return seen;
  } finally {
    await consumer.disconnect();
  }
}

/** Inserts ids `first`… in transactions of `perTx` rows, then sets `v = 1` on each the same way. */
async function insertThenUpdate(sql: Sql, table: string, first: number, rows: number, perTx: number) {
  for (let start = first; start < first + rows; start += perTx) {
    const end = Math.min(start + perTx, first + rows) - 1;
    await sql.unsafe(`INSERT INTO ${table} (id) SELECT generate_series(${start}, ${end})`);
  }
  for (let start = first; start < first + rows; start += perTx) {
    const end = Math.min(start + perTx, first + rows) - 1;
    await sql.unsafe(`UPDATE ${table} SET v = 1 WHERE id BETWEEN ${start} AND ${end}`);
  }
}

/** Each row was inserted (v = 0) and updated once (v = 1), read in that order. */
function assertEveryChangeOnce(seen: Seen, rows: number, what: string): void {
  let complete = 0;
  for (const values of seen.values.values()) if (values.join() === "0,1") complete++;
  console.log(
    `${what}: read ${seen.count} message(s) for ${rows * 2} changes: ${seen.values.size} rows, ` +
      `${seen.count - seen.duplicates} distinct, ${seen.duplicates} duplicate(s), ` +
      `${rows * 2 - (seen.count - seen.duplicates)} lost, ${seen.outOfOrder} out of order`,
  );
  assert.equal(seen.duplicates, 0, "duplicates");
  assert.equal(seen.outOfOrder, 0, "changes of one row out of order");
  assert.equal(seen.values.size, rows, "rows");
  assert.equal(complete, rows, "rows with their insert and update");
  assert.equal(seen.count, rows * 2, "messages");
}

/** Progress records of the test's source, read uncommitted (every Kafka transaction's). */
async function progressRecords(kafka: Kafka, topic: string): Promise<string[]> {
  const consumer = kafka.consumer({ groupId: uniqueName("eos_progress"), readUncommitted: true });
  const admin = kafka.admin();
  await admin.connect();
  const [{ high }] = await admin.fetchTopicOffsets(topic).finally(() => admin.disconnect());
  const values: string[] = [];
  const done = Promise.withResolvers<void>();
  consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
    if (BigInt(payload.lastOffset) >= BigInt(high) - 1n) done.resolve();
  });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: ({ message }) => {
        if (message.value !== null) values.push(message.value.toString());
        return Promise.resolve();
      },
    });
    await done.promise;
  } finally {
    await consumer.disconnect();
  }
  return values;
}

Deno.test(
  "exactly once: rows, a dead letter and the progress record in one committed stream",
  integration,
  async () => {
    const fx = await fixture();
    const connector = ConnectorProcess.start(config(fx));
    try {
      await connector.waitForLine(/streaming slot/);
      await insertThenUpdate(fx.sql, fx.table, 1, 500, 100);
      const seen = await readCommitted(fx.topic, (s) => s.count >= 1_000, 60_000);
      assertEveryChangeOnce(seen, 500, "smoke");
      const records = (await progressRecords(testKafka(), fx.progressTopic)).map(decodeProgress);
      const last = records.at(-1)!;
      assert.equal(last.source, "main");
      assert.equal(last.slot, fx.slot);
      assert.equal(last.point.partial, null);
    } finally {
      await tearDown(fx, connector);
    }
  },
);
