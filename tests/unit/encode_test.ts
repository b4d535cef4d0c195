import assert from "node:assert/strict";
import type { ChangeEvent } from "../../src/model.ts";
import {
  encodeKey,
  encodeTransactionEvent,
  encodeTransactionPart,
  encodeValue,
  eventText,
  EventTextFormatter,
  formatCommitTime,
  keyOf,
  keyRow,
} from "../../src/pipeline/encode.ts";

const UPDATE: ChangeEvent = {
  op: "update",
  schema: "public",
  table: "orders",
  before: { id: 7 },
  after: { id: 8, status: "paid", total: "10.50" },
  unchanged: [],
  keyColumns: ["id"],
  lsn: 0x16B3748n,
  commitLsn: 0x16B3800n,
  xid: 731,
  commitTimeMicros: 1_700_000_000_000_001n,
};

Deno.test("formatCommitTime() prints microseconds, including leading zeros", () => {
  assert.equal(formatCommitTime(1_700_000_000_123_456n), "2023-11-14T22:13:20.123456Z");
  assert.equal(formatCommitTime(1_700_000_000_000_001n), "2023-11-14T22:13:20.000001Z");
  assert.equal(formatCommitTime(0n), "1970-01-01T00:00:00.000000Z");
});

Deno.test("EventTextFormatter.format() gives each event of a transaction its own LSN and the commit's text", () => {
  const formatter = new EventTextFormatter();
  const second = { ...UPDATE, lsn: 0x16B3790n };
  assert.deepEqual(formatter.format(UPDATE), {
    lsn: "0/16B3748",
    commitLsn: "0/16B3800",
    xid: "731",
    commitTs: "2023-11-14T22:13:20.000001Z",
  });
  assert.deepEqual(formatter.format(second), { ...eventText(UPDATE), lsn: "0/16B3790" });
  // The next transaction, and one that differs from it in a single field.
  const next = {
    ...UPDATE,
    lsn: 0x2000000n,
    commitLsn: 0x2000100n,
    xid: 732,
    commitTimeMicros: 0n,
  };
  assert.deepEqual(formatter.format(next), eventText(next));
  for (const change of [{ xid: 733 }, { commitLsn: 0x2000200n }, { commitTimeMicros: 1n }]) {
    const other = { ...next, ...change };
    assert.deepEqual(formatter.format(other), eventText(other));
  }
});

Deno.test("encodeKey() takes the key columns in order, a missing one as null", () => {
  assert.equal(encodeKey(["id"], { id: 42, name: "x" }), '{"id":42}');
  assert.equal(encodeKey(["b", "a"], { a: 1, b: 2 }), '{"b":2,"a":1}');
  assert.equal(encodeKey(["id", "region"], { id: 1 }), '{"id":1,"region":null}');
  assert.equal(encodeKey([], { id: 1 }), null);
  assert.equal(encodeKey(["id"], null), null);
  assert.deepEqual(keyOf(["id"], { id: 42, name: "x" }), { id: 42 });
});

Deno.test("keyRow() reads the new row, or the old one when the row is gone", () => {
  assert.equal(keyRow(UPDATE), UPDATE.after);
  assert.equal(keyRow({ ...UPDATE, op: "delete", after: null }), UPDATE.before);
});

Deno.test("encodeValue() writes the default contract, listing unchanged TOAST columns only when any", () => {
  assert.deepEqual(JSON.parse(encodeValue(UPDATE, "main")), {
    op: "update",
    source: "main",
    schema: "public",
    table: "orders",
    before: { id: 7 },
    after: { id: 8, status: "paid", total: "10.50" },
    lsn: "0/16B3748",
    commit_lsn: "0/16B3800",
    xid: 731,
    commit_ts: "2023-11-14T22:13:20.000001Z",
  });
  const toasted = JSON.parse(encodeValue({ ...UPDATE, unchanged: ["notes"] }, "main"));
  assert.deepEqual(toasted.unchanged, ["notes"]);
});

Deno.test("encodeTransactionEvent() keeps the event's own fields and its key, not the transaction's", () => {
  assert.deepEqual(JSON.parse(encodeTransactionEvent(UPDATE, ["id"])), {
    op: "update",
    schema: "public",
    table: "orders",
    key: { id: 8 },
    before: { id: 7 },
    after: { id: 8, status: "paid", total: "10.50" },
    lsn: "0/16B3748",
  });
  const truncate: ChangeEvent = {
    ...UPDATE,
    op: "truncate",
    before: null,
    after: null,
    truncate: { cascade: true, restartIdentity: false },
  };
  const encoded = JSON.parse(encodeTransactionEvent(truncate, ["id"]));
  assert.equal(encoded.key, null);
  assert.deepEqual(encoded.truncate, { cascade: true, restartIdentity: false });
});

Deno.test("encodeTransactionEvent() throws on a value JSON cannot hold", () => {
  const event = { ...UPDATE, after: { id: 8, big: 1n } };
  assert.throws(() => encodeTransactionEvent(event, ["id"]), TypeError);
});

Deno.test("encodeTransactionPart() splices encoded events into the envelope unchanged", () => {
  const events = [encodeTransactionEvent(UPDATE, ["id"]), '{"op":"insert"}'];
  const fields = {
    source: "main",
    xid: 731,
    commitLsn: 0x16B3800n,
    commitTimeMicros: 1_700_000_000_000_001n,
  };
  const part = encodeTransactionPart({ ...fields, part: 2, last: false, eventCount: null }, events);
  const value = JSON.parse(part);
  assert.deepEqual({ ...value, events: undefined }, {
    source: "main",
    xid: 731,
    commit_lsn: "0/16B3800",
    commit_ts: "2023-11-14T22:13:20.000001Z",
    part: 2,
    last: false,
    event_count: null,
    events: undefined,
  });
  assert.deepEqual(value.events, events.map((e) => JSON.parse(e)));
  assert.ok(part.endsWith(`"events":[${events.join(",")}]}`));
  const empty = encodeTransactionPart({ ...fields, part: 1, last: true, eventCount: 0 }, []);
  assert.deepEqual(JSON.parse(empty).events, []);
});
