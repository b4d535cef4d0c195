/**
 * Spilled transactions (project issue 21), against the real stack: a
 * transaction target whose `where` uses `tx.*` spills a large transaction
 * past `transaction_buffer_bytes`, and its Kafka messages are byte for byte
 * those of a connector that held it in memory; a connector killed while a
 * spill file exists leaves it behind, and the next start removes it and
 * delivers the transaction.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  connectorConfig,
  ConnectorProcess,
  dropSlotAndPublication,
  type ReadMessage,
  readTopics,
  testKafka,
  testSql,
  uniqueName,
  waitFor,
} from "./harness.ts";

const integration = { sanitizeOps: false, sanitizeResources: false };
const ROWS = 20_000;
const SPILL_LOG = /outgrew .* bytes: spilling to/;

/** A config whose only target is a transaction target deciding with `tx.*`. */
function spillConfig(names: {
  slot: string;
  publication: string;
  table: string;
  topic: string;
  buffer: string;
  spillDir: string;
}): string {
  return connectorConfig({
    slot: names.slot,
    publication: names.publication,
    tables: [`public.${names.table}`],
    source: 'snapshot = "never"',
    extra: `[limits]
transaction_buffer_bytes = "${names.buffer}"
spill_dir = "${names.spillDir}"`,
    targets: `
[[targets]]
name = "tx"
tables = ["public.${names.table}"]
mode = "transaction"
topic = "${names.topic}"
max_message_bytes = "64KiB"
where = "tx.size > 1 && !(new.note endsWith '3')"
`,
  });
}

/** The messages of the latest complete run of parts of transaction `xid` (ends in `last`). */
function completeRun(messages: readonly ReadMessage[], xid: number): ReadMessage[] | undefined {
  const ofXid = messages.filter((m) => JSON.parse(m.value!).xid === xid);
  const lastIndex = ofXid.findLastIndex((m) => JSON.parse(m.value!).last === true);
  if (lastIndex < 0) return undefined;
  const firstIndex = ofXid.slice(0, lastIndex + 1).findLastIndex((m) =>
    JSON.parse(m.value!).part === 1
  );
  return ofXid.slice(firstIndex, lastIndex + 1);
}

async function filesIn(dir: string): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) names.push(entry.name);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return names;
}

async function deleteTopics(topics: string[]): Promise<void> {
  const admin = testKafka().admin();
  await admin.connect();
  await admin.deleteTopics({ topics }).catch(() => {});
  await admin.disconnect();
}

