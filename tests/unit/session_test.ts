/**
 * The pipeline session against the in-memory test sink: every invariant of
 * the design that the session owns, named in its test, with no Kafka at all.
 */
import assert from "node:assert/strict";
import { parseConfig } from "../../src/config/mod.ts";
import type { Lsn } from "../../src/lsn.ts";
import type { ChangeEvent, ChangeOp, Row } from "../../src/model.ts";
import { InflightBudget } from "../../src/pipeline/inflight.ts";
import type { OutgoingMessage } from "../../src/pipeline/message.ts";
import { FLUSH_COALESCE_MS, PipelineSession } from "../../src/pipeline/session.ts";
import { Metrics } from "../../src/telemetry/metrics.ts";
import { MemorySink } from "../fixtures/memory_sink.ts";

const SLOT_LSN = 0x1000n;
const NOW_MICROS = BigInt(Date.now()) * 1000n;

/** A session over one target `topic = "t.{table}"` with a `where` that drops `skip = true`. */
function bench(options: { maxMessages?: number; source?: string; budget?: InflightBudget } = {}) {
  const source = options.source ?? "main";
  const config = parseConfig(
    `
[[sources]]
name = "${source}"
database = "app"
user = "app"
tables = ["public.orders"]
[kafka]
brokers = ["127.0.0.1:9092"]
[[targets]]
name = "rows"
tables = ["public.*"]
topic = "t.{table}"
where = "new.skip != true"
`,
    { origin: "test.toml", env: {} },
  );
  const sink = new MemorySink<OutgoingMessage>();
  const metrics = new Metrics();
  const budget = options.budget ??
    new InflightBudget({ maxMessages: options.maxMessages ?? 1000, maxBytes: 1 << 20 });
  const account = budget.account(source);
  const flushes: Lsn[] = [];
  const session = new PipelineSession(
    { source, targets: config.targets, sink, account, metrics },
    SLOT_LSN,
    { onFlush: (lsn) => flushes.push(lsn) },
  );
  return { session, sink, metrics, account, flushes };
}

let lsn = 0x2000n;

function change(
  table: string,
  after: Row,
  commitLsn = 0n,
  commitTimeMicros = NOW_MICROS,
): ChangeEvent {
  lsn += 0x10n;
  const op: ChangeOp = "insert";
  return {
    op,
    schema: "public",
    table,
    before: null,
    after,
    unchanged: [],
    keyColumns: ["id"],
    lsn,
    commitLsn,
    xid: 7,
    commitTimeMicros,
  };
}

