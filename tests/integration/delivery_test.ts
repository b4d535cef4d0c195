/**
 * Delivery guarantees under failure (project issue 4), against the real
 * broker and PostgreSQL: Kafka outages, poison messages, SIGTERM, kill -9 and
 * the memory cap.
 */
import assert from "node:assert/strict";
import type { Sql } from "postgres";
import {
  confirmedFlushLsn,
  connectorConfig,
  ConnectorProcess,
  currentWalLsn,
  dropSlotAndPublication,
  processMemory,
  type ReadMessage,
  readTopics,
  sleep,
  stack,
  testSql,
  uniqueName,
  waitFor,
} from "./harness.ts";

const integration = { sanitizeOps: false, sanitizeResources: false };
const DEAD_LETTER_TOPIC = "tests.dead_letter";

interface Fixture {
  sql: Sql;
  table: string;
  slot: string;
  publication: string;
  topic: string;
}

async function fixture(columns: string): Promise<Fixture> {
  const sql = testSql();
  const table = uniqueName("delivery");
  await sql.unsafe(`CREATE TABLE ${table} (${columns})`);
  return {
    sql,
    table,
    slot: `${table}_slot`,
    publication: `${table}_pub`,
    topic: `tests.${table}`,
  };
}

function config(fx: Fixture, extra: { kafka?: string; extra?: string } = {}): string {
  return connectorConfig({
    slot: fx.slot,
    publication: fx.publication,
    tables: [`public.${fx.table}`],
    kafka: `dead_letter_topic = "${DEAD_LETTER_TOPIC}"\n${extra.kafka ?? ""}`,
    extra: extra.extra,
    targets: `
[[targets]]
name = "rows"
tables = ["public.${fx.table}"]
topic = "tests.{table}"
`,
  });
}

async function tearDown(fx: Fixture, ...connectors: ConnectorProcess[]): Promise<void> {
  for (const connector of connectors) await connector.stop("SIGKILL");
  await dropSlotAndPublication(fx.sql, fx.slot, fx.publication);
  await fx.sql.end();
}

/** Inserts `rows` rows with ids from `first`, `perTransaction` rows per transaction. */
async function insertRows(sql: Sql, table: string, first: number, rows: number, perTx: number) {
  for (let start = first; start < first + rows; start += perTx) {
    const end = Math.min(start + perTx, first + rows) - 1;
    await sql.unsafe(`INSERT INTO ${table} (id) SELECT generate_series(${start}, ${end})`);
  }
}

/** Distinct keys and the number of duplicate deliveries in `messages`. */
function tally(messages: ReadMessage[]): { distinct: number; duplicates: number } {
  const seen = new Set(messages.map((m) => `${m.key}@${m.headers["pg2kafka.lsn"]}`));
  return { distinct: seen.size, duplicates: messages.length - seen.size };
}

Deno.test(
  "a 30 s Kafka outage during 50,000 changes loses nothing, keeps per-key order and holds the slot",
  integration,
  async () => {
    const fx = await fixture("id int PRIMARY KEY, version int NOT NULL DEFAULT 0");
    const connector = ConnectorProcess.start(config(fx));
    const rows = 10_000;
    const updateRounds = 4;
    const changes = rows * (1 + updateRounds);
    const outageMs = 30_000;
    try {
      await connector.waitForLine(/streaming slot/);
      const load = (async () => {
        await insertRows(fx.sql, fx.table, 1, rows, 500);
        for (let round = 1; round <= updateRounds; round++) {
          for (let start = 1; start <= rows; start += 500) {
            await fx.sql.unsafe(
              `UPDATE ${fx.table} SET version = ${round} WHERE id BETWEEN ${start} AND ${
                start + 499
              }`,
            );
            await sleep(20);
          }
        }
      })();
      await waitFor("a fifth of the load to be written", async () => {
        const [{ n }] = await fx.sql.unsafe(`SELECT count(*)::int AS n FROM ${fx.table}`);
        return n >= rows / 2 ? true : undefined;
      });
      await stack("kafka-stop");
      await sleep(5_000);
      const heldAt = await confirmedFlushLsn(fx.sql, fx.slot);
      await sleep(outageMs - 5_000);
      assert.equal(
        await confirmedFlushLsn(fx.sql, fx.slot),
        heldAt,
        "slot moved while Kafka was down",
      );
      await stack("kafka-start");
      await load;
      const end = await currentWalLsn(fx.sql);

      const messages = await readTopics([fx.topic], (m) => tally(m).distinct >= changes, 180_000);
      const { distinct, duplicates } = tally(messages);
      console.log(`outage test: ${distinct} distinct changes, ${duplicates} duplicates`);
      assert.equal(distinct, changes);
      const versionsByKey = new Map<string, number[]>();
      for (const message of messages) {
        const version = JSON.parse(message.value!).after.version;
        const versions = versionsByKey.get(message.key!) ?? [];
        versions.push(version);
        versionsByKey.set(message.key!, versions);
      }
      for (const [key, versions] of versionsByKey) {
        const sorted = [...versions].sort((a, b) => a - b);
        assert.deepEqual(versions, sorted, `changes of ${key} arrived out of order`);
      }
      await waitFor("the slot to advance past the load", async () => {
        const lsn = await confirmedFlushLsn(fx.sql, fx.slot);
        return lsn !== undefined && lsn >= end ? lsn : undefined;
      }, 60_000);
    } finally {
      await stack("kafka-start");
      await tearDown(fx, connector);
    }
  },
);

