/**
 * The WAL reader against the real stack (project issue 3): every value kind
 * compared column by column with what PostgreSQL itself returns, unchanged
 * TOAST, DDL mid-stream, replica identities and message keys, reconnection
 * after a PostgreSQL restart or a terminated walsender without losing a
 * change, start-up checks with their exact errors, status updates while
 * paused, and idle slot advance.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import postgres, { type Sql } from "postgres";
import {
  confirmedFlushLsn,
  connectorConfig,
  ConnectorProcess,
  currentWalLsn,
  dropSlotAndPublication,
  type ReadMessage,
  readTopics,
  STACK,
  stack,
  testSql,
  uniqueName,
  waitFor,
} from "./harness.ts";

const integration = { sanitizeOps: false, sanitizeResources: false };

/** A superuser connection over the stack's Unix socket (trust auth), for roles and stats. */
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
  slot: string;
  publication: string;
  topic: (table: string) => string;
  config: (extra?: { source?: string; extra?: string }) => string;
}

/** Slot, publication, topics and config for tables created by the test. */
function fixture(tables: string[]): Fixture {
  const name = uniqueName("wal");
  const slot = `${name}_slot`;
  const publication = `${name}_pub`;
  const qualified = tables.map((table) => `public.${table}`);
  return {
    slot,
    publication,
    topic: (table) => `tests.${table}`,
    config: (extra = {}) =>
      connectorConfig({
        slot,
        publication,
        tables: qualified,
        source: extra.source,
        extra: extra.extra,
        targets: `
[[targets]]
name = "rows"
tables = [${qualified.map((t) => `"${t}"`).join(", ")}]
topic = "tests.{table}"
`,
      }),
  };
}

/** An `X/Y` LSN as a number to sort by. */
function lsnOf(message: ReadMessage): bigint {
  const [high, low] = JSON.parse(message.value!).lsn.split("/");
  return (BigInt(`0x${high}`) << 32n) | BigInt(`0x${low}`);
}

/** Messages in WAL order: they come back partition by partition. */
function inWalOrder(messages: readonly ReadMessage[]): ReadMessage[] {
  return [...messages].sort((a, b) => (lsnOf(a) < lsnOf(b) ? -1 : lsnOf(a) > lsnOf(b) ? 1 : 0));
}

/** The parsed values, in WAL order. */
function values(messages: readonly ReadMessage[]) {
  return inWalOrder(messages).map((message) => JSON.parse(message.value!));
}

// --------------------------------------------------------------- fidelity

/**
 * How the connector documents each kind of value (src/source/values.ts),
 * applied to what PostgreSQL returns for the column: its `::text` output
 * (IntervalStyle iso_8601) and its `to_jsonb` value, which for types JSON
 * has no form for is the type's own output.
 */
type Kind =
  | "number"
  | "exact"
  | "float"
  | "bool"
  | "json"
  | "text"
  | "bytea"
  | "temporal"
  | "time"
  | "timetz"
  | "interval"
  | "array";

const COLUMNS: readonly (readonly [string, string, Kind])[] = [
  ["i2", "int2", "number"],
  ["i4", "int4", "number"],
  ["i8", "int8", "exact"],
  ["f4", "float4", "float"],
  ["f8", "float8", "float"],
  ["num", "numeric", "exact"],
  ["flag", "bool", "bool"],
  ["txt", "text", "text"],
  ["vc", "varchar(20)", "text"],
  ["ch", "char(5)", "text"],
  ["js", "json", "json"],
  ["jb", "jsonb", "json"],
  ["uid", "uuid", "text"],
  ["d", "date", "temporal"],
  ["tm", "time", "time"],
  ["ttz", "timetz", "timetz"],
  ["ts", "timestamp", "temporal"],
  ["tstz", "timestamptz", "temporal"],
  ["iv", "interval", "interval"],
  ["bin", "bytea", "bytea"],
  ["ip", "inet", "text"],
  ["net", "cidr", "text"],
  ["mac", "macaddr", "text"],
  ["cash", "money", "text"],
  ["ints", "int4[]", "array"],
  ["texts", "text[]", "array"],
  ["grid", "int4[][]", "array"],
  ["stamps", "timestamptz[]", "array"],
  ["feeling", "{enum}", "text"],
  ["positive", "{domain}", "number"],
  ["big", "text", "text"],
];

