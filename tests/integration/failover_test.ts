/**
 * Failover slots (PostgreSQL 17+): with `failover_slot = true` the slot is
 * kept on a physical standby, and after the primary stops and the standby is
 * promoted, pg2kafka continues there from the synchronised slot: nothing is
 * lost, duplicates are possible and counted.
 *
 * The failover run needs PostgreSQL 17+ and its own standby
 * (`scripts/stack.sh standby-up`, on the port after the stack's); it runs
 * when PG2KAFKA_TEST_FAILOVER=1 (CI's PostgreSQL 17 job). Older servers get
 * the refusal test instead.
 */
import assert from "node:assert/strict";
import postgres, { type Sql } from "postgres";
import {
  confirmedFlushLsn,
  connectorConfig,
  ConnectorProcess,
  currentWalLsn,
  dropSlotAndPublication,
  readTopics,
  STACK,
  stack,
  testSql,
  uniqueName,
  waitFor,
} from "./harness.ts";

const integration = { sanitizeOps: false, sanitizeResources: false };
const FAILOVER_SLOTS_SINCE = 170000;
const STANDBY_PORT = Number(Deno.env.get("PG2KAFKA_PG_STANDBY_PORT") ?? STACK.pgPort + 1);
const ROWS_PER_BATCH = 200;
const ROWS_PER_TRANSACTION = 10;
const SLOT_SYNC_TIMEOUT_MS = 180_000;
const DELIVERY_TIMEOUT_MS = 120_000;

async function serverVersionNumber(): Promise<number> {
  const sql = testSql();
  try {
    const [{ version }] = await sql<{ version: number }[]>`
      SELECT current_setting('server_version_num')::int AS version`;
    return version;
  } finally {
    await sql.end();
  }
}

const serverVersion = await serverVersionNumber();
const failoverRun = Deno.env.get("PG2KAFKA_TEST_FAILOVER") === "1";

interface Fixture {
  table: string;
  slot: string;
  publication: string;
  topic: string;
  config: string;
}

function fixture(): Fixture {
  const table = uniqueName("failover");
  const slot = `${table}_slot`;
  const publication = `${table}_pub`;
  const topic = `tests.${table}`;
  const config = connectorConfig({
    slot,
    publication,
    tables: [`public.${table}`],
    // No snapshot: a slot made afresh on the promoted standby would skip changes, and show it.
    source: 'failover_slot = true\nsnapshot = "never"',
    targets: `
[[targets]]
name = "rows"
tables = ["public.${table}"]
topic = "tests.{table}"
`,
  });
  return { table, slot, publication, topic, config };
}

/** Inserts rows `first`…`first + ROWS_PER_BATCH - 1`, ROWS_PER_TRANSACTION per transaction. */
async function insertBatch(sql: Sql, table: string, first: number): Promise<void> {
  for (let start = first; start < first + ROWS_PER_BATCH; start += ROWS_PER_TRANSACTION) {
    await sql.unsafe(
      `INSERT INTO ${table} SELECT g, 'row ' || g FROM generate_series($1::int, $2::int) g`,
      [start, start + ROWS_PER_TRANSACTION - 1],
    );
  }
}

function standbySql(): Sql {
  return postgres({
    host: STACK.pgHost,
    port: STANDBY_PORT,
    database: STACK.pgDatabase,
    username: STACK.pgUser,
    password: STACK.pgPassword,
    max: 2,
    onnotice: () => {},
  });
}

Deno.test({
  name: "failover_slot is refused on a server older than PostgreSQL 17",
  ignore: serverVersion >= FAILOVER_SLOTS_SINCE,
  ...integration,
  fn: async () => {
    const sql = testSql();
    const fx = fixture();
    await sql.unsafe(`CREATE TABLE ${fx.table} (id int PRIMARY KEY, payload text)`);
    const connector = ConnectorProcess.start(fx.config);
    try {
      // A source's set-up error is retried with backoff (the server may be upgraded), loudly.
      const line = await connector.waitForLine(/failover_slot = true needs PostgreSQL 17/);
      assert.match(line, /"level":"ERROR"/);
      assert.match(line, /set failover_slot = false, or upgrade the server/);
      const [slot] = await sql`SELECT 1 FROM pg_replication_slots WHERE slot_name = ${fx.slot}`;
      assert.equal(slot, undefined, "no slot is created");
    } finally {
      await connector.stop("SIGKILL");
      await dropSlotAndPublication(sql, fx.slot, fx.publication);
      await sql.unsafe(`DROP TABLE ${fx.table}`);
      await sql.end();
    }
  },
});

