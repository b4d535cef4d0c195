import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { freshKafkajsModule } from "../fixtures/kafkajs_module.ts";
import { encodeRecord, type RecordFields } from "../../src/kafka/kafkajs_record.ts";

const RECORD_MODULE = "kafkajs/src/protocol/recordBatch/record/v0/index.js";
const FIXTURE = new URL("../fixtures/produce_request.ts", import.meta.url);

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");

Deno.test("encodeRecord() writes the bytes of kafkajs's record encoder for every kind of field", () => {
  const stock = freshKafkajsModule<(fields: RecordFields) => { buffer: Uint8Array }>(RECORD_MODULE);
  assert.notEqual(stock, encodeRecord);
  const cases: RecordFields[] = [
    {},
    { key: null, value: null, headers: {} },
    { key: '{"id":1}', value: "{}", offsetDelta: 0, timestampDelta: 0 },
    { key: "é", value: "日本語 🎉", offsetDelta: 999, timestampDelta: 1_795_932_547 },
    { key: Buffer.from([0, 255]), value: Buffer.from("raw bytes"), offsetDelta: 64 },
    { key: "k", offsetDelta: -1, timestampDelta: -5 },
    // Around the largest deltas plain arithmetic writes exactly, and beyond.
    ...[2 ** 52 - 1, -(2 ** 52) + 1, 2 ** 52, -(2 ** 52), 2 ** 53 - 1, -(2 ** 53) + 1, 2 ** 60]
      .map((timestampDelta) => ({ key: "k", timestampDelta })),
    { value: "a".repeat(64), headers: { short: "b".repeat(63), long: "c".repeat(65), é: "é" } },
    { value: "v", headers: { a: "1", "ключ": "значение", bytes: Buffer.from([7]) } },
    { value: "v", headers: { multi: ["x", "yy", ""] } },
    { value: "x".repeat(100_000), headers: { big: "y".repeat(70_000) }, offsetDelta: 2 ** 20 },
  ];
  for (const fields of cases) {
    assert.equal(
      hex(encodeRecord(fields).buffer),
      hex(stock(fields).buffer),
      JSON.stringify(fields),
    );
  }
});

/** Runs the fixture in a process of its own and returns what it printed. */
async function produceRequest(
  patched: boolean,
  transactional = false,
): Promise<{ hex: string; used: boolean }> {
  const args = ["run", "--quiet", "--allow-read", "--allow-env", FIXTURE.pathname];
  if (patched) args.push("--patched");
  if (transactional) args.push("--transactional");
  const output = await new Deno.Command(Deno.execPath(), { args, stderr: "inherit" }).output();
  assert.equal(output.code, 0, "the produce request fixture failed");
  return JSON.parse(new TextDecoder().decode(output.stdout));
}

Deno.test("installRecordPatch() and installCrc32cPatch() change no byte of kafkajs's produce requests", async () => {
  const [stock, patched] = await Promise.all([produceRequest(false), produceRequest(true)]);
  assert.equal(stock.used, false);
  assert.equal(patched.used, true);
  assert.equal(patched.hex, stock.hex);
});

Deno.test("installRecordPatch() keeps a transactional producer's batches byte for byte", async () => {
  const [stock, patched, plain] = await Promise.all([
    produceRequest(false, true),
    produceRequest(true, true),
    produceRequest(false, false),
  ]);
  assert.equal(patched.used, true);
  assert.equal(patched.hex, stock.hex);
  // The transactional id travels in the request: this is not the plain batch.
  assert.notEqual(stock.hex, plain.hex);
  assert.ok(stock.hex.includes(Buffer.from("pg2kafka.main").toString("hex")));
});

Deno.test("encodeRecord() writes a null header value as length -1, where kafkajs throws", () => {
  const withNull = hex(encodeRecord({ value: "v", headers: { a: null } }).buffer);
  const withEmpty = hex(encodeRecord({ value: "v", headers: { a: "" } }).buffer);
  // The same size (a one-byte varint either way); only the length differs: 0 is 00, -1 is 01.
  assert.equal(withEmpty.slice(-2), "00");
  assert.equal(withNull, `${withEmpty.slice(0, -2)}01`);
});