const ROWS = [
  `(1, 1, 2, 3, 1.5, 2.25, 3.14159, true, 'text', 'varchar', 'ab',
    '{"a": [1, 2, {"b": null}]}', '{"z": 1, "a": "x"}', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
    '2024-02-29', '12:34:56.123456', '12:34:56.789+05:30', '2024-02-29 23:59:59.5',
    '2024-02-29 23:59:59.000001+02', '1 year 2 mons 3 days 04:05:06.5', '\\x00ff10',
    '192.168.0.1/24', '10.0.0.0/8', '08:00:2b:01:02:03', 1234.56, '{1,2,3}', '{a,b}',
    '{{1,2},{3,4}}', '{"2024-01-01 00:00:00+00",NULL}', 'happy', 7, 'short')`,
  `(2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
    NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
    NULL, NULL, NULL)`,
  `(3, -32768, 2147483647, 9223372036854775807, 'NaN', '-Infinity',
    123456789012345678901234567890.123456789012345678901234567890, false,
    'héllo ✓ 🐘 "quoted" \\ back', '', ' ', '[]', '{"big": 12345678901234567890}',
    '00000000-0000-0000-0000-000000000000', 'infinity', '00:00:00', '23:59:59.999999-11:30',
    '-infinity', 'infinity', '-1 year 2 mons -3 days 04:05:06.789', '\\x', '::1',
    '2001:db8::/32', 'ff:ff:ff:ff:ff:ff', -0.01, '{}', '{"a,b","c\\"d","NULL",NULL," sp ","{x}"}',
    '{{1,NULL},{NULL,4}}', '{}', 'ünïcode', 1, '')`,
  `(4, 0, 0, -9223372036854775808, 'Infinity', 'NaN', 'NaN', true, 'toast', 'v', 'c', 'null',
    '"s"', 'ffffffff-ffff-ffff-ffff-ffffffffffff', '0044-03-15 BC', '24:00:00', '00:00:00+00',
    '0001-01-01 00:00:00 BC', '2000-01-01 00:00:00+14', '0 seconds', '\\x7f', '10.1.2.3',
    '10.1.2.0/24', '00:00:00:00:00:00', 0, '{-1}', '{""}', '{{{1}}}',
    '{"-infinity","2024-06-01 12:00:00.5+03"}', 'sad', 2147483647, repeat('toast!', 5000))`,
  `(5, 1, 1, 1, 3.4e38, 1e-300, -0.000000000000000000001, false, E'line\\nbreak\\ttab', 'x',
    'xxxxx', '{"nested": {"deep": [true, false, null, 1.5e10]}}', '{}',
    '123e4567-e89b-12d3-a456-426614174000', '1999-12-31', '23:59:59.999999', '12:00:00-00:30',
    '1970-01-01 00:00:00.000001', '1900-06-15 03:04:05.06+01:30', '-00:00:00.000001',
    '\\xdeadbeef', '0.0.0.0/0', '0.0.0.0/0', '01:23:45:67:89:ab', 92233720368547758.07,
    '{0,-2147483648}', '{"\\\\"}', '{{NULL}}', NULL, 'happy', 3, NULL)`,
];

const PG_BC = " BC";
const UTC_OFFSET = "+00:00";
const FRACTION_DIGITS = 6;

/** ISO-8601 year of a BC year: 1 BC is 0000, 44 BC is -0043. */
function astronomicalYear(text: string): string {
  const year = 1 - Number(text);
  const digits = String(Math.abs(year)).padStart(4, "0");
  return year < 0 ? `-${digits}` : digits;
}

