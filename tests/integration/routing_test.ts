/**
 * Routing end to end (project issue 5): targets with different tables, ops,
 * filters and topics over one replication stream receive exactly their
 * subsets, counted in /metrics; a transaction target receives whole
 * transactions, and a 100,000-row transaction in numbered parts.
 */
import assert from "node:assert/strict";
import {
  confirmedFlushLsn,
  connectorConfig,
  ConnectorProcess,
  currentWalLsn,
  dropSlotAndPublication,
  type ReadMessage,
  readTopics,
  testSql,
  uniqueName,
  waitFor,
} from "./harness.ts";

const integration = { sanitizeOps: false, sanitizeResources: false };
const BIG_TRANSACTION_ROWS = 100_000;
const BIG_TRANSACTION_TIMEOUT_MS = 60_000;

type Sql = ReturnType<typeof testSql>;
// deno-lint-ignore no-explicit-any
type Json = any;

/** A connector on `tables` with the given targets, its HTTP endpoints on a free port. */
function startConnector(prefix: string, tables: string[], targets: string) {
  const slot = `${prefix}_slot`;
  const publication = `${prefix}_pub`;
  const config = connectorConfig({
    slot,
    publication,
    tables: tables.map((table) => `public.${table}`),
    targets,
  }).replace("[http]\nenabled = false", '[http]\nenabled = true\nlisten = "127.0.0.1:0"');
  return { slot, publication, connector: ConnectorProcess.start(config) };
}

/** The connector's `/metrics` URL, from its start-up log line. */
async function metricsUrl(connector: ConnectorProcess): Promise<string> {
  const line = await connector.waitForLine(/HTTP endpoints listening/);
  const url = /https?:\/\/[^\s"]+/.exec(line)?.[0];
  assert.ok(url, `no URL in ${line}`);
  return new URL("/metrics", url).href;
}

/** Non-zero `pg2kafka_changes_total` values, as `target/outcome`. */
async function changeCounts(url: string): Promise<Record<string, number>> {
  const text = await (await fetch(url)).text();
  const counts: Record<string, number> = {};
  const sample = /^pg2kafka_changes_total\{([^}]*)\} (\S+)$/gm;
  for (const [, labels, value] of text.matchAll(sample)) {
    const target = /target="([^"]*)"/.exec(labels)![1];
    const outcome = /outcome="([^"]*)"/.exec(labels)![1];
    if (Number(value) > 0) counts[`${target}/${outcome}`] = Number(value);
  }
  return counts;
}

/** Waits until the slot confirms everything written so far: every message is acked. */
async function waitUntilAcked(sql: Sql, slot: string, timeoutMs = 30_000): Promise<void> {
  const end = await currentWalLsn(sql);
  await waitFor(`slot ${slot} to confirm ${end}`, async () => {
    const lsn = await confirmedFlushLsn(sql, slot);
    return lsn !== undefined && lsn >= end ? lsn : undefined;
  }, timeoutMs);
}

/** Runs `statements` in one transaction and returns its xid. */
async function transaction(sql: Sql, statements: string[]): Promise<number> {
  return await sql.begin(async (tx) => {
    for (const statement of statements) await tx.unsafe(statement);
    const [{ xid }] = await tx`SELECT txid_current()::int AS xid`;
    return xid as number;
  });
}

const sorted = (items: string[]) => [...items].sort();

