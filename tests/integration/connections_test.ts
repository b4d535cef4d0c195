/**
 * Connections held per server (project issue 21), against the real stack:
 * N sources, one database each, hold N replication connections and a
 * bounded few others (slot monitoring, the query pool), counted in
 * `pg_stat_activity` by `application_name`; the pool's idle connections
 * close; and `check --connect` says what the config holds.
 */
import assert from "node:assert/strict";
import type { Sql } from "postgres";
import {
  ConnectorProcess,
  dropSlotAndPublication,
  readTopics,
  sleep,
  STACK,
  testSql,
  uniqueName,
  waitFor,
} from "./harness.ts";

const integration = { sanitizeOps: false, sanitizeResources: false };
const REPO_ROOT = new URL("../../", import.meta.url).pathname;
const SOURCES = 6;
const MAX_QUERY_CONNECTIONS = 2;

/** One source's database with a table `items`. */
interface TenantDatabase {
  name: string;
  sql: Sql;
}

async function createDatabases(admin: Sql, prefix: string): Promise<TenantDatabase[]> {
  const databases: TenantDatabase[] = [];
  for (let i = 0; i < SOURCES; i++) {
    const name = `${prefix}_${i}`;
    await admin.unsafe(`CREATE DATABASE "${name}"`);
    const sql = testSql(name);
    await sql.unsafe("CREATE TABLE items (id int PRIMARY KEY, note text)");
    databases.push({ name, sql });
  }
  return databases;
}

