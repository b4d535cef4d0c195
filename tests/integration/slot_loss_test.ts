/**
 * A slot this source streamed from that vanishes is never replaced silently
 * (project issue 14, part 1): dropped while streaming or while the connector
 * was stopped, it makes the connector stop with exit code 5 and a clear error
 * under `snapshot = "never"`, and re-snapshot under `"when_needed"`, so the
 * union of what Kafka holds equals the table.
 */
import assert from "node:assert/strict";
import type { Sql } from "postgres";
import {
  connectorConfig,
  ConnectorProcess,
  type ReadMessage,
  readTopics,
  STACK,
  testSql,
  uniqueName,
  waitFor,
} from "./harness.ts";

const integration = { sanitizeOps: false, sanitizeResources: false };
/** Exit code of `pg2kafka run` when every source's slot is lost (main.ts). */
const EXIT_SLOT_LOST = 5;
const ROWS_PER_STEP = 100;
const EXIT_TIMEOUT_MS = 60_000;
const REPO_ROOT = new URL("../../", import.meta.url).pathname;

interface Fixture {
  table: string;
  slot: string;
  publication: string;
  topic: string;
  progressTopic: string;
}

function fixture(): Fixture {
  const table = uniqueName("slot_loss");
  return {
    table,
    slot: `${table}_slot`,
    publication: `${table}_pub`,
    topic: `tests.${table}`,
    progressTopic: `tests.${table}.progress`,
  };
}

function configFor(fx: Fixture, snapshot: "never" | "when_needed"): string {
  return connectorConfig({
    slot: fx.slot,
    publication: fx.publication,
    tables: [`public.${fx.table}`],
    source: `snapshot = "${snapshot}"\ncreate_slot = true\n` +
      `[sources.reconnect]\ninitial_backoff = "200ms"\nmax_backoff = "1s"`,
    kafka: `progress_topic = "${fx.progressTopic}"`,
    targets: `
[[targets]]
name = "rows"
tables = ["public.${fx.table}"]
topic = "tests.{table}"
`,
  });
}

async function insertRows(sql: Sql, table: string, from: number): Promise<void> {
  await sql.unsafe(
    `INSERT INTO ${table} (id) SELECT g FROM generate_series(${from}, ${
      from + ROWS_PER_STEP - 1
    }) g`,
  );
}

/** The distinct row ids in the topic. */
function idsIn(messages: readonly ReadMessage[]): Set<number> {
  return new Set(messages.map((message) => JSON.parse(message.key!).id as number));
}

async function readIds(fx: Fixture, expected: number): Promise<Set<number>> {
  const messages = await readTopics([fx.topic], (m) => idsIn(m).size >= expected, 90_000);
  return idsIn(messages);
}

/** Terminates the slot's walsender and drops the slot, as the administrator did. */
async function dropSlotUnderConnector(sql: Sql, slot: string): Promise<void> {
  await waitFor(`slot ${slot} to be dropped`, async () => {
    await sql`SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots
              WHERE slot_name = ${slot} AND active_pid IS NOT NULL`;
    try {
      await sql`SELECT pg_drop_replication_slot(${slot})`;
    } catch { /* still active for a moment: terminate again */ }
    const [row] = await sql`SELECT 1 FROM pg_replication_slots WHERE slot_name = ${slot}`;
    return row === undefined ? true : undefined;
  });
}

async function slotExists(sql: Sql, slot: string): Promise<boolean> {
  const [row] = await sql`SELECT 1 FROM pg_replication_slots WHERE slot_name = ${slot}`;
  return row !== undefined;
}

async function setUp(sql: Sql, fx: Fixture): Promise<void> {
  await sql.unsafe(`CREATE TABLE ${fx.table} (id int PRIMARY KEY)`);
}

async function tearDown(sql: Sql, fx: Fixture): Promise<void> {
  await sql`SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots
            WHERE slot_name = ${fx.slot} AND NOT active`;
  await sql.unsafe(`DROP PUBLICATION IF EXISTS "${fx.publication}"`);
  await sql.unsafe(`DROP TABLE IF EXISTS ${fx.table}`);
  await sql.end();
}