/** `HH:MM:SS[.f]` with the fraction padded to six digits. */
function padFraction(clock: string): string {
  const [whole, fraction = ""] = clock.split(".");
  return `${whole}.${fraction.padEnd(FRACTION_DIGITS, "0")}`;
}

/** date, timestamp, timestamptz from `to_jsonb` (UTC) to the documented ISO form. */
function temporal(json: string): string {
  if (json === "infinity" || json === "-infinity") return json;
  let text = json;
  if (text.endsWith(PG_BC)) {
    text = text.slice(0, -PG_BC.length);
    text = astronomicalYear(text.slice(0, text.indexOf("-", 1))) + text.slice(text.indexOf("-", 1));
  }
  const [date, time] = text.split("T");
  if (time === undefined) return date;
  const zoned = time.endsWith(UTC_OFFSET);
  const clock = zoned ? time.slice(0, -UTC_OFFSET.length) : time;
  return `${date}T${padFraction(clock)}${zoned ? "Z" : ""}`;
}

/** What the connector must emit for a column, from PostgreSQL's own output. */
function expected(kind: Kind, text: string | null, json: unknown): unknown {
  if (text === null) return null;
  switch (kind) {
    case "number":
      return Number(text);
    case "exact":
    case "interval":
      return text;
    case "text":
      return json; // the type's output function (a cast to text would trim char(n))
    case "float":
      return ["NaN", "Infinity", "-Infinity"].includes(text) ? text : Number(text);
    case "bool":
      return text === "true";
    case "json":
      return JSON.parse(text);
    case "bytea":
      return Buffer.from(text.slice(2), "hex").toString("base64");
    case "temporal":
      return temporal(json as string);
    case "time":
      return padFraction(text);
    case "timetz": {
      const offsetAt = text.search(/[+-]\d\d(:\d\d)?$/);
      const offset = text.slice(offsetAt);
      return padFraction(text.slice(0, offsetAt)) + (offset.length === 3 ? `${offset}:00` : offset);
    }
    case "array":
      return mapArray(
        json,
        (element) =>
          typeof element === "string" && /^-?\d{4}-\d\d-\d\dT|infinity/.test(element)
            ? temporal(element)
            : element,
      );
  }
}

function mapArray(value: unknown, element: (value: unknown) => unknown): unknown {
  return Array.isArray(value) ? value.map((item) => mapArray(item, element)) : element(value);
}

/** PostgreSQL's own view of each row: `::text` of every column and `to_jsonb`. */
async function postgresView(sql: Sql, table: string) {
  return await sql.begin(async (tx) => {
    await tx`SET LOCAL TimeZone = 'UTC'`;
    await tx`SET LOCAL IntervalStyle = 'iso_8601'`;
    await tx`SET LOCAL extra_float_digits = 3`;
    const texts = COLUMNS.map(([name]) => `${name}::text AS ${name}`).join(", ");
    return await tx.unsafe<Record<string, string | null>[]>(
      `SELECT id::text, ${texts}, to_jsonb(t)::text AS json FROM ${table} t ORDER BY id`,
    );
  });
}

function assertColumns(after: Record<string, unknown>, row: Record<string, unknown>, id: number) {
  const json = JSON.parse(String(row.json)) as Record<string, unknown>;
  for (const [name, , kind] of COLUMNS) {
    if (!(name in after)) continue;
    const want = expected(kind, row[name] as string | null, json[name]);
    assert.deepEqual(after[name], want, `row ${id}, column ${name}: ${row[name]}`);
  }
}

