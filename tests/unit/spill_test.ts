import assert from "node:assert/strict";
import { join } from "node:path";
import { parseConfig, type TargetConfig } from "../../src/config/mod.ts";
import type { ChangeEvent, Row } from "../../src/model.ts";
import { Metrics } from "../../src/telemetry/metrics.ts";
import { handInto, MemorySink } from "../fixtures/memory_sink.ts";
import { Checkpoint } from "../../src/pipeline/checkpoint.ts";
import { InflightBudget } from "../../src/pipeline/inflight.ts";
import type { OutgoingMessage } from "../../src/pipeline/message.ts";
import { Router } from "../../src/pipeline/router.ts";
import {
  HeldEvents,
  removeLeftovers,
  sourceSpillDir,
  type SpillSettings,
} from "../../src/pipeline/spill.ts";

const COMMIT_TIME_MICROS = 1_700_000_000_123_456n;
/** Larger than the spill file's 1 MiB write buffer and read chunk. */
const HUGE_EVENT_CHARS = 1_500_000;

async function spillDir(): Promise<string> {
  return await Deno.makeTempDir({ prefix: "pg2kafka-spill-test-" });
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

async function drained(held: HeldEvents): Promise<string[]> {
  const events: string[] = [];
  for await (const chunk of held.drain()) events.push(...chunk);
  return events;
}

Deno.test("HeldEvents keeps events in memory below the limit", async () => {
  const dir = await spillDir();
  const held = new HeldEvents({ limitBytes: 1000, dir }, "main", "tx");
  held.push('{"a":1}', 7);
  held.push('{"b":2}', 7);
  assert.equal(held.spilled, false);
  assert.deepEqual(held.takeInMemory(), ['{"a":1}', '{"b":2}']);
  assert.deepEqual(await filesIn(dir), []);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("HeldEvents spills past the limit and gives every event back in order, then removes the file", async () => {
  const dir = await spillDir();
  const held = new HeldEvents({ limitBytes: 100, dir }, "main", "tx");
  const events = [
    ...Array.from({ length: 5000 }, (_, i) => JSON.stringify({ id: i, note: `row ${i}` })),
    JSON.stringify({ text: "non-ASCII: żółć ✓ 𝄞 ünïcödé" }),
    JSON.stringify({ huge: "x".repeat(HUGE_EVENT_CHARS) }),
    JSON.stringify({ huge: "é".repeat(HUGE_EVENT_CHARS / 2) }),
    '{"last":true}',
  ];
  for (const event of events) held.push(event, 42);
  assert.equal(held.spilled, true);
  assert.equal(held.length, events.length);
  const folder = sourceSpillDir(dir, "main");
  const [file] = await filesIn(folder);
  assert.match(file, /^tx\.42\..+\.spill$/);
  assert.equal((await Deno.stat(join(folder, file))).mode! & 0o777, 0o600);
  assert.ok(held.spilledBytes > HUGE_EVENT_CHARS * 2);
  const back = await drained(held);
  assert.equal(back.length, events.length);
  assert.ok(back.every((event, i) => event === events[i]), "events come back unchanged");
  assert.deepEqual(await filesIn(folder), [], "the file is removed once drained");
  assert.equal(held.length, 0);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("HeldEvents.discard() removes the spill file of an unfinished transaction", async () => {
  const dir = await spillDir();
  const held = new HeldEvents({ limitBytes: 10, dir }, "main", "tx");
  held.push('{"id":1,"note":"past the limit"}', 9);
  assert.equal((await filesIn(sourceSpillDir(dir, "main"))).length, 1);
  held.discard();
  assert.deepEqual(await filesIn(sourceSpillDir(dir, "main")), []);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("removeLeftovers() removes a source's spill files and nothing else", async () => {
  const dir = await spillDir();
  const main = sourceSpillDir(dir, "main");
  const other = sourceSpillDir(dir, "main-2");
  await Deno.mkdir(main, { recursive: true });
  await Deno.mkdir(other, { recursive: true });
  await Deno.writeTextFile(join(main, "tx.1.a.spill"), "left by a crash");
  await Deno.writeTextFile(join(main, "tx.2.b.spill"), "left by a crash");
  await Deno.writeTextFile(join(main, "notes.txt"), "not ours");
  await Deno.writeTextFile(join(other, "tx.1.c.spill"), "another source's");
  assert.equal(await removeLeftovers(dir, "main"), 2);
  assert.deepEqual(await filesIn(main), ["notes.txt"]);
  assert.deepEqual(await filesIn(other), ["tx.1.c.spill"]);
  assert.equal(await removeLeftovers(join(dir, "missing"), "main"), 0);
  await Deno.remove(dir, { recursive: true });
});

function targetsOf(lines: string): readonly TargetConfig[] {
  return parseConfig(
    `
[[sources]]
name = "main"
database = "app"
user = "app"
tables = ["public.orders"]
[kafka]
brokers = ["127.0.0.1:9092"]
[[targets]]
name = "tx"
tables = ["public.*"]
mode = "transaction"
topic = "tx.{source}"
max_message_bytes = "4KiB"
${lines}`,
    { origin: "test.toml", env: {} },
  ).targets;
}

/** A router over one transaction target whose `where` uses `tx.*`. */
function pipeline(spill: SpillSettings | undefined, maxMessages = 1_000_000) {
  const sink = new MemorySink();
  const checkpoint = new Checkpoint();
  const metrics = new Metrics();
  const account = new InflightBudget({ maxMessages, maxBytes: 1 << 30 }).account("main");
  const whenRoom = () => account.full ? account.waitForRoom() : null;
  const router = new Router(
    { source: "main", metrics, hand: handInto(checkpoint, account, sink), spill, whenRoom },
    targetsOf(`where = "tx.size > 1 && new.keep != false && new.amount >= 0"`),
  );
  return { sink, checkpoint, metrics, account, router };
}

function change(xid: number, i: number, after: Row): ChangeEvent {
  const commitLsn = 0x100000n * BigInt(xid);
  return {
    op: "insert",
    schema: "public",
    table: "orders",
    before: null,
    after,
    unchanged: [],
    keyColumns: ["id"],
    lsn: commitLsn - 0x10000n + BigInt(i) * 0x10n,
    commitLsn,
    xid,
    commitTimeMicros: COMMIT_TIME_MICROS,
  };
}

/** 3,000 rows: some filtered out, one whose filter fails, some non-ASCII, some large. */
function rows(xid: number): ChangeEvent[] {
  return Array.from({ length: 3000 }, (_, i) =>
    change(xid, i, {
      id: i,
      keep: i % 7 !== 0,
      amount: i === 1234 ? true : i,
      note: i % 100 === 0 ? "ü".repeat(1500) : `row ${i} ✓`,
    }));
}

/** What a consumer would compare: topic, key, value and headers of every message. */
function wire(messages: readonly OutgoingMessage[]) {
  return messages.map(({ topic, key, value, headers }) => ({ topic, key, value, headers }));
}

type Pipeline = ReturnType<typeof pipeline>;

async function runTransaction(p: Pipeline, xid: number, events: ChangeEvent[]) {
  const tx = p.checkpoint.begin(xid);
  for (const event of events) p.router.route(event, tx);
  const replay = p.router.commit(tx);
  await replay;
  p.checkpoint.commit(tx, events[0].commitLsn + 0x30n);
  return replay;
}

Deno.test("parts written after a spill are byte-identical to those written without one", async () => {
  const dir = await spillDir();
  const spilling = pipeline({ limitBytes: 2048, dir });
  const inMemory = pipeline(undefined);
  const events = rows(77);
  const replay = await runTransaction(spilling, 77, events);
  assert.equal(
    await runTransaction(inMemory, 77, events),
    null,
    "nothing spilled without settings",
  );
  assert.notEqual(replay, null, "the transaction spilled");
  assert.ok(spilling.sink.sent.length > 10, "many parts");
  assert.deepEqual(wire(spilling.sink.sent), wire(inMemory.sink.sent));
  const deadLetters = (p: Pipeline) => wire(p.sink.deadLettered.map(({ message }) => message));
  assert.deepEqual(deadLetters(spilling), deadLetters(inMemory));
  assert.equal(spilling.sink.deadLettered.length, 1, "the failing filter dead-letters one event");
  const spilled = await spilling.metrics.transactionSpilledBytes.get();
  assert.ok(spilled.values[0].value > 0, "spilled bytes are counted");
  assert.deepEqual(await filesIn(sourceSpillDir(dir, "main")), []);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a spilled transaction is replayed within the in-flight budget", async () => {
  const dir = await spillDir();
  const maxMessages = 3;
  const p = pipeline({ limitBytes: 1024, dir }, maxMessages);
  // About 3 MiB of events: three chunks of the spill file.
  const events = Array.from(
    { length: 3000 },
    (_, i) => change(81, i, { id: i, keep: true, amount: i, note: "n".repeat(1000) }),
  );
  const tx = p.checkpoint.begin(81);
  for (const event of events) p.router.route(event, tx);
  assert.equal(p.sink.sent.length, 0);
  let done = false;
  const replay = p.router.commit(tx)!.then(() => done = true);
  let acked = 0;
  let mostUnackedBytes = 0;
  let waits = 0;
  while (!done) {
    await new Promise((resolve) => setTimeout(resolve, 0));
    mostUnackedBytes = Math.max(mostUnackedBytes, p.account.bytes);
    if (p.account.full) waits++;
    for (const message of p.sink.sent.slice(acked)) {
      p.account.release(message.size);
      p.checkpoint.settle(message.origin.tx);
      acked++;
    }
  }
  await replay;
  assert.ok(waits >= 2, `the replay waited for room (${waits} times)`);
  // At most one chunk of the file (1 MiB) is decided between two looks at the budget.
  assert.ok(mostUnackedBytes <= 1.1 * 1024 * 1024, `${mostUnackedBytes} bytes in flight`);
  const parts = p.sink.sent.map((message) => JSON.parse(message.value!));
  assert.equal(parts.flatMap((part) => part.events).length, events.length);
  assert.equal(parts.at(-1).last, true);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a replay waiting for room stops when its signal aborts, and removes its file", async () => {
  const dir = await spillDir();
  const p = pipeline({ limitBytes: 1024, dir }, 1);
  const tx = p.checkpoint.begin(79);
  for (const event of rows(79)) p.router.route(event, tx);
  const stop = new AbortController();
  const replay = p.router.commit(tx, stop.signal)!;
  await new Promise((resolve) => setTimeout(resolve, 10));
  const sent = p.sink.sent.length;
  stop.abort(new Error("source stopping"));
  await assert.rejects(replay, /source stopping/);
  assert.equal(p.sink.sent.length, sent, "nothing more is sent");
  assert.deepEqual(await filesIn(sourceSpillDir(dir, "main")), []);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("Router.discard() removes the spill file of a transaction its session never committed", async () => {
  const dir = await spillDir();
  const p = pipeline({ limitBytes: 1024, dir });
  const tx = p.checkpoint.begin(80);
  for (const event of rows(80)) p.router.route(event, tx);
  assert.equal((await filesIn(sourceSpillDir(dir, "main"))).length, 1);
  p.router.discard();
  assert.deepEqual(await filesIn(sourceSpillDir(dir, "main")), []);
  await Deno.remove(dir, { recursive: true });
});