Deno.test({
  name:
    "a promoted standby continues from the synchronised failover slot: 0 lost, duplicates counted",
  ignore: !failoverRun,
  ...integration,
  fn: async () => {
    assert.ok(
      serverVersion >= FAILOVER_SLOTS_SINCE,
      `the failover test needs PostgreSQL 17+, the stack runs ${serverVersion}`,
    );
    const fx = fixture();
    let primary = testSql();
    await primary.unsafe(`CREATE TABLE ${fx.table} (id int PRIMARY KEY, payload text)`);
    await stack("standby-up");
    primary = testSql(); // standby-up restarted the primary
    const standby = standbySql();
    let first: ConnectorProcess | null = null;
    let second: ConnectorProcess | null = null;
    try {
      first = ConnectorProcess.start(fx.config);
      await first.waitForLine(/streaming slot/);

      // Batch 1 is delivered and confirmed, and the standby's copy of the slot is synchronised.
      await insertBatch(primary, fx.table, 1);
      const written = await currentWalLsn(primary);
      await waitFor("the primary's slot to confirm batch 1", async () => {
        const confirmed = await confirmedFlushLsn(primary, fx.slot);
        return confirmed !== undefined && confirmed >= written ? true : undefined;
      }, DELIVERY_TIMEOUT_MS);
      const synced = await waitFor(
        "the standby to hold a synchronised copy of the slot",
        async () => {
          const [slot] = await standby<{ failover: boolean; lsn: string }[]>`
          SELECT failover, confirmed_flush_lsn::text AS lsn FROM pg_replication_slots
          WHERE slot_name = ${fx.slot} AND synced AND NOT temporary`;
          return slot;
        },
        SLOT_SYNC_TIMEOUT_MS,
      );
      assert.equal(synced.failover, true);
      console.log(`standby slot synchronised at ${synced.lsn}`);

      // Batch 2 streams while the primary stops; the standby has its WAL (fast shutdown sends it).
      await insertBatch(primary, fx.table, 1 + ROWS_PER_BATCH);
      await primary.end();
      await stack("pg-stop");
      await stack("standby-promote");
      await first.stop("SIGTERM");

      // pg2kafka, pointed at the promoted standby, continues from the synchronised slot.
      const promotedConfig = fx.config.replace(`port = ${STACK.pgPort}`, `port = ${STANDBY_PORT}`);
      assert.notEqual(promotedConfig, fx.config);
      second = ConnectorProcess.start(promotedConfig);
      const resumed = await second.waitForLine(/streaming slot/);
      console.log(`resumed on the promoted standby: ${resumed}`);
      assert.ok(
        !second.lines.some((line) => /Created replication slot/.test(line)),
        "the slot was not created again",
      );
      await insertBatch(standby, fx.table, 1 + 2 * ROWS_PER_BATCH);

      const total = 3 * ROWS_PER_BATCH;
      const messages = await readTopics(
        [fx.topic],
        (read) => new Set(read.map((m) => m.key)).size >= total,
        DELIVERY_TIMEOUT_MS,
      );
      const ids = messages.map((m) => JSON.parse(m.key!).id as number);
      const unique = new Set(ids);
      const lost = Array.from({ length: total }, (_, i) => i + 1).filter((id) => !unique.has(id));
      const duplicates = ids.length - unique.size;
      console.log(
        `failover: ${total} rows, ${messages.length} messages, ${lost.length} lost, ` +
          `${duplicates} duplicate(s)`,
      );
      assert.deepEqual(lost, []);
      assert.equal(unique.size, total);
      assert.equal((await second.stop("SIGTERM")).code, 0);
    } finally {
      await first?.stop("SIGKILL");
      await second?.stop("SIGKILL");
      await standby.end();
      await primary.end().catch(() => {});
      await stack("standby-down");
      await stack("pg-start");
      const sql = testSql();
      await dropSlotAndPublication(sql, fx.slot, fx.publication);
      await sql.unsafe(`DROP TABLE IF EXISTS ${fx.table}`);
      await sql.end();
    }
  },
});