Deno.test(
  "every value kind arrives as PostgreSQL returns it, and unchanged TOAST is marked",
  integration,
  async () => {
    const sql = testSql();
    const table = uniqueName("fidelity");
    const mood = `${table}_mood`;
    const positive = `${table}_positive`;
    await sql.unsafe(`CREATE TYPE ${mood} AS ENUM ('sad', 'happy', 'ünïcode')`);
    await sql.unsafe(`CREATE DOMAIN ${positive} AS int4 CHECK (VALUE > 0)`);
    const columns = COLUMNS.map(([name, type]) =>
      `${name} ${type.replace("{enum}", mood).replace("{domain}", positive)}`
    ).join(", ");
    await sql.unsafe(`CREATE TABLE ${table} (id int PRIMARY KEY, ${columns})`);
    // Out of line and uncompressed, so the large value is TOASTed.
    await sql.unsafe(`ALTER TABLE ${table} ALTER COLUMN big SET STORAGE EXTERNAL`);
    const fx = fixture([table]);
    const connector = ConnectorProcess.start(fx.config());
    try {
      await connector.waitForLine(/streaming slot/);
      for (const row of ROWS) await sql.unsafe(`INSERT INTO ${table} VALUES ${row}`);
      await sql.unsafe(`UPDATE ${table} SET i4 = i4 - 1 WHERE id = 4`);
      const messages = await readTopics([fx.topic(table)], (m) => m.length >= ROWS.length + 1);
      const events = values(messages);
      const truth = await postgresView(sql, table);
      assert.deepEqual(events.map((e) => e.op), [...ROWS.map(() => "insert"), "update"]);
      for (const event of events.slice(0, ROWS.length)) {
        const row = truth.find((r) => Number(r.id) === event.after.id)!;
        assert.deepEqual(Object.keys(event.after), ["id", ...COLUMNS.map(([name]) => name)]);
        const inserted = event.after.id === 4
          ? { ...event.after, i4: event.after.i4 - 1 }
          : event.after;
        assertColumns(inserted, row, event.after.id);
      }
      const toasted = events.at(-1);
      assert.deepEqual(toasted.unchanged, ["big"]);
      assert.equal("big" in toasted.after, false, "an unchanged TOAST value is not sent");
      assert.equal(toasted.before, null);
      assertColumns(toasted.after, truth.find((r) => r.id === "4")!, 4);
      assert.equal(events[3].after.big, "toast!".repeat(5000), "the insert carried the value");
    } finally {
      await connector.stop("SIGKILL");
      await dropSlotAndPublication(sql, fx.slot, fx.publication);
      await sql.end();
    }
  },
);

// ------------------------------------------------------------ DDL, identity

Deno.test("events after DDL mid-stream carry the new shape", integration, async () => {
  const sql = testSql();
  const table = uniqueName("ddl");
  await sql.unsafe(`CREATE TABLE ${table} (id int PRIMARY KEY, a text, b int)`);
  const fx = fixture([table]);
  const connector = ConnectorProcess.start(fx.config());
  try {
    await connector.waitForLine(/streaming slot/);
    for (
      const statement of [
        `INSERT INTO ${table} VALUES (1, 'one', 1)`,
        `ALTER TABLE ${table} ADD COLUMN c text DEFAULT 'x'`,
        `INSERT INTO ${table} VALUES (2, 'two', 2)`,
        `ALTER TABLE ${table} DROP COLUMN a`,
        `INSERT INTO ${table} VALUES (3, 3)`,
        `ALTER TABLE ${table} RENAME COLUMN b TO bb`,
        `INSERT INTO ${table} (id, bb) VALUES (4, 4)`,
        `ALTER TABLE ${table} ALTER COLUMN bb TYPE text USING 'was ' || bb`,
        `INSERT INTO ${table} VALUES (5, 'five', 'y')`,
        `UPDATE ${table} SET c = 'z' WHERE id = 1`,
      ]
    ) await sql.unsafe(statement);
    const messages = await readTopics([fx.topic(table)], (m) => m.length >= 6);
    assert.deepEqual(values(messages).map((v) => v.after), [
      { id: 1, a: "one", b: 1 },
      { id: 2, a: "two", b: 2, c: "x" },
      { id: 3, b: 3, c: "x" },
      { id: 4, bb: 4, c: "x" },
      { id: 5, bb: "five", c: "y" },
      { id: 1, bb: "was 1", c: "z" },
    ]);
  } finally {
    await connector.stop("SIGKILL");
    await dropSlotAndPublication(sql, fx.slot, fx.publication);
    await sql.end();
  }
});

