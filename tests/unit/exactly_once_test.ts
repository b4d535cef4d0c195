import assert from "node:assert/strict";
import { parseConfig } from "../../src/config/mod.ts";
import {
  decodeProgress,
  encodeProgress,
  type ProgressRecord,
} from "../../src/kafka/progress_topic.ts";
import type { ChangeEvent } from "../../src/model.ts";
import { Metrics } from "../../src/telemetry/metrics.ts";
import { ReplayGate } from "../../src/pipeline/exactly_once.ts";
import { InflightBudget } from "../../src/pipeline/inflight.ts";
import type { OutgoingMessage } from "../../src/pipeline/message.ts";
import { PipelineSession } from "../../src/pipeline/session.ts";
import {
  type ResumePoint,
  resumePointAt,
  sameResumePoint,
  type StreamPosition,
} from "../../src/progress.ts";
import { MemorySink } from "../fixtures/memory_sink.ts";

const BASE = `
[[sources]]
name = "main"
database = "app"
user = "app"
tables = ["public.orders"]
[kafka]
brokers = ["127.0.0.1:9092"]
`;

function configErrors(text: string): string {
  try {
    parseConfig(text, { origin: "test.toml", env: {} });
    return "";
  } catch (error) {
    return String(error);
  }
}

Deno.test("ReplayGate.admit() skips whole transactions committed before the resume point", () => {
  const gate = new ReplayGate({ lsn: 0x200n, partial: null });
  assert.equal(gate.admit(0x100n, 0x90n), false);
  assert.equal(gate.admit(0x1f0n, 0x1e0n), false);
  assert.equal(gate.admit(0x200n, 0x1f8n), true, "the transaction committing at the end LSN");
  assert.equal(gate.admit(0x300n, 0x210n), true);
});

Deno.test("ReplayGate.admit() skips the changes of a partial transaction Kafka holds, by ordinal", () => {
  const gate = new ReplayGate({
    lsn: 0x200n,
    partial: { commitLsn: 0x300n, changes: 3, changeLsn: 0x220n },
  });
  // One WAL record can carry several rows: equal LSNs, told apart by their order.
  const admitted = [0x210n, 0x220n, 0x220n, 0x220n, 0x230n].map((lsn) => gate.admit(0x300n, lsn));
  assert.deepEqual(admitted, [false, false, false, true, true]);
  assert.deepEqual(gate.position(), {
    commitLsn: 0x300n,
    changes: 5,
    changeLsn: 0x230n,
    endLsn: null,
  });
  assert.equal(gate.admit(0x400n, 0x310n), true, "the next transaction starts counting again");
  assert.equal(gate.position().changes, 1);
});

Deno.test("ReplayGate without a resume point admits everything", () => {
  const gate = new ReplayGate();
  assert.equal(gate.admit(0x10n, 0x8n), true);
  assert.deepEqual(gate.committed(0x18n), {
    commitLsn: 0x10n,
    changes: 1,
    changeLsn: 0x8n,
    endLsn: 0x18n,
  });
});

Deno.test("resumePointAt() keeps the last whole transaction and describes a partial one", () => {
  const previous = { lsn: 0x200n, partial: null };
  const partial: StreamPosition = {
    commitLsn: 0x300n,
    changes: 7,
    changeLsn: 0x250n,
    endLsn: null,
  };
  const cut = resumePointAt(partial, previous);
  assert.deepEqual(cut, {
    lsn: 0x200n,
    partial: { commitLsn: 0x300n, changes: 7, changeLsn: 0x250n },
  });
  assert.deepEqual(resumePointAt({ ...partial, endLsn: 0x310n }, cut), {
    lsn: 0x310n,
    partial: null,
  });
  assert.ok(sameResumePoint(cut, structuredClone(cut)));
  assert.ok(!sameResumePoint(cut, previous));
  assert.ok(!sameResumePoint(cut, { ...cut, partial: { ...cut.partial!, changes: 8 } }));
});

Deno.test("encodeProgress() and decodeProgress() round-trip a record with LSNs as text", () => {
  const record: ProgressRecord = {
    source: "main",
    slot: "pg2kafka",
    database: "app",
    point: {
      lsn: 0x16b3748n,
      partial: { commitLsn: 0x16c0000n, changes: 42, changeLsn: 0x16bf000n },
    },
    writtenAt: "2026-11-30T02:00:00.000Z",
  };
  const text = encodeProgress(record);
  assert.match(text, /"lsn":"0\/16B3748"/);
  assert.match(
    text,
    /"partial":\{"commit_lsn":"0\/16C0000","changes":42,"change_lsn":"0\/16BF000"\}/,
  );
  assert.deepEqual(decodeProgress(text), record);
  const whole = { ...record, point: { lsn: 0x10n, partial: null } };
  assert.deepEqual(decodeProgress(encodeProgress(whole)), whole);
});

