/**
 * Heartbeats (project issue 8): a slot whose database has no captured
 * traffic keeps advancing while another database on the server writes, so
 * the WAL it retains stays bounded; a published heartbeat table carries the
 * heartbeats to Kafka.
 */
import assert from "node:assert/strict";
import type { Sql } from "postgres";
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
const MIB = 1024 * 1024;
/** How long the other database writes. */
const WRITE_DURATION_MS = 90_000;
/** Pause between the other database's statements. */
const WRITE_PAUSE_MS = 500;
/** Rows of about 1 KiB per statement: roughly 1 MiB of WAL each. */
const ROWS_PER_STATEMENT = 1_000;
/** How often the slot's retained WAL is sampled while the other database writes. */
const SAMPLE_INTERVAL_MS = 1_000;
/**
 * The largest share of the WAL written elsewhere that the slot may retain at
 * any moment while it is written. PostgreSQL moves a slot's restart_lsn at
 * running-transactions records, logged every 15 s while WAL is written, and
 * only once the client confirmed a later position: measured peaks were 15 to
 * 30 s of the other database's writes, a third of the 90 s written at most.
 * A slot that did not advance would retain all of it.
 */
const RETAINED_SHARE_MAX = 0.5;
/**
 * What the slot may still retain once the other database stopped writing.
 * Measured without heartbeats (heartbeat_interval = "0s"): in two runs out of
 * three the slot still retained more than this 45 s after the writes
 * stopped; with heartbeats it let go within seconds.
 */
const SETTLED_BOUND_BYTES = 16 * MIB;
/** Two running-transactions periods and then some. */
const SETTLE_TIMEOUT_MS = 45_000;

/** Heartbeat intervals to let pass while a heartbeat keeps failing. */
const HEARTBEATS_TO_WAIT = 5;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** WAL the slot retains: the current WAL position minus its restart_lsn. */
async function retainedWal(sql: Sql, slot: string): Promise<number> {
  const [row] = await sql<{ bytes: string | null }[]>`
    SELECT (pg_current_wal_lsn() - restart_lsn)::text AS bytes
    FROM pg_replication_slots WHERE slot_name = ${slot}`;
  return Number(row?.bytes ?? Number.NaN);
}

/** Writes into a table of database `database` for `durationMs`; returns the WAL written. */
async function writeElsewhere(database: string, durationMs: number): Promise<number> {
  const other = testSql(database);
  try {
    await other`CREATE TABLE filler (payload text)`;
    const [start] = await other<{ lsn: string }[]>`SELECT pg_current_wal_lsn()::text AS lsn`;
    const deadline = Date.now() + durationMs;
    while (Date.now() < deadline) {
      await other`INSERT INTO filler SELECT repeat('x', 1000) FROM generate_series(1, ${ROWS_PER_STATEMENT})`;
      await other`TRUNCATE filler`;
      await sleep(WRITE_PAUSE_MS);
    }
    const [{ bytes }] = await other<{ bytes: string }[]>`
      SELECT (pg_current_wal_lsn() - ${start.lsn}::pg_lsn)::text AS bytes`;
    return Number(bytes);
  } finally {
    await other.end();
  }
}

Deno.test(
  "heartbeats keep the slot's retained WAL bounded while only another database writes",
  integration,
  async () => {
    const sql = testSql();
    const table = uniqueName("hbidle");
    const slot = `${table}_slot`;
    const publication = `${table}_pub`;
    const otherDatabase = uniqueName("hbother");
    await sql.unsafe(`CREATE TABLE ${table} (id int PRIMARY KEY)`);
    await sql.unsafe(`CREATE DATABASE ${otherDatabase}`);
    const connector = ConnectorProcess.start(connectorConfig({
      slot,
      publication,
      tables: [`public.${table}`],
      source: `heartbeat_interval = "1s"`,
      targets: `
[[targets]]
name = "idle"
tables = ["public.${table}"]
topic = "tests.{table}"
`,
    }));
    try {
      await connector.waitForLine(/Heartbeats of source .* every 1000 ms/);
      let peak = 0;
      const sampler = setInterval(async () => {
        peak = Math.max(peak, await retainedWal(sql, slot).catch(() => 0));
      }, SAMPLE_INTERVAL_MS);
      const written = await writeElsewhere(otherDatabase, WRITE_DURATION_MS);
      clearInterval(sampler);
      const end = await currentWalLsn(sql);
      await waitFor("the slot to confirm the other database's WAL", async () => {
        const confirmed = await confirmedFlushLsn(sql, slot);
        return confirmed !== undefined && confirmed >= end ? confirmed : undefined;
      }, SETTLE_TIMEOUT_MS);
      const settled = await waitFor("the slot to let go of the other database's WAL", async () => {
        const bytes = await retainedWal(sql, slot);
        return bytes < SETTLED_BOUND_BYTES ? bytes : undefined;
      }, SETTLE_TIMEOUT_MS);
      console.log(
        `WAL written in another database: ${(written / MIB).toFixed(0)} MiB; retained by the ` +
          `idle slot: at most ${(peak / MIB).toFixed(1)} MiB while writing, ` +
          `${(settled / MIB).toFixed(1)} MiB after`,
      );
      assert.ok(peak > 0, "the slot's retained WAL was never sampled");
      assert.ok(
        peak < RETAINED_SHARE_MAX * written,
        `the slot retained ${peak} of ${written} bytes`,
      );
      assert.equal((await connector.stop("SIGTERM")).code, 0);
    } finally {
      await connector.stop("SIGKILL");
      await dropSlotAndPublication(sql, slot, publication);
      await sql.unsafe(`DROP DATABASE IF EXISTS ${otherDatabase}`);
      await sql.end();
    }
  },
);

