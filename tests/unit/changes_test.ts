import assert from "node:assert/strict";
import type { ChangeEvent } from "../../src/model.ts";
import { ChangeDecoder, RelationCache } from "../../src/source/changes.ts";
import { ProtocolError, ValueConversionError } from "../../src/source/errors.ts";
import {
  type BeginMessage,
  decodePgOutput,
  type PgOutputMessage,
  pgTimestampToUnixMicros,
  type RelationMessage,
} from "../../src/source/pgoutput.ts";
import type { ValueOptions } from "../../src/source/values.ts";
import { scenario, type ScenarioName } from "../fixtures/pgoutput/fixtures.ts";

interface Replay {
  decoder: ChangeDecoder;
  events: ChangeEvent[];
  messages: PgOutputMessage[];
}

/** Feeds a captured scenario through a fresh decoder, as the stream would. */
function replay(name: ScenarioName, options?: ValueOptions): Replay {
  const decoder = new ChangeDecoder(options);
  const events: ChangeEvent[] = [];
  const messages: PgOutputMessage[] = [];
  for (const captured of scenario(name)) {
    const message = decodePgOutput(captured.bytes);
    messages.push(message);
    events.push(...decoder.apply(message, captured.lsn));
  }
  return { decoder, events, messages };
}

function images(events: ChangeEvent[]) {
  return events.map(({ op, before, after, unchanged }) => ({ op, before, after, unchanged }));
}

function assertProtocolError(action: () => unknown, pattern: RegExp): void {
  assert.throws(action, (error: unknown) => {
    assert.ok(error instanceof ProtocolError, `expected ProtocolError: ${error}`);
    assert.match(error.message, pattern);
    return true;
  });
}

const FIRST_LSN = 0x1000n;
const BEGIN: BeginMessage = { tag: "begin", finalLsn: 0x2000n, commitTime: 0n, xid: 7 };
const RELATION: RelationMessage = {
  tag: "relation",
  relationId: 42,
  namespace: "public",
  name: "things",
  replicaIdentity: "default",
  columns: [
    { isKey: true, name: "id", typeOid: 23, typeModifier: -1 },
    { isKey: false, name: "seen", typeOid: 1184, typeModifier: -1 },
  ],
};

Deno.test("ChangeDecoder.apply() converts every column of a captured insert", () => {
  const { events } = replay("all_types");
  assert.equal(events.length, 4);
  assert.deepEqual(events[0].after, {
    id: 1,
    c_int2: -32768,
    c_int4: 2147483647,
    c_int8: "9223372036854775807",
    c_oid: 4294967295,
    c_float4: 1.5,
    c_float8: 3.141592653589793,
    c_numeric: "123456789012345678901234567890.123456789",
    c_bool: true,
    c_text: "héllo, wörld 🐘",
    c_varchar: "varchar",
    c_bpchar: "ab   ",
    c_name: "a_name",
    c_char: "x",
    c_uuid: "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
    c_json: { b: 1, a: [1, 2.5, "x"], n: null },
    c_jsonb: { a: [1, 2.5, "x"], b: 1, n: null },
    c_bytea: "AP8Q",
    c_date: "2024-02-29",
    c_time: "13:45:10.500000",
    c_timetz: "13:45:10.123456+05:30",
    c_timestamp: "2024-02-29T13:45:10.123000",
    c_timestamptz: "2024-02-29T11:45:10.123456Z",
    c_interval: "P1Y2M3DT4H5M6.789S",
    c_inet: "192.168.1.5/24",
    c_cidr: "10.0.0.0/8",
    c_macaddr: "08:00:2b:01:02:03",
    c_macaddr8: "08:00:2b:01:02:03:04:05",
    c_money: "$1,234.56",
    c_xml: "<a>x</a>",
    c_bit: "1010",
    c_varbit: "110",
    c_tsvector: "'a' 'cat' 'fat'",
    c_mood: "happy",
    c_positive: 42,
    c_pair: "(1,one)",
    c_int4range: "[1,10)",
    c_point: "(1.5,2)",
    c_int4_array: [1, 2, null],
    c_int4_matrix: [[1, 2], [3, 4]],
    c_text_array: ["a,b", 'c"d', null, "NULL", "", "x y"],
    c_bool_array: [true, false],
    c_numeric_array: ["1.5", "NaN", "123456789012345678901234567890"],
    c_timestamptz_array: ["2024-01-01T00:00:00.000000Z", "2024-06-01T10:30:00.000000Z"],
    c_jsonb_array: [{ k: "v" }, [1, 2]],
    c_bytea_array: ["AQI=", ""],
    c_box_array: ["(1,1),(0,0)", "(3,3),(2,2)"],
    c_mood_array: "{sad,happy}",
    c_float8_array: [1.25, "-Infinity", "NaN"],
    c_date_array: ["2024-01-01", "infinity"],
  });
});

