/**
 * `pg2kafka check --connect` against the local stack: its exit codes for a
 * valid config, an invalid one, an unreachable PostgreSQL, an unreachable
 * Kafka and a reachable server that cannot serve the config; and that it
 * creates nothing.
 */
import assert from "node:assert/strict";
import { STACK, testKafka, testSql, uniqueName } from "./harness.ts";

const integration = { sanitizeOps: false, sanitizeResources: false };
const REPO_ROOT = new URL("../../", import.meta.url).pathname;

interface CheckRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `pg2kafka check --config <text> [--connect]` as a process. */
async function check(config: string, connect = true): Promise<CheckRun> {
  const path = await Deno.makeTempFile({ prefix: "pg2kafka-check-", suffix: ".toml" });
  try {
    await Deno.writeTextFile(path, config);
    const args = ["run", "--allow-all", `${REPO_ROOT}main.ts`, "check", "--config", path];
    const output = await new Deno.Command(Deno.execPath(), {
      args: connect ? [...args, "--connect"] : args,
      env: { PG2KAFKA_PG_PASSWORD: STACK.pgPassword },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
    return { code: output.code, stdout: decode(output.stdout), stderr: decode(output.stderr) };
  } finally {
    await Deno.remove(path);
  }
}

/** A port nothing listens on (bound, then released). */
function closedPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

interface Names {
  slot: string;
  publication: string;
  tables: string[];
  topic: string;
  deadLetter: string;
}

function config(names: Names, extra: { source?: string; kafka?: string } = {}): string {
  return `
[[sources]]
name = "main"
host = "${STACK.pgHost}"
port = ${STACK.pgPort}
database = "${STACK.pgDatabase}"
user = "${STACK.pgUser}"
password = "\${PG2KAFKA_PG_PASSWORD}"
slot = "${names.slot}"
publication = "${names.publication}"
tables = [${names.tables.map((table) => `"public.${table}"`).join(", ")}]
connect_timeout = "3s"
${extra.source ?? ""}

[kafka]
brokers = ["${STACK.kafkaBroker}"]
dead_letter_topic = "${names.deadLetter}"
${extra.kafka ?? ""}

[[targets]]
name = "rows"
tables = ["public.*"]
topic = "${names.topic}.{table}"
`;
}

/** Tables (one without a primary key) and names nobody created yet. */
async function fixture(sql: ReturnType<typeof testSql>): Promise<Names> {
  const prefix = uniqueName("chk");
  const keyed = `${prefix}_keyed`;
  const keyless = `${prefix}_keyless`;
  await sql.unsafe(`CREATE TABLE ${keyed} (id int PRIMARY KEY)`);
  await sql.unsafe(`CREATE TABLE ${keyless} (note text)`);
  return {
    slot: `${prefix}_slot`,
    publication: `${prefix}_pub`,
    tables: [keyed, keyless],
    topic: `tests.${prefix}`,
    deadLetter: `tests.${prefix}.dlq`,
  };
}

/** The check's lines with the given label. */
const linesOf = (run: CheckRun, label: string) =>
  run.stdout.split("\n").filter((line) => line.startsWith(`${label} `));

Deno.test(
  "check --connect passes a usable config, warns about a keyless table, creates nothing",
  integration,
  async () => {
    const sql = testSql();
    try {
      const names = await fixture(sql);
      const run = await check(config(names));
      assert.equal(run.code, 0, run.stdout + run.stderr);
      const ok = linesOf(run, "ok").join("\n");
      assert.match(ok, /postgres main: wal_level is logical/);
      assert.match(ok, /postgres main: role pg2kafka may replicate/);
      assert.match(
        ok,
        new RegExp(`slot "${names.slot}" does not exist yet; pg2kafka will create it`),
      );
      assert.match(ok, new RegExp(`publication "${names.publication}" does not exist yet`));
      assert.match(
        ok,
        new RegExp(`topic ${names.topic}.${names.tables[0]} \\(rows\\) does not exist yet`),
      );
      assert.match(ok, new RegExp(`topic ${names.deadLetter} \\(dead-letter topic\\)`));
      assert.deepEqual(
        linesOf(run, "warn").map((line) => line.split(":")[1].trim().split(" ")[1]),
        [
          `public.${names.tables[1]}`,
        ],
      );
      assert.deepEqual(linesOf(run, "FAIL"), []);

      const [slots] = await sql`SELECT count(*)::int AS n FROM pg_replication_slots
                              WHERE slot_name = ${names.slot}`;
      const [publications] = await sql`SELECT count(*)::int AS n FROM pg_publication
                                     WHERE pubname = ${names.publication}`;
      assert.deepEqual([slots.n, publications.n], [0, 0]);
      const admin = testKafka().admin();
      await admin.connect();
      const topics = await admin.listTopics().finally(() => admin.disconnect());
      assert.deepEqual(topics.filter((topic) => topic.startsWith(names.topic)), []);
    } finally {
      await sql.end();
    }
  },
);

Deno.test(
  "check --connect relies on the broker's auto-creation when create_topics is false",
  integration,
  async () => {
    const sql = testSql();
    try {
      const names = await fixture(sql);
      const run = await check(config(names, { kafka: "create_topics = false" }));
      assert.equal(run.code, 0, run.stdout + run.stderr);
      assert.match(run.stdout, /the broker creates it on first use/);
    } finally {
      await sql.end();
    }
  },
);

Deno.test("check exits 2 on an invalid config and names the path", integration, async () => {
  const names = { slot: "s", publication: "p", tables: ["t"], topic: "t", deadLetter: "d" };
  const run = await check(
    config(names).replace('name = "rows"', 'name = "rows"\nwhere = "new.x >"'),
  );
  assert.equal(run.code, 2);
  assert.match(run.stderr, /targets\[0\]\.where/);
});

Deno.test("check --connect exits 3 when PostgreSQL is unreachable", integration, async () => {
  const names = { slot: "s", publication: "p", tables: ["t"], topic: "t", deadLetter: "d" };
  const run = await check(
    config(names).replace(`port = ${STACK.pgPort}`, `port = ${closedPort()}`),
  );
  assert.equal(run.code, 3, run.stdout + run.stderr);
  assert.match(run.stdout, /^FAIL postgres main: cannot reach 127\.0\.0\.1:\d+\/app: /m);
  assert.doesNotMatch(run.stdout + run.stderr, new RegExp(STACK.pgPassword));
});

Deno.test("check --connect exits 3 when Kafka is unreachable", integration, async () => {
  const sql = testSql();
  try {
    const names = await fixture(sql);
    const broker = `127.0.0.1:${closedPort()}`;
    const run = await check(config(names).replace(`"${STACK.kafkaBroker}"`, `"${broker}"`));
    assert.equal(run.code, 3, run.stdout + run.stderr);
    assert.match(run.stdout, new RegExp(`^FAIL kafka: cannot reach ${broker}: `, "m"));
    assert.match(run.stdout, /^ok {3}postgres main: wal_level is logical/m);
  } finally {
    await sql.end();
  }
});

Deno.test(
  "check --connect exits 4 when PostgreSQL answers but cannot serve the config",
  integration,
  async () => {
    const sql = testSql();
    try {
      const names = await fixture(sql);
      names.tables.push(uniqueName("missing"));
      const run = await check(config(names, {
        source: "create_slot = false\ncreate_publication = false",
      }));
      assert.equal(run.code, 4, run.stdout + run.stderr);
      const failures = linesOf(run, "FAIL").map((line) =>
        line.replace(/^FAIL postgres main: /, "")
      );
      assert.deepEqual(failures, [
        `slot "${names.slot}" does not exist and create_slot = false: create it or set create_slot = true`,
        `configured tables do not exist: public.${names.tables[2]}`,
        `publication "${names.publication}" does not exist and create_publication = false: ` +
        "create it or set create_publication = true",
      ]);
    } finally {
      await sql.end();
    }
  },
);
