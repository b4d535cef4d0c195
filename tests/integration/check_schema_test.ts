/**
 * `pg2kafka check --connect` on column rules and schema-change triggers
 * (project issue 17), against the local stack: a rule matching no column
 * warns, a rule dropping a table's key column fails, missing DDL triggers
 * fail with what to do, installed ones pass.
 */
import assert from "node:assert/strict";
import postgres, { type Sql } from "postgres";
import { DDL_TRIGGER_REMOVAL_SQL, installDdlTrigger } from "../../src/source/ddl_trigger.ts";
import { STACK, testSql, uniqueName } from "./harness.ts";

const integration = { sanitizeOps: false, sanitizeResources: false };
const REPO_ROOT = new URL("../../", import.meta.url).pathname;
const SECRET = "check-test-secret-0123456789";

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

/** Runs `pg2kafka check --connect` on `config`; the exit code and printed lines. */
async function check(config: string): Promise<{ code: number; lines: string[] }> {
  const path = await Deno.makeTempFile({ prefix: "pg2kafka-check-", suffix: ".toml" });
  try {
    await Deno.writeTextFile(path, config);
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", `${REPO_ROOT}main.ts`, "check", "--config", path, "--connect"],
      env: { PG2KAFKA_PG_PASSWORD: STACK.pgPassword, PII_SECRET: SECRET },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(output.stdout) + new TextDecoder().decode(output.stderr);
    return { code: output.code, lines: text.split("\n") };
  } finally {
    await Deno.remove(path);
  }
}

function config(table: string, rules: string, schemaChanges: string): string {
  return `
[[sources]]
name = "main"
host = "${STACK.pgHost}"
port = ${STACK.pgPort}
database = "${STACK.pgDatabase}"
user = "${STACK.pgUser}"
password = "\${PG2KAFKA_PG_PASSWORD}"
slot = "${table}_slot"
publication = "${table}_pub"
tables = ["public.${table}"]
${schemaChanges}

[kafka]
brokers = ["${STACK.kafkaBroker}"]

[[targets]]
name = "pii"
tables = ["public.${table}"]
${rules}
`;
}

const RULES = `
[[targets.column_rules]]
columns = ["email"]
action = "hash"
secret = "\${PII_SECRET}"
[[targets.column_rules]]
columns = ["card_numbr"]
action = "mask"
[[targets.column_rules]]
columns = ["id"]
action = "drop"
`;

Deno.test(
  "check --connect warns of a rule matching no column and fails one dropping a key column",
  integration,
  async () => {
    const sql = testSql();
    const table = uniqueName("chkcol");
    await sql.unsafe(`CREATE TABLE ${table} (id int PRIMARY KEY, email text, card_number text)`);
    try {
      const run = await check(config(table, RULES, ""));
      assert.equal(run.code, 4, run.lines.join("\n"));
      const warn = run.lines.filter((line) => line.startsWith("warn "));
      const fail = run.lines.filter((line) => line.startsWith("FAIL "));
      assert.deepEqual(warn, [
        `warn postgres main: target "pii" column_rules[1]: column "card_numbr" matches no ` +
        `column of public.${table}: a typo?`,
      ]);
      assert.equal(fail.length, 1, fail.join("\n"));
      assert.match(
        fail[0],
        new RegExp(`column_rules\\[2\\]: drops key column\\(s\\) id of public\\.${table}`),
      );
      const fixed = await check(config(table, RULES.replace(`["id"]`, `["nothing"]`), ""));
      assert.ok(
        fixed.lines.some((line) => /column_rules\[2\]: column "nothing" matches no/.test(line)),
      );
      assert.ok(!fixed.lines.some((line) => line.startsWith("FAIL ")), fixed.lines.join("\n"));
      assert.equal(fixed.code, 0);
    } finally {
      await sql.unsafe(`DROP TABLE IF EXISTS ${table}`);
      await sql.end();
    }
  },
);

Deno.test(
  "check --connect verifies the DDL triggers a source takes its schema changes from",
  integration,
  async () => {
    const sql = testSql();
    const admin = adminSql();
    const table = uniqueName("chkddl");
    await sql.unsafe(`CREATE TABLE ${table} (id int PRIMARY KEY)`);
    const schemaChanges = `[sources.schema_changes]\nenabled = true\nvia = "trigger"`;
    try {
      await admin.unsafe(DDL_TRIGGER_REMOVAL_SQL);
      const missing = await check(config(table, "", schemaChanges));
      assert.equal(missing.code, 4);
      assert.ok(
        missing.lines.some((line) =>
          /^FAIL postgres main: event trigger\(s\) pg2kafka_ddl, pg2kafka_ddl_drop missing or disabled: set install_trigger = true/
            .test(line)
        ),
        missing.lines.join("\n"),
      );
      const notSuperuser = await check(
        config(table, "", `${schemaChanges}\ninstall_trigger = true`),
      );
      assert.ok(notSuperuser.lines.some((line) => /role pg2kafka is not a superuser/.test(line)));
      await installDdlTrigger(admin);
      const installed = await check(config(table, "", schemaChanges));
      assert.ok(
        installed.lines.includes(
          "ok   postgres main: the DDL event triggers are installed and enabled",
        ),
        installed.lines.join("\n"),
      );
      assert.equal(installed.code, 0);
    } finally {
      await admin.unsafe(DDL_TRIGGER_REMOVAL_SQL);
      await sql.unsafe(`DROP TABLE IF EXISTS ${table}`);
      await sql.end();
      await admin.end();
    }
  },
);