Deno.test(
  "two targets with different filters and topics receive exactly their subsets of one stream",
  integration,
  async () => {
    const sql = testSql();
    const prefix = uniqueName("rt");
    const orders = `${prefix}_orders`;
    const customers = `${prefix}_customers`;
    await sql.unsafe(`CREATE TABLE ${orders} (id int PRIMARY KEY, status text, amount numeric)`);
    await sql.unsafe(`CREATE TABLE ${customers} (id int PRIMARY KEY, name text)`);
    const { slot, publication, connector } = startConnector(
      prefix,
      [orders, customers],
      `
[[targets]]
name = "paid"
tables = ["public.${orders}"]
ops = ["insert", "update"]
topic = "tests.${prefix}.paid"
where = "new.status in ['paid', 'shipped'] && new.amount > 100"

[[targets]]
name = "people"
tables = ["public.${prefix}_*"]
topic = "tests.{table}.{op}"
where = "table == '${customers}' || op == 'delete'"
`,
    );
    try {
      const url = await metricsUrl(connector);
      await connector.waitForLine(/streaming slot/);
      await sql.unsafe(`INSERT INTO ${orders} VALUES
        (1, 'new', 500), (2, 'paid', 50), (3, 'paid', 150), (4, 'shipped', 1000)`);
      await sql.unsafe(`INSERT INTO ${customers} VALUES (1, 'Ada'), (2, 'Grace')`);
      await sql.unsafe(`UPDATE ${orders} SET status = 'paid' WHERE id = 1`);
      await sql.unsafe(`UPDATE ${customers} SET name = 'Grace H.' WHERE id = 2`);
      await sql.unsafe(`DELETE FROM ${orders} WHERE id IN (2, 4)`);
      await waitUntilAcked(sql, slot);

      // orders: 4 inserts, 1 update, 2 deletes; customers: 2 inserts, 1 update.
      const paid = [
        `tests.${prefix}.paid insert 3`,
        `tests.${prefix}.paid insert 4`,
        `tests.${prefix}.paid update 1`,
      ];
      const people = [
        `tests.${customers}.insert insert 1`,
        `tests.${customers}.insert insert 2`,
        `tests.${customers}.update update 2`,
        `tests.${orders}.delete delete 2`,
        `tests.${orders}.delete delete 4`,
      ];
      const topics = [...new Set([...paid, ...people].map((line) => line.split(" ")[0]))];
      const expected = paid.length + people.length;
      const messages = await readTopics(topics, (m) => m.length >= expected);
      const describe = (m: ReadMessage) => {
        const value = JSON.parse(m.value!);
        return `${m.topic} ${value.op} ${(value.after ?? value.before).id}`;
      };
      assert.deepEqual(sorted(messages.map(describe)), sorted([...paid, ...people]));
      assert.deepEqual(await changeCounts(url), {
        "paid/delivered": 3,
        "paid/filtered": 4, // 2 orders below the bar, 2 deletes left out by ops
        "people/delivered": 5,
        "people/filtered": 5, // 4 order inserts and 1 order update
      });
      assert.equal((await connector.stop("SIGTERM")).code, 0);
    } finally {
      await connector.stop("SIGKILL");
      await dropSlotAndPublication(sql, slot, publication);
      await sql.end();
    }
  },
);

