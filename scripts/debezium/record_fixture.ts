/**
 * Records the Debezium fixture (tests/fixtures/debezium/fixture.json): runs
 * Debezium's PostgreSQL connector in Kafka Connect standalone, one connector
 * per handling mode, beside a pgoutput capture slot on the same WAL, applies
 * scripts/debezium/scenario.sql, and writes what Debezium sent to Kafka with
 * the pgoutput messages the capture slot saw. The fixture test feeds those
 * messages to pg2kafka's decoder and encoder and compares value by value.
 *
 * Run through scripts/debezium/record_fixture.sh (it fetches the jars and
 * needs the local stack: scripts/stack.sh up).
 *
 * @module
 */
import {
  type ReadMessage,
  readTopics,
  STACK,
  testKafka,
  testSql,
  waitFor,
} from "../../tests/integration/harness.ts";

const HERE = new URL(".", import.meta.url).pathname;
const REPO_ROOT = new URL("../../", import.meta.url).pathname;
const OUT_FILE = `${REPO_ROOT}tests/fixtures/debezium/fixture.json`;
const LIBS = Deno.env.get("DEBEZIUM_LIBS") ?? "";
const WORK_DIR = Deno.env.get("DEBEZIUM_WORK_DIR") ?? "/tmp/pg2kafka-debezium";
const REST_PORT = Deno.env.get("PG2KAFKA_CONNECT_REST_PORT") ?? "29205";
const DEBEZIUM_VERSION = Deno.env.get("DEBEZIUM_VERSION") ?? "";
const KAFKA_VERSION = Deno.env.get("KAFKA_CONNECT_VERSION") ?? "";
const PUBLICATION = "dbz_pub";
const CAPTURE_SLOT = "dbz_capture";
const TABLES = ["dbz_types", "dbz_keys"];
const STREAMING_TIMEOUT_MS = 180_000;

/** A connector per handling mode: its Debezium properties and converter setting. */
interface Mode {
  readonly schemas: boolean;
  readonly properties: Readonly<Record<string, string>>;
}

/**
 * The modes recorded. `default` is every setting at its default with schemas
 * off; the others turn the schema block on, so the fixture holds Debezium's
 * schema for every mode too.
 */
const MODES: Readonly<Record<string, Mode>> = {
  dbz_default: { schemas: false, properties: {} },
  dbz_default_schemas: { schemas: true, properties: {} },
  dbz_alt_a: {
    schemas: true,
    properties: {
      "decimal.handling.mode": "double",
      "time.precision.mode": "adaptive_time_microseconds",
      "binary.handling.mode": "base64",
      "interval.handling.mode": "string",
      "unavailable.value.placeholder": "__toast__",
      "skipped.operations": "none",
      "tombstones.on.delete": "false",
    },
  },
  dbz_alt_b: {
    schemas: true,
    properties: {
      "decimal.handling.mode": "string",
      "time.precision.mode": "connect",
      "binary.handling.mode": "hex",
    },
  },
  dbz_alt_c: {
    schemas: true,
    properties: { "binary.handling.mode": "base64-url-safe", "money.fraction.digits": "3" },
  },
};

function properties(entries: Record<string, string>): string {
  return Object.entries(entries).map(([key, value]) => `${key}=${value}`).join("\n") + "\n";
}

function workerProperties(): string {
  return properties({
    "bootstrap.servers": STACK.kafkaBroker,
    "key.converter": "org.apache.kafka.connect.json.JsonConverter",
    "value.converter": "org.apache.kafka.connect.json.JsonConverter",
    "offset.storage.file.filename": `${WORK_DIR}/offsets`,
    "offset.flush.interval.ms": "1000",
    "listeners": `http://127.0.0.1:${REST_PORT}`,
    "plugin.discovery": "only_scan",
  });
}

function connectorProperties(name: string, mode: Mode): string {
  const schemas = String(mode.schemas);
  return properties({
    name,
    "connector.class": "io.debezium.connector.postgresql.PostgresConnector",
    "tasks.max": "1",
    "plugin.name": "pgoutput",
    "database.hostname": STACK.pgHost,
    "database.port": String(STACK.pgPort),
    "database.user": STACK.pgUser,
    "database.password": STACK.pgPassword,
    "database.dbname": STACK.pgDatabase,
    "topic.prefix": name,
    "slot.name": name,
    "publication.name": PUBLICATION,
    "publication.autocreate.mode": "disabled",
    "table.include.list": TABLES.map((table) => `public.${table}`).join(","),
    "snapshot.mode": "no_data",
    "key.converter": "org.apache.kafka.connect.json.JsonConverter",
    "key.converter.schemas.enable": schemas,
    "value.converter": "org.apache.kafka.connect.json.JsonConverter",
    "value.converter.schemas.enable": schemas,
    ...mode.properties,
  });
}