Deno.test(
  "before images follow REPLICA IDENTITY, and FULL or NOTHING tables are keyed by their primary key",
  integration,
  async () => {
    const sql = testSql();
    const tables = { default: uniqueName("rid_default"), full: uniqueName("rid_full") };
    const nothing = uniqueName("rid_nothing");
    for (const table of [...Object.values(tables), nothing]) {
      await sql.unsafe(`CREATE TABLE ${table} (id int PRIMARY KEY, name text, note text)`);
    }
    await sql.unsafe(`ALTER TABLE ${tables.full} REPLICA IDENTITY FULL`);
    await sql.unsafe(`ALTER TABLE ${nothing} REPLICA IDENTITY NOTHING`);
    const fx = fixture([...Object.values(tables), nothing]);
    const connector = ConnectorProcess.start(fx.config());
    try {
      await connector.waitForLine(/streaming slot/);
      for (const table of Object.values(tables)) {
        await sql.unsafe(`INSERT INTO ${table} VALUES (1, 'one', NULL)`);
        await sql.unsafe(`UPDATE ${table} SET note = 'noted' WHERE id = 1`);
        await sql.unsafe(`UPDATE ${table} SET note = 'again' WHERE id = 1`);
        await sql.unsafe(`UPDATE ${table} SET id = 2 WHERE id = 1`);
        await sql.unsafe(`DELETE FROM ${table} WHERE id = 2`);
      }
      await sql.unsafe(`INSERT INTO ${nothing} VALUES (7, 'seven', NULL)`);
      const topics = [...Object.values(tables), nothing].map(fx.topic);
      const messages = await readTopics(topics, (m) => m.length >= 11);
      const of = (table: string) => inWalOrder(messages.filter((m) => m.topic === fx.topic(table)));
      assert.deepEqual(values(of(tables.default)).map((v) => [v.op, v.before]), [
        ["insert", null],
        ["update", null],
        ["update", null],
        ["update", { id: 1 }],
        ["delete", { id: 2 }],
      ]);
      assert.deepEqual(values(of(tables.full)).map((v) => [v.op, v.before]), [
        ["insert", null],
        ["update", { id: 1, name: "one", note: null }],
        ["update", { id: 1, name: "one", note: "noted" }],
        ["update", { id: 1, name: "one", note: "again" }],
        ["delete", { id: 2, name: "one", note: "again" }],
      ]);
      for (const table of Object.values(tables)) {
        const keyed = of(table);
        assert.deepEqual(keyed.map((m) => m.key), [
          '{"id":1}',
          '{"id":1}',
          '{"id":1}',
          '{"id":2}',
          '{"id":2}',
        ], table);
        const partitions = new Set(keyed.slice(0, 3).map((m) => m.partition));
        assert.equal(partitions.size, 1, `one row's changes share a partition in ${table}`);
      }
      assert.deepEqual(of(nothing).map((m) => m.key), ['{"id":7}']);
    } finally {
      await connector.stop("SIGKILL");
      await dropSlotAndPublication(sql, fx.slot, fx.publication);
      await sql.end();
    }
  },
);

// ------------------------------------------------------------- reconnect

const LOAD_ROWS = 1_500;
const ROWS_PER_TRANSACTION = 10;
const LOADER_RETRY_MS = 200;
/** Spreads the load over a few seconds, so the disruption lands in the middle of it. */
const LOADER_PAUSE_MS = 15;