Deno.test("decodeProgress() names the field a bad record lacks", () => {
  assert.throws(() => decodeProgress(`{"source":"main","slot":"s","database":"d"}`), /"lsn"/);
  assert.throws(
    () =>
      decodeProgress(
        `{"source":"m","slot":"s","database":"d","lsn":"0/1","written_at":"x",` +
          `"partial":{"commit_lsn":"0/2","changes":-1,"change_lsn":"0/1"}}`,
      ),
    /partial\.changes/,
  );
});

/** A memory sink that also takes marks and claims, as an exactly-once sink does. */
class MarkingSink extends MemorySink<OutgoingMessage> {
  readonly items: (string | StreamPosition)[] = [];
  constructor(readonly point: ResumePoint) {
    super();
  }
  override send(message: OutgoingMessage, settle: Parameters<MemorySink["send"]>[1]): void {
    this.items.push(message.key!);
    super.send(message, settle);
  }
  mark(position: StreamPosition): void {
    this.items.push(position);
  }
  claim(): Promise<ResumePoint> {
    return Promise.resolve(this.point);
  }
}

function event(id: number, lsn: bigint, commitLsn: bigint): ChangeEvent {
  return {
    op: "insert",
    schema: "public",
    table: "orders",
    before: null,
    after: { id },
    unchanged: [],
    keyColumns: ["id"],
    lsn,
    commitLsn,
    xid: 7,
    commitTimeMicros: 0n,
  };
}

Deno.test("PipelineSession with an atomic sink skips what it holds and marks each change's end", async () => {
  const text = `${BASE}
[[targets]]
name = "a"
tables = ["public.orders"]
[[targets]]
name = "b"
tables = ["public.orders"]
topic = "copy.{table}"
`;
  const { targets } = parseConfig(text, { origin: "test.toml", env: {} });
  const sink = new MarkingSink({
    lsn: 0x100n,
    partial: { commitLsn: 0x300n, changes: 1, changeLsn: 0x210n },
  });
  const session = new PipelineSession(
    {
      source: "main",
      targets,
      sink,
      account: new InflightBudget({ maxMessages: 100, maxBytes: 1 << 20 }).account("main"),
      metrics: new Metrics(),
    },
    0x100n,
    { onFlush: () => {} },
  );
  assert.equal(session.needsClaim, true);
  await session.claim();
  assert.equal(session.needsClaim, false);
  const tx = session.begin(7);
  session.route(event(1, 0x210n, 0x300n), tx); // in the sink already
  session.route(event(2, 0x220n, 0x300n), tx);
  session.commit(tx, 0x310n);
  assert.deepEqual(sink.items, [
    `{"id":2}`,
    `{"id":2}`,
    { commitLsn: 0x300n, changes: 2, changeLsn: 0x220n, endLsn: null },
    { commitLsn: 0x300n, changes: 2, changeLsn: 0x220n, endLsn: 0x310n },
  ]);
});

Deno.test("config: exactly_once refuses transaction-mode targets and shared transactional ids", () => {
  const errors = configErrors(`${BASE}
delivery = "exactly_once"
[[targets]]
name = "tx"
tables = ["public.orders"]
mode = "transaction"
`);
  assert.match(errors, /targets\[0\]\.mode|targets\.0\.mode/);
  assert.match(errors, /exactly_once/);
  const shared = configErrors(`
[[sources]]
name = "one"
database = "app"
user = "app"
tables = ["public.orders"]
slot = "one"
transactional_id = "same"
[[sources]]
name = "two"
database = "app"
user = "app"
tables = ["public.orders"]
slot = "two"
transactional_id = "same"
[kafka]
brokers = ["127.0.0.1:9092"]
delivery = "exactly_once"
[[targets]]
name = "rows"
tables = ["public.orders"]
`);
  assert.match(shared, /transactional id no other source uses, found "same" twice/);
});

Deno.test("config: a Kafka transaction must end before the broker's timeout aborts it", () => {
  const errors = configErrors(`${BASE}
delivery = "exactly_once"
[kafka.transactions]
max_duration = "90s"
timeout = "60s"
[[targets]]
name = "rows"
tables = ["public.orders"]
`);
  assert.match(errors, /max_duration/);
  assert.match(errors, /no longer than timeout/);
});

Deno.test("config: exactly_once defaults derive the transactional id from the source", () => {
  const config = parseConfig(
    `${BASE}
delivery = "exactly_once"
[[targets]]
name = "rows"
tables = ["public.orders"]
`,
    { origin: "test.toml", env: {} },
  );
  assert.equal(config.kafka.delivery, "exactly_once");
  assert.equal(config.sources[0].transactionalId, "pg2kafka.main");
  assert.equal(config.kafka.transactions.progressTopic, "pg2kafka.progress.exactly_once");
});

Deno.test("ReplayGate.admitsTransaction() tells whole transactions in Kafka from the rest", () => {
  const gate = new ReplayGate({
    lsn: 0x200n,
    partial: { commitLsn: 0x300n, changes: 1, changeLsn: 0x210n },
  });
  assert.equal(gate.admitsTransaction(0x100n), false);
  assert.equal(gate.admitsTransaction(0x300n), true);
});