/** Waits for the exit and returns the code, failing with the output if it does not come. */
async function exitCode(connector: ConnectorProcess): Promise<number> {
  const timeout = new Promise<never>((_, reject) =>
    setTimeout(() => reject(new Error("the connector did not exit")), EXIT_TIMEOUT_MS)
  );
  try {
    return (await Promise.race([connector.status, timeout])).code;
  } catch (error) {
    await connector.stop("SIGKILL");
    throw new Error(`${(error as Error).message}\n${connector.lines.join("\n")}`);
  }
}

Deno.test(
  'a slot dropped while streaming stops the connector (exit 5) under snapshot = "never"',
  integration,
  async () => {
    const fx = fixture();
    const sql = testSql();
    await setUp(sql, fx);
    const connector = ConnectorProcess.start(configFor(fx, "never"));
    try {
      await connector.waitForLine(/streaming slot/);
      await insertRows(sql, fx.table, 1);
      assert.equal((await readIds(fx, ROWS_PER_STEP)).size, ROWS_PER_STEP);

      await dropSlotUnderConnector(sql, fx.slot);
      await insertRows(sql, fx.table, ROWS_PER_STEP + 1);
      assert.equal(await exitCode(connector), EXIT_SLOT_LOST);
      const fatal = connector.lines.find((line) => /vanished although/.test(line));
      assert.ok(fatal, `no "vanished" error in:\n${connector.lines.join("\n")}`);
      assert.match(fatal, /this source streamed from it since pg2kafka started/);
      assert.match(fatal, /set snapshot = \\"when_needed\\" and restart/);
      assert.equal(await slotExists(sql, fx.slot), false, "the slot was recreated");
      const created = connector.lines.filter((line) => /Created replication slot/.test(line));
      assert.equal(created.length, 1, "the slot was created again after it vanished");
    } finally {
      await connector.stop("SIGKILL");
      await tearDown(sql, fx);
    }
  },
);

Deno.test(
  'a slot dropped while streaming is re-snapshotted under snapshot = "when_needed"',
  integration,
  async () => {
    const fx = fixture();
    const sql = testSql();
    await setUp(sql, fx);
    const connector = ConnectorProcess.start(configFor(fx, "when_needed"));
    try {
      await connector.waitForLine(/streaming slot/);
      await insertRows(sql, fx.table, 1);
      assert.equal((await readIds(fx, ROWS_PER_STEP)).size, ROWS_PER_STEP);

      await dropSlotUnderConnector(sql, fx.slot);
      await insertRows(sql, fx.table, ROWS_PER_STEP + 1);
      await connector.waitForLine(/vanished .*recreating it with a snapshot/);
      await insertRows(sql, fx.table, 2 * ROWS_PER_STEP + 1);
      const ids = await readIds(fx, 3 * ROWS_PER_STEP);
      assert.deepEqual([...ids].sort((a, b) => a - b), range(1, 3 * ROWS_PER_STEP));
      assert.equal(await slotExists(sql, fx.slot), true);
    } finally {
      await connector.stop();
      await tearDown(sql, fx);
    }
  },
);

