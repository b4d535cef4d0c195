import assert from "node:assert/strict";
import { type Config, parseConfig } from "../../src/config/mod.ts";
import { CHECK_EXIT, checkExitCode, type CheckLine, formatCheckLine } from "../../src/cli/check.ts";
import {
  judgeConnections,
  judgePostgres,
  type PostgresFacts,
  type TableFacts,
} from "../../src/cli/check_postgres.ts";
import { judgeKafka, type KafkaFacts, planTopics } from "../../src/cli/check_kafka.ts";

function configOf(
  source = "",
  kafka = "",
  targets?: string,
  tables = '["public.orders", "public.lines"]',
): Config {
  const text = `
[[sources]]
name = "main"
database = "app"
user = "app"
slot = "cdc"
publication = "cdc"
tables = ${tables}
${source}
[kafka]
brokers = ["127.0.0.1:9092"]
${kafka}
${
    targets ?? `
[[targets]]
name = "rows"
tables = ["public.*"]
ops = ["insert", "delete"]
topic = "cdc.{table}.{op}"
[[targets]]
name = "tx"
tables = ["public.orders"]
mode = "transaction"
topic = "tx.{source}"
`
  }`;
  return parseConfig(text, { origin: "test.toml", env: {} });
}

function table(name: string, facts: Partial<TableFacts> = {}): [string, TableFacts] {
  return [name, { name, identity: "default", hasPrimaryKey: true, owned: true, ...facts }];
}

const TABLES = new Map([table("public.orders"), table("public.lines")]);

/** The two tables, `public.lines` with other facts. */
const withLines = (facts: Partial<TableFacts>) =>
  new Map([table("public.orders"), table("public.lines", facts)]);

/** A server that can serve `configOf()`'s source as it stands. */
const GOOD: PostgresFacts = {
  serverVersion: "15.8",
  walLevel: "logical",
  role: { name: "app", replication: true, superuser: false },
  canCreateInDatabase: true,
  replicationSlots: { max: 10, used: 2 },
  connections: { max: 100, maxWalSenders: 10, used: 5 },
  replicationError: null,
  slot: null,
  publication: null,
  tables: TABLES,
};

/** The text of the lines of `status` that `facts` earn. */
function verdicts(
  facts: Partial<PostgresFacts>,
  status: CheckLine["status"],
  source = "",
): string[] {
  const config = configOf(source);
  return judgePostgres(config.sources[0], { ...GOOD, ...facts })
    .filter((line) => line.status === status)
    .map((line) => line.text);
}

Deno.test("judgePostgres() passes a server that can serve the source, saying what it will create", () => {
  assert.deepEqual(verdicts({}, "fail"), []);
  assert.deepEqual(verdicts({}, "warn"), []);
  assert.deepEqual(verdicts({}, "ok"), [
    "reachable at 127.0.0.1:5432/app as app (PostgreSQL 15.8)",
    "wal_level is logical",
    "role app may replicate",
    "replication connection accepted (IDENTIFY_SYSTEM)",
    'slot "cdc" does not exist yet; pg2kafka will create it (8 of 10 slots free)',
    "the 2 configured table(s) exist",
    'publication "cdc" does not exist yet; pg2kafka will create it',
  ]);
});

Deno.test("judgePostgres() fails failover_slot on a server before PostgreSQL 17", () => {
  const source = "failover_slot = true";
  assert.deepEqual(verdicts({ serverVersion: "16.9" }, "fail", source), [
    "failover_slot = true needs PostgreSQL 17 or later, but the server is 16.9: " +
    "set failover_slot = false, or upgrade the server",
  ]);
  assert.deepEqual(verdicts({ serverVersion: "17.5" }, "fail", source), []);
  assert.ok(
    verdicts({ serverVersion: "18.0" }, "ok", source)
      .includes("failover_slot: the slot is (or becomes) a failover slot"),
  );
});

Deno.test("judgePostgres() fails a server without logical WAL", () => {
  assert.deepEqual(verdicts({ walLevel: "replica" }, "fail"), [
    'wal_level is "replica", but logical replication needs "logical": ' +
    "set wal_level = logical in postgresql.conf and restart PostgreSQL",
  ]);
});

Deno.test("judgePostgres() fails a role without REPLICATION and a refused replication connection", () => {
  const facts = {
    role: { name: "app", replication: false, superuser: false },
    replicationError: "permission denied to start WAL sender",
  };
  assert.deepEqual(verdicts(facts, "fail"), [
    "role app lacks the REPLICATION attribute: ALTER ROLE app WITH REPLICATION",
    "replication connection refused: permission denied to start WAL sender",
  ]);
});