/**
 * Inserts `LOAD_ROWS` rows in small transactions, retrying a batch when the
 * connection drops (the insert is idempotent, so a batch that committed
 * before the drop is not doubled). `disrupt` runs once a third is in.
 *
 * @returns how many inserts failed and were retried.
 */
async function loadWhile(table: string, disrupt: () => Promise<void>): Promise<number> {
  const loader = testSql();
  let disrupted: Promise<void> | null = null;
  let retries = 0;
  try {
    for (let first = 1; first <= LOAD_ROWS; first += ROWS_PER_TRANSACTION) {
      if (disrupted === null && first > LOAD_ROWS / 3) disrupted = disrupt();
      const last = first + ROWS_PER_TRANSACTION - 1;
      for (;;) {
        try {
          await loader.unsafe(
            `INSERT INTO ${table} SELECT g, 'row ' || g FROM generate_series(${first}, ${last}) g
             ON CONFLICT (id) DO NOTHING`,
          );
          break;
        } catch {
          retries++;
          await new Promise((resolve) => setTimeout(resolve, LOADER_RETRY_MS));
        }
      }
      await new Promise((resolve) => setTimeout(resolve, LOADER_PAUSE_MS));
    }
    await disrupted;
    return retries;
  } finally {
    // Without a timeout, postgres.js never resolves end() after its connection was cut.
    await loader.end({ timeout: 1 });
  }
}

async function assertEveryRowDelivered(sql: Sql, table: string, topic: string) {
  const [{ count }] = await sql.unsafe<{ count: number }[]>(
    `SELECT count(*)::int AS count FROM ${table}`,
  );
  assert.equal(count, LOAD_ROWS, "every batch committed once");
  const messages = await readTopics([topic], (m) => {
    return new Set(m.map((x) => x.key)).size >= LOAD_ROWS;
  }, 120_000);
  const ids = new Set(messages.map((m) => JSON.parse(m.key!).id));
  assert.equal(ids.size, LOAD_ROWS);
}

/** The JSON log records of reconnect attempts. */
function reconnectRecords(connector: ConnectorProcess) {
  return connector.lines
    .filter((line) => line.includes("reconnecting in") || line.includes("retrying in"))
    .map((line) => JSON.parse(line));
}

Deno.test(
  "PostgreSQL restarted mid-load: the connector reconnects with backoff and loses nothing",
  integration,
  async () => {
    const sql = testSql();
    const table = uniqueName("restart");
    await sql.unsafe(`CREATE TABLE ${table} (id int PRIMARY KEY, note text)`);
    const fx = fixture([table]);
    const connector = ConnectorProcess.start(fx.config({
      source: `
[sources.reconnect]
initial_backoff = "200ms"
max_backoff = "2s"`,
    }));
    try {
      await connector.waitForLine(/streaming slot/);
      const retries = await loadWhile(table, () => stack("pg-restart"));
      assert.ok(retries > 0, "the restart interrupted the load");
      await assertEveryRowDelivered(sql, table, fx.topic(table));
      await connector.waitForLine(/reconnecting in/);
      const records = reconnectRecords(connector);
      assert.ok(records.length >= 1, connector.lines.join("\n"));
      assert.equal(records[0].level, "ERROR");
      assert.match(
        records[0].message,
        /^Source "main" lost its stream, reconnecting in \d+ ms: "Replication connection to 127\.0\.0\.1:\d+ (lost \(|closed by)/,
      );
      assert.deepEqual(
        records.map((r) => r.properties.attempt),
        records.map((_, i) => i + 1),
        "each attempt is logged with its number",
      );
      assert.ok(records.every((r) => r.properties.delayMs <= 2_000 * 1.2));
      const streams = connector.lines.filter((line) => /streaming slot/.test(line));
      assert.ok(streams.length >= 2, "streaming again after the restart");
    } finally {
      await connector.stop("SIGKILL");
      await dropSlotAndPublication(sql, fx.slot, fx.publication);
      await sql.end({ timeout: 1 });
    }
  },
);

