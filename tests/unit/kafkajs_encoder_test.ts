import assert from "node:assert/strict";
// @ts-types="../../src/kafka/kafkajs_internals.d.ts"
import Encoder from "kafkajs/src/protocol/encoder.js";
import { installEncoderPatch } from "../../src/kafka/kafkajs_encoder.ts";

const VARINTS = [
  0,
  1,
  -1,
  63,
  64,
  -64,
  -65,
  127,
  128,
  300,
  -300,
  2 ** 31 - 1,
  -(2 ** 31),
  123_456_789,
];
const VARLONGS = [
  0,
  1,
  -1,
  1_795_932_547_028,
  -1_795_932_547_028,
  2 ** 40,
  "9223372036854775807",
  "-9223372036854775808",
];

/** Encodes every edge case the way a produce request does, as hex per case. */
function encodeAll(): string[] {
  const hex = (encoder: Encoder) =>
    Array.from(encoder.buffer, (b) => b.toString(16).padStart(2, "0")).join("");
  const out = VARINTS.map((v) => hex(new Encoder().writeVarInt(v)));
  out.push(...VARLONGS.map((v) => hex(new Encoder().writeVarLong(v))));
  // A tiny initial size forces the buffer to grow many times.
  const growing = new Encoder(4);
  for (let i = 0; i < 200; i++) {
    growing.writeVarIntString(`héllo ${i}`).writeVarIntBytes(`välue ${i}`);
  }
  out.push(hex(growing.writeVarIntString(null)));
  return out;
}

Deno.test("installEncoderPatch() writes the same bytes as kafkajs for varints, varlongs and growth", () => {
  const stock = encodeAll();
  const uninstall = installEncoderPatch();
  try {
    assert.deepEqual(encodeAll(), stock);
  } finally {
    uninstall();
  }
});

Deno.test("installEncoderPatch() returns a function that restores kafkajs's own methods", () => {
  const before = Encoder.prototype.writeVarInt;
  const original = (Encoder.prototype as unknown as Record<string, unknown>).writeUVarInt;
  const uninstall = installEncoderPatch();
  assert.notEqual((Encoder.prototype as unknown as Record<string, unknown>).writeUVarInt, original);
  uninstall();
  assert.equal((Encoder.prototype as unknown as Record<string, unknown>).writeUVarInt, original);
  assert.equal(Encoder.prototype.writeVarInt, before);
});
