/**
 * The initial snapshot (project issue 8): rows that exist when the slot is
 * created arrive as `snapshot` events, joined without gap or overlap with the
 * stream; `never` and `when_needed` behave as documented in
 * src/source/snapshot.ts; a connector killed mid-snapshot snapshots again.
 */
import assert from "node:assert/strict";
import type { Sql } from "postgres";
import { parseLsn } from "../../src/lsn.ts";
import { Metrics } from "../../src/telemetry/metrics.ts";
import { InflightBudget } from "../../src/pipeline/inflight.ts";
import { PipelineSession } from "../../src/pipeline/session.ts";
import { MemorySink } from "../fixtures/memory_sink.ts";
import { runSnapshot, SnapshotError, type SnapshotRun } from "../../src/source/snapshot.ts";
import { expectedRows } from "../../src/source/snapshot_progress.ts";
import {
  confirmedFlushLsn,
  connectorConfig,
  ConnectorProcess,
  currentWalLsn,
  dropSlotAndPublication,
  type ReadMessage,
  readTopics,
  STACK,
  testKafka,
  testSql,
  uniqueName,
  waitFor,
} from "./harness.ts";

const integration = { sanitizeOps: false, sanitizeResources: false };
const REPO_ROOT = new URL("../../", import.meta.url).pathname;
const BIG_TABLE_ROWS = 100_000;
/** Pause between the writer's transactions: steady writes, not a flood. */
const WRITER_PAUSE_MS = 5;
/** How long the writer goes on once streaming started, to cross the seam for sure. */
const WRITES_AFTER_STREAMING_MS = 2_000;
const SNAPSHOT_TIMEOUT_MS = 240_000;
/** Exit code of `pg2kafka run` when every source's slot is lost (main.ts). */
const EXIT_SLOT_LOST = 5;

interface Fixture {
  table: string;
  slot: string;
  publication: string;
  topic: string;
}

function fixture(prefix: string): Fixture {
  const table = uniqueName(prefix);
  return { table, slot: `${table}_slot`, publication: `${table}_pub`, topic: `tests.${table}` };
}