Deno.test(
  "a transaction target receives whole transactions, only those its tx filter selects",
  integration,
  async () => {
    const sql = testSql();
    const prefix = uniqueName("rtx");
    const orders = `${prefix}_orders`;
    const lines = `${prefix}_lines`;
    await sql.unsafe(`CREATE TABLE ${orders} (id int PRIMARY KEY, status text)`);
    await sql.unsafe(`CREATE TABLE ${lines} (id int PRIMARY KEY, order_id int, sku text)`);
    const topic = `tests.${prefix}.{source}.tx`;
    const { slot, publication, connector } = startConnector(
      prefix,
      [orders, lines],
      `
[[targets]]
name = "order_tx"
tables = ["public.${prefix}_*"]
mode = "transaction"
topic = "${topic}"
where = "'public.${orders}' in tx.tables"
`,
    );
    try {
      const url = await metricsUrl(connector);
      await connector.waitForLine(/streaming slot/);
      const withOrder = await transaction(sql, [
        `INSERT INTO ${orders} VALUES (1, 'new')`,
        `INSERT INTO ${lines} VALUES (10, 1, 'A-1'), (11, 1, 'B-2')`,
      ]);
      await transaction(sql, [`UPDATE ${lines} SET sku = 'B-3' WHERE id = 11`]);
      const shipped = await transaction(sql, [
        `UPDATE ${orders} SET status = 'paid' WHERE id = 1`,
        `UPDATE ${orders} SET status = 'shipped' WHERE id = 1`,
        `DELETE FROM ${lines} WHERE id = 10`,
      ]);
      await waitUntilAcked(sql, slot);
      const messages = await readTopics([topic.replace("{source}", "main")], (m) => m.length >= 2);
      const values = messages.map((m) => JSON.parse(m.value!));
      values.sort((a, b) => a.xid - b.xid);
      const summary = values.map((v: Json) => ({
        xid: v.xid,
        part: v.part,
        last: v.last,
        event_count: v.event_count,
        events: v.events.map((e: Json) => `${e.op} ${e.table} ${e.key.id}`),
      }));
      assert.deepEqual(summary, [
        {
          xid: withOrder,
          part: 1,
          last: true,
          event_count: 3,
          events: [`insert ${orders} 1`, `insert ${lines} 10`, `insert ${lines} 11`],
        },
        {
          xid: shipped,
          part: 1,
          last: true,
          event_count: 3,
          events: [`update ${orders} 1`, `update ${orders} 1`, `delete ${lines} 10`],
        },
      ]);
      for (const value of values) {
        assert.match(value.commit_lsn, /^[0-9A-F]+\/[0-9A-F]+$/);
        assert.ok(Math.abs(Date.parse(value.commit_ts) - Date.now()) < 60_000, value.commit_ts);
      }
      assert.deepEqual(messages.map((m) => m.key), ['{"source":"main"}', '{"source":"main"}']);
      assert.deepEqual(await changeCounts(url), {
        "order_tx/delivered": 6,
        "order_tx/filtered": 1,
      });
      assert.equal((await connector.stop("SIGTERM")).code, 0);
    } finally {
      await connector.stop("SIGKILL");
      await dropSlotAndPublication(sql, slot, publication);
      await sql.end();
    }
  },
);

Deno.test(
  "a 100,000-row transaction arrives in numbered parts holding every row exactly once",
  integration,
  async () => {
    const sql = testSql();
    const prefix = uniqueName("rtbig");
    const table = `${prefix}_rows`;
    await sql.unsafe(`CREATE TABLE ${table} (id int PRIMARY KEY, note text)`);
    const topic = `tests.${prefix}.tx`;
    const { slot, publication, connector } = startConnector(
      prefix,
      [table],
      `
[[targets]]
name = "big_tx"
tables = ["public.${table}"]
mode = "transaction"
topic = "${topic}"
max_message_bytes = "256KiB"
`,
    );
    try {
      await connector.waitForLine(/streaming slot/);
      const xid = await transaction(sql, [
        `INSERT INTO ${table} SELECT i, 'row ' || i FROM generate_series(1, ${BIG_TRANSACTION_ROWS}) i`,
      ]);
      const messages = await readTopics(
        [topic],
        (m) => m.some((message) => message.headers["pg2kafka.last"] === "true"),
        BIG_TRANSACTION_TIMEOUT_MS,
      );
      const parts = messages.map((m) => JSON.parse(m.value!));
      parts.sort((a, b) => a.part - b.part);
      assert.ok(parts.length > 1, `expected several parts, got ${parts.length}`);
      assert.ok(parts.every((p) => p.xid === xid));
      assert.deepEqual(parts.map((p) => p.part), parts.map((_, i) => i + 1));
      assert.deepEqual(parts.map((p) => p.last), parts.map((_, i) => i === parts.length - 1));
      assert.equal(parts.at(-1).event_count, BIG_TRANSACTION_ROWS);
      const ids = parts.flatMap((p) => p.events.map((e: Json) => e.after.id));
      assert.equal(ids.length, BIG_TRANSACTION_ROWS);
      assert.equal(new Set(ids).size, BIG_TRANSACTION_ROWS);
      assert.ok(ids.every((id, i) => id === i + 1), "rows out of order or missing");
      assert.ok(messages.every((m) => m.value!.length <= 256 * 1024));
      assert.equal((await connector.stop("SIGTERM")).code, 0);
    } finally {
      await connector.stop("SIGKILL");
      await dropSlotAndPublication(sql, slot, publication);
      await sql.end();
    }
  },
);