Deno.test(
  "a row larger than the broker accepts goes to the dead-letter topic and later changes flow on",
  integration,
  async () => {
    const fx = await fixture("id int PRIMARY KEY, payload text");
    // The connector's own limit is above the broker's (1 MB), so the broker rejects it.
    const connector = ConnectorProcess.start(
      config(fx, {
        kafka: `max_message_bytes = "8MiB"`,
        extra: `[limits]\nmax_inflight_bytes = "64MiB"`,
      }),
    );
    try {
      await connector.waitForLine(/streaming slot/);
      await fx.sql.unsafe(`INSERT INTO ${fx.table} VALUES (1, 'small before')`);
      const [{ xid }] = await fx.sql.begin(async (tx) => {
        await tx.unsafe(
          `INSERT INTO ${fx.table} SELECT 2, string_agg(md5(i::text), '') FROM generate_series(1, 70000) i`,
        );
        return await tx`SELECT txid_current()::int AS xid`;
      });
      await fx.sql.unsafe(`INSERT INTO ${fx.table} VALUES (3, 'small after')`);
      const end = await currentWalLsn(fx.sql);

      const delivered = await readTopics([fx.topic], (m) => m.length >= 2);
      // Different keys land in different partitions, read in no set order.
      assert.deepEqual(delivered.map((m) => m.key).sort(), ['{"id":1}', '{"id":3}']);
      const parked = await readTopics(
        [DEAD_LETTER_TOPIC],
        (m) => m.some((x) => x.headers["pg2kafka.table"] === `public.${fx.table}`),
      );
      const message = parked.find((x) => x.headers["pg2kafka.table"] === `public.${fx.table}`)!;
      assert.equal(message.key, '{"id":2}');
      assert.equal(message.headers["pg2kafka.dlq.reason"], "too_large");
      assert.match(message.headers["pg2kafka.dlq.error"], /^MESSAGE_TOO_LARGE: /);
      assert.equal(message.headers["pg2kafka.dlq.original_topic"], fx.topic);
      assert.equal(message.headers["pg2kafka.xid"], String(xid));
      assert.match(message.headers["pg2kafka.lsn"], /^[0-9A-F]+\/[0-9A-F]+$/);
      assert.equal(message.headers["pg2kafka.dlq.value_omitted"], "too_large");
      assert.equal(message.value, null);
      await connector.waitForLine(/Dead-lettered a change/);
      await waitFor("the slot to pass the poison row", async () => {
        const lsn = await confirmedFlushLsn(fx.sql, fx.slot);
        return lsn !== undefined && lsn >= end ? lsn : undefined;
      });
    } finally {
      await tearDown(fx, connector);
    }
  },
);

Deno.test(
  "SIGTERM during a load exits 0 and a restart finds nothing missing",
  integration,
  async () => {
    const fx = await fixture("id int PRIMARY KEY");
    const rows = 20_000;
    const first = ConnectorProcess.start(config(fx));
    let second: ConnectorProcess | undefined;
    try {
      await first.waitForLine(/streaming slot/);
      const load = insertRows(fx.sql, fx.table, 1, rows, 200);
      await readTopics([fx.topic], (m) => m.length >= rows / 10);
      const status = await first.stop("SIGTERM");
      assert.equal(status.code, 0, first.lines.join("\n"));
      await first.waitForLine(/stopped at flush LSN/);
      await load;

      second = ConnectorProcess.start(config(fx));
      const messages = await readTopics(
        [fx.topic],
        (m) => new Set(m.map((x) => x.key)).size >= rows,
      );
      const { distinct, duplicates } = tally(messages);
      console.log(`SIGTERM test: ${distinct} distinct changes, ${duplicates} duplicates`);
      assert.equal(new Set(messages.map((m) => m.key)).size, rows);
    } finally {
      await tearDown(fx, first, ...(second ? [second] : []));
    }
  },
);

