/**
 * Exactly-once delivery (`kafka.delivery = "exactly_once"`) against the real
 * broker and PostgreSQL: kill -9, a PostgreSQL restart, a broker outage,
 * fencing of a frozen active process by its standby, and a transaction of a
 * million rows. A `read_committed` consumer must see every change once.
 *
 * `PG2KAFKA_EOS_CHANGES` (default 200,000) and `PG2KAFKA_EOS_BIG_ROWS`
 * (default 200,000; `1000000` for the full-size run) size the two heaviest
 * loads.
 */
import assert from "node:assert/strict";
import postgres, { type Sql } from "postgres";
import type { Kafka } from "kafkajs";
import {
  connectorConfig,
  ConnectorProcess,
  dropSlotAndPublication,
  processMemory,
  sleep,
  STACK,
  stack,
  testKafka,
  testSql,
  uniqueName,
  waitFor,
} from "./harness.ts";
import { decodeProgress } from "../../src/kafka/progress_topic.ts";

const integration = { sanitizeOps: false, sanitizeResources: false };
const DEAD_LETTER_TOPIC = "tests.eos.dead_letter";
const KILL_TEST_CHANGES = Number(Deno.env.get("PG2KAFKA_EOS_CHANGES") ?? 200_000);
/** 1,000,000 is the figure: about 5 minutes here, so the default suite runs a fifth. */
const BIG_TRANSACTION_ROWS = Number(Deno.env.get("PG2KAFKA_EOS_BIG_ROWS") ?? 200_000);
const PARTITIONS = 3;

/** A superuser connection over the stack's Unix socket (trust auth), for server settings. */
function adminSql(): Sql {
  const socketDir = Deno.env.get("PG2KAFKA_PG_SOCKET_DIR") ?? ".stack/pg/run";
  return postgres({
    path: `${socketDir}/.s.PGSQL.${STACK.pgPort}`,
    database: STACK.pgDatabase,
    username: "postgres",
    max: 1,
    onnotice: () => {},
  });
}

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
  await sql.unsafe(
    `CREATE TABLE ${table} (id int PRIMARY KEY, v int NOT NULL DEFAULT 0, note text)`,
  );
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

/**
 * Starts the broker again; a loaded machine can make one start outlast
 * stack.sh's readiness wait, so it gets a few tries.
 */
async function startKafka(): Promise<void> {
  const ATTEMPTS = 3;
  for (let attempt = 1;; attempt++) {
    try {
      return await stack("kafka-start");
    } catch (error) {
      if (attempt === ATTEMPTS) throw error;
    }
  }
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
async function insertThenUpdate(
  sql: Sql,
  table: string,
  first: number,
  rows: number,
  perTx: number,
) {
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

/** A message read back raw. */
interface RawMessage {
  key: string | null;
  value: string | null;
  headers: Record<string, string>;
}

/** Every message of a one-partition or small topic, up to its end offsets. */
async function readAll(
  kafka: Kafka,
  topic: string,
  readUncommitted: boolean,
): Promise<RawMessage[]> {
  const consumer = kafka.consumer({ groupId: uniqueName("eos_raw"), readUncommitted });
  const admin = kafka.admin();
  await admin.connect();
  const ends = await admin.fetchTopicOffsets(topic).finally(() => admin.disconnect());
  const remaining = new Map(ends.map(({ partition, high }) => [partition, BigInt(high)]));
  for (const [partition, high] of remaining) if (high === 0n) remaining.delete(partition);
  const messages: RawMessage[] = [];
  if (remaining.size === 0) return messages;
  const done = Promise.withResolvers<void>();
  consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
    const high = remaining.get(payload.partition);
    if (high !== undefined && BigInt(payload.lastOffset) >= high - 1n) {
      remaining.delete(payload.partition);
    }
    if (remaining.size === 0) done.resolve();
  });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: ({ message }) => {
        const headers: Record<string, string> = {};
        for (const [name, value] of Object.entries(message.headers ?? {})) {
          headers[name] = String(value);
        }
        messages.push({
          key: message.key?.toString() ?? null,
          value: message.value?.toString() ?? null,
          headers,
        });
        return Promise.resolve();
      },
    });
    await done.promise;
  } finally {
    await consumer.disconnect();
  }
  return messages;
}

/** Progress records of the topic, read uncommitted (every Kafka transaction's). */
async function progressRecords(kafka: Kafka, topic: string): Promise<string[]> {
  return (await readAll(kafka, topic, true)).flatMap(({ value }) => value ?? []);
}