/** Routes one transaction of `rows` into `table` and commits it at a fresh LSN. */
function transaction(
  session: PipelineSession,
  table: string,
  rows: Row[],
  commitTime = NOW_MICROS,
) {
  const tx = session.begin(7);
  for (const row of rows) session.route(change(table, row, 0n, commitTime), tx);
  lsn += 0x100n;
  const endLsn = lsn;
  session.commit(tx, endLsn);
  return { tx, endLsn };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Non-zero `pg2kafka_changes_total` values as `source/target/outcome`. */
async function counted(metrics: Metrics): Promise<Record<string, number>> {
  const { values } = await metrics.changes.get();
  return Object.fromEntries(
    values.filter((v) => v.value > 0).map((v) => [
      `${v.labels.source}/${v.labels.target}/${v.labels.outcome}`,
      v.value,
    ]),
  );
}

Deno.test("invariant 1: the session never confirms a transaction Kafka has not acked", () => {
  const { session, sink } = bench();
  const first = transaction(session, "orders", [{ id: 1 }, { id: 2 }]);
  const second = transaction(session, "orders", [{ id: 3 }]);
  assert.equal(session.flushLsn, SLOT_LSN, "nothing acked, nothing confirmed");
  // Kafka acks the second transaction's message first (another partition).
  sink.ackWhere((message) => message.origin.tx === second.tx);
  assert.equal(session.flushLsn, SLOT_LSN, "a later transaction cannot pass an earlier one");
  sink.ack(1);
  assert.equal(session.flushLsn, SLOT_LSN, "half of the first transaction is not enough");
  sink.ack();
  assert.equal(session.flushLsn, second.endLsn);
  assert.ok(first.endLsn < second.endLsn);
});

Deno.test("invariant 1: a message acked in the dead-letter place settles like a delivered one", async () => {
  const { session, sink, metrics } = bench();
  const tx = session.begin(8);
  session.undecodable(change("orders", { id: "x" }), "not an integer", tx);
  session.commit(tx, 0x9000n);
  assert.equal(session.flushLsn, SLOT_LSN);
  assert.deepEqual(sink.deadLettered.map((d) => d.reason), ["undecodable"]);
  sink.ack();
  assert.equal(session.flushLsn, 0x9000n);
  assert.deepEqual(await counted(metrics), { "main/rows/dead_lettered": 1 });
});

Deno.test("invariant 2: every change ends delivered, filtered or dead-lettered, and each is counted", async () => {
  const { session, sink, metrics } = bench();
  const tx = session.begin(9);
  session.route(change("orders", { id: 1 }), tx);
  session.route(change("orders", { id: 2, skip: true }), tx);
  session.undecodable(change("orders", { id: "?" }), "bad value", tx);
  session.commit(tx, 0xa000n);
  sink.ack();
  assert.deepEqual(await counted(metrics), {
    "main/rows/delivered": 1,
    "main/rows/filtered": 1,
    "main/rows/dead_lettered": 1,
  });
  assert.equal(session.flushLsn, 0xa000n);
});

Deno.test("outcomes that never happened export no zero series", async () => {
  const { session, sink, metrics } = bench();
  transaction(session, "orders", [{ id: 1 }]);
  sink.ack();
  const { values } = await metrics.changes.get();
  assert.deepEqual(values.map((v) => [v.labels.outcome, v.value]), [["delivered", 1]]);
});

Deno.test("invariant 2: a transaction whose every change was filtered settles at its commit", () => {
  const { session, sink } = bench();
  const { endLsn } = transaction(session, "orders", [{ id: 1, skip: true }]);
  assert.equal(sink.handed.length, 0);
  assert.equal(session.flushLsn, endLsn);
});

Deno.test("invariant 3: an idle keepalive confirms the WAL end, a busy one waits for the acks", () => {
  const { session, sink } = bench();
  const idleEnd = lsn + 0x8n;
  session.keepalive(idleEnd);
  assert.equal(session.flushLsn, idleEnd, "nothing in flight: the WAL end is confirmed");
  const { endLsn } = transaction(session, "orders", [{ id: 1 }]);
  session.keepalive(endLsn + 0x800n);
  assert.equal(session.flushLsn, idleEnd, "in flight: not yet");
  sink.ack();
  assert.equal(session.flushLsn, endLsn + 0x800n, "applied once everything settled");
});

Deno.test("invariant 4: at the in-flight cap the session says wait, and room wakes it", async () => {
  const { session, sink, account } = bench({ maxMessages: 2 });
  transaction(session, "orders", [{ id: 1 }, { id: 2 }]);
  assert.equal(session.waiting, true, "two messages fill a budget of two");
  let woke = false;
  const readable = session.whenReadable().then(() => woke = true);
  await sleep(1);
  assert.equal(woke, false);
  sink.ack(1);
  await readable;
  assert.equal(session.waiting, false);
  assert.equal(account.messages, 1);
  sink.ack();
  assert.equal(account.messages, 0, "every settled message released its budget");
  assert.equal(account.bytes, 0);
});

Deno.test("invariant 6: while the sink refuses to try, the session says wait until it accepts", async () => {
  const { session, sink } = bench();
  sink.setAccepting(false);
  assert.equal(session.waiting, true);
  const readable = session.whenReadable();
  sink.setAccepting(true);
  session.sinkHealthChanged();
  await readable;
  assert.equal(session.waiting, false);
});

Deno.test("flush advances are reported to the source coalesced, at most one per window", async () => {
  const { session, sink, flushes } = bench();
  const endLsns: Lsn[] = [];
  for (let i = 0; i < 5; i++) endLsns.push(transaction(session, "orders", [{ id: i }]).endLsn);
  for (let i = 0; i < 5; i++) sink.ack(1);
  assert.deepEqual(flushes, [], "nothing reported before the coalescing window ends");
  await sleep(FLUSH_COALESCE_MS * 2);
  assert.deepEqual(flushes, [endLsns.at(-1)], "one report of the newest flush LSN");
  session.close();
});

Deno.test("whenSettled() resolves from the checkpoint once the transaction is acked, without polling", async () => {
  const { session, sink } = bench();
  const { tx } = transaction(session, "orders", [{ id: 1 }, { id: 2 }]);
  let settled = false;
  const waiting = session.whenSettled(tx).then(() => settled = true);
  sink.ack(1);
  await sleep(1);
  assert.equal(settled, false);
  sink.ack();
  await waiting;
  assert.equal(settled, true);
});

Deno.test("stalledForMs() counts only while messages wait and none settles", () => {
  const { session, sink } = bench();
  assert.equal(session.stalledForMs(1_000), 0, "nothing pending");
  transaction(session, "orders", [{ id: 1 }, { id: 2 }]);
  assert.equal(session.stalledForMs(2_000), 1_000, "since the last observation of progress");
  assert.equal(session.stalledForMs(7_000), 6_000);
  sink.ack(1);
  assert.equal(session.stalledForMs(8_000), 0, "a settlement is progress");
  assert.equal(session.stalledForMs(9_500), 1_500);
  sink.ack();
  assert.equal(session.stalledForMs(60_000), 0, "nothing pending any more");
});

Deno.test("each source's lag comes from its own settled commits, not another source's", async () => {
  const budget = new InflightBudget({ maxMessages: 100, maxBytes: 1 << 20 });
  const old = bench({ source: "old", budget });
  const fresh = bench({ source: "fresh", budget });
  const hourAgo = NOW_MICROS - 3_600_000_000n;
  transaction(old.session, "orders", [{ id: 1 }], hourAgo);
  transaction(fresh.session, "orders", [{ id: 2 }], NOW_MICROS);
  // Settled together, as one Kafka batch carrying both sources' messages.
  old.sink.ack();
  fresh.sink.ack();
  await sleep(FLUSH_COALESCE_MS * 2);
  const lagOf = (metrics: Metrics, source: string) => metrics.lagSeconds.current(source) ?? -1;
  assert.ok(lagOf(old.metrics, "old") >= 3_500, `old lags ${lagOf(old.metrics, "old")} s`);
  assert.ok(lagOf(fresh.metrics, "fresh") < 60, `fresh lags ${lagOf(fresh.metrics, "fresh")} s`);
  old.session.close();
  fresh.session.close();
});

Deno.test("a closed session reports no flush, yet late acks still release the budget", async () => {
  const { session, sink, account, flushes } = bench();
  transaction(session, "orders", [{ id: 1 }]);
  session.close();
  sink.ack();
  await sleep(FLUSH_COALESCE_MS * 2);
  assert.deepEqual(flushes, []);
  assert.equal(account.messages, 0);
});