Deno.test(
  "kill -9 during 100,000 changes, then a restart: every change is present",
  integration,
  async () => {
    const fx = await fixture("id int PRIMARY KEY");
    const rows = 100_000;
    const first = ConnectorProcess.start(config(fx));
    let second: ConnectorProcess | undefined;
    try {
      await first.waitForLine(/streaming slot/);
      const load = insertRows(fx.sql, fx.table, 1, rows, 1_000);
      await readTopics([fx.topic], (m) => m.length >= rows / 4, 120_000);
      await first.stop("SIGKILL");
      await load;

      second = ConnectorProcess.start(config(fx));
      const messages = await readTopics(
        [fx.topic],
        (m) => new Set(m.map((x) => x.key)).size >= rows,
        180_000,
      );
      const { distinct, duplicates } = tally(messages);
      console.log(`kill -9 test: ${distinct} distinct changes, ${duplicates} duplicates`);
      assert.equal(new Set(messages.map((m) => m.key)).size, rows);
    } finally {
      await tearDown(fx, first, ...(second ? [second] : []));
    }
  },
);

Deno.test(
  "while Kafka is down the connector stays under its in-flight cap and stops reading",
  integration,
  async () => {
    const fx = await fixture("id int PRIMARY KEY, filler text");
    const maxMessages = 500;
    const connector = ConnectorProcess.start(config(fx, {
      kafka: `max_message_bytes = "64KiB"`,
      extra: `[limits]\nmax_inflight_messages = ${maxMessages}\nmax_inflight_bytes = "1MiB"`,
    }));
    const rows = 20_000;
    try {
      await connector.waitForLine(/streaming slot/);
      await fx.sql.unsafe(`INSERT INTO ${fx.table} VALUES (0, 'warm-up')`);
      await readTopics([fx.topic], (m) => m.length >= 1);
      const baseline = await processMemory(connector.pid);

      await stack("kafka-stop");
      // 20,000 rows of 1 kB: about 20 MB of WAL, far more than the cap admits.
      for (let start = 1; start <= rows; start += 1_000) {
        await fx.sql.unsafe(
          `INSERT INTO ${fx.table} SELECT i, repeat(md5(i::text), 32)
           FROM generate_series(${start}, ${start + 999}) i`,
        );
      }
      await sleep(8_000);
      const during = await processMemory(connector.pid);
      const [walsender] = await fx.sql<{ behind: string }[]>`
        SELECT (pg_current_wal_lsn() - sent_lsn)::text AS behind
        FROM pg_stat_replication WHERE application_name LIKE 'pg2kafka%'`;
      console.log(
        `memory test: RSS ${baseline.rss >> 20} MiB before, ${during.rss >> 20} MiB during the ` +
          `outage; the walsender is ${Number(walsender.behind) >> 20} MiB behind`,
      );
      const slack = 64 * 1024 * 1024;
      assert.ok(
        during.rss < baseline.rss + slack,
        `RSS grew from ${baseline.rss} to ${during.rss}`,
      );
      assert.ok(Number(walsender.behind) > 4 * 1024 * 1024, "the walsender was not held back");

      await stack("kafka-start");
      const messages = await readTopics(
        [fx.topic],
        (m) => new Set(m.map((x) => x.key)).size >= rows + 1,
        120_000,
      );
      assert.equal(new Set(messages.map((m) => m.key)).size, rows + 1);
    } finally {
      await stack("kafka-start");
      await tearDown(fx, connector);
    }
  },
);

Deno.test(
  "a second signal during a stuck drain exits at once without confirming the unsent change",
  integration,
  async () => {
    const fx = await fixture("id int PRIMARY KEY");
    const connector = ConnectorProcess.start(
      config(fx, { extra: `[shutdown]\ngrace_period = "60s"` }),
    );
    try {
      await connector.waitForLine(/streaming slot/);
      await fx.sql.unsafe(`INSERT INTO ${fx.table} VALUES (1)`);
      await readTopics([fx.topic], (m) => m.length >= 1);
      await stack("kafka-stop");
      await fx.sql.unsafe(`INSERT INTO ${fx.table} VALUES (2)`);
      const unsent = await currentWalLsn(fx.sql);
      await connector.waitForLine(/Produce failed/);

      const started = Date.now();
      Deno.kill(connector.pid, "SIGTERM");
      await connector.waitForLine(/draining in-flight messages/);
      const status = await connector.stop("SIGTERM");
      const waitedMs = Date.now() - started;
      assert.equal(status.code, 130);
      assert.ok(waitedMs < 30_000, `exit took ${waitedMs} ms, the grace period is 60 s`);
      const confirmed = await confirmedFlushLsn(fx.sql, fx.slot);
      assert.ok(confirmed! < unsent, `slot confirmed ${confirmed} past the unsent change`);
    } finally {
      await stack("kafka-start");
      await tearDown(fx, connector);
    }
  },
);