Deno.test(
  "a spilled transaction reaches Kafka byte for byte as one held in memory",
  integration,
  async () => {
    const sql = testSql();
    const table = uniqueName("spill");
    const publication = `${table}_pub`;
    const slots = { memory: `${table}_mem`, spill: `${table}_spill` };
    const topics = { memory: `test.${table}.mem`, spill: `test.${table}.spill` };
    const spillDir = await Deno.makeTempDir({ prefix: "pg2kafka-spill-it-" });
    await sql.unsafe(`CREATE TABLE ${table} (id int PRIMARY KEY, note text)`);
    await sql.unsafe(`CREATE PUBLICATION ${publication} FOR TABLE ${table}`);
    // Two slots at one point: both connectors read the same transaction.
    for (const slot of Object.values(slots)) {
      await sql`SELECT pg_create_logical_replication_slot(${slot}, 'pgoutput')`;
    }
    await sql.unsafe(
      `INSERT INTO ${table} SELECT g, 'row ✓ żółć ' || g FROM generate_series(1, ${ROWS}) g`,
    );
    const [{ xid }] = await sql<{ xid: number }[]>`
      SELECT xmin::text::int AS xid FROM ${sql(table)} LIMIT 1`;
    const names = { publication, table };
    const inMemory = ConnectorProcess.start(spillConfig({
      ...names,
      slot: slots.memory,
      topic: topics.memory,
      buffer: "64MiB",
      spillDir,
    }));
    const spilling = ConnectorProcess.start(spillConfig({
      ...names,
      slot: slots.spill,
      topic: topics.spill,
      buffer: "64KiB",
      spillDir,
    }));
    try {
      const read = async (topic: string) => {
        const messages = await readTopics(
          [topic],
          (all) => completeRun(all, xid) !== undefined,
          120_000,
        );
        return completeRun(messages, xid)!;
      };
      const [memoryParts, spillParts] = await Promise.all([
        read(topics.memory),
        read(topics.spill),
      ]);
      await spilling.waitForLine(SPILL_LOG);
      assert.equal(inMemory.lines.some((line) => SPILL_LOG.test(line)), false);
      assert.ok(spillParts.length > 10, `${spillParts.length} parts`);
      const wire = (parts: ReadMessage[]) =>
        parts.map(({ key, value, headers }) => ({ key, value, headers }));
      assert.deepEqual(wire(spillParts), wire(memoryParts));
      const events = spillParts.flatMap((m) => JSON.parse(m.value!).events);
      assert.equal(events.length, ROWS - ROWS / 10, "the where dropped every id ending in 3");
      assert.deepEqual(await filesIn(join(spillDir, "main")), [], "no spill file is left");
    } finally {
      await Promise.all([inMemory.stop(), spilling.stop()]);
      await dropSlotAndPublication(sql, slots.memory, publication);
      await sql`SELECT pg_drop_replication_slot(${slots.spill})`.catch(() => {});
      await sql.unsafe(`DROP TABLE IF EXISTS ${table}`);
      await sql.end();
      await deleteTopics(Object.values(topics));
      await Deno.remove(spillDir, { recursive: true });
    }
  },
);

Deno.test(
  "a spill file left by a kill -9 is removed at the next start, which delivers the transaction",
  integration,
  async () => {
    const sql = testSql();
    const table = uniqueName("spill_crash");
    const names = {
      slot: `${table}_slot`,
      publication: `${table}_pub`,
      table,
      topic: `test.${table}`,
      buffer: "16KiB",
      spillDir: await Deno.makeTempDir({ prefix: "pg2kafka-spill-crash-" }),
    };
    const folder = join(names.spillDir, "main");
    const rows = 200_000;
    await sql.unsafe(`CREATE TABLE ${table} (id int PRIMARY KEY, note text)`);
    let connector = ConnectorProcess.start(spillConfig(names));
    try {
      await connector.waitForLine(/streaming slot/);
      await sql.unsafe(
        `INSERT INTO ${table} SELECT g, 'row ' || g FROM generate_series(1, ${rows}) g`,
      );
      const [{ xid }] = await sql<{ xid: number }[]>`
        SELECT xmin::text::int AS xid FROM ${sql(table)} LIMIT 1`;
      // The file lives while the transaction is decoded and replayed: look often.
      const deadline = Date.now() + 60_000;
      while ((await filesIn(folder)).length === 0) {
        assert.ok(Date.now() < deadline, "no spill file appeared");
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      await connector.stop("SIGKILL");
      const leftovers = await filesIn(folder);
      assert.equal(leftovers.length, 1, "the killed connector left its spill file");

      connector = ConnectorProcess.start(spillConfig(names));
      await connector.waitForLine(/Removed 1 spill file\(s\) a previous run of source/);
      const messages = await readTopics(
        [names.topic],
        (all) => completeRun(all, xid) !== undefined,
        180_000,
      );
      const events = completeRun(messages, xid)!.flatMap((m) => JSON.parse(m.value!).events);
      assert.equal(events.length, rows - rows / 10);
      await waitFor("the spill folder to empty", async () => {
        return (await filesIn(folder)).length === 0 ? true : undefined;
      }, 30_000);
      assert.ok(!(await filesIn(folder)).includes(leftovers[0]));
    } finally {
      await connector.stop();
      await dropSlotAndPublication(sql, names.slot, names.publication);
      await sql.unsafe(`DROP TABLE IF EXISTS ${table}`);
      await sql.end();
      await deleteTopics([names.topic]);
      await Deno.remove(names.spillDir, { recursive: true });
    }
  },
);
