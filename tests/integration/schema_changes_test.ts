/**
 * Schema-change messages end to end (project issue 17): ADD COLUMN, ALTER
 * TYPE, RENAME COLUMN, DROP COLUMN and CREATE / DROP TABLE, each between row
 * changes, seen through pg2kafka's DDL event trigger and, without it,
 * through Relation messages; a rolled-back DDL produces nothing.
 */
import assert from "node:assert/strict";
import postgres, { type Sql } from "postgres";
import { parseLsn } from "../../src/lsn.ts";
import { DDL_TRIGGER_REMOVAL_SQL, installDdlTrigger } from "../../src/source/ddl_trigger.ts";
import {
  connectorConfig,
  ConnectorProcess,
  dropSlotAndPublication,
  type ReadMessage,
  readTopics,
  STACK,
  testSql,
  uniqueName,
} from "./harness.ts";

const integration = { sanitizeOps: false, sanitizeResources: false };

/** A superuser connection over the stack's Unix socket (trust auth): event triggers need one. */
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

/** The statements of both tests, each its own transaction, and what follows them. */
function workload(table: string, created: string): string[] {
  return [
    `INSERT INTO ${table} (id) VALUES (1)`,
    `ALTER TABLE ${table} ADD COLUMN email text`,
    `INSERT INTO ${table} (id, email) VALUES (2, 'b')`,
    `ALTER TABLE ${table} ALTER COLUMN email TYPE varchar(100)`,
    `INSERT INTO ${table} (id, email) VALUES (3, 'c')`,
    `ALTER TABLE ${table} RENAME COLUMN email TO mail`,
    `INSERT INTO ${table} (id, mail) VALUES (4, 'd')`,
    `ALTER TABLE ${table} DROP COLUMN mail`,
    `INSERT INTO ${table} (id) VALUES (5)`,
    `CREATE TABLE ${created} (id int PRIMARY KEY, note text)`,
    `INSERT INTO ${created} VALUES (1, 'x')`,
    `DROP TABLE ${created}`,
    `INSERT INTO ${table} (id) VALUES (6)`,
  ];
}

/** Runs the workload with a rolled-back ADD COLUMN in the middle. */
async function runWorkload(sql: Sql, table: string, created: string): Promise<void> {
  const statements = workload(table, created);
  for (const [index, statement] of statements.entries()) {
    await sql.unsafe(statement);
    if (index === 4) {
      await sql.begin(async (tx) => {
        await tx.unsafe(`ALTER TABLE ${table} ADD COLUMN ghost int`);
        await tx.unsafe(`INSERT INTO ${table} (id, ghost) VALUES (100, 1)`);
        throw new Error("roll back");
      }).catch(() => {});
    }
  }
}

/** Messages in commit order, and within a transaction in LSN order (schema change first on ties). */
function inCommitOrder(messages: ReadMessage[]): ReadMessage[] {
  const position = (m: ReadMessage) => [
    parseLsn(m.headers["pg2kafka.commit_lsn"]),
    parseLsn(m.headers["pg2kafka.lsn"]),
    m.headers["pg2kafka.op"] === "schema_change" ? 0n : 1n,
  ];
  return [...messages].sort((a, b) => {
    const [x, y] = [position(a), position(b)];
    for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return x[i] < y[i] ? -1 : 1;
    return 0;
  });
}

/** A short description of each message: `insert t 1` or `schema ALTER TABLE t`. */
function describe(message: ReadMessage, table: string, created: string): string {
  const value = JSON.parse(message.value!);
  const name = value.table === table ? "t" : value.table === created ? "t2" : value.table;
  if (value.op !== "schema_change") return `${value.op} ${name} ${value.after?.id}`;
  return `schema ${value.command_tag ?? "relation"} ${name}`;
}

function columnNames(columns: { name: string }[] | null): string[] | null {
  return columns === null ? null : columns.map((column) => column.name);
}