Deno.test("judgePostgres() fails a missing slot it may not or cannot create", () => {
  assert.deepEqual(verdicts({}, "fail", "create_slot = false"), [
    'slot "cdc" does not exist and create_slot = false: create it or set create_slot = true',
  ]);
  assert.deepEqual(verdicts({ replicationSlots: { max: 4, used: 4 } }, "fail"), [
    'slot "cdc" does not exist and all 4 max_replication_slots are used: ' +
    "raise max_replication_slots or drop an unused slot",
  ]);
});

Deno.test("judgePostgres() fails a slot of another plugin, database or lost, and warns of one in use", () => {
  const slot = {
    plugin: "pgoutput",
    database: "app",
    here: true,
    activePid: null,
    walStatus: "reserved",
  };
  assert.deepEqual(verdicts({ slot }, "ok").filter((t) => t.startsWith("slot")), [
    'slot "cdc" exists (pgoutput)',
  ]);
  assert.deepEqual(verdicts({ slot: { ...slot, plugin: "wal2json" } }, "fail"), [
    'slot "cdc" uses plugin "wal2json", not pgoutput',
  ]);
  assert.deepEqual(verdicts({ slot: { ...slot, here: false, database: "other" } }, "fail"), [
    'slot "cdc" belongs to database "other"',
  ]);
  assert.deepEqual(verdicts({ slot: { ...slot, walStatus: "lost" } }, "fail"), [
    'slot "cdc" is lost (the WAL it needed was removed): drop it and start again',
  ]);
  assert.deepEqual(verdicts({ slot: { ...slot, activePid: 4242 } }, "warn"), [
    'slot "cdc" is in use by PID 4242: pg2kafka cannot stream it until that process stops',
  ]);
});

Deno.test("judgePostgres() fails missing tables and warns about tables without a key", () => {
  const onlyOrders = new Map([table("public.orders", { identity: "nothing" })]);
  assert.deepEqual(verdicts({ tables: onlyOrders }, "fail"), [
    "configured tables do not exist: public.lines",
  ]);
  const keyless = withLines({ hasPrimaryKey: false });
  assert.deepEqual(verdicts({ tables: keyless }, "warn"), [
    "table public.lines has no primary key or replica identity: its messages have no key, and " +
    "PostgreSQL refuses its UPDATE and DELETE once published; add a primary key or " +
    "ALTER TABLE public.lines REPLICA IDENTITY FULL",
  ]);
  const full = withLines({ identity: "full", hasPrimaryKey: false });
  assert.deepEqual(verdicts({ tables: full }, "warn"), []);
});

Deno.test("judgePostgres() does not call a REPLICA IDENTITY NOTHING table with a primary key keyless", () => {
  const nothing = withLines({ identity: "nothing", hasPrimaryKey: true });
  assert.deepEqual(verdicts({ tables: nothing }, "warn"), [
    "table public.lines has REPLICA IDENTITY NOTHING although it has a primary key: its " +
    "messages are keyed by that key, but PostgreSQL refuses its UPDATE and DELETE once " +
    "published; ALTER TABLE public.lines REPLICA IDENTITY DEFAULT",
  ]);
});

Deno.test("judgePostgres() fails a publication it may not create, alter, or that misses tables", () => {
  assert.deepEqual(verdicts({}, "fail", "create_publication = false"), [
    'publication "cdc" does not exist and create_publication = false: ' +
    "create it or set create_publication = true",
  ]);
  assert.deepEqual(verdicts({ canCreateInDatabase: false }, "fail"), [
    'publication "cdc" does not exist, and role app lacks CREATE on database app',
  ]);
  const notOwned = withLines({ owned: false });
  assert.deepEqual(verdicts({ tables: notOwned }, "fail"), [
    'publication "cdc" does not exist, and role app does not own public.lines to publish them',
  ]);
  const partial = { allTables: false, tables: new Set(["public.orders"]) };
  assert.deepEqual(verdicts({ publication: partial }, "fail"), [
    'publication "cdc" does not cover public.lines: add them or set alter_publication = true',
  ]);
  assert.deepEqual(
    verdicts({ publication: partial }, "ok", "alter_publication = true").at(-1),
    'publication "cdc" lacks public.lines; pg2kafka will add them',
  );
});

const KAFKA: KafkaFacts = {
  brokers: 3,
  existing: new Set(["pg2kafka.dead_letter", "cdc.orders.insert"]),
  autoCreate: false,
  messageMaxBytes: 1_048_588,
  creatable: new Map(),
};