Deno.test(
  "exactly once: rows, a dead letter and the progress record in one committed stream",
  integration,
  async () => {
    const fx = await fixture();
    const connector = ConnectorProcess.start(config(fx, `max_message_bytes = "4KiB"`));
    const tooLargeId = 1_000_000;
    try {
      await connector.waitForLine(/streaming slot/);
      await insertThenUpdate(fx.sql, fx.table, 1, 250, 100);
      await fx.sql.unsafe(
        `INSERT INTO ${fx.table} (id, note) VALUES (${tooLargeId}, repeat('x', 10000))`,
      );
      await insertThenUpdate(fx.sql, fx.table, 251, 250, 100);
      const seen = await readCommitted(fx.topic, (s) => s.count >= 1_000, 60_000);
      assertEveryChangeOnce(seen, 500, "smoke");
      const kafka = testKafka();
      const deadLetters = (await readAll(kafka, DEAD_LETTER_TOPIC, false)).filter((message) =>
        message.headers["pg2kafka.dlq.original_topic"] === fx.topic
      );
      assert.deepEqual(
        deadLetters.map((m) => [m.key, m.value, m.headers["pg2kafka.dlq.reason"]]),
        [[`{"id":${tooLargeId}}`, null, "too_large"]],
        "the too large row is dead-lettered once",
      );
      const records = (await progressRecords(kafka, fx.progressTopic)).map(decodeProgress);
      const last = records.at(-1)!;
      assert.equal(last.source, "main");
      assert.equal(last.slot, fx.slot);
      assert.ok(last.point.lsn > 0n);
    } finally {
      await tearDown(fx, connector);
    }
  },
);

Deno.test(
  `exactly once: kill -9 five times during ${KILL_TEST_CHANGES} changes over 3 partitions`,
  integration,
  async () => {
    const fx = await fixture();
    const rows = KILL_TEST_CHANGES / 2;
    const kills = 5;
    let connector: ConnectorProcess | undefined;
    try {
      connector = ConnectorProcess.start(config(fx));
      await connector.waitForLine(/streaming slot/);
      const load = insertThenUpdate(fx.sql, fx.table, 1, rows, 1_000);
      for (let kill = 1; kill <= kills; kill++) {
        await sleep(1_000 + Math.random() * 4_000);
        await connector.stop("SIGKILL");
        connector = ConnectorProcess.start(config(fx));
        await connector.waitForLine(/streaming slot/, 60_000);
      }
      await load;
      const seen = await readCommitted(fx.topic, (s) => s.count >= rows * 2, 300_000, 5_000);
      assertEveryChangeOnce(seen, rows, `kill -9 ×${kills}`);
    } finally {
      await tearDown(fx, connector);
    }
  },
);

Deno.test(
  "exactly once: PostgreSQL restarted during 20,000 changes leaves no duplicate",
  integration,
  async () => {
    const fx = await fixture();
    const rows = 10_000;
    let connector: ConnectorProcess | undefined;
    try {
      connector = ConnectorProcess.start(config(fx));
      await connector.waitForLine(/streaming slot/);
      await insertThenUpdate(fx.sql, fx.table, 1, rows / 2, 500);
      // The connector is still sending when PostgreSQL goes away.
      await readCommitted(fx.topic, (s) => s.count >= rows / 4, 60_000, 0);
      await stack("pg-restart");
      await insertThenUpdate(fx.sql, fx.table, rows / 2 + 1, rows / 2, 500);
      const seen = await readCommitted(fx.topic, (s) => s.count >= rows * 2, 180_000, 5_000);
      assertEveryChangeOnce(seen, rows, "PostgreSQL restart");
      assert.ok(
        connector.lines.some((line) => line.includes("lost its stream")),
        "the connector did not notice the restart",
      );
    } finally {
      await tearDown(fx, connector);
    }
  },
);

Deno.test(
  "exactly once: the broker stopped for 30 s mid-load loses and duplicates nothing",
  integration,
  async () => {
    const fx = await fixture();
    const rows = 10_000;
    let connector: ConnectorProcess | undefined;
    try {
      connector = ConnectorProcess.start(config(fx));
      await connector.waitForLine(/streaming slot/);
      const load = insertThenUpdate(fx.sql, fx.table, 1, rows, 200);
      await readCommitted(fx.topic, (s) => s.count >= rows / 4, 60_000, 0);
      await stack("kafka-stop");
      await sleep(30_000);
      await startKafka();
      await load;
      const seen = await readCommitted(fx.topic, (s) => s.count >= rows * 2, 180_000, 5_000);
      assertEveryChangeOnce(seen, rows, "broker outage");
    } finally {
      await startKafka();
      await tearDown(fx, connector);
    }
  },
);

