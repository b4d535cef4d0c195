/**
 * Active and standby (project issue 14, part 5): two connectors with the same
 * config; the second waits as a standby (shown in /ready and a metric) while
 * the first holds the slot, and takes over within seconds when the first is
 * killed with -9 in the middle of 100,000 changes, losing none.
 */
import assert from "node:assert/strict";
import {
  connectorConfig,
  ConnectorProcess,
  readTopics,
  sleep,
  testKafka,
  testSql,
  uniqueName,
  waitFor,
} from "./harness.ts";

const integration = { sanitizeOps: false, sanitizeResources: false };
const TOTAL_ROWS = 100_000;
const ROWS_PER_TRANSACTION = 1_000;
/** The active one is killed once Kafka holds this many of its messages. */
const KILL_AFTER_MESSAGES = 20_000;
/** Pause between the writer's transactions: the kill lands mid-stream. */
const WRITER_PAUSE_MS = 30;
/** "Within a few seconds", with room for a loaded test machine. */
const MAX_TAKEOVER_MS = 15_000;
const READ_TIMEOUT_MS = 300_000;

/** The messages a topic holds (0 while it does not exist). */
async function topicSize(topic: string): Promise<number> {
  const admin = testKafka().admin();
  await admin.connect();
  try {
    if (!(await admin.listTopics()).includes(topic)) return 0;
    const offsets = await admin.fetchTopicOffsets(topic);
    return offsets.reduce((sum, { high }) => sum + Number(high), 0);
  } finally {
    await admin.disconnect();
  }
}

function httpUrl(connector: ConnectorProcess): Promise<string> {
  return connector.waitForLine(/HTTP endpoints listening/).then((line) =>
    JSON.parse(line).properties.url as string
  );
}

Deno.test(
  "a standby takes over within seconds when the active connector is killed, losing nothing",
  integration,
  async () => {
    const table = uniqueName("standby");
    const slot = `${table}_slot`;
    const publication = `${table}_pub`;
    const topic = `tests.${table}`;
    const sql = testSql();
    await sql.unsafe(`CREATE TABLE ${table} (id int PRIMARY KEY)`);
    const config = connectorConfig({
      slot,
      publication,
      tables: [`public.${table}`],
      source: 'standby_poll_interval = "500ms"',
      kafka: `progress_topic = "tests.${table}.progress"`,
      targets: `[[targets]]\nname = "rows"\ntables = ["public.${table}"]\ntopic = "tests.{table}"`,
    }).replace("[http]\nenabled = false", '[http]\nenabled = true\nlisten = "127.0.0.1:0"');
    const active = ConnectorProcess.start(config);
    let standby: ConnectorProcess | null = null;
    try {
      await active.waitForLine(/streaming slot/);
      standby = ConnectorProcess.start(config);
      await standby.waitForLine(/is a standby: slot .* is held by PID/);
      const url = await httpUrl(standby);
      const ready = await (await fetch(`${url}/ready`)).json();
      assert.equal(ready.sources[0].status, "standby");
      const check = ready.checks.find((c: { source?: string }) => c.source === "main");
      assert.match(check.detail, /^standby: /);
      const metrics = await (await fetch(`${url}/metrics`)).text();
      assert.match(metrics, /pg2kafka_source_standby\{source="main"\} 1/);

      // Steady writes; the active one is killed once Kafka holds part of them.
      const writer = (async () => {
        for (let first = 1; first <= TOTAL_ROWS; first += ROWS_PER_TRANSACTION) {
          const last = first + ROWS_PER_TRANSACTION - 1;
          await sql.unsafe(
            `INSERT INTO ${table} SELECT g FROM generate_series(${first}, ${last}) g`,
          );
          await sleep(WRITER_PAUSE_MS);
        }
      })();
      await waitFor("the active connector to deliver part of the changes", async () => {
        const size = await topicSize(topic);
        return size >= KILL_AFTER_MESSAGES ? size : undefined;
      }, READ_TIMEOUT_MS);
      await active.stop("SIGKILL");
      const killedAt = Date.now();
      const tookOver = await standby.waitForLine(/took over slot/, MAX_TAKEOVER_MS * 2);
      const takeoverMs = Date.parse(JSON.parse(tookOver)["@timestamp"]) - killedAt;
      console.log(`standby took over ${takeoverMs} ms after kill -9 of the active connector`);
      assert.ok(takeoverMs < MAX_TAKEOVER_MS, `takeover took ${takeoverMs} ms`);
      await writer;

      const ids = new Set<string>();
      let seen = 0;
      await readTopics([topic], (messages) => {
        for (; seen < messages.length; seen++) ids.add(messages[seen].key!);
        return ids.size >= TOTAL_ROWS;
      }, READ_TIMEOUT_MS);
      assert.equal(ids.size, TOTAL_ROWS, "changes were lost in the takeover");
      await waitFor("the standby to report ready", async () => {
        const body = await (await fetch(`${url}/ready`)).json();
        return body.sources[0].status === "streaming" ? true : undefined;
      });
    } finally {
      await active.stop("SIGKILL");
      await standby?.stop();
      await sql`SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots
                WHERE slot_name = ${slot} AND NOT active`;
      await sql.unsafe(`DROP PUBLICATION IF EXISTS "${publication}"`);
      await sql.unsafe(`DROP TABLE ${table}`);
      await sql.end();
    }
  },
);
