import assert from "node:assert/strict";
import { ProtocolError } from "../../src/source/errors.ts";
import {
  type BeginMessage,
  type CommitMessage,
  decodePgOutput,
  type PgOutputMessage,
  pgTimestampToUnixMicros,
} from "../../src/source/pgoutput.ts";
import {
  allMessages,
  type CapturedMessage,
  scenario,
  type ScenarioName,
} from "../fixtures/pgoutput/fixtures.ts";

type Tag = PgOutputMessage["tag"];
type MessageOf<T extends Tag> = Extract<PgOutputMessage, { tag: T }>;

function decodeScenario(name: ScenarioName): PgOutputMessage[] {
  return scenario(name).map((captured) => decodePgOutput(captured.bytes));
}

function ofTag<T extends Tag>(messages: PgOutputMessage[], tag: T): MessageOf<T>[] {
  return messages.filter((message): message is MessageOf<T> => message.tag === tag);
}

function captureOf(name: ScenarioName, tag: Tag): CapturedMessage[] {
  return scenario(name).filter((captured) => decodePgOutput(captured.bytes).tag === tag);
}

function assertProtocolError(bytes: Uint8Array, pattern?: RegExp): ProtocolError {
  try {
    decodePgOutput(bytes);
  } catch (error) {
    assert.ok(error instanceof ProtocolError, `expected a ProtocolError, got ${error}`);
    if (pattern) assert.match(error.message, pattern);
    return error;
  }
  assert.fail(`decoding ${bytes.length} bytes did not throw`);
}

const BYTE_TEXT_KIND = 0x74; // 't'
const INSERT_HEADER_BYTES = 1 + 4 + 1; // type, relation id, 'N'
const JANUARY_2020_UNIX_MICROS = 1_577_836_800_000_000n;

Deno.test("decodePgOutput() decodes Begin with the xid the server reported", () => {
  const captured = captureOf("replica_identity_default", "begin");
  assert.equal(captured.length, 4);
  for (const { bytes, xid } of captured) {
    const begin = decodePgOutput(bytes) as BeginMessage;
    assert.equal(begin.xid, xid);
    assert.ok(pgTimestampToUnixMicros(begin.commitTime) > JANUARY_2020_UNIX_MICROS);
  }
});

Deno.test("decodePgOutput() decodes Commit with the final LSN of its Begin and the end LSN", () => {
  const captured = scenario("truncate");
  const messages = captured.map(({ bytes }) => decodePgOutput(bytes));
  const begins = ofTag(messages, "begin");
  const commits = ofTag(messages, "commit");
  assert.equal(commits.length, 7);
  commits.forEach((commit: CommitMessage, index) => {
    assert.equal(commit.flags, 0);
    assert.equal(commit.commitLsn, begins[index].finalLsn);
    assert.equal(commit.commitTime, begins[index].commitTime);
    assert.ok(commit.endLsn > commit.commitLsn);
  });
  // The SQL interface reports a commit at its end LSN.
  const commitLsns = captured.filter((_, index) => messages[index].tag === "commit");
  assert.deepEqual(commits.map((commit) => commit.endLsn), commitLsns.map(({ lsn }) => lsn));
});

Deno.test("decodePgOutput() decodes Origin with its name and origin LSN", () => {
  const messages = decodeScenario("origin");
  assert.deepEqual(messages.map((message) => message.tag), [
    "begin",
    "origin",
    "relation",
    "insert",
    "commit",
  ]);
  assert.deepEqual(messages[1], { tag: "origin", originLsn: 0xabcdefn, name: "upstream" });
  // pg_replication_origin_xact_setup also set the commit time: 2024-01-01T00:00:00Z.
  const begin = messages[0] as BeginMessage;
  const commitMillis = Number(pgTimestampToUnixMicros(begin.commitTime) / 1000n);
  assert.equal(new Date(commitMillis).toISOString(), "2024-01-01T00:00:00.000Z");
});