/** A connector config for `fx` with `source` lines added to its source. */
function configFor(fx: Fixture, source = "", extra = ""): string {
  return connectorConfig({
    slot: fx.slot,
    publication: fx.publication,
    tables: [`public.${fx.table}`],
    source,
    extra,
    targets: `
[[targets]]
name = "rows"
tables = ["public.${fx.table}"]
topic = "tests.{table}"
`,
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Runs SQL as the cluster's superuser (ALTER SYSTEM, CHECKPOINT), through stack.sh. */
async function superuserSql(...statements: string[]): Promise<void> {
  const args = [
    `${REPO_ROOT}scripts/stack.sh`,
    "psql",
    "-d",
    "app",
    "-qAt",
    "-v",
    "ON_ERROR_STOP=1",
  ];
  for (const statement of statements) args.push("-c", statement);
  const result = await new Deno.Command("bash", { args, stdout: "piped", stderr: "piped" })
    .output();
  if (!result.success) {
    throw new Error(`psql failed: ${new TextDecoder().decode(result.stderr)}`);
  }
}

/** The sum of the topic's partition end offsets: how many messages it holds. */
async function topicSize(topic: string): Promise<number> {
  const admin = testKafka().admin();
  await admin.connect();
  try {
    const offsets = await admin.fetchTopicOffsets(topic);
    return offsets.reduce((sum, { high }) => sum + Number(high), 0);
  } finally {
    await admin.disconnect();
  }
}

/** Waits until the slot confirmed everything written so far, then reads the whole topic. */
async function readEverything(sql: Sql, fx: Fixture): Promise<ReadMessage[]> {
  const end = await currentWalLsn(sql);
  await waitFor("the slot to confirm every change", async () => {
    const lsn = await confirmedFlushLsn(sql, fx.slot);
    return lsn !== undefined && lsn >= end ? lsn : undefined;
  }, SNAPSHOT_TIMEOUT_MS);
  const size = await topicSize(fx.topic);
  return await readTopics([fx.topic], (m) => m.length >= size, SNAPSHOT_TIMEOUT_MS);
}

/** Applies the messages in order, per key: the rows a consumer ends up with. */
function fold(messages: readonly ReadMessage[]): Map<string, unknown> {
  const rows = new Map<string, unknown>();
  for (const message of messages) {
    const value = JSON.parse(message.value!);
    if (value.op === "delete") rows.delete(message.key!);
    else rows.set(message.key!, value.after);
  }
  return rows;
}

async function tableRows(sql: Sql, table: string): Promise<Map<string, unknown>> {
  const rows = await sql.unsafe<{ id: number; val: number; note: string }[]>(
    `SELECT id, val, note FROM ${table}`,
  );
  return new Map(rows.map((row) => [JSON.stringify({ id: row.id }), { ...row }]));
}

/** Changes rows until `stop` resolves: updates, deletes and inserts of new ids. */
async function write(sql: Sql, table: string, stop: Promise<void>): Promise<number> {
  let stopped = false;
  stop.then(() => stopped = true);
  let nextId = BIG_TABLE_ROWS + 1;
  let transactions = 0;
  const randomId = () => 1 + Math.floor(Math.random() * BIG_TABLE_ROWS);
  while (!stopped) {
    await sql.begin(async (tx) => {
      await tx.unsafe(`UPDATE ${table} SET val = val + 1 WHERE id = $1`, [randomId()]);
      await tx.unsafe(`DELETE FROM ${table} WHERE id = $1`, [randomId()]);
      await tx.unsafe(`INSERT INTO ${table} VALUES ($1, 0, 'written during the test')`, [
        nextId++,
      ]);
    });
    transactions++;
    await sleep(WRITER_PAUSE_MS);
  }
  return transactions;
}

Deno.test(
  "a snapshot of 100,000 rows taken during writes, joined with the stream, equals the table",
  integration,
  async () => {
    const sql = testSql();
    const fx = fixture("snap");
    await sql.unsafe(`CREATE TABLE ${fx.table} (id int PRIMARY KEY, val int NOT NULL, note text)`);
    await sql.unsafe(
      `INSERT INTO ${fx.table} SELECT i, 0, 'row ' || i FROM generate_series(1, ${BIG_TABLE_ROWS}) i`,
    );
    const writerSql = testSql();
    const stopWriting = Promise.withResolvers<void>();
    const writer = write(writerSql, fx.table, stopWriting.promise);
    const connector = ConnectorProcess.start(configFor(fx));
    try {
      const started = await connector.waitForLine(/Snapshot of source .* started/, 60_000);
      await connector.waitForLine(/streaming slot/, SNAPSHOT_TIMEOUT_MS);
      await sleep(WRITES_AFTER_STREAMING_MS);
      stopWriting.resolve();
      const transactions = await writer;
      const expected = await tableRows(sql, fx.table);

      const messages = await readEverything(sql, fx);
      const consistentPoint = JSON.parse(started).properties.lsn as string;
      const snapshot = messages.filter((m) => m.headers["pg2kafka.op"] === "snapshot");
      const streamed = messages.filter((m) => m.headers["pg2kafka.op"] !== "snapshot");

      // The seam: no row in both, none in neither.
      assert.deepEqual(fold(messages), expected);
      const snapshotKeys = new Set(snapshot.map((m) => m.key));
      assert.equal(snapshotKeys.size, snapshot.length, "a row was snapshotted twice");
      const insertedAgain = streamed.filter((m) =>
        m.headers["pg2kafka.op"] === "insert" && snapshotKeys.has(m.key)
      );
      assert.deepEqual(insertedAgain, [], "rows both snapshotted and streamed as inserts");
      assert.ok(snapshot.every((m) => m.headers["pg2kafka.lsn"] === consistentPoint));
      assert.ok(
        streamed.every((m) =>
          parseLsn(m.headers["pg2kafka.commit_lsn"]) > parseLsn(consistentPoint)
        ),
        "a streamed change committed before the consistent point",
      );
      // Writes fell on both sides of the seam.
      assert.ok(
        snapshot.some((m) => JSON.parse(m.value!).after.note === "written during the test"),
      );
      assert.ok(streamed.length > 0 && transactions > 0);
      assert.ok(snapshot.length > BIG_TABLE_ROWS / 2, `only ${snapshot.length} snapshot rows`);
      await waitFor("the marker slot to be dropped", async () => {
        const marker = await sql`SELECT 1 FROM pg_replication_slots
                                 WHERE slot_name = ${`${fx.slot}_snapshot`}`;
        return marker.length === 0 ? true : undefined;
      });
      assert.equal((await connector.stop("SIGTERM")).code, 0);
    } finally {
      stopWriting.resolve();
      await writer.catch(() => {});
      await connector.stop("SIGKILL");
      await dropSlotAndPublication(sql, fx.slot, fx.publication);
      await writerSql.end();
      await sql.end();
    }
  },
);

/** Whether a replication slot of that name exists. */
async function slotExists(sql: Sql, name: string): Promise<boolean> {
  const rows = await sql`SELECT 1 FROM pg_replication_slots WHERE slot_name = ${name}`;
  return rows.length > 0;
}

const CRASH_TABLE_ROWS = 30_000;
/** Messages to see in Kafka before the kill: the snapshot is well under way. */
const MESSAGES_BEFORE_KILL = 2_000;

Deno.test(
  "a connector killed mid-snapshot drops the unfinished slot and snapshots again",
  integration,
  async () => {
    const sql = testSql();
    const fx = fixture("snapkill");
    await sql.unsafe(`CREATE TABLE ${fx.table} (id int PRIMARY KEY, val int NOT NULL, note text)`);
    await sql.unsafe(
      `INSERT INTO ${fx.table} SELECT i, 0, 'row ' || i FROM generate_series(1, ${CRASH_TABLE_ROWS}) i`,
    );
    const marker = `${fx.slot}_snapshot`;
    const first = ConnectorProcess.start(configFor(fx));
    let second: ConnectorProcess | null = null;
    try {
      await readTopics([fx.topic], (m) => m.length >= MESSAGES_BEFORE_KILL);
      await first.stop("SIGKILL");
      assert.ok(!first.lines.some((l) => /Snapshot of source .* complete/.test(l)), "too late");
      assert.ok(await slotExists(sql, fx.slot), "the unfinished slot is gone");
      assert.ok(await slotExists(sql, marker), "no marker of the unfinished snapshot");
      // Written after the kill: the new slot's snapshot must carry it.
      await sql.unsafe(`UPDATE ${fx.table} SET val = 1 WHERE id = 1`);

      second = ConnectorProcess.start(configFor(fx));
      await second.waitForLine(/did not finish; dropping the slot/);
      await second.waitForLine(/streaming slot/, SNAPSHOT_TIMEOUT_MS);
      const messages = await readEverything(sql, fx);
      assert.deepEqual(fold(messages), await tableRows(sql, fx.table));
      const snapshotRows = messages.filter((m) => m.headers["pg2kafka.op"] === "snapshot").length;
      assert.ok(snapshotRows >= CRASH_TABLE_ROWS + MESSAGES_BEFORE_KILL, `${snapshotRows} rows`);
      assert.equal(await slotExists(sql, marker), false, "the marker outlived the snapshot");
      assert.equal((await second.stop("SIGTERM")).code, 0);
    } finally {
      await first.stop("SIGKILL");
      await second?.stop("SIGKILL");
      await dropSlotAndPublication(sql, fx.slot, fx.publication);
      await sql`SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots
                WHERE slot_name = ${marker}`;
      await sql.end();
    }
  },
);

/** How long a shutdown during a snapshot may take: no drain of a whole table. */
const SHUTDOWN_LIMIT_MS = 10_000;

Deno.test(
  "SIGTERM during a snapshot exits 0 at once and leaves the snapshot to be redone",
  integration,
  async () => {
    const sql = testSql();
    const fx = fixture("snapterm");
    await sql.unsafe(`CREATE TABLE ${fx.table} (id int PRIMARY KEY, val int NOT NULL, note text)`);
    await sql.unsafe(
      `INSERT INTO ${fx.table} SELECT i, 0, 'row ' || i FROM generate_series(1, ${CRASH_TABLE_ROWS}) i`,
    );
    const marker = `${fx.slot}_snapshot`;
    const connector = ConnectorProcess.start(configFor(fx));
    try {
      await readTopics([fx.topic], (m) => m.length >= MESSAGES_BEFORE_KILL);
      const stopping = Date.now();
      assert.equal((await connector.stop("SIGTERM")).code, 0);
      assert.ok(Date.now() - stopping < SHUTDOWN_LIMIT_MS, "the shutdown waited for the snapshot");
      assert.ok(!connector.lines.some((l) => /Snapshot of source .* complete/.test(l)), "too late");
      assert.ok(await slotExists(sql, marker), "no marker left for the next start");
      assert.ok(connector.lines.some((l) => /stopped unfinished; the next start takes it/.test(l)));
    } finally {
      await connector.stop("SIGKILL");
      await dropSlotAndPublication(sql, fx.slot, fx.publication);
      await sql`SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots
                WHERE slot_name = ${marker}`;
      await sql.end();
    }
  },
);

/** The op and id of each message, sorted by id then op (partitions interleave). */
function opsAndIds(messages: readonly ReadMessage[]): [string, number][] {
  const pairs = messages.map((m): [string, number] => [
    m.headers["pg2kafka.op"],
    JSON.parse(m.key!).id,
  ]);
  return pairs.sort(([opA, idA], [opB, idB]) => idA - idB || opA.localeCompare(opB));
}

Deno.test(
  "snapshot = never streams only the changes made after the slot was created",
  integration,
  async () => {
    const sql = testSql();
    const fx = fixture("snapnever");
    await sql.unsafe(`CREATE TABLE ${fx.table} (id int PRIMARY KEY, val int NOT NULL, note text)`);
    await sql.unsafe(`INSERT INTO ${fx.table} SELECT i, 0, 'old' FROM generate_series(1, 10) i`);
    const connector = ConnectorProcess.start(configFor(fx, `snapshot = "never"`));
    try {
      await connector.waitForLine(/streaming slot/);
      await sql.unsafe(`INSERT INTO ${fx.table} VALUES (11, 0, 'new')`);
      assert.deepEqual(opsAndIds(await readEverything(sql, fx)), [["insert", 11]]);
      assert.ok(!connector.lines.some((line) => /Snapshot of source/.test(line)));
      assert.equal(await slotExists(sql, `${fx.slot}_snapshot`), false);
      assert.equal((await connector.stop("SIGTERM")).code, 0);
    } finally {
      await connector.stop("SIGKILL");
      await dropSlotAndPublication(sql, fx.slot, fx.publication);
      await sql.end();
    }
  },
);

/** `["snapshot", id]` for each id. */
function snapshotted(ids: number[]): [string, number][] {
  return ids.map((id) => ["snapshot", id]);
}

/** Makes every inactive slot that retains WAL lost: a tiny max_slot_wal_keep_size, new WAL, a checkpoint. */
async function loseSlot(sql: Sql, slot: string): Promise<void> {
  await superuserSql(`ALTER SYSTEM SET max_slot_wal_keep_size = '1MB'`, "SELECT pg_reload_conf()");
  await waitFor(`slot ${slot} to be lost`, async () => {
    await superuserSql(
      "CREATE TEMP TABLE wal_filler AS SELECT repeat('x', 100) FROM generate_series(1, 1000)",
      "SELECT pg_switch_wal()",
      "CHECKPOINT",
    );
    const [row] = await sql`SELECT wal_status FROM pg_replication_slots WHERE slot_name = ${slot}`;
    return row?.wal_status === "lost" ? true : undefined;
  });
}

async function restoreWalKeepSize(): Promise<void> {
  await superuserSql("ALTER SYSTEM RESET max_slot_wal_keep_size", "SELECT pg_reload_conf()");
}

Deno.test(
  "snapshot = when_needed snapshots a new slot, not a healthy one, and replaces a lost one",
  integration,
  async () => {
    const sql = testSql();
    const fx = fixture("snapneeded");
    await sql.unsafe(`CREATE TABLE ${fx.table} (id int PRIMARY KEY, val int NOT NULL, note text)`);
    await sql.unsafe(`INSERT INTO ${fx.table} SELECT i, 0, 'old' FROM generate_series(1, 5) i`);
    const whenNeeded = configFor(fx, `snapshot = "when_needed"`);
    const started: ConnectorProcess[] = [];
    const start = (config: string) => {
      const connector = ConnectorProcess.start(config);
      started.push(connector);
      return connector;
    };
    try {
      // A new slot: the five rows arrive as a snapshot.
      const first = start(whenNeeded);
      await first.waitForLine(/streaming slot/);
      assert.equal((await first.stop("SIGTERM")).code, 0);
      await sql.unsafe(`INSERT INTO ${fx.table} VALUES (6, 0, 'while stopped')`);

      // A healthy slot: no snapshot, the stream resumes.
      const second = start(whenNeeded);
      await second.waitForLine(/streaming slot/);
      assert.deepEqual(
        opsAndIds(await readEverything(sql, fx)),
        [...snapshotted([1, 2, 3, 4, 5]), ["insert", 6]],
      );
      assert.ok(!second.lines.some((line) => /Snapshot of source/.test(line)));
      assert.equal((await second.stop("SIGTERM")).code, 0);

      // A lost slot: initial stops (exit 5), when_needed replaces it and snapshots again.
      await loseSlot(sql, fx.slot);
      await sql.unsafe(`INSERT INTO ${fx.table} VALUES (7, 0, 'while lost')`);
      const initial = start(configFor(fx, `snapshot = "initial"`));
      await initial.waitForLine(/is lost \(the WAL it needed was removed\)/);
      assert.equal((await initial.status).code, EXIT_SLOT_LOST);
      await restoreWalKeepSize();
      const third = start(whenNeeded);
      await third.waitForLine(/was lost; dropping it to snapshot again/);
      await third.waitForLine(/streaming slot/);
      // Both snapshots, and the insert streamed by the healthy slot.
      assert.deepEqual(opsAndIds(await readEverything(sql, fx)), [
        ...snapshotted([1, 1, 2, 2, 3, 3, 4, 4, 5, 5]),
        ["insert", 6],
        ...snapshotted([6, 7]),
      ]);
      assert.equal((await third.stop("SIGTERM")).code, 0);
    } finally {
      await restoreWalKeepSize();
      for (const connector of started) await connector.stop("SIGKILL");
      await dropSlotAndPublication(sql, fx.slot, fx.publication);
      await sql.end();
    }
  },
);

Deno.test(
  "a start refuses to redo a snapshot whose slot another process is streaming",
  integration,
  async () => {
    const sql = testSql();
    const fx = fixture("snapbusy");
    await sql.unsafe(`CREATE TABLE ${fx.table} (id int PRIMARY KEY, val int NOT NULL, note text)`);
    const marker = `${fx.slot}_snapshot`;
    const first = ConnectorProcess.start(configFor(fx));
    let second: ConnectorProcess | null = null;
    try {
      await first.waitForLine(/streaming slot/);
      // As if an unfinished snapshot had left its marker behind.
      await sql`SELECT pg_create_physical_replication_slot(${marker})`;
      second = ConnectorProcess.start(configFor(fx));
      const line = await second.waitForLine(/could not start streaming/);
      assert.match(
        line,
        /is active in another process \(PID \d+\) while its snapshot is unfinished/,
      );
      assert.ok(await slotExists(sql, fx.slot), "the streaming slot was dropped");
      assert.equal((await second.stop("SIGTERM")).code, 0);
      assert.equal((await first.stop("SIGTERM")).code, 0);
    } finally {
      await first.stop("SIGKILL");
      await second?.stop("SIGKILL");
      await dropSlotAndPublication(sql, fx.slot, fx.publication);
      await sql`SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots
                WHERE slot_name = ${marker}`;
      await sql.end();
    }
  },
);

Deno.test(
  "runSnapshot() names the snapshot and the slot when the snapshot cannot be imported",
  integration,
  async () => {
    const metrics = new Metrics();
    const pipeline = new PipelineSession(
      {
        source: "main",
        targets: [],
        sink: new MemorySink(),
        account: new InflightBudget({ maxMessages: 10, maxBytes: 1024 }).account("main"),
        metrics,
      },
      0n,
      { onFlush: () => {} },
    );
    const run: SnapshotRun = {
      source: "main",
      connection: {
        host: STACK.pgHost,
        port: STACK.pgPort,
        database: STACK.pgDatabase,
        user: STACK.pgUser,
        password: STACK.pgPassword,
        sslmode: "disable",
        connectTimeoutMs: 10_000,
      },
      slot: "gone_slot",
      publication: "gone_pub",
      snapshotName: "00000003-0000001B-1",
      consistentPoint: 0x1000n,
      fetchRows: 10,
      progressIntervalMs: 10_000,
      values: {},
      pipeline,
      metrics,
      signal: new AbortController().signal,
    };
    await assert.rejects(() => runSnapshot(run), (error: unknown) => {
      assert.ok(error instanceof SnapshotError, String(error));
      assert.match(
        error.message,
        /^Snapshot "00000003-0000001B-1" of slot "gone_slot" cannot be imported: .*snapshot/,
      );
      return true;
    });
    assert.equal(pipeline.pendingTransactions, 0, "the failed snapshot began a transaction");
  },
);

/** Values of many types, as a row of `TYPED_COLUMNS` after the id (SQL literals). */
const TYPED_VALUES = `12345678901234567890.123, 9007199254740993, 1.5::float8, true,
  '{"a": [1, 2, {"b": null}]}'::jsonb, '\\xdeadbeef'::bytea, '2024-02-29', '23:59:59.999999',
  '2024-02-29 12:34:56.789', '2024-02-29 12:34:56.789+05:30', 'infinity'::timestamptz,
  '1 year 2 mons 3 days 04:05:06.7', '{{1,NULL},{3,4}}'::int4[], '{"quoted \\" text",""}'::text[],
  'b7a5f9a2-3c1d-4e8f-9a6b-1c2d3e4f5a6b'::uuid, '192.168.0.1/24'::inet, 'green', 42, 'ünïcødé ✓'`;
const TYPED_COLUMNS = `amount numeric, big int8, ratio float8, flag bool, doc jsonb, bytes bytea,
  day date, clock time, local timestamp, instant timestamptz, forever timestamptz,
  span interval, grid int4[], words text[], uid uuid, net inet, color COLOR_TYPE,
  positive POSITIVE_DOMAIN, note text`;

Deno.test(
  "snapshot rows and streamed rows of the same data are identical, filters and column lists applied",
  integration,
  async () => {
    const sql = testSql();
    const fx = fixture("snaptyped");
    const filtered = `${fx.table}_filtered`;
    const color = `${fx.table}_color`;
    const positive = `${fx.table}_positive`;
    const columns = TYPED_COLUMNS.replace("COLOR_TYPE", color).replace("POSITIVE_DOMAIN", positive);
    await sql.unsafe(`CREATE TYPE ${color} AS ENUM ('red', 'green')`);
    await sql.unsafe(`CREATE DOMAIN ${positive} AS int4 CHECK (VALUE > 0)`);
    await sql.unsafe(`CREATE TABLE ${fx.table} (id int PRIMARY KEY, ${columns},
      doubled int GENERATED ALWAYS AS (id * 2) STORED)`);
    await sql.unsafe(`CREATE TABLE ${filtered} (id int PRIMARY KEY, keep text, secret text)`);
    await sql.unsafe(`CREATE PUBLICATION ${fx.publication} FOR TABLE ${fx.table},
      ${filtered} (id, keep) WHERE (keep <> 'skip')`);
    await sql.unsafe(`INSERT INTO ${fx.table} VALUES (1, ${TYPED_VALUES})`);
    await sql.unsafe(`INSERT INTO ${filtered} VALUES (1, 'yes', 's1'), (2, 'skip', 's2')`);
    const connector = ConnectorProcess.start(connectorConfig({
      slot: fx.slot,
      publication: fx.publication,
      tables: [`public.${fx.table}`, `public.${filtered}`],
      targets: `
[[targets]]
name = "rows"
tables = ["public.${fx.table}", "public.${filtered}"]
topic = "tests.{table}"
`,
    }));
    try {
      await connector.waitForLine(/streaming slot/);
      await sql.unsafe(`INSERT INTO ${fx.table} VALUES (2, ${TYPED_VALUES})`);
      await sql.unsafe(`INSERT INTO ${filtered} VALUES (3, 'yes', 's3'), (4, 'skip', 's4')`);
      const messages = await readEverything(sql, fx);
      const typed = messages.filter((m) => m.topic === fx.topic).map((m) => JSON.parse(m.value!));
      assert.deepEqual(typed.map((v) => v.op).sort(), ["insert", "snapshot"]);
      const [snapshotRow, streamedRow] = ["snapshot", "insert"].map((op) => {
        const { id: _id, ...rest } = typed.find((v) => v.op === op).after;
        return rest;
      });
      assert.deepEqual(snapshotRow, streamedRow);
      assert.equal(snapshotRow.amount, "12345678901234567890.123");
      assert.equal(snapshotRow.positive, 42);
      assert.ok(!("doubled" in snapshotRow), "a generated column was snapshotted");

      const filteredTopic = `tests.${filtered}`;
      const size = await topicSize(filteredTopic);
      const rest = await readTopics([filteredTopic], (m) => m.length >= size);
      assert.deepEqual(
        rest.map((m) => JSON.parse(m.value!)).map((v) => [v.op, v.after]).sort(),
        [["insert", { id: 3, keep: "yes" }], ["snapshot", { id: 1, keep: "yes" }]],
      );
      assert.equal((await connector.stop("SIGTERM")).code, 0);
    } finally {
      await connector.stop("SIGKILL");
      await dropSlotAndPublication(sql, fx.slot, fx.publication);
      await sql.end();
    }
  },
);

/** The properties of the JSON log lines of `connector` whose message matches `pattern`. */
function logLines(connector: ConnectorProcess, pattern: RegExp): Record<string, unknown>[] {
  return connector.lines
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line))
    .filter((entry) => pattern.test(String(entry.message)))
    .map((entry) => entry.properties);
}

const PROGRESS_TABLE_ROWS = 20_000;
const PROGRESS_FETCH_ROWS = 500;

Deno.test(
  "a snapshot's progress lines give the rows to expect and a percent that reaches 100",
  integration,
  async () => {
    const fx = fixture("snap_progress");
    const sql = testSql();
    let connector: ConnectorProcess | undefined;
    try {
      await sql.unsafe(`CREATE TABLE ${fx.table} (id int PRIMARY KEY, val int, note text)`);
      await sql.unsafe(
        `INSERT INTO ${fx.table} SELECT g, g, 'row' FROM generate_series(1, ${PROGRESS_TABLE_ROWS}) g`,
      );
      const source =
        `snapshot_fetch_rows = ${PROGRESS_FETCH_ROWS}\nsnapshot_progress_interval = "1ms"`;
      connector = ConnectorProcess.start(configFor(fx, source));
      await connector.waitForLine(/streaming slot/, SNAPSHOT_TIMEOUT_MS);
      const table = `public.${fx.table}`;
      const [started] = logLines(connector, /^Snapshot of ".*" started: /)
        .filter((line) => line.table === table);
      assert.deepEqual([started.expected, started.kind], [PROGRESS_TABLE_ROWS, "exact"]);
      const progress = logLines(connector, /^Snapshot of ".*" in progress: /)
        .filter((line) => line.table === table);
      assert.ok(progress.length > 0, "no progress line was logged");
      for (const line of progress) {
        assert.equal(line.expected, PROGRESS_TABLE_ROWS);
        assert.equal(line.percent, Math.floor(Number(line.rows) * 1000 / PROGRESS_TABLE_ROWS) / 10);
        assert.equal(typeof line.secondsLeft, "number");
      }
      const [done] = logLines(connector, /^Snapshot of ".*": \d+ row\(s\) read/).filter((l) =>
        l.table === table
      );
      assert.deepEqual([done.rows, done.percent], [PROGRESS_TABLE_ROWS, 100]);
      assert.equal((await connector.stop()).code, 0);
      connector = undefined;
    } finally {
      await connector?.stop("SIGKILL");
      await dropSlotAndPublication(sql, fx.slot, fx.publication);
      await sql.unsafe(`DROP TABLE IF EXISTS ${fx.table}`);
      await sql.end();
    }
  },
);

Deno.test(
  "expectedRows() counts a small table exactly and estimates a large one from reltuples",
  integration,
  async () => {
    const table = uniqueName("snap_estimate");
    const sql = testSql();
    try {
      // No autovacuum: its ANALYZE would make the "never analyzed" step a race.
      await sql.unsafe(
        `CREATE TABLE ${table} (id int PRIMARY KEY, note text) WITH (autovacuum_enabled = false)`,
      );
      await sql.unsafe(
        `INSERT INTO ${table} SELECT g, repeat('x', 100) FROM generate_series(1, 5000) g`,
      );
      const [{ oid }] = await sql.unsafe<{ oid: number }[]>(
        `SELECT '${table}'::regclass::oid::int AS oid`,
      );
      const counted = { relationId: oid, countQuery: `SELECT count(*) AS count FROM ${table}` };
      assert.deepEqual(await expectedRows(sql, counted), { rows: 5_000, kind: "exact" });
      const asIfLarge = 0;
      assert.deepEqual(await expectedRows(sql, counted, asIfLarge), { rows: 0, kind: "unknown" });
      await sql.unsafe(`ANALYZE ${table}`);
      assert.deepEqual(await expectedRows(sql, counted, asIfLarge), {
        rows: 5_000,
        kind: "estimate",
      });
    } finally {
      await sql.unsafe(`DROP TABLE IF EXISTS ${table}`);
      await sql.end();
    }
  },
);
