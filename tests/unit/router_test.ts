import assert from "node:assert/strict";
import { parseConfig, type TargetConfig } from "../../src/config/mod.ts";
import { handInto, MemorySink } from "../fixtures/memory_sink.ts";
import type { ChangeEvent, ChangeOp, Row } from "../../src/model.ts";
import { Metrics } from "../../src/telemetry/metrics.ts";
import { Checkpoint, type TransactionHandle } from "../../src/pipeline/checkpoint.ts";
import { InflightBudget } from "../../src/pipeline/inflight.ts";
import { Router } from "../../src/pipeline/router.ts";

const COMMIT_LSN = 0x5000n;
const COMMIT_END_LSN = 0x5010n;
const COMMIT_TIME_MICROS = 1_700_000_000_000_000n;
const XID = 731;

/** Targets parsed from `[[targets]]` TOML, as the pipeline builds them. */
function targetsOf(targets: string): readonly TargetConfig[] {
  const text = `
[[sources]]
name = "main"
database = "app"
user = "app"
tables = ["public.orders", "public.customers"]
[kafka]
brokers = ["127.0.0.1:9092"]
${targets}`;
  return parseConfig(text, { origin: "test.toml", env: {} }).targets;
}

/** A router over `targets` with a recording sink, a real checkpoint and real metrics. */
function bench(targets: string) {
  const sink = new MemorySink();
  const checkpoint = new Checkpoint();
  const metrics = new Metrics();
  const account = new InflightBudget({ maxMessages: 1000, maxBytes: 1 << 20 }).account("main");
  const router = new Router(
    { source: "main", metrics, hand: handInto(checkpoint, account, sink) },
    targetsOf(targets),
  );
  return { sink, checkpoint, metrics, account, router };
}

let lsn = 0x1000n;

/** A change of `public.<table>` in transaction XID. */
function change(op: ChangeOp, table: string, images: { before?: Row; after?: Row }): ChangeEvent {
  lsn += 0x10n;
  return {
    op,
    schema: "public",
    table,
    before: images.before ?? null,
    after: images.after ?? null,
    unchanged: [],
    keyColumns: ["id"],
    lsn,
    commitLsn: COMMIT_LSN,
    xid: XID,
    commitTimeMicros: COMMIT_TIME_MICROS,
  };
}

/** Non-zero `pg2kafka_changes_total` values as `target/outcome`. */
async function counted(metrics: Metrics): Promise<Record<string, number>> {
  const { values } = await metrics.changes.get();
  return Object.fromEntries(
    values.filter((v) => v.value > 0).map((
      v,
    ) => [`${v.labels.target}/${v.labels.outcome}`, v.value]),
  );
}

function routeAll(router: Router, tx: TransactionHandle, events: ChangeEvent[]): void {
  for (const event of events) router.route(event, tx);
}

const ORDERS = [
  change("insert", "orders", { after: { id: 1, status: "new", amount: 10 } }),
  change("insert", "orders", { after: { id: 2, status: "paid", amount: 250 } }),
  change("update", "orders", { after: { id: 1, status: "paid", amount: 10 } }),
  change("delete", "orders", { before: { id: 2 } }),
  change("insert", "customers", { after: { id: 9, name: "Ada" } }),
];

Deno.test("Router.route() sends each target exactly the changes its tables, ops and where select", () => {
  const { sink, checkpoint, router } = bench(`
[[targets]]
name = "big_orders"
tables = ["public.orders"]
ops = ["insert", "update"]
topic = "big.{table}"
where = "new.amount > 100"
[[targets]]
name = "everything"
tables = ["public.*"]
topic = "all.{table}.{op}"
`);
  const tx = checkpoint.begin(XID);
  routeAll(router, tx, ORDERS);
  const summary = sink.sent.map((m) => [m.topic, m.origin.target, m.key]);
  assert.deepEqual(summary, [
    ["all.orders.insert", "everything", '{"id":1}'],
    ["big.orders", "big_orders", '{"id":2}'],
    ["all.orders.insert", "everything", '{"id":2}'],
    ["all.orders.update", "everything", '{"id":1}'],
    ["all.orders.delete", "everything", '{"id":2}'],
    ["all.customers.insert", "everything", '{"id":9}'],
  ]);
  assert.equal(sink.deadLettered.length, 0);
});

Deno.test("Router.route() counts changes that a target's ops or where leave out as filtered", async () => {
  const { checkpoint, metrics, router } = bench(`
[[targets]]
name = "big_orders"
tables = ["public.orders"]
ops = ["insert", "update"]
where = "new.amount > 100"
`);
  routeAll(router, checkpoint.begin(XID), ORDERS);
  // 4 changes of orders: 1 sent, 2 below the amount, 1 delete left out by ops;
  // the customers change is not for this target at all.
  assert.deepEqual(await counted(metrics), { "big_orders/filtered": 3 });
});

Deno.test("Router.route() dead-letters a change whose filter fails at run time", () => {
  const { sink, checkpoint, router } = bench(`
[[targets]]
name = "orders"
tables = ["public.orders"]
where = "new.status > 5"
`);
  const tx = checkpoint.begin(XID);
  router.route(change("insert", "orders", { after: { id: 1, status: true } }), tx);
  assert.equal(sink.sent.length, 0);
  assert.equal(sink.deadLettered.length, 1);
  const [{ message, reason, error }] = sink.deadLettered;
  assert.equal(reason, "filter_failed");
  assert.match(error, /boolean/);
  assert.equal(message.key, '{"id":1}');
  assert.equal(JSON.parse(message.value!).after.status, true);
  assert.equal(tx.trackedMessages, 1);
});

Deno.test("Router.route() keys by key_columns and follows a delete with a tombstone counted once", () => {
  const { sink, checkpoint, router } = bench(`
[[targets]]
name = "compacted"
tables = ["public.orders"]
key_columns = ["status", "id"]
tombstones = true
`);
  const tx = checkpoint.begin(XID);
  router.route(change("delete", "orders", { before: { id: 2, status: "paid" } }), tx);
  assert.deepEqual(sink.sent.map((m) => [m.key, m.value === null, m.origin.events ?? 1]), [
    ['{"status":"paid","id":2}', false, 1],
    ['{"status":"paid","id":2}', true, 0],
  ]);
  assert.equal(tx.trackedMessages, 2);
});

Deno.test("Router.commit() leaves the transaction to the checkpoint until every message is acked", () => {
  const { sink, checkpoint, account, router } = bench(`
[[targets]]
name = "orders"
tables = ["public.orders"]
`);
  const tx = checkpoint.begin(XID);
  routeAll(router, tx, ORDERS.slice(0, 2));
  router.commit(tx);
  checkpoint.commit(tx, COMMIT_END_LSN);
  assert.equal(checkpoint.flushLsn, 0n);
  for (const message of sink.sent) {
    account.release(message.size);
    checkpoint.settle(message.origin.tx);
  }
  assert.equal(checkpoint.flushLsn, COMMIT_END_LSN);
});

Deno.test("Router.route() dead-letters a change JSON cannot hold, without a value", () => {
  const { sink, checkpoint, router } = bench(`
[[targets]]
name = "orders"
tables = ["public.orders"]
`);
  router.route(change("insert", "orders", { after: { id: 1, huge: 1n } }), checkpoint.begin(XID));
  assert.deepEqual(
    sink.deadLettered.map((d) => [d.reason, d.message.key, d.message.value]),
    [["unencodable", '{"id":1}', null]],
  );
});
