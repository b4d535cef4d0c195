/**
 * A faster kafkajs protocol encoder: kafkajs 2.2.4's `Encoder` writes every
 * varint through `Buffer.from([...bytes])` and copies with `Buffer#copy`,
 * both slow under Deno's node:buffer (a third of the connector's CPU time in
 * the profile of docs/benchmarks.md). This patch writes the same bytes in
 * place (tests/unit/kafkajs_encoder_test.ts compares them byte for byte);
 * the bench measured 27% less CPU per change and a lower p99 latency.
 * kafkajs is pinned in deno.lock, so the internals patched here cannot move.
 *
 * @module
 */
// kafkajs ships no types for its internals; these are its CommonJS modules.
// @ts-types="./kafkajs_internals.d.ts"
import Encoder from "kafkajs/src/protocol/encoder.js";
import { Buffer } from "node:buffer";

const MOST_SIGNIFICANT_BIT = 0x80;
const LOW_SEVEN_BITS = 0x7f;
/** kafkajs's mask: bits above the lowest seven of an unsigned 32-bit value. */
const ABOVE_SEVEN_BITS_32 = 0xffffff80;
const ABOVE_SEVEN_BITS_64 = 0xffffffffffffff80n;
const VARINT_MAX_BYTES = 5;
const VARLONG_MAX_BYTES = 10;
const SHIFT = 7;

/** The methods the patch replaces, to restore them. */
const PATCHED = ["ensureAvailable", "writeBufferInternal", "writeUVarInt", "writeVarLong"] as const;

interface EncoderInstance {
  buf: Buffer;
  offset: number;
  ensureAvailable(length: number): void;
}

function ensureAvailable(this: EncoderInstance, length: number): void {
  if (this.offset + length <= this.buf.length) return;
  const grown = Buffer.allocUnsafe(Encoder.nextPowerOfTwo(this.offset + length));
  grown.set(this.buf.subarray(0, this.offset), 0);
  this.buf = grown;
}

function writeBufferInternal(this: EncoderInstance, buffer: Uint8Array): void {
  this.ensureAvailable(buffer.length);
  this.buf.set(buffer, this.offset);
  this.offset += buffer.length;
}

function writeUVarInt(this: EncoderInstance, value: number): EncoderInstance {
  this.ensureAvailable(VARINT_MAX_BYTES);
  const buf = this.buf;
  let offset = this.offset;
  while ((value & ABOVE_SEVEN_BITS_32) !== 0) {
    buf[offset++] = (value & LOW_SEVEN_BITS) | MOST_SIGNIFICANT_BIT;
    value >>>= SHIFT;
  }
  buf[offset++] = value & LOW_SEVEN_BITS;
  this.offset = offset;
  return this;
}

function writeVarLong(this: EncoderInstance, value: unknown): EncoderInstance {
  this.ensureAvailable(VARLONG_MAX_BYTES);
  let long = Encoder.encodeZigZag64(value);
  const buf = this.buf;
  let offset = this.offset;
  while (long.and(ABOVE_SEVEN_BITS_64).notEquals(0)) {
    buf[offset++] = long.and(LOW_SEVEN_BITS).or(MOST_SIGNIFICANT_BIT).toInt();
    long = long.shiftRightUnsigned(SHIFT);
  }
  buf[offset++] = long.toInt();
  this.offset = offset;
  return this;
}

const REPLACEMENTS = { ensureAvailable, writeBufferInternal, writeUVarInt, writeVarLong };

/** Whether `prototype` (kafkajs's Encoder's) carries the in-place methods. */
export function isEncoderPatched(prototype: Record<string, unknown>): boolean {
  return PATCHED.every((name) => prototype[name] === REPLACEMENTS[name]);
}

/**
 * Replaces kafkajs's slow Encoder methods with in-place writes producing the
 * same bytes; returns a function that restores the originals.
 */
export function installEncoderPatch(): () => void {
  const prototype = Encoder.prototype as unknown as Record<string, unknown>;
  const originals = PATCHED.map((name) => [name, prototype[name]] as const);
  for (const name of PATCHED) prototype[name] = REPLACEMENTS[name];
  return () => {
    for (const [name, original] of originals) prototype[name] = original;
  };
}