Deno.test("decodePgOutput() decodes Relation with columns, types, modifiers and key flags", () => {
  const [relation] = ofTag(decodeScenario("all_types"), "relation");
  assert.equal(relation.namespace, "public");
  assert.equal(relation.name, "all_types");
  assert.equal(relation.replicaIdentity, "default");
  assert.equal(relation.columns.length, 50);
  assert.deepEqual(relation.columns.slice(0, 4), [
    { isKey: true, name: "id", typeOid: 23, typeModifier: -1 },
    { isKey: false, name: "c_int2", typeOid: 21, typeModifier: -1 },
    { isKey: false, name: "c_int4", typeOid: 23, typeModifier: -1 },
    { isKey: false, name: "c_int8", typeOid: 20, typeModifier: -1 },
  ]);
  const varchar = relation.columns.find((column) => column.name === "c_varchar");
  assert.deepEqual(varchar, { isKey: false, name: "c_varchar", typeOid: 1043, typeModifier: 24 });
  assert.deepEqual(relation.columns.filter((column) => column.isKey).map(({ name }) => name), [
    "id",
  ]);
});

Deno.test("decodePgOutput() decodes the replica identity setting of each Relation", () => {
  const settings =
    (["replica_identity_default", "replica_identity_full", "replica_identity_index"] as const).map((
      name,
    ) => ofTag(decodeScenario(name), "relation")[0]);
  assert.deepEqual(settings.map((relation) => relation.replicaIdentity), [
    "default",
    "full",
    "index",
  ]);
  const keys = settings.map((relation) => relation.columns.map((column) => column.isKey));
  assert.deepEqual(keys, [[true, false], [true, true, true], [false, true, false]]);
});

Deno.test("decodePgOutput() decodes Type messages of enums, composites, arrays and domains", () => {
  const types = ofTag(decodeScenario("all_types"), "type");
  const names = types.map(({ namespace, name }) => `${namespace}.${name}`);
  // A domain is announced under its base type's name (int4 in pg_catalog, sent as "").
  assert.deepEqual(names, ["public.mood", ".int4", "public.pair", "public._mood"]);
  for (const type of types) assert.ok(type.typeOid >= 16384, `user type OID ${type.typeOid}`);
});

Deno.test("decodePgOutput() decodes Insert tuples as text and null", () => {
  const inserts = ofTag(decodeScenario("all_types"), "insert");
  assert.equal(inserts.length, 4);
  const [full, empty] = inserts;
  assert.deepEqual(full.newTuple.slice(0, 10), [
    "1",
    "-32768",
    "2147483647",
    "9223372036854775807",
    "4294967295",
    "1.5",
    "3.141592653589793",
    "123456789012345678901234567890.123456789",
    "t",
    "héllo, wörld 🐘",
  ]);
  assert.equal(full.newTuple[11], "ab   ");
  assert.equal(full.newTuple.at(-1), "[0:1]={2024-01-01,infinity}");
  assert.equal(empty.newTuple[0], "2");
  assert.ok(empty.newTuple.slice(1).every((value) => value === null));
});

Deno.test("decodePgOutput() decodes Update without, with key and with full old tuple", () => {
  const defaults = ofTag(decodeScenario("replica_identity_default"), "update");
  assert.deepEqual(
    defaults.map(({ oldKind, oldTuple, newTuple }) => ({
      oldKind,
      oldTuple,
      newTuple,
    })),
    [
      { oldKind: null, oldTuple: null, newTuple: ["1", "uno"] },
      { oldKind: "key", oldTuple: ["1", null], newTuple: ["2", "uno"] },
    ],
  );
  const [full] = ofTag(decodeScenario("replica_identity_full"), "update");
  assert.equal(full.oldKind, "full");
  assert.deepEqual(full.oldTuple, ["1", "one", null]);
  assert.deepEqual(full.newTuple, ["1", "one", "changed"]);
});