Deno.test("ChangeDecoder.apply() converts nulls, edge values and infinities of captured inserts", () => {
  const [, empty, edges, bounds] = replay("all_types").events;
  assert.equal(Object.keys(empty.after!).length, 50);
  assert.ok(Object.entries(empty.after!).every(([name, value]) => name === "id" || value === null));
  assert.deepEqual(
    Object.fromEntries(Object.entries(edges.after!).filter(([, value]) => value !== null)),
    {
      id: 3,
      c_int8: "-9223372036854775808",
      c_float4: "NaN",
      c_float8: "-Infinity",
      c_numeric: "NaN",
      c_bool: false,
      c_text: "",
      c_jsonb: "just a string",
      c_bytea: "",
      c_date: "-0043-03-15",
      c_time: "00:00:00.000000",
      c_timestamp: "-infinity",
      c_timestamptz: "infinity",
      c_interval: "P-1Y-2M3DT-4H-5M-6.5S",
      c_int4_array: [],
      c_text_array: [],
    },
  );
  assert.deepEqual(
    Object.fromEntries(Object.entries(bounds.after!).filter(([, value]) => value !== null)),
    {
      id: 4,
      c_float8: "Infinity",
      c_date: "infinity",
      c_timestamp: "0000-01-01T00:00:00.000000",
      c_timestamptz: "2000-01-01T00:00:00.000000Z",
      c_interval: "PT0S",
    },
  );
});

Deno.test("ChangeDecoder.apply() stamps events with LSN, xid and the Begin's commit position", () => {
  const captured = scenario("all_types");
  const { events, messages } = replay("all_types");
  const begins = messages.filter((message): message is BeginMessage => message.tag === "begin");
  const insertCaptures = captured.filter((_, index) => messages[index].tag === "insert");
  events.forEach((event, index) => {
    assert.equal(event.op, "insert");
    assert.equal(event.schema, "public");
    assert.equal(event.table, "all_types");
    assert.equal(event.before, null);
    assert.deepEqual(event.unchanged, []);
    assert.deepEqual(event.keyColumns, ["id"]);
    assert.equal(event.lsn, insertCaptures[index].lsn);
    assert.equal(event.xid, insertCaptures[index].xid);
    assert.equal(event.commitLsn, begins[index].finalLsn);
    assert.equal(event.commitTimeMicros, pgTimestampToUnixMicros(begins[index].commitTime));
    assert.equal(event.truncate, undefined);
  });
});

Deno.test("ChangeDecoder.apply() converts timestamptz sent in a non-UTC session to UTC", () => {
  const { events } = replay("timezone_offsets");
  assert.deepEqual(events.map((event) => event.after), [
    { id: 1, ts: "2024-01-15T12:00:00.000000Z", tt: "12:00:00.000000+00:00" },
    { id: 2, ts: "2024-07-15T12:00:00.500000Z", tt: "23:59:59.999999-11:00" },
    { id: 3, ts: "1850-01-01T00:00:00.000000Z", tt: "00:00:00.000000+14:00" },
    { id: 4, ts: "-infinity", tt: null },
  ]);
});

Deno.test("ChangeDecoder.apply() gives the old key only when REPLICA IDENTITY DEFAULT sends it", () => {
  const { events } = replay("replica_identity_default");
  assert.deepEqual(images(events), [
    { op: "insert", before: null, after: { id: 1, name: "one" }, unchanged: [] },
    { op: "update", before: null, after: { id: 1, name: "uno" }, unchanged: [] },
    { op: "update", before: { id: 1 }, after: { id: 2, name: "uno" }, unchanged: [] },
    { op: "delete", before: { id: 2 }, after: null, unchanged: [] },
  ]);
  assert.ok(events.every((event) => event.keyColumns.join() === "id"));
});

Deno.test("ChangeDecoder.apply() gives the whole old row for REPLICA IDENTITY FULL", () => {
  const { events } = replay("replica_identity_full");
  assert.deepEqual(images(events), [
    { op: "insert", before: null, after: { id: 1, name: "one", note: null }, unchanged: [] },
    {
      op: "update",
      before: { id: 1, name: "one", note: null },
      after: { id: 1, name: "one", note: "changed" },
      unchanged: [],
    },
    { op: "delete", before: { id: 1, name: "one", note: "changed" }, after: null, unchanged: [] },
  ]);
  // pgoutput flags every column of a FULL table as part of the identity.
  assert.deepEqual(events[0].keyColumns, ["id", "name", "note"]);
});