Deno.test(
  "a published heartbeat table carries each heartbeat to Kafka",
  integration,
  async () => {
    const sql = testSql();
    const table = uniqueName("hbtable");
    const slot = `${table}_slot`;
    const publication = `${table}_pub`;
    await sql.unsafe(`CREATE TABLE ${table} (source text PRIMARY KEY, ts timestamptz NOT NULL)`);
    const connector = ConnectorProcess.start(connectorConfig({
      slot,
      publication,
      tables: [`public.${table}`],
      source: `heartbeat_interval = "500ms"\nheartbeat_table = "public.${table}"`,
      targets: `
[[targets]]
name = "heartbeats"
tables = ["public.${table}"]
topic = "tests.{table}"
`,
    }));
    try {
      const messages = await readTopics([`tests.${table}`], (m) => m.length >= 3);
      const values = messages.map((m) => JSON.parse(m.value!));
      assert.deepEqual(messages.map((m) => m.key), messages.map(() => '{"source":"main"}'));
      assert.deepEqual(values.map((v) => v.op), ["insert", "update", "update"]);
      const times = values.map((v) => Date.parse(v.after.ts));
      assert.ok(times[0] < times[1] && times[1] < times[2], `not advancing: ${times}`);
      assert.equal((await connector.stop("SIGTERM")).code, 0);
    } finally {
      await connector.stop("SIGKILL");
      await dropSlotAndPublication(sql, slot, publication);
      await sql.end();
    }
  },
);

Deno.test(
  "a failing heartbeat is logged once and heartbeats resume when the table appears",
  integration,
  async () => {
    const sql = testSql();
    const table = uniqueName("hbfail");
    const heartbeatTable = `${table}_heartbeat`;
    const slot = `${table}_slot`;
    const publication = `${table}_pub`;
    await sql.unsafe(`CREATE TABLE ${table} (id int PRIMARY KEY)`);
    const connector = ConnectorProcess.start(connectorConfig({
      slot,
      publication,
      tables: [`public.${table}`],
      source: `heartbeat_interval = "200ms"\nheartbeat_table = "public.${heartbeatTable}"`,
      targets: `
[[targets]]
name = "rows"
tables = ["public.${table}"]
topic = "tests.{table}"
`,
    }));
    try {
      await connector.waitForLine(/Heartbeat of source .* failed: .*does not exist/);
      await sleep(HEARTBEATS_TO_WAIT * 200);
      const failures = connector.lines.filter((line) => /Heartbeat of source .* failed/.test(line));
      assert.equal(failures.length, 1, "a failure logged at every interval");
      await sql.unsafe(
        `CREATE TABLE ${heartbeatTable} (source text PRIMARY KEY, ts timestamptz NOT NULL)`,
      );
      await connector.waitForLine(/Heartbeats of source .* work again/);
      const rows = await waitFor("a heartbeat row", async () => {
        const found = await sql.unsafe(`SELECT source FROM ${heartbeatTable}`);
        return found.length > 0 ? found : undefined;
      });
      assert.deepEqual(rows.map((row) => row.source), ["main"]);
      assert.equal((await connector.stop("SIGTERM")).code, 0);
    } finally {
      await connector.stop("SIGKILL");
      await dropSlotAndPublication(sql, slot, publication);
      await sql.unsafe(`DROP TABLE IF EXISTS ${heartbeatTable}`);
      await sql.end();
    }
  },
);