Deno.test("decodePgOutput() keeps unchanged TOAST values apart as undefined", () => {
  const messages = decodeScenario("toast");
  const inserted = ofTag(messages, "insert")[0].newTuple[1] as string;
  assert.equal(inserted.length, 6400);
  const [plain, full] = ofTag(messages, "update");
  assert.deepEqual(plain.newTuple, ["1", undefined, "1"]);
  assert.ok(1 in plain.newTuple, "the unchanged value is present as undefined, not a hole");
  // REPLICA IDENTITY FULL sends the old value whole, yet still marks the new one unchanged.
  assert.deepEqual(full.oldTuple, ["1", inserted, "0"]);
  assert.deepEqual(full.newTuple, ["1", undefined, "1"]);
});

Deno.test("decodePgOutput() decodes Delete with old key or old full tuple", () => {
  const [byKey] = ofTag(decodeScenario("replica_identity_index"), "delete");
  assert.equal(byKey.oldKind, "key");
  assert.deepEqual(byKey.oldTuple, [null, "A-2", null]);
  const [byRow] = ofTag(decodeScenario("replica_identity_full"), "delete");
  assert.equal(byRow.oldKind, "full");
  assert.deepEqual(byRow.oldTuple, ["1", "one", "changed"]);
});

Deno.test("decodePgOutput() decodes Truncate relation ids and cascade/restart options", () => {
  const messages = decodeScenario("truncate");
  const relations = new Map(ofTag(messages, "relation").map((r) => [r.relationId, r.name]));
  const truncates = ofTag(messages, "truncate").map((truncate) => ({
    tables: truncate.relationIds.map((id) => relations.get(id)),
    cascade: truncate.cascade,
    restartIdentity: truncate.restartIdentity,
  }));
  assert.deepEqual(truncates, [
    { tables: ["child"], cascade: false, restartIdentity: false },
    { tables: ["parent", "child"], cascade: true, restartIdentity: false },
    { tables: ["counted"], cascade: false, restartIdentity: true },
    { tables: ["parent", "counted", "child"], cascade: true, restartIdentity: true },
  ]);
});

Deno.test("decodePgOutput() decodes transactional and non-transactional logical messages", () => {
  const messages = decodeScenario("logical_messages");
  assert.deepEqual(messages.map((message) => message.tag), [
    "begin",
    "message",
    "relation",
    "insert",
    "commit",
    "message",
  ]);
  const [inside, outside] = ofTag(messages, "message");
  assert.equal(inside.transactional, true);
  assert.equal(inside.prefix, "app/audit");
  assert.equal(new TextDecoder().decode(inside.content), "transactional text");
  assert.equal(outside.transactional, false);
  assert.equal(outside.prefix, "app/ping");
  assert.deepEqual([...outside.content], [0x00, 0xff, 0x7f]);
  const [begin] = ofTag(messages, "begin");
  assert.ok(inside.lsn < begin.finalLsn && outside.lsn > begin.finalLsn);
});

Deno.test("decodePgOutput() copies message content out of the input buffer", () => {
  const captured = captureOf("logical_messages", "message")[1];
  const bytes = captured.bytes.slice();
  const message = decodePgOutput(bytes);
  bytes.fill(0);
  assert.deepEqual(message.tag === "message" && [...message.content], [0x00, 0xff, 0x7f]);
});

Deno.test("decodePgOutput() decodes binary-format values as bytes", () => {
  const inserts = ofTag(decodeScenario("binary_values"), "insert");
  const [first, second] = inserts.map((insert) => insert.newTuple);
  assert.deepEqual(first, [
    Uint8Array.of(0, 0, 0, 1),
    new TextEncoder().encode("bin"),
    Uint8Array.of(1),
    Uint8Array.of(0, 0, 0, 1, 0x2a, 0x05, 0xf2, 0x00), // 5000000000 as int8
  ]);
  assert.equal(second[1], null);
});