Deno.test("ChangeDecoder.apply() keys REPLICA IDENTITY USING INDEX on the index columns", () => {
  const { events } = replay("replica_identity_index");
  assert.deepEqual(images(events).slice(1), [
    { op: "update", before: null, after: { id: 1, code: "A-1", name: "renamed" }, unchanged: [] },
    {
      op: "update",
      before: { code: "A-1" },
      after: { id: 1, code: "A-2", name: "renamed" },
      unchanged: [],
    },
    { op: "delete", before: { code: "A-2" }, after: null, unchanged: [] },
  ]);
  assert.deepEqual(events[0].keyColumns, ["code"]);
});

Deno.test("ChangeDecoder.apply() omits unchanged TOAST columns from after and lists them", () => {
  const { events } = replay("toast");
  const [insert, insertFull, update, updateFull, remove] = events;
  const big = insert.after!.big as string;
  assert.equal(big.length, 6400);
  assert.equal(insertFull.after!.big, big);
  assert.deepEqual(update.after, { id: 1, counter: 1 });
  assert.ok(!("big" in update.after!), "no stale or null value for the unsent column");
  assert.deepEqual(update.unchanged, ["big"]);
  assert.deepEqual(updateFull.before, { id: 1, big, counter: 0 });
  assert.deepEqual(updateFull.after, { id: 1, counter: 1 });
  assert.deepEqual(updateFull.unchanged, ["big"]);
  assert.deepEqual(remove.before, { id: 1 });
});

Deno.test("ChangeDecoder.apply() replaces a relation announced again after DDL", () => {
  const { events, decoder, messages } = replay("ddl_midstream");
  assert.deepEqual(events.map((event) => event.after), [
    { id: 1, a: 10 },
    { id: 2, a: 20, b: "y" },
    { id: 3, a: "30000000000", b: "z" },
  ]);
  const announced = messages.filter((message) => message.tag === "relation");
  assert.equal(announced.length, 3);
  const relation = decoder.relations.get((announced[0] as RelationMessage).relationId)!;
  assert.equal(decoder.relations.size, 1);
  assert.deepEqual(relation.columns.map((column) => `${column.name}:${column.typeName}`), [
    "id:int4",
    "a:int8",
    "b:text",
  ]);
});

Deno.test("ChangeDecoder.apply() yields one truncate event per table with the options", () => {
  const { events } = replay("truncate");
  const truncates = events.filter((event) => event.op === "truncate").map((event) => ({
    table: event.table,
    before: event.before,
    after: event.after,
    ...event.truncate,
  }));
  const options = (cascade: boolean, restartIdentity: boolean) => ({
    before: null,
    after: null,
    cascade,
    restartIdentity,
  });
  assert.deepEqual(truncates, [
    { table: "child", ...options(false, false) },
    { table: "parent", ...options(true, false) },
    { table: "child", ...options(true, false) },
    { table: "counted", ...options(false, true) },
    { table: "parent", ...options(true, true) },
    { table: "counted", ...options(true, true) },
    { table: "child", ...options(true, true) },
  ]);
});

Deno.test("ChangeDecoder.apply() yields no events for logical messages, in or out of transactions", () => {
  const { events, decoder } = replay("logical_messages");
  assert.deepEqual(images(events), [
    { op: "insert", before: null, after: { id: 1, note: "with message" }, unchanged: [] },
  ]);
  assert.equal(decoder.transaction, null);
});

Deno.test("ChangeDecoder.transaction exposes the open transaction and its origin", () => {
  const decoder = new ChangeDecoder();
  const seen: (string | null)[] = [];
  for (const captured of scenario("origin")) {
    const message = decodePgOutput(captured.bytes);
    decoder.apply(message, captured.lsn);
    if (message.tag === "insert") seen.push(decoder.transaction?.origin ?? null);
  }
  assert.deepEqual(seen, ["upstream"]);
  assert.equal(decoder.transaction, null);
});

Deno.test("ChangeDecoder.apply() passes binary-format values through as bytes", () => {
  const { events } = replay("binary_values");
  assert.deepEqual(events[1].after, {
    id: Uint8Array.of(0, 0, 0, 2),
    label: null,
    flag: Uint8Array.of(0),
    amount: Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff),
  });
});

Deno.test("ChangeDecoder.apply() converts int8 to numbers with bigNumbers: number", () => {
  const { events } = replay("ddl_midstream", { bigNumbers: "number" });
  assert.equal(events[2].after!.a, 30000000000);
  const [first] = replay("all_types", { bigNumbers: "number" }).events;
  assert.equal(first.after!.c_int8, 9223372036854775807);
  assert.equal(first.after!.c_numeric, 1.2345678901234568e29);
});

