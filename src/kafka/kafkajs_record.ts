/**
 * A faster kafkajs record encoder. kafkajs 2.2.4 encodes each record of a
 * produce request through one `Encoder` for the record and one per header,
 * each a fresh zero-filled 512-byte `Buffer`, plus a `Buffer` per string;
 * under Deno's node:buffer that cost 28 µs per message with six headers
 * (docs/benchmarks.md). {@linkcode encodeRecord} writes the same bytes
 * (tests/unit/kafkajs_record_test.ts compares them) into one exactly sized
 * encoder in about 5 µs.
 *
 * {@linkcode installRecordPatch} puts it in place of kafkajs's record module
 * before kafkajs loads its produce request (see kafkajs_modules.ts).
 *
 * @module
 */
// kafkajs ships no types for its internals; these are its CommonJS modules.
// @ts-types="./kafkajs_internals.d.ts"
import Encoder from "kafkajs/src/protocol/encoder.js";
import { Buffer } from "node:buffer";
import { PATCH_USE, replaceProduceModule } from "./kafkajs_modules.ts";

/** A key, value or header value as kafkajs takes it: a Buffer, text, or none. */
type RecordBytes = Buffer | string | null | undefined;

/** The fields kafkajs's produce requests pass to its record encoder. */
export interface RecordFields {
  offsetDelta?: number;
  /** Milliseconds after the batch's first timestamp. */
  timestampDelta?: number;
  key?: RecordBytes;
  value?: RecordBytes;
  /** Header values by name; an array sends the name once per value. */
  headers?: Record<string, RecordBytes | RecordBytes[]>;
}

/** The length kafkajs writes for a null key, value or header value. */
const NULL_LENGTH = -1;
/** A record's attributes byte: kafkajs uses none. */
const NO_ATTRIBUTES = 0;

const utf8 = new TextEncoder();

/**
 * What one of a record's byte fields is written as: the bytes of a Buffer,
 * else text (kafkajs's `String(value)`).
 */
function asWritten(value: RecordBytes): Uint8Array | string | null {
  if (value === null || value === undefined) return null;
  return Buffer.isBuffer(value) ? value : String(value);
}

function byteLength(value: Uint8Array | string | null): number {
  if (value === null) return NULL_LENGTH;
  return typeof value === "string" ? Buffer.byteLength(value, "utf8") : value.length;
}

/** Bytes of a varint length prefix plus the bytes it announces. */
function sizeOfField(length: number): number {
  return Encoder.sizeOfVarInt(length) + Math.max(length, 0);
}

/** Text up to this many characters is copied by a loop, cheaper than a call into the runtime. */
const SHORT_TEXT = 64;
const MOST_SIGNIFICANT_BIT = 0x80;
const LOW_SEVEN_BITS = 0x7f;
const SEVEN_BITS = 128;

/**
 * Writes a field's varint length and its bytes. `bytes` is a plain view of
 * the encoder's buffer: views of a node Buffer cost far more to make.
 */
function writeField(
  encoder: Encoder,
  bytes: Uint8Array,
  value: Uint8Array | string | null,
  length: number,
): void {
  encoder.writeVarInt(length);
  if (value === null) return;
  const start = encoder.offset;
  if (typeof value !== "string") {
    bytes.set(value, start);
  } else if (length === value.length && length <= SHORT_TEXT) {
    // As many bytes as characters: ASCII, one byte per character.
    for (let i = 0; i < length; i++) bytes[start + i] = value.charCodeAt(i);
  } else {
    utf8.encodeInto(value, bytes.subarray(start, start + length));
  }
  encoder.offset = start + length;
}

/** Integers below this in magnitude have a zigzag form (twice as large) that a double holds exactly. */
const EXACT_ZIGZAG_LIMIT = 2 ** 52;

/**
 * Writes a zigzag varint of up to 64 bits, as kafkajs's `writeVarLong`:
 * plain arithmetic instead of kafkajs's Long objects when the value allows.
 */
function writeVarLong(encoder: Encoder, value: number): void {
  if (!(Number.isInteger(value) && Math.abs(value) < EXACT_ZIGZAG_LIMIT)) {
    encoder.writeVarLong(value);
    return;
  }
  let zigzag = value >= 0 ? value * 2 : -value * 2 - 1;
  const bytes = encoder.buf;
  let offset = encoder.offset;
  while (zigzag >= SEVEN_BITS) {
    bytes[offset++] = (zigzag % SEVEN_BITS) | MOST_SIGNIFICANT_BIT;
    zigzag = Math.floor(zigzag / SEVEN_BITS);
  }
  bytes[offset++] = zigzag & LOW_SEVEN_BITS;
  encoder.offset = offset;
}

/**
 * Encodes one record of a record batch exactly as kafkajs's
 * `protocol/recordBatch/record/v0` does: length, attributes, timestamp and
 * offset deltas, key, value and headers.
 *
 * @example
 * ```ts ignore
 * encodeRecord({ key: '{"id":1}', value: "{}", headers: { "pg2kafka.op": "insert" } }).buffer;
 * ```
 */
export function encodeRecord(fields: RecordFields): Encoder {
  PATCH_USE.records++;
  const { offsetDelta = 0, timestampDelta = 0, headers = {} } = fields;
  const key = asWritten(fields.key);
  const value = asWritten(fields.value);
  const keyLength = byteLength(key);
  const valueLength = byteLength(value);
  // Header names and values in order, with their byte lengths at the same index.
  const parts: (Uint8Array | string | null)[] = [];
  const lengths: number[] = [];
  for (const name in headers) {
    const values = headers[name];
    for (const one of Array.isArray(values) ? values : [values]) {
      const written = asWritten(one);
      parts.push(name, written);
      lengths.push(byteLength(name), byteLength(written));
    }
  }
  let bodySize = 1 + Encoder.sizeOfVarLong(timestampDelta) + Encoder.sizeOfVarInt(offsetDelta) +
    sizeOfField(keyLength) + sizeOfField(valueLength) + Encoder.sizeOfVarInt(parts.length / 2);
  for (const length of lengths) bodySize += sizeOfField(length);

  const encoder = new Encoder(Encoder.sizeOfVarInt(bodySize) + bodySize);
  encoder.writeVarInt(bodySize).writeInt8(NO_ATTRIBUTES);
  writeVarLong(encoder, timestampDelta);
  encoder.writeVarInt(offsetDelta);
  const buf = encoder.buf;
  const bytes = new Uint8Array(buf.buffer, buf.byteOffset, buf.length);
  writeField(encoder, bytes, key, keyLength);
  writeField(encoder, bytes, value, valueLength);
  encoder.writeVarInt(parts.length / 2);
  for (let i = 0; i < parts.length; i++) writeField(encoder, bytes, parts[i], lengths[i]);
  return encoder;
}

const RECORD_MODULE = "kafkajs/src/protocol/recordBatch/record/v0/index.js";

/**
 * Makes kafkajs's produce requests encode records with
 * {@linkcode encodeRecord}; returns a function that restores kafkajs's own
 * encoder for requests loaded after it.
 *
 * @throws {Error} when kafkajs already loaded a produce request, which keeps
 * the encoder it loaded with.
 */
export function installRecordPatch(): () => void {
  return replaceProduceModule(RECORD_MODULE, encodeRecord);
}