async function runConnector(
  sql: Sql,
  admin: Sql,
  options: { table: string; created: string; via: "trigger" | "relation"; expected: number },
): Promise<ReadMessage[]> {
  const { table, created, via } = options;
  const slot = `${table}_slot`;
  const publication = `${table}_pub`;
  const schemaTopic = `tests.${table}.schema`;
  const connector = ConnectorProcess.start(connectorConfig({
    slot,
    publication,
    tables: ["*"],
    source: `create_publication = false
[sources.schema_changes]
enabled = true
via = "${via}"
topic = "${schemaTopic}"`,
    targets: `
[[targets]]
name = "rows"
tables = ["public.${table}", "public.${created}"]
topic = "tests.{table}.rows"
`,
  }));
  try {
    await connector.waitForLine(/streaming slot/);
    await runWorkload(sql, table, created);
    const topics = [schemaTopic, `tests.${table}.rows`, `tests.${created}.rows`];
    const messages = await readTopics(topics, (m) => m.length >= options.expected);
    assert.equal((await connector.stop("SIGTERM")).code, 0);
    return inCommitOrder(messages);
  } finally {
    await connector.stop("SIGKILL");
    // The superuser made the publication, so the superuser drops it.
    await dropSlotAndPublication(admin, slot, publication);
  }
}

Deno.test(
  "The DDL trigger yields a schema-change message per DDL, in order between the row changes",
  integration,
  async () => {
    const admin = adminSql();
    const sql = testSql();
    const table = uniqueName("ddl");
    const created = `${table}_new`;
    await sql.unsafe(`CREATE TABLE ${table} (id int PRIMARY KEY)`);
    await installDdlTrigger(admin);
    // A publication for tables created later needs FOR ALL TABLES, which needs a superuser.
    await admin.unsafe(`CREATE PUBLICATION ${table}_pub FOR ALL TABLES`);
    try {
      const messages = await runConnector(sql, admin, {
        table,
        created,
        via: "trigger",
        expected: 13,
      });
      assert.deepEqual(messages.map((m) => describe(m, table, created)), [
        "insert t 1",
        "schema ALTER TABLE t",
        "insert t 2",
        "schema ALTER TABLE t",
        "insert t 3",
        "schema ALTER TABLE t",
        "insert t 4",
        "schema ALTER TABLE t",
        "insert t 5",
        "schema CREATE TABLE t2",
        "insert t2 1",
        "schema DROP TABLE t2",
        "insert t 6",
      ]);
      const changes = messages.map((m) => JSON.parse(m.value!))
        .filter((value) => value.op === "schema_change");
      assert.deepEqual(changes.map((change) => columnNames(change.columns)), [
        ["id", "email"],
        ["id", "email"],
        ["id", "mail"],
        ["id"],
        ["id", "note"],
        null,
      ]);
      assert.equal(changes[1].columns[1].type, "character varying(100)");
      assert.match(changes[2].statement, /RENAME COLUMN email TO mail/);
      assert.equal(changes[4].object_identity, `public.${created}`);
      for (const change of changes) {
        assert.equal(change.via, "trigger");
        assert.equal(typeof change.xid, "number");
        assert.match(change.lsn, /^[0-9A-F]+\/[0-9A-F]+$/);
      }
      const schemaMessage = messages.find((m) => m.headers["pg2kafka.op"] === "schema_change")!;
      assert.equal(schemaMessage.key, JSON.stringify({ schema: "public", table }));
      assert.ok(!messages.some((m) => m.value!.includes("ghost")), "the rolled-back DDL is absent");
    } finally {
      await admin.unsafe(DDL_TRIGGER_REMOVAL_SQL);
      await sql.unsafe(`DROP TABLE IF EXISTS ${table}, ${created}`);
      await sql.end();
      await admin.end();
    }
  },
);