Deno.test(
  "a terminated walsender (network drop) is reconnected and loses nothing",
  integration,
  async () => {
    const sql = testSql();
    const admin = adminSql();
    const table = uniqueName("dropped");
    await sql.unsafe(`CREATE TABLE ${table} (id int PRIMARY KEY, note text)`);
    const fx = fixture([table]);
    const connector = ConnectorProcess.start(fx.config());
    try {
      await connector.waitForLine(/streaming slot/);
      let terminated: number | null = null;
      await loadWhile(table, async () => {
        const [row] = await admin`
          SELECT active_pid, pg_terminate_backend(active_pid) AS done
          FROM pg_replication_slots WHERE slot_name = ${fx.slot}`;
        assert.equal(row.done, true);
        terminated = row.active_pid;
      });
      await assertEveryRowDelivered(sql, table, fx.topic(table));
      await connector.waitForLine(/reconnecting in/);
      const [record] = reconnectRecords(connector);
      assert.match(
        record.message,
        /^Source "main" lost its stream, reconnecting in \d+ ms: "Replication connection to 127\.0\.0\.1:\d+ (lost \(|closed by)/,
      );
      const [slot] = await admin`
        SELECT active_pid FROM pg_replication_slots WHERE slot_name = ${fx.slot}`;
      assert.notEqual(slot.active_pid, terminated, "a new walsender streams the slot");
    } finally {
      await connector.stop("SIGKILL");
      await dropSlotAndPublication(sql, fx.slot, fx.publication);
      await admin.end();
      await sql.end();
    }
  },
);

// ------------------------------------------------------------ start-up checks

/** Starts a connector expected to fail its start-up checks and returns the logged error. */
async function startUpError(config: string, env: Record<string, string> = {}): Promise<string> {
  const connector = ConnectorProcess.start(config, env);
  try {
    const line = await connector.waitForLine(/could not start streaming/);
    return JSON.parse(line).properties.error;
  } finally {
    await connector.stop("SIGKILL");
  }
}

Deno.test("start-up checks fail with errors that say what to fix", integration, async (t) => {
  const sql = testSql();
  const admin = adminSql();
  const table = uniqueName("checks");
  await sql.unsafe(`CREATE TABLE ${table} (id int PRIMARY KEY)`);
  const fx = fixture([table]);
  try {
    await t.step("a role without REPLICATION", async () => {
      const role = uniqueName("norepl");
      await admin.unsafe(`CREATE ROLE ${role} LOGIN PASSWORD 'norepl-secret'`);
      try {
        const config = fx.config().replace(`user = "${STACK.pgUser}"`, `user = "${role}"`);
        const error = await startUpError(config, { PG2KAFKA_PG_PASSWORD: "norepl-secret" });
        assert.equal(
          error,
          `Role "${role}" may not replicate: ALTER ROLE ${role} WITH REPLICATION`,
        );
      } finally {
        await admin.unsafe(`DROP ROLE ${role}`);
      }
    });

    await t.step("a missing publication with create_publication = false", async () => {
      const error = await startUpError(fx.config({ source: "create_publication = false" }));
      assert.equal(
        error,
        `Publication "${fx.publication}" does not exist: create it or set create_publication = true`,
      );
    });

    await t.step("a configured table that does not exist", async () => {
      const missing = uniqueName("missing");
      const config = fx.config().replace(
        `tables = ["public.${table}"]\nstatus_interval`,
        `tables = ["public.${table}", "public.${missing}"]\nstatus_interval`,
      );
      assert.notEqual(config, fx.config(), "the source's tables were replaced");
      const error = await startUpError(config);
      assert.equal(error, `Configured tables do not exist: public.${missing}`);
    });

    await t.step("a slot streaming to another process", async () => {
      const first = ConnectorProcess.start(fx.config());
      try {
        await first.waitForLine(/streaming slot/);
        const [{ active_pid: pid }] = await admin`
          SELECT active_pid FROM pg_replication_slots WHERE slot_name = ${fx.slot}`;
        // A second process with the same slot waits as a standby and says why.
        const second = ConnectorProcess.start(fx.config());
        try {
          const line = await second.waitForLine(/is a standby/);
          assert.equal(
            JSON.parse(line).properties.error,
            `Replication slot "${fx.slot}" is active in another process (PID ${pid}): ` +
              "waiting as a standby until it is free (stop that process, or use another slot)",
          );
        } finally {
          await second.stop("SIGKILL");
        }
      } finally {
        await first.stop("SIGKILL");
      }
    });
  } finally {
    await dropSlotAndPublication(sql, fx.slot, fx.publication);
    await admin.end();
    await sql.end();
  }
});