Deno.test("ChangeDecoder.apply() keeps a column named __proto__ as a field", () => {
  const decoder = new ChangeDecoder();
  decoder.apply({
    ...RELATION,
    columns: [{ isKey: true, name: "__proto__", typeOid: 23, typeModifier: -1 }],
  }, FIRST_LSN);
  decoder.apply(BEGIN, FIRST_LSN);
  const [event] = decoder.apply({ tag: "insert", relationId: 42, newTuple: ["5"] }, FIRST_LSN);
  assert.equal(Object.getPrototypeOf(event.after), Object.prototype);
  assert.deepEqual(Object.keys(event.after!), ["__proto__"]);
  assert.equal(JSON.stringify(event.after), '{"__proto__":5}');
});

Deno.test("ChangeDecoder.apply() rejects a change for a relation never announced", () => {
  const decoder = new ChangeDecoder();
  decoder.apply(BEGIN, FIRST_LSN);
  assertProtocolError(
    () => decoder.apply({ tag: "insert", relationId: 99, newTuple: ["1"] }, FIRST_LSN),
    /^Invalid Insert message: relation id 99 was never announced by a Relation message$/,
  );
  assertProtocolError(
    () =>
      decoder.apply(
        { tag: "truncate", cascade: false, restartIdentity: false, relationIds: [99] },
        FIRST_LSN,
      ),
    /^Invalid Truncate message: relation id 99/,
  );
});

Deno.test("ChangeDecoder.apply() rejects changes outside a transaction and unbalanced Begin/Commit", () => {
  const decoder = new ChangeDecoder();
  decoder.apply(RELATION, FIRST_LSN);
  const insert = { tag: "insert", relationId: 42, newTuple: ["1", null] } as const;
  assertProtocolError(() => decoder.apply(insert, FIRST_LSN), /outside a transaction/);
  assertProtocolError(
    () =>
      decoder.apply(
        { tag: "commit", flags: 0, commitLsn: 1n, endLsn: 2n, commitTime: 0n },
        FIRST_LSN,
      ),
    /^Invalid Commit message: arrived outside a transaction/,
  );
  decoder.apply(BEGIN, FIRST_LSN);
  assertProtocolError(() => decoder.apply({ ...BEGIN, xid: 8 }, FIRST_LSN), /still open/);
  assertProtocolError(
    () =>
      decoder.apply(
        { tag: "commit", flags: 0, commitLsn: 1n, endLsn: 2n, commitTime: 0n },
        FIRST_LSN,
      ),
    /commit LSN 0\/1 differs from the final LSN 0\/2000 announced by Begin of transaction 7$/,
  );
});

Deno.test("ChangeDecoder.apply() rejects a tuple wider or narrower than its relation", () => {
  const decoder = new ChangeDecoder();
  decoder.apply(RELATION, FIRST_LSN);
  decoder.apply(BEGIN, FIRST_LSN);
  assertProtocolError(
    () => decoder.apply({ tag: "insert", relationId: 42, newTuple: ["1"] }, FIRST_LSN),
    /^Invalid Insert message: tuple of public.things has 1 columns but its Relation message announced 2$/,
  );
});

Deno.test("ChangeDecoder.apply() names the column of a value that does not convert", () => {
  const decoder = new ChangeDecoder();
  decoder.apply(RELATION, FIRST_LSN);
  decoder.apply(BEGIN, FIRST_LSN);
  const insert = { tag: "insert", relationId: 42, newTuple: ["1", "Thu Feb 29 2024"] } as const;
  assert.throws(() => decoder.apply(insert, FIRST_LSN), (error: unknown) => {
    assert.ok(error instanceof ValueConversionError);
    assert.match(
      error.message,
      /^Cannot convert timestamptz value "Thu Feb 29 2024" in column "seen" of public.things: /,
    );
    return true;
  });
});

Deno.test("RelationCache names user types from Type messages and converts domains by base type", () => {
  const cache = new RelationCache();
  cache.registerType({ tag: "type", typeOid: 16385, namespace: "public", name: "mood" });
  cache.registerType({ tag: "type", typeOid: 16392, namespace: "", name: "int4" });
  const relation = cache.add({
    ...RELATION,
    columns: [
      { isKey: true, name: "feeling", typeOid: 16385, typeModifier: -1 },
      { isKey: false, name: "count", typeOid: 16392, typeModifier: -1 },
      { isKey: false, name: "other", typeOid: 99999, typeModifier: -1 },
    ],
  });
  assert.deepEqual(relation.columns.map((column) => column.typeName), [
    "public.mood",
    "pg_catalog.int4",
    "oid 99999",
  ]);
  assert.deepEqual(relation.converters.map((convert, index) => convert(["ok", "5", "x"][index])), [
    "ok",
    5,
    "x",
  ]);
  assert.deepEqual(relation.keyColumns, ["feeling"]);
});