Deno.test(
  "Without the trigger, a Relation message with changed columns yields a schema-change message",
  integration,
  async () => {
    const admin = adminSql();
    const sql = testSql();
    const table = uniqueName("rel");
    const created = `${table}_new`;
    await sql.unsafe(`CREATE TABLE ${table} (id int PRIMARY KEY)`);
    await admin.unsafe(`CREATE PUBLICATION ${table}_pub FOR ALL TABLES`);
    try {
      const messages = await runConnector(sql, admin, {
        table,
        created,
        via: "relation",
        expected: 11,
      });
      assert.deepEqual(messages.map((m) => describe(m, table, created)), [
        "insert t 1",
        "schema relation t",
        "insert t 2",
        "schema relation t",
        "insert t 3",
        "schema relation t",
        "insert t 4",
        "schema relation t",
        "insert t 5",
        // CREATE and DROP of t2 are not seen: its first Relation has nothing to compare with.
        "insert t2 1",
        "insert t 6",
      ]);
      const changes = messages.map((m) => JSON.parse(m.value!))
        .filter((value) => value.op === "schema_change");
      const summary = changes.map(({ added, dropped, retyped, columns, before_columns }) => ({
        added,
        dropped,
        retyped,
        before: columnNames(before_columns),
        after: columnNames(columns),
      }));
      assert.deepEqual(summary, [
        { added: ["email"], dropped: [], retyped: [], before: ["id"], after: ["id", "email"] },
        {
          added: [],
          dropped: [],
          retyped: ["email"],
          before: ["id", "email"],
          after: ["id", "email"],
        },
        {
          added: ["mail"],
          dropped: ["email"],
          retyped: [],
          before: ["id", "email"],
          after: ["id", "mail"],
        },
        { added: [], dropped: ["mail"], retyped: [], before: ["id", "mail"], after: ["id"] },
      ]);
      assert.equal(changes[1].columns[1].type, "varchar");
      // Each is committed with the row change that carried the new Relation.
      const rows = messages.filter((m) => m.headers["pg2kafka.op"] !== "schema_change");
      for (const change of messages.filter((m) => m.headers["pg2kafka.op"] === "schema_change")) {
        const commit = change.headers["pg2kafka.commit_lsn"];
        assert.ok(rows.some((row) => row.headers["pg2kafka.commit_lsn"] === commit));
      }
      assert.ok(!messages.some((m) => m.value!.includes("ghost")), "the rolled-back DDL is absent");
    } finally {
      await sql.unsafe(`DROP TABLE IF EXISTS ${table}, ${created}`);
      await sql.end();
      await admin.end();
    }
  },
);

Deno.test(
  "A source told to use missing DDL triggers logs an error and still streams its rows",
  integration,
  async () => {
    const admin = adminSql();
    const sql = testSql();
    const table = uniqueName("noddl");
    const slot = `${table}_slot`;
    const publication = `${table}_pub`;
    await admin.unsafe(DDL_TRIGGER_REMOVAL_SQL);
    await sql.unsafe(`CREATE TABLE ${table} (id int PRIMARY KEY)`);
    const connector = ConnectorProcess.start(connectorConfig({
      slot,
      publication,
      tables: [`public.${table}`],
      source: `[sources.schema_changes]\nenabled = true\nvia = "trigger"`,
      targets: `[[targets]]\nname = "rows"\ntables = ["public.${table}"]\ntopic = "tests.{table}"`,
    }));
    try {
      await connector.waitForLine(/"missing":"pg2kafka_ddl, pg2kafka_ddl_drop"/);
      await connector.waitForLine(/streaming slot/);
      await sql.unsafe(`INSERT INTO ${table} VALUES (1)`);
      const [row] = await readTopics([`tests.${table}`], (m) => m.length >= 1);
      assert.equal(JSON.parse(row.value!).after.id, 1);
      assert.equal((await connector.stop("SIGTERM")).code, 0);
    } finally {
      await connector.stop("SIGKILL");
      await dropSlotAndPublication(sql, slot, publication);
      await sql.unsafe(`DROP TABLE IF EXISTS ${table}`);
      await sql.end();
      await admin.end();
    }
  },
);