// ------------------------------------------------------ keepalives, status

const STATUS_OBSERVATION_MS = 5_000;
const MIN_STATUS_UPDATES = 3;

Deno.test(
  "status updates keep coming every status_interval while reading is paused",
  integration,
  async () => {
    const sql = testSql();
    const admin = adminSql();
    const table = uniqueName("paused");
    await sql.unsafe(`CREATE TABLE ${table} (id int PRIMARY KEY)`);
    const fx = fixture([table]);
    const connector = ConnectorProcess.start(
      fx.config({ extra: "[limits]\nmax_inflight_messages = 1" }),
    );
    try {
      await connector.waitForLine(/streaming slot/);
      await stack("kafka-stop");
      await sql.unsafe(`INSERT INTO ${table} SELECT generate_series(1, 50)`);
      const replies = new Set<string>();
      const deadline = Date.now() + STATUS_OBSERVATION_MS;
      while (Date.now() < deadline) {
        const [row] = await admin`
          SELECT r.reply_time::text AS reply_time FROM pg_stat_replication r
          JOIN pg_replication_slots s ON s.active_pid = r.pid WHERE s.slot_name = ${fx.slot}`;
        if (row?.reply_time) replies.add(row.reply_time);
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
      assert.ok(
        replies.size >= MIN_STATUS_UPDATES,
        `reply_time moved ${replies.size} time(s) in ${STATUS_OBSERVATION_MS} ms`,
      );
      await stack("kafka-start");
      const messages = await readTopics([fx.topic(table)], (m) => m.length >= 50, 120_000);
      assert.equal(new Set(messages.map((m) => m.key)).size, 50);
    } finally {
      await stack("kafka-start");
      await connector.stop("SIGKILL");
      await dropSlotAndPublication(sql, fx.slot, fx.publication);
      await admin.end();
      await sql.end();
    }
  },
);

Deno.test(
  "an idle slot follows the server's WAL while only unpublished tables change",
  integration,
  async () => {
    const sql = testSql();
    const published = uniqueName("quiet");
    const busy = uniqueName("busy");
    await sql.unsafe(`CREATE TABLE ${published} (id int PRIMARY KEY)`);
    await sql.unsafe(`CREATE TABLE ${busy} (id int PRIMARY KEY, payload text)`);
    const fx = fixture([published]);
    const connector = ConnectorProcess.start(fx.config());
    try {
      await connector.waitForLine(/streaming slot/);
      const start = await confirmedFlushLsn(sql, fx.slot);
      await sql.unsafe(
        `INSERT INTO ${busy} SELECT g, repeat('x', 100) FROM generate_series(1, 5000) g`,
      );
      const written = await currentWalLsn(sql);
      assert.ok(written > start!, "the busy table wrote WAL");
      const reached = await waitFor("the slot to pass the unpublished writes", async () => {
        const lsn = await confirmedFlushLsn(sql, fx.slot);
        return lsn !== undefined && lsn >= written ? lsn : undefined;
      }, 60_000);
      assert.ok(reached >= written);
    } finally {
      await connector.stop("SIGKILL");
      await dropSlotAndPublication(sql, fx.slot, fx.publication);
      await sql.end();
    }
  },
);