Deno.test(
  "exactly once: a frozen active process is fenced by its standby and exits non-zero",
  integration,
  async () => {
    const fx = await fixture();
    const rows = 10_000;
    // PostgreSQL frees the frozen process's slot after this long without a reply.
    const admin = adminSql();
    await admin`ALTER SYSTEM SET wal_sender_timeout = '3s'`;
    await admin`SELECT pg_reload_conf()`;
    let active: ConnectorProcess | undefined;
    let standby: ConnectorProcess | undefined;
    try {
      active = ConnectorProcess.start(config(fx));
      await active.waitForLine(/streaming slot/);
      standby = ConnectorProcess.start(config(fx));
      await standby.waitForLine(/is a standby|could not start streaming/, 60_000);
      const load = insertThenUpdate(fx.sql, fx.table, 1, rows, 100);
      await readCommitted(fx.topic, (s) => s.count >= rows / 10, 60_000, 0);

      Deno.kill(active.pid, "SIGSTOP");
      const frozenAt = performance.now();
      await standby.waitForLine(/owns transactional id/, 120_000);
      // Let the standby commit something before the frozen one wakes up.
      await readCommitted(fx.topic, (s) => s.count >= rows / 2, 120_000, 0);
      console.log(`standby took over ${Math.round(performance.now() - frozenAt)} ms after SIGSTOP`);
      Deno.kill(active.pid, "SIGCONT");

      const status = await waitFor("the fenced process to exit", async () => {
        const result = await Promise.race([active!.status, sleep(500).then(() => undefined)]);
        return result;
      }, 120_000);
      assert.notEqual(status.code, 0, "the fenced process exited 0");
      assert.ok(
        active.lines.some((line) => line.includes("took the transactional id")),
        `the fenced process did not say why:\n${active.lines.slice(-20).join("\n")}`,
      );
      await load;
      const seen = await readCommitted(fx.topic, (s) => s.count >= rows * 2, 180_000, 5_000);
      assertEveryChangeOnce(seen, rows, "fencing");
    } finally {
      await admin`ALTER SYSTEM RESET wal_sender_timeout`;
      await admin`SELECT pg_reload_conf()`;
      await admin.end();
      try {
        if (active !== undefined) Deno.kill(active.pid, "SIGCONT");
      } catch { /* it exited */ }
      await tearDown(fx, active, standby);
    }
  },
);

Deno.test(
  `exactly once: a transaction of ${BIG_TRANSACTION_ROWS} rows spans several Kafka transactions`,
  integration,
  async () => {
    const fx = await fixture();
    const connector = ConnectorProcess.start(config(fx));
    try {
      await connector.waitForLine(/streaming slot/);
      await fx.sql.unsafe(
        `INSERT INTO ${fx.table} (id) SELECT generate_series(1, ${BIG_TRANSACTION_ROWS})`,
      );
      let peak = 0;
      const sampler = setInterval(async () => {
        const memory = await processMemory(connector.pid).catch(() => null);
        if (memory !== null) peak = Math.max(peak, memory.peak);
      }, 1_000);
      let seen: Seen;
      try {
        seen = await readCommitted(
          fx.topic,
          (s) => s.count >= BIG_TRANSACTION_ROWS,
          600_000,
          3_000,
        );
      } finally {
        clearInterval(sampler);
      }
      peak = Math.max(peak, (await processMemory(connector.pid)).peak);
      const records = (await progressRecords(testKafka(), fx.progressTopic)).map(decodeProgress);
      const cuts = records.filter((record) => record.point.partial !== null).length;
      console.log(
        `${BIG_TRANSACTION_ROWS}-row transaction: ${seen.count} message(s), ` +
          `${seen.duplicates} duplicate(s), ${records.length} Kafka transactions ` +
          `(${cuts} ending inside it), peak RSS ${Math.round(peak / 2 ** 20)} MiB`,
      );
      assert.equal(seen.count, BIG_TRANSACTION_ROWS);
      assert.equal(seen.duplicates, 0);
      assert.ok(cuts >= 2, "the PostgreSQL transaction was not cut across Kafka transactions");
      const MAX_PEAK_RSS = 512 * 2 ** 20;
      assert.ok(peak < MAX_PEAK_RSS, `peak RSS ${peak} bytes`);
    } finally {
      await tearDown(fx, connector);
    }
  },
);