Deno.test("decodePgOutput() honours the byteOffset of a subarray", () => {
  for (const captured of allMessages()) {
    const padded = new Uint8Array(captured.bytes.length + 7).fill(0xee);
    padded.set(captured.bytes, 3);
    const view = padded.subarray(3, 3 + captured.bytes.length);
    assert.deepEqual(decodePgOutput(view), decodePgOutput(captured.bytes));
  }
});

Deno.test("decodePgOutput() throws ProtocolError for every truncation of every message", () => {
  for (const captured of allMessages()) {
    for (let length = 0; length < captured.bytes.length; length++) {
      const error = assertProtocolError(captured.bytes.subarray(0, length));
      assert.ok(error.offset !== undefined && error.offset <= length, error.message);
    }
  }
});

Deno.test("decodePgOutput() names the kind, offset and shortfall of a truncated message", () => {
  const [insert] = captureOf("replica_identity_default", "insert");
  const valueLengthOffset = INSERT_HEADER_BYTES + 2 + 1;
  const error = assertProtocolError(insert.bytes.subarray(0, valueLengthOffset + 3));
  assert.equal(error.message, "Truncated Insert message: needed 4 bytes at offset 9, 3 remain");
  assert.equal(error.messageKind, "Insert");
  assert.equal(error.offset, 9);
});

Deno.test("decodePgOutput() rejects trailing bytes after a complete message", () => {
  for (const captured of allMessages()) {
    const longer = new Uint8Array(captured.bytes.length + 1);
    longer.set(captured.bytes);
    assertProtocolError(longer, /1 unexpected trailing bytes at offset \d+/);
  }
});

Deno.test("decodePgOutput() rejects unknown and later-protocol message types", () => {
  assertProtocolError(
    Uint8Array.of(0x58, 0, 0),
    /^Invalid pgoutput message: unknown message type "X" \(0x58\) at offset 0$/,
  );
  assertProtocolError(
    Uint8Array.of(0x53),
    /"S" \(0x53\) \(Stream Start\) belongs to a later protocol/,
  );
  assertProtocolError(new Uint8Array(0), /^Truncated pgoutput message: needed 1 byte at offset 0/);
});

Deno.test("decodePgOutput() rejects an unknown tuple value kind", () => {
  const [insert] = captureOf("replica_identity_default", "insert");
  const bytes = insert.bytes.slice();
  const kindOffset = INSERT_HEADER_BYTES + 2;
  assert.equal(bytes[kindOffset], BYTE_TEXT_KIND);
  bytes[kindOffset] = 0x78;
  assertProtocolError(
    bytes,
    /^Invalid Insert message: unknown tuple value kind "x" \(0x78\) at offset 8$/,
  );
});

Deno.test("decodePgOutput() rejects a negative column count", () => {
  const [insert] = captureOf("replica_identity_default", "insert");
  const bytes = insert.bytes.slice();
  bytes.set([0xff, 0xfe], INSERT_HEADER_BYTES);
  assertProtocolError(bytes, /^Invalid Insert message: negative column count -2 at offset 6$/);
});

Deno.test("decodePgOutput() rejects a column count larger than the message", () => {
  const [insert] = captureOf("replica_identity_default", "insert");
  const bytes = insert.bytes.slice();
  bytes.set([0x7f, 0xff], INSERT_HEADER_BYTES);
  assertProtocolError(bytes, /^Truncated Insert message: needed at least 32767 bytes/);
});

Deno.test("decodePgOutput() rejects an unterminated string", () => {
  const [type] = captureOf("all_types", "type");
  const bytes = type.bytes.slice();
  bytes[bytes.length - 1] = 0x41;
  assertProtocolError(bytes, /^Truncated Type message: unterminated string at offset 12/);
});