Deno.test(
  "a slot dropped while the connector was stopped is refused, then re-snapshotted by choice",
  integration,
  async () => {
    const fx = fixture();
    const sql = testSql();
    await setUp(sql, fx);
    let connector = ConnectorProcess.start(configFor(fx, "never"));
    try {
      await connector.waitForLine(/streaming slot/);
      await insertRows(sql, fx.table, 1);
      assert.equal((await readIds(fx, ROWS_PER_STEP)).size, ROWS_PER_STEP);
      assert.equal((await connector.stop()).code, 0);

      await dropSlotUnderConnector(sql, fx.slot);
      await insertRows(sql, fx.table, ROWS_PER_STEP + 1);

      // A new process knows only from the progress record that the source streamed.
      connector = ConnectorProcess.start(configFor(fx, "never"));
      assert.equal(await exitCode(connector), EXIT_SLOT_LOST);
      assert.ok(
        connector.lines.some((line) => /vanished although its progress record says/.test(line)),
        connector.lines.join("\n"),
      );
      assert.equal(await slotExists(sql, fx.slot), false, "the slot was recreated");

      // The operator's way out: a snapshot, after which consumers hold every row.
      connector = ConnectorProcess.start(configFor(fx, "when_needed"));
      await connector.waitForLine(/streaming slot/, 90_000);
      const ids = await readIds(fx, 2 * ROWS_PER_STEP);
      assert.deepEqual([...ids].sort((a, b) => a - b), range(1, 2 * ROWS_PER_STEP));
    } finally {
      await connector.stop();
      await tearDown(sql, fx);
    }
  },
);

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

Deno.test(
  "a source whose slot vanished shows as failed in /ready, /metrics and health while others stream",
  integration,
  async () => {
    const fx = fixture();
    const other = fixture();
    const sql = testSql();
    await setUp(sql, fx);
    await setUp(sql, other);
    const config = configFor(fx, "never").replace(
      "[http]\nenabled = false",
      '[http]\nenabled = true\nlisten = "127.0.0.1:0"',
    ) + `
[[sources]]
name = "second"
host = "${STACK.pgHost}"
port = ${STACK.pgPort}
database = "${STACK.pgDatabase}"
user = "${STACK.pgUser}"
password = "\${PG2KAFKA_PG_PASSWORD}"
slot = "${other.slot}"
publication = "${other.publication}"
tables = ["public.${other.table}"]
snapshot = "never"

[[targets]]
name = "other_rows"
tables = ["public.${other.table}"]
topic = "tests.{table}"
`;
    const connector = ConnectorProcess.start(config);
    try {
      const listening = await connector.waitForLine(/HTTP endpoints listening/);
      const url = JSON.parse(listening).properties.url as string;
      await waitFor("both sources to stream", () => {
        const streaming = connector.lines.filter((line) => /streaming slot/.test(line));
        return streaming.length >= 2 ? true : undefined;
      });
      await dropSlotUnderConnector(sql, fx.slot);
      await connector.waitForLine(/"level":"FATAL".*vanished although/);

      const ready = await (await fetch(`${url}/ready`)).json();
      assert.equal(ready.ready, false);
      const failed = ready.checks.find((c: { source?: string }) => c.source === "main");
      assert.match(failed.detail, /^failed: Replication slot ".*" of source main vanished/);
      const streaming = ready.sources.find((s: { name: string }) => s.name === "second");
      assert.equal(streaming.status, "streaming");
      const metrics = await (await fetch(`${url}/metrics`)).text();
      assert.match(metrics, /pg2kafka_source_failed\{source="main"\} 1/);
      assert.match(metrics, /pg2kafka_source_failed\{source="second"\} 0/);

      // The other source still delivers.
      await insertRows(sql, other.table, 1);
      assert.equal((await readIds(other, ROWS_PER_STEP)).size, ROWS_PER_STEP);
      assert.equal(await slotExists(sql, fx.slot), false, "the slot was recreated");

      const configPath = await Deno.makeTempFile({ suffix: ".toml" });
      await Deno.writeTextFile(configPath, config);
      const health = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", `${REPO_ROOT}main.ts`, "health", "-c", configPath, "--url", url],
        env: { PG2KAFKA_PG_PASSWORD: STACK.pgPassword },
        stdout: "piped",
        stderr: "piped",
      }).output();
      await Deno.remove(configPath);
      const line = new TextDecoder().decode(health.stdout);
      assert.equal(health.code, 2, line);
      assert.match(line, /^FAILING: .*source main failed: Replication slot .* vanished/);
    } finally {
      await connector.stop("SIGKILL");
      await tearDown(sql, other);
      await tearDown(testSql(), fx);
    }
  },
);