Deno.test("planTopics() lists the topics each target can write, the dead-letter topic first", () => {
  const plan = planTopics(configOf());
  assert.deepEqual([...plan.topics], [
    ["pg2kafka.dead_letter", ["dead-letter topic"]],
    ["cdc.orders.insert", ["rows"]],
    ["cdc.orders.delete", ["rows"]],
    ["cdc.lines.insert", ["rows"]],
    ["cdc.lines.delete", ["rows"]],
    ["tx.main", ["tx"]],
  ]);
  assert.deepEqual(plan.invalid, []);
  assert.deepEqual(plan.unlisted, []);
});

/** A topic prefix that leaves no room for a table name within Kafka's 249 characters. */
const LONG = "x".repeat(245);

Deno.test("planTopics() reports topics Kafka refuses and targets over unlisted tables", () => {
  const targets = `
[[targets]]
name = "long"
tables = ["public.*"]
topic = "${LONG}.{table}"
`;
  assert.deepEqual(planTopics(configOf("", "", targets)).invalid, [
    { target: "long", topic: `${LONG}.orders` },
    { target: "long", topic: `${LONG}.lines` },
  ]);
  const everything = configOf("", "", undefined, '["*"]');
  assert.deepEqual(planTopics(everything).unlisted, ["rows"]);
  assert.deepEqual([...planTopics(everything).topics.keys()], ["pg2kafka.dead_letter", "tx.main"]);
});

Deno.test("judgeKafka() fails a missing topic nothing will create, and one the broker refuses", () => {
  const config = configOf("", "create_topics = false");
  const plan = planTopics(config);
  const missing = [...plan.topics.keys()].filter((t) => !KAFKA.existing.has(t));
  const facts = { ...KAFKA, creatable: new Map(missing.map((t) => [t, null])) };
  const failures = judgeKafka(config, plan, facts).filter((l) => l.status === "fail");
  assert.equal(failures.length, missing.length);
  assert.equal(
    failures[0].text,
    "topic cdc.orders.delete (rows) does not exist, create_topics = false and the broker's " +
      "auto.create.topics.enable is false: create it or set create_topics = true",
  );
  const creating = configOf();
  const refused = new Map([["tx.main", "Replication factor: 3 larger than available brokers: 1"]]);
  const lines = judgeKafka(creating, planTopics(creating), { ...KAFKA, creatable: refused });
  assert.deepEqual(lines.filter((l) => l.status === "fail").map((l) => l.text), [
    "topic tx.main (tx) does not exist and cannot be created: " +
    "Replication factor: 3 larger than available brokers: 1",
  ]);
});

Deno.test("judgeKafka() warns when max_message_bytes exceeds the broker's message.max.bytes", () => {
  const config = configOf("", 'max_message_bytes = "2MiB"\nbatch_max_bytes = "2MiB"');
  const lines = judgeKafka(config, planTopics(config), KAFKA);
  assert.deepEqual(lines.filter((l) => l.status === "warn").map((l) => l.text), [
    "max_message_bytes allows 2097152 bytes, but the broker's message.max.bytes is 1048588: " +
    "larger messages will be refused and dead-lettered",
  ]);
});

Deno.test("checkExitCode() puts an unreachable system before an unusable one", () => {
  const line = (status: CheckLine["status"]): CheckLine => ({ status, subject: "s", text: "t" });
  assert.equal(checkExitCode([line("ok"), line("warn"), line("skip")]), CHECK_EXIT.ok);
  assert.equal(checkExitCode([line("ok"), line("fail")]), CHECK_EXIT.unusable);
  assert.equal(checkExitCode([line("fail"), line("unreachable")]), CHECK_EXIT.unreachable);
  assert.equal(formatCheckLine(line("unreachable")), "FAIL s: t");
  assert.equal(formatCheckLine(line("ok")), "ok   s: t");
});

Deno.test("judgeConnections() says what the config holds per server and fails past its limits", () => {
  const plan = { server: "db:5432", replication: 20, monitor: 1, query: 2, total: 23 };
  const few = judgeConnections(plan, GOOD);
  assert.equal(few.status, "fail", "20 walsenders do not fit max_wal_senders 10");
  assert.match(few.text, /max_wal_senders 10 is too low/);
  const roomy = { ...GOOD, connections: { max: 100, maxWalSenders: 30, used: 5 } };
  assert.deepEqual(judgeConnections(plan, roomy), {
    status: "ok",
    subject: "postgres db:5432",
    text: "the config holds up to 23 connection(s): 20 replication (one per source), " +
      "1 slot monitoring, up to 2 for queries (max_query_connections per user); " +
      "max_connections 100 (5 in use now), max_wal_senders 30",
  });
  const tight = { ...GOOD, connections: { max: 20, maxWalSenders: 30, used: 5 } };
  assert.match(judgeConnections(plan, tight).text, /max_connections 20 is too low/);
});