Deno.test("decodePgOutput() rejects invalid UTF-8 in a value", () => {
  const [insert] = captureOf("replica_identity_default", "insert");
  const bytes = insert.bytes.slice();
  bytes[bytes.length - 1] = 0xff; // last byte of "one"
  assertProtocolError(bytes, /^Invalid Insert message: invalid UTF-8/);
});

Deno.test("decodePgOutput() keeps a genuine U+FFFD replacement character", () => {
  const [insert] = captureOf("replica_identity_default", "insert");
  const bytes = insert.bytes.slice();
  bytes.set([0xef, 0xbf, 0xbd], bytes.length - 3); // "one" becomes U+FFFD, also 3 bytes
  const message = decodePgOutput(bytes);
  assert.deepEqual(message.tag === "insert" && message.newTuple, ["1", "\uFFFD"]);
});

Deno.test("decodePgOutput() rejects a bad Update marker and a bad replica identity", () => {
  const [update] = captureOf("replica_identity_default", "update");
  const bytes = update.bytes.slice();
  bytes[INSERT_HEADER_BYTES - 1] = 0x5a; // where "N" (or "K"/"O") belongs
  assertProtocolError(bytes, /^Invalid Update message: expected "K", "O" or "N" but found "Z"/);
  const [relation] = captureOf("replica_identity_default", "relation");
  const relationBytes = relation.bytes.slice();
  const identityOffset = 1 + 4 + "public\0".length + "rid_default\0".length;
  assert.equal(relationBytes[identityOffset], 0x64); // 'd'
  relationBytes[identityOffset] = 0x71;
  assertProtocolError(relationBytes, /^Invalid Relation message: unknown replica identity "q"/);
});

/** Deterministic pseudo-random numbers (mulberry32), so failures can be replayed. */
function seededRandom(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let mixed = Math.imul(state ^ (state >>> 15), 1 | state);
    mixed = (mixed + Math.imul(mixed ^ (mixed >>> 7), 61 | mixed)) ^ mixed;
    return ((mixed ^ (mixed >>> 14)) >>> 0) / 2 ** 32;
  };
}

function decodesOrThrowsProtocolError(bytes: Uint8Array): void {
  try {
    decodePgOutput(bytes);
  } catch (error) {
    if (!(error instanceof ProtocolError)) {
      throw new Error(`not a ProtocolError for ${bytes.toHex()}: ${error}`);
    }
  }
}

const TYPE_BYTES = [..."BCORYIUDTMXS"].map((char) => char.charCodeAt(0));
const GARBAGE_ROUNDS = 20_000;
const MAX_GARBAGE_LENGTH = 64;
const MUTATION_ROUNDS = 20;

Deno.test("decodePgOutput() answers random garbage with a message or a ProtocolError", () => {
  const random = seededRandom(20240229);
  for (let round = 0; round < GARBAGE_ROUNDS; round++) {
    const bytes = new Uint8Array(Math.floor(random() * MAX_GARBAGE_LENGTH));
    for (let index = 0; index < bytes.length; index++) bytes[index] = random() * 256;
    if (bytes.length > 0) bytes[0] = TYPE_BYTES[Math.floor(random() * TYPE_BYTES.length)];
    decodesOrThrowsProtocolError(bytes);
  }
});

Deno.test("decodePgOutput() answers corrupted captured messages with a message or a ProtocolError", () => {
  const random = seededRandom(1559);
  for (const captured of allMessages()) {
    for (let round = 0; round < MUTATION_ROUNDS; round++) {
      const bytes = captured.bytes.slice();
      const position = Math.floor(random() * bytes.length);
      bytes[position] = random() * 256;
      decodesOrThrowsProtocolError(bytes);
    }
  }
});

Deno.test("pgTimestampToUnixMicros() shifts from the 2000-01-01 epoch to the Unix epoch", () => {
  assert.equal(pgTimestampToUnixMicros(0n), 946_684_800_000_000n);
  assert.equal(pgTimestampToUnixMicros(-946_684_800_000_000n), 0n);
});