async function dropDatabases(admin: Sql, databases: TenantDatabase[]): Promise<void> {
  for (const { name, sql } of databases) {
    await dropSlotAndPublication(sql, `${name}_slot`, `${name}_pub`).catch(() => {});
    await sql.end();
    await admin.unsafe(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  }
}

function config(databases: TenantDatabase[], topic: string, sourceExtra = ""): string {
  const sources = databases.map(({ name }) => `
[[sources]]
name = "${name}"
host = "${STACK.pgHost}"
port = ${STACK.pgPort}
database = "${name}"
user = "${STACK.pgUser}"
password = "\${PG2KAFKA_PG_PASSWORD}"
slot = "${name}_slot"
publication = "${name}_pub"
tables = ["public.items"]
status_interval = "1s"
snapshot = "never"
${sourceExtra}
`).join("");
  return `${sources}
[kafka]
brokers = ["${STACK.kafkaBroker}"]
linger = "2ms"

[log]
level = "info"
format = "json"

[limits]
max_query_connections = ${MAX_QUERY_CONNECTIONS}
query_idle_timeout = "1s"

[[targets]]
name = "all"
tables = ["public.items"]
topic = "${topic}"
`;
}

/** pg2kafka's connections to the stack, by the purpose its application_name shows. */
async function heldConnections(admin: Sql): Promise<Record<string, number>> {
  const rows = await admin<{ purpose: string; count: number }[]>`
    SELECT split_part(application_name, ' ', 2) AS purpose, count(*)::int AS count
    FROM pg_stat_activity WHERE application_name LIKE 'pg2kafka/%'
    GROUP BY 1`;
  return Object.fromEntries(rows.map(({ purpose, count }) => [purpose, count]));
}

async function startStreaming(text: string, databases: TenantDatabase[]) {
  const connector = ConnectorProcess.start(text);
  for (const { name } of databases) {
    await connector.waitForLine(new RegExp(`Source \\\\"${name}\\\\" streaming slot`), 60_000);
  }
  return connector;
}

Deno.test(
  "N sources on one server hold N replication connections, one monitor and a small pool",
  integration,
  async () => {
    const admin = testSql();
    const prefix = uniqueName("conn");
    const topic = `test.${prefix}`;
    const databases = await createDatabases(admin, prefix);
    const connector = await startStreaming(config(databases, topic), databases);
    try {
      const streaming = await heldConnections(admin);
      assert.equal(streaming.replication, SOURCES, JSON.stringify(streaming));
      assert.equal(streaming.monitor, 1, JSON.stringify(streaming));
      assert.ok((streaming.query ?? 0) <= MAX_QUERY_CONNECTIONS, JSON.stringify(streaming));

      // The pool's connections close once idle for query_idle_timeout (1 s).
      const idle = await waitFor("idle query connections to close", async () => {
        const held = await heldConnections(admin);
        return (held.query ?? 0) === 0 ? held : undefined;
      }, 15_000);
      assert.deepEqual(idle, { replication: SOURCES, monitor: 1 });

      // Everything still flows: one change per database arrives.
      for (const [i, { sql }] of databases.entries()) {
        await sql`INSERT INTO items VALUES (${i}, 'one change')`;
      }
      const messages = await readTopics([topic], (read) => read.length >= SOURCES, 60_000);
      const sources = messages.map((m) => m.headers["pg2kafka.source"]).sort();
      assert.deepEqual(sources, databases.map(({ name }) => name).sort());
    } finally {
      await connector.stop();
      await dropDatabases(admin, databases);
      await admin.end();
    }
  },
);

Deno.test(
  "Heartbeats of N sources share the pool: never more than max_query_connections open",
  integration,
  async () => {
    const admin = testSql();
    const prefix = uniqueName("beat");
    const databases = await createDatabases(admin, prefix);
    const text = config(databases, `test.${prefix}`, 'heartbeat_interval = "200ms"');
    const connector = await startStreaming(text, databases);
    try {
      let most = 0;
      const samples = 40;
      for (let i = 0; i < samples; i++) {
        const held = await heldConnections(admin);
        most = Math.max(most, held.query ?? 0);
        assert.equal(held.replication, SOURCES);
        await sleep(50);
      }
      assert.ok(most <= MAX_QUERY_CONNECTIONS, `${most} query connections at once`);
      assert.ok(most >= 1, "heartbeats used the pool");
      const failed = connector.lines.filter((line) => line.includes("Heartbeat of source"));
      assert.deepEqual(failed, []);
      // Every source's slot moves with its heartbeats (logical messages in its own database).
      for (const { name } of databases) {
        const before = await slotFlush(admin, `${name}_slot`);
        await waitFor(`slot ${name}_slot to advance`, async () => {
          return (await slotFlush(admin, `${name}_slot`)) > before ? true : undefined;
        }, 20_000);
      }
    } finally {
      await connector.stop();
      await dropDatabases(admin, databases);
      await admin.end();
    }
  },
);

async function slotFlush(admin: Sql, slot: string): Promise<bigint> {
  const [row] = await admin<{ lsn: string }[]>`
    SELECT (confirmed_flush_lsn - '0/0')::text AS lsn FROM pg_replication_slots
    WHERE slot_name = ${slot}`;
  return BigInt(row?.lsn ?? "0");
}

Deno.test(
  "check --connect says how many connections the config holds per server",
  integration,
  async () => {
    const admin = testSql();
    const prefix = uniqueName("plan");
    const databases = await createDatabases(admin, prefix);
    const path = await Deno.makeTempFile({ prefix: "pg2kafka-check-", suffix: ".toml" });
    try {
      await Deno.writeTextFile(path, config(databases, `test.${prefix}`));
      const output = await new Deno.Command(Deno.execPath(), {
        args: ["run", "--allow-all", `${REPO_ROOT}main.ts`, "check", "--config", path, "--connect"],
        env: { PG2KAFKA_PG_PASSWORD: STACK.pgPassword },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const stdout = new TextDecoder().decode(output.stdout);
      const total = SOURCES + 1 + MAX_QUERY_CONNECTIONS;
      assert.match(
        stdout,
        new RegExp(
          `ok   postgres ${STACK.pgHost}:${STACK.pgPort}: the config holds up to ${total} ` +
            `connection\\(s\\): ${SOURCES} replication \\(one per source\\), 1 slot monitoring, ` +
            `up to ${MAX_QUERY_CONNECTIONS} for queries`,
        ),
        stdout,
      );
    } finally {
      await Deno.remove(path);
      await dropDatabases(admin, databases);
      await admin.end();
    }
  },
);