async function psql(file: string): Promise<void> {
  const command = new Deno.Command("psql", {
    args: [
      "-X",
      "-q",
      "-v",
      "ON_ERROR_STOP=1",
      "-h",
      STACK.pgHost,
      "-p",
      String(STACK.pgPort),
      "-U",
      STACK.pgUser,
      "-d",
      STACK.pgDatabase,
      "-f",
      file,
    ],
    env: { PGPASSWORD: STACK.pgPassword, PGTZ: "UTC" },
  });
  const { code, stderr } = await command.output();
  if (code !== 0) throw new Error(`psql -f ${file} failed: ${new TextDecoder().decode(stderr)}`);
}

async function main(): Promise<void> {
  if (LIBS === "") throw new Error("DEBEZIUM_LIBS is not set: run record_fixture.sh");
  const sql = testSql();
  const slots = [...Object.keys(MODES), CAPTURE_SLOT];
  await sql`SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots
            WHERE slot_name IN ${sql(slots)} AND NOT active`;
  await sql.unsafe(`DROP PUBLICATION IF EXISTS ${PUBLICATION}`);
  await deleteTopics();
  await psql(`${HERE}schema.sql`);
  await sql.unsafe(`CREATE PUBLICATION ${PUBLICATION} FOR TABLE ${TABLES.join(", ")}`);
  await sql`SELECT pg_create_logical_replication_slot(${CAPTURE_SLOT}, 'pgoutput')`;

  await Deno.remove(WORK_DIR, { recursive: true }).catch(() => {});
  await Deno.mkdir(WORK_DIR, { recursive: true });
  await Deno.writeTextFile(`${WORK_DIR}/worker.properties`, workerProperties());
  const connectorFiles: string[] = [];
  for (const [name, mode] of Object.entries(MODES)) {
    const file = `${WORK_DIR}/${name}.properties`;
    await Deno.writeTextFile(file, connectorProperties(name, mode));
    connectorFiles.push(file);
  }
  const log = await Deno.open(`${WORK_DIR}/connect.log`, { write: true, create: true });
  const connect = new Deno.Command("java", {
    args: [
      "-Xmx512m",
      "-cp",
      `${LIBS}/*`,
      "org.apache.kafka.connect.cli.ConnectStandalone",
      `${WORK_DIR}/worker.properties`,
      ...connectorFiles,
    ],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const errors = await Deno.open(`${WORK_DIR}/connect.err`, { write: true, create: true });
  connect.stdout.pipeTo(log.writable).catch(() => {});
  connect.stderr.pipeTo(errors.writable).catch(() => {});
  try {
    console.error(`Connect is starting (log: ${WORK_DIR}/connect.log)`);
    await waitFor("every Debezium connector to stream", async () => {
      const [row] = await sql<{ streaming: number }[]>`
        SELECT count(*)::int AS streaming FROM pg_replication_slots
        WHERE slot_name IN ${sql(Object.keys(MODES))} AND active`;
      return row.streaming === Object.keys(MODES).length ? true : undefined;
    }, STREAMING_TIMEOUT_MS);
    await psql(`${HERE}scenario.sql`);
    const recorded: Record<string, unknown> = {};
    for (const [name, mode] of Object.entries(MODES)) {
      const topics = TABLES.map((table) => `${name}.public.${table}`);
      recorded[name] = {
        schemas: mode.schemas,
        properties: mode.properties,
        ...fixtureMessages(await readAll(topics, mode), mode.schemas),
      };
      console.error(`Recorded ${name}`);
    }
    const pgoutput = await sql<{ lsn: string; xid: string; hex: string }[]>`
      SELECT lsn::text, xid::text, encode(data, 'hex') AS hex
      FROM pg_logical_slot_get_binary_changes(${CAPTURE_SLOT}, NULL, NULL,
        'proto_version', '1', 'publication_names', ${PUBLICATION})`;
    const [{ server_version }] = await sql`SHOW server_version`;
    const fixture = {
      debezium: DEBEZIUM_VERSION,
      kafka_connect: KAFKA_VERSION,
      server_version,
      database: STACK.pgDatabase,
      pgoutput: pgoutput.map((row) => ({ lsn: row.lsn, xid: row.xid, hex: row.hex })),
      modes: recorded,
    };
    await Deno.mkdir(new URL(".", `file://${OUT_FILE}`).pathname, { recursive: true });
    await Deno.writeTextFile(OUT_FILE, JSON.stringify(fixture, null, 1) + "\n");
    console.error(`Wrote ${OUT_FILE}`);
  } finally {
    connect.kill("SIGTERM");
    await connect.status;
    await sql`SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots
              WHERE slot_name IN ${sql(slots)} AND NOT active`;
    await sql.end();
  }
}

/** Deletes the topics of an earlier run, so that only this run's messages are read. */
async function deleteTopics(): Promise<void> {
  const admin = testKafka().admin();
  await admin.connect();
  try {
    const prefixes = Object.keys(MODES).map((name) => `${name}.`);
    const topics = (await admin.listTopics()).filter((topic) =>
      prefixes.some((prefix) => topic.startsWith(prefix))
    );
    if (topics.length === 0) return;
    await admin.deleteTopics({ topics });
    await waitFor("the old topics to be deleted", async () => {
      const left = new Set(await admin.listTopics());
      return topics.some((topic) => left.has(topic)) ? undefined : true;
    });
  } finally {
    await admin.disconnect();
  }
}

/**
 * The messages scenario.sql makes Debezium write in `mode`: 10 inserts, 2
 * updates and 3 deletes, a tombstone per delete unless turned off, and the
 * truncate when no operation is skipped.
 */
function expectedCount(mode: Mode): number {
  const changes = 10 + 2 + 3;
  const tombstones = mode.properties["tombstones.on.delete"] === "false" ? 0 : 3;
  const truncates = mode.properties["skipped.operations"] === "none" ? 1 : 0;
  return changes + tombstones + truncates;
}

/** Reads `topics` until the messages of `mode` are all there. */
async function readAll(topics: string[], mode: Mode): Promise<ReadMessage[]> {
  const count = expectedCount(mode);
  const messages = await readTopics(topics, (read) => read.length >= count, STREAMING_TIMEOUT_MS);
  if (messages.length !== count) {
    throw new Error(`Expected ${count} messages on ${topics}, read ${messages.length}`);
  }
  return messages;
}

/**
 * The messages in WAL order (a tombstone right after its delete), with each
 * distinct schema block stored once and referred to by index.
 */
function fixtureMessages(messages: ReadMessage[], schemas: boolean) {
  const blocks: string[] = [];
  const schemaIndex = (schema: unknown) => {
    const text = JSON.stringify(schema);
    const index = blocks.indexOf(text);
    if (index >= 0) return index;
    blocks.push(text);
    return blocks.length - 1;
  };
  const ordered = walOrder(messages);
  const out = ordered.map((message) => {
    const key = split(message.key, schemas);
    const value = split(message.value, schemas);
    const entry: Record<string, unknown> = {
      topic: message.topic,
      headers: message.headers,
      key: key.payload,
      value: value.payload,
    };
    if (schemas) {
      entry.key_schema = key.schema === null ? null : schemaIndex(key.schema);
      entry.value_schema = value.schema === null ? null : schemaIndex(value.schema);
    }
    return entry;
  });
  return { schema_blocks: blocks.map((text) => JSON.parse(text)), messages: out };
}

const PAYLOAD_FIELD = ',"payload":';

/**
 * The payload as the text Debezium wrote (JSON.parse would round int8 values
 * beyond 2^53) and the parsed schema block, when schemas are on.
 */
function split(text: string | null, schemas: boolean): { payload: string | null; schema: unknown } {
  if (text === null || !schemas) return { payload: text, schema: null };
  const at = text.indexOf(PAYLOAD_FIELD);
  if (!text.startsWith('{"schema":') || at < 0) throw new Error(`Not a schema envelope: ${text}`);
  return {
    schema: JSON.parse(text.slice('{"schema":'.length, at)),
    payload: text.slice(at + PAYLOAD_FIELD.length, -1),
  };
}

function lsnOf(value: string | null, schemas: boolean): bigint | null {
  if (value === null) return null;
  const parsed = JSON.parse(value);
  return BigInt((schemas ? parsed.payload : parsed).source.lsn);
}

/** Partition order kept; partitions merged by `source.lsn` (a tombstone takes its delete's). */
function walOrder(messages: ReadMessage[]): ReadMessage[] {
  const schemas = messages.some((m) => m.value !== null && JSON.parse(m.value).payload);
  const keyed: { message: ReadMessage; lsn: bigint; seq: number }[] = [];
  const byPartition = new Map<string, ReadMessage[]>();
  for (const message of messages) {
    const id = `${message.topic}/${message.partition}`;
    byPartition.set(id, [...(byPartition.get(id) ?? []), message]);
  }
  for (const list of byPartition.values()) {
    list.sort((a, b) => Number(BigInt(a.offset) - BigInt(b.offset)));
    let last = 0n;
    list.forEach((message, seq) => {
      last = lsnOf(message.value, schemas) ?? last;
      keyed.push({ message, lsn: last, seq });
    });
  }
  keyed.sort((a, b) =>
    a.lsn < b.lsn
      ? -1
      : a.lsn > b.lsn
      ? 1
      : a.message.topic.localeCompare(b.message.topic) || a.seq - b.seq
  );
  return keyed.map((entry) => entry.message);
}

await main();
