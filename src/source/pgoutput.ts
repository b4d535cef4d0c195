/**
 * Decoder for the messages of PostgreSQL's `pgoutput` logical decoding plugin,
 * protocol version 1 (PostgreSQL manual, "Logical Replication Message Formats").
 *
 * The input is the payload of one XLogData message: the pgoutput message,
 * starting at its type byte. It may be a subarray of a larger buffer. Decoding
 * is strict: a message that is truncated, carries trailing bytes, an unknown
 * type byte, an unterminated string or an unknown tuple value kind throws a
 * {@linkcode ProtocolError} naming the message kind and byte offset. Nothing
 * is skipped.
 *
 * Column values are returned as PostgreSQL sent them (text, or bytes for the
 * binary format); `values.ts` converts them to JS values.
 *
 * @module
 */
import type { Lsn } from "../lsn.ts";
import { ProtocolError } from "./errors.ts";

/** Microseconds between the Unix epoch and PostgreSQL's epoch, 2000-01-01T00:00:00Z. */
export const PG_EPOCH_OFFSET_MICROS = 946_684_800_000_000n;

/**
 * Converts a PostgreSQL timestamp (microseconds since 2000-01-01 UTC) to
 * microseconds since the Unix epoch.
 *
 * @example
 * ```ts
 * pgTimestampToUnixMicros(0n); // 946684800000000n
 * ```
 */
export function pgTimestampToUnixMicros(pgMicros: bigint): bigint {
  return pgMicros + PG_EPOCH_OFFSET_MICROS;
}

/**
 * One column value of a tuple: text (`string`), binary (`Uint8Array`, only with
 * the `binary` plugin option), SQL NULL (`null`), or `undefined` for an
 * unchanged TOASTed value that PostgreSQL did not send.
 */
export type TupleValue = string | Uint8Array | null | undefined;

/** The column values of one row image, in the relation's column order. */
export type TupleData = readonly TupleValue[];

/** Start of a transaction. */
export interface BeginMessage {
  readonly tag: "begin";
  /** LSN of the transaction's commit record (equals {@linkcode CommitMessage.commitLsn}). */
  readonly finalLsn: Lsn;
  /** Commit time, microseconds since 2000-01-01 UTC (see {@linkcode pgTimestampToUnixMicros}). */
  readonly commitTime: bigint;
  /** Transaction id. */
  readonly xid: number;
}

/** End of a transaction. */
export interface CommitMessage {
  readonly tag: "commit";
  /** Flags; currently always 0. */
  readonly flags: number;
  /** LSN of the commit record. */
  readonly commitLsn: Lsn;
  /** End LSN of the transaction: the position to confirm once it is delivered. */
  readonly endLsn: Lsn;
  /** Commit time, microseconds since 2000-01-01 UTC. */
  readonly commitTime: bigint;
}

/** The replication origin a transaction came from (sent after Begin). */
export interface OriginMessage {
  readonly tag: "origin";
  /** LSN of the commit on the origin server. */
  readonly originLsn: Lsn;
  /** Name of the origin. */
  readonly name: string;
}

/** How a table identifies old rows in updates and deletes. */
export type ReplicaIdentity = "default" | "nothing" | "full" | "index";

/** One column of a {@linkcode RelationMessage}. */
export interface RelationColumn {
  /** Whether the column belongs to the replica identity (the key). */
  readonly isKey: boolean;
  /** Column name. */
  readonly name: string;
  /** OID of the column's data type. */
  readonly typeOid: number;
  /** Type modifier (`atttypmod`), -1 when none. */
  readonly typeModifier: number;
}

/** Describes a table; sent before its first change and again after DDL. */
export interface RelationMessage {
  readonly tag: "relation";
  /** Relation OID: the id changes refer to. */
  readonly relationId: number;
  /** Schema name (PostgreSQL sends an empty string for `pg_catalog`). */
  readonly namespace: string;
  /** Table name. */
  readonly name: string;
  /** The table's replica identity setting. */
  readonly replicaIdentity: ReplicaIdentity;
  /** Published columns, in tuple order. */
  readonly columns: readonly RelationColumn[];
}

/** Names a non-built-in data type used by a following Relation. */
export interface TypeMessage {
  readonly tag: "type";
  /** Type OID. */
  readonly typeOid: number;
  /** Schema of the type (empty string for `pg_catalog`). */
  readonly namespace: string;
  /** Type name. */
  readonly name: string;
}

/** A row inserted. */
export interface InsertMessage {
  readonly tag: "insert";
  /** Relation OID, announced by an earlier Relation message. */
  readonly relationId: number;
  /** The new row. */
  readonly newTuple: TupleData;
}

/** Which old row image an Update or Delete carries. */
export type OldTupleKind = "key" | "full";

/** A row updated. */
export interface UpdateMessage {
  readonly tag: "update";
  /** Relation OID. */
  readonly relationId: number;
  /**
   * `"key"`: old replica identity columns (other columns are null);
   * `"full"`: the whole old row (REPLICA IDENTITY FULL); `null`: not sent.
   */
  readonly oldKind: OldTupleKind | null;
  /** The old row image, or `null` when `oldKind` is `null`. */
  readonly oldTuple: TupleData | null;
  /** The new row. */
  readonly newTuple: TupleData;
}

/** A row deleted. */
export interface DeleteMessage {
  readonly tag: "delete";
  /** Relation OID. */
  readonly relationId: number;
  /** `"key"` for the old key columns only, `"full"` for the whole old row. */
  readonly oldKind: OldTupleKind;
  /** The old row image. */
  readonly oldTuple: TupleData;
}

/** One or more tables truncated together. */
export interface TruncateMessage {
  readonly tag: "truncate";
  /** `TRUNCATE … CASCADE`. */
  readonly cascade: boolean;
  /** `TRUNCATE … RESTART IDENTITY`. */
  readonly restartIdentity: boolean;
  /** Relation OIDs of the truncated tables. */
  readonly relationIds: readonly number[];
}

/** A message written by `pg_logical_emit_message`. */
export interface LogicalMessage {
  readonly tag: "message";
  /** Whether the message belongs to a transaction (else it arrives outside Begin/Commit). */
  readonly transactional: boolean;
  /** LSN of the message. */
  readonly lsn: Lsn;
  /** The prefix given to `pg_logical_emit_message`. */
  readonly prefix: string;
  /** The content (a copy, safe to keep). */
  readonly content: Uint8Array;
}

/** Any pgoutput protocol version 1 message. */
export type PgOutputMessage =
  | BeginMessage
  | CommitMessage
  | OriginMessage
  | RelationMessage
  | TypeMessage
  | InsertMessage
  | UpdateMessage
  | DeleteMessage
  | TruncateMessage
  | LogicalMessage;

const BYTE_BEGIN = 0x42; // 'B'
const BYTE_COMMIT = 0x43; // 'C'
const BYTE_ORIGIN = 0x4f; // 'O'
const BYTE_RELATION = 0x52; // 'R'
const BYTE_TYPE = 0x59; // 'Y'
const BYTE_INSERT = 0x49; // 'I'
const BYTE_UPDATE = 0x55; // 'U'
const BYTE_DELETE = 0x44; // 'D'
const BYTE_TRUNCATE = 0x54; // 'T'
const BYTE_MESSAGE = 0x4d; // 'M'

const TUPLE_NEW = 0x4e; // 'N'
const TUPLE_OLD_KEY = 0x4b; // 'K'
const TUPLE_OLD_FULL = 0x4f; // 'O'

const VALUE_NULL = 0x6e; // 'n'
const VALUE_UNCHANGED_TOAST = 0x75; // 'u'
const VALUE_TEXT = 0x74; // 't'
const VALUE_BINARY = 0x62; // 'b'

const COLUMN_FLAG_KEY = 1;
const TRUNCATE_CASCADE = 1;
const TRUNCATE_RESTART_IDENTITY = 2;
const MESSAGE_TRANSACTIONAL = 1;

const REPLICA_IDENTITIES: Readonly<Record<number, ReplicaIdentity>> = {
  0x64: "default", // 'd'
  0x6e: "nothing", // 'n'
  0x66: "full", // 'f'
  0x69: "index", // 'i'
};

/** Message types of later protocol versions: named in errors, not decoded. */
const LATER_PROTOCOL_TYPES: Readonly<Record<number, string>> = {
  0x53: "Stream Start", // 'S'
  0x45: "Stream Stop", // 'E'
  0x63: "Stream Commit", // 'c'
  0x41: "Stream Abort", // 'A'
  0x62: "Begin Prepare", // 'b'
  0x50: "Prepare", // 'P'
  0x4b: "Commit Prepared", // 'K'
  0x72: "Rollback Prepared", // 'r'
  0x70: "Stream Prepare", // 'p'
};

const INT16_BYTES = 2;
const INT32_BYTES = 4;
/** Smallest encoding of one tuple value: its kind byte. */
const MIN_VALUE_BYTES = 1;
/** Smallest encoding of one Relation column: flags, empty name, type OID, modifier. */
const MIN_COLUMN_BYTES = 1 + 1 + INT32_BYTES + INT32_BYTES;
/** Short ASCII strings are built by hand: cheaper than a TextDecoder call. */
const ASCII_FAST_PATH_MAX = 24;
const ASCII_LIMIT = 0x80;
const FIRST_PRINTABLE = 0x20;
const ASCII_DELETE = 0x7f;

/** Decodes values; a replacement character in the result sends the bytes to {@linkcode strictUtf8}. */
const utf8 = new TextDecoder("utf-8", { ignoreBOM: true });
/** Tells invalid UTF-8 from a genuine U+FFFD; twice as slow, so used only to confirm. */
const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const REPLACEMENT_CHARACTER = "\uFFFD";

/**
 * Decodes one pgoutput message.
 *
 * @param bytes The XLogData payload, starting at the message type byte.
 * @throws {ProtocolError} when the bytes are not a complete, valid message.
 * @example
 * ```ts
 * const message = decodePgOutput(payload);
 * if (message.tag === "insert") console.log(message.relationId, message.newTuple);
 * ```
 */
export function decodePgOutput(bytes: Uint8Array): PgOutputMessage {
  if (bytes.length === 0) {
    throw new ProtocolError("pgoutput", 0, "needed 1 byte at offset 0, 0 remain", "Truncated");
  }
  const body = BODY_DECODERS.get(bytes[0]);
  if (body === undefined) throw unknownType(bytes[0]);
  const reader = new MessageReader(bytes, body.kind);
  const message = body.decode(reader);
  reader.expectEnd();
  return message;
}

interface BodyDecoder {
  /** Message kind named in errors. */
  readonly kind: string;
  /** Decodes the fields after the type byte. */
  readonly decode: (reader: MessageReader) => PgOutputMessage;
}

const BODY_DECODERS: ReadonlyMap<number, BodyDecoder> = new Map([
  [BYTE_BEGIN, { kind: "Begin", decode: decodeBegin }],
  [BYTE_COMMIT, { kind: "Commit", decode: decodeCommit }],
  [BYTE_ORIGIN, { kind: "Origin", decode: decodeOrigin }],
  [BYTE_RELATION, { kind: "Relation", decode: decodeRelation }],
  [BYTE_TYPE, { kind: "Type", decode: decodeType }],
  [BYTE_INSERT, { kind: "Insert", decode: decodeInsert }],
  [BYTE_UPDATE, { kind: "Update", decode: decodeUpdate }],
  [BYTE_DELETE, { kind: "Delete", decode: decodeDelete }],
  [BYTE_TRUNCATE, { kind: "Truncate", decode: decodeTruncate }],
  [BYTE_MESSAGE, { kind: "Logical decoding", decode: decodeLogicalMessage }],
]);

function unknownType(type: number): ProtocolError {
  const later = LATER_PROTOCOL_TYPES[type];
  const detail = later === undefined
    ? `unknown message type ${describeByte(type)} at offset 0`
    : `message type ${describeByte(type)} (${later}) belongs to a later protocol version ` +
      `than 1 and is not supported, at offset 0`;
  return new ProtocolError("pgoutput", 0, detail);
}

function describeByte(byte: number): string {
  const hex = `0x${byte.toString(16).padStart(2, "0")}`;
  const printable = byte >= FIRST_PRINTABLE && byte < ASCII_DELETE;
  return printable ? `"${String.fromCharCode(byte)}" (${hex})` : hex;
}

function decodeBegin(reader: MessageReader): BeginMessage {
  const finalLsn = reader.uint64();
  const commitTime = reader.int64();
  const xid = reader.uint32();
  return { tag: "begin", finalLsn, commitTime, xid };
}

function decodeCommit(reader: MessageReader): CommitMessage {
  const flags = reader.uint8();
  const commitLsn = reader.uint64();
  const endLsn = reader.uint64();
  const commitTime = reader.int64();
  return { tag: "commit", flags, commitLsn, endLsn, commitTime };
}

function decodeOrigin(reader: MessageReader): OriginMessage {
  const originLsn = reader.uint64();
  const name = reader.cString();
  return { tag: "origin", originLsn, name };
}

function decodeRelation(reader: MessageReader): RelationMessage {
  const relationId = reader.uint32();
  const namespace = reader.cString();
  const name = reader.cString();
  const replicaIdentity = decodeReplicaIdentity(reader);
  const count = reader.count(MIN_COLUMN_BYTES, "column count");
  const columns: RelationColumn[] = [];
  for (let index = 0; index < count; index++) {
    const isKey = (reader.uint8() & COLUMN_FLAG_KEY) !== 0;
    const columnName = reader.cString();
    const typeOid = reader.uint32();
    const typeModifier = reader.int32();
    columns.push({ isKey, name: columnName, typeOid, typeModifier });
  }
  return { tag: "relation", relationId, namespace, name, replicaIdentity, columns };
}

function decodeReplicaIdentity(reader: MessageReader): ReplicaIdentity {
  const offset = reader.offset;
  const setting = REPLICA_IDENTITIES[reader.uint8()];
  if (setting === undefined) {
    throw reader.invalid(`unknown replica identity ${describeByte(reader.bytes[offset])}`, offset);
  }
  return setting;
}

function decodeType(reader: MessageReader): TypeMessage {
  const typeOid = reader.uint32();
  const namespace = reader.cString();
  const name = reader.cString();
  return { tag: "type", typeOid, namespace, name };
}

function decodeInsert(reader: MessageReader): InsertMessage {
  const relationId = reader.uint32();
  reader.expectByte(TUPLE_NEW, `"N"`);
  const newTuple = reader.tuple();
  return { tag: "insert", relationId, newTuple };
}

function decodeUpdate(reader: MessageReader): UpdateMessage {
  const relationId = reader.uint32();
  const offset = reader.offset;
  const marker = reader.uint8();
  let oldKind: OldTupleKind | null = null;
  let oldTuple: TupleData | null = null;
  if (marker === TUPLE_OLD_KEY || marker === TUPLE_OLD_FULL) {
    oldKind = marker === TUPLE_OLD_KEY ? "key" : "full";
    oldTuple = reader.tuple();
    reader.expectByte(TUPLE_NEW, `"N"`);
  } else if (marker !== TUPLE_NEW) {
    throw reader.invalid(`expected "K", "O" or "N" but found ${describeByte(marker)}`, offset);
  }
  const newTuple = reader.tuple();
  return { tag: "update", relationId, oldKind, oldTuple, newTuple };
}

function decodeDelete(reader: MessageReader): DeleteMessage {
  const relationId = reader.uint32();
  const offset = reader.offset;
  const marker = reader.uint8();
  if (marker !== TUPLE_OLD_KEY && marker !== TUPLE_OLD_FULL) {
    throw reader.invalid(`expected "K" or "O" but found ${describeByte(marker)}`, offset);
  }
  const oldKind: OldTupleKind = marker === TUPLE_OLD_KEY ? "key" : "full";
  const oldTuple = reader.tuple();
  return { tag: "delete", relationId, oldKind, oldTuple };
}

function decodeTruncate(reader: MessageReader): TruncateMessage {
  const countOffset = reader.offset;
  const count = reader.uint32();
  const options = reader.uint8();
  reader.need(count * INT32_BYTES, `${count} relation ids (count at offset ${countOffset})`);
  const relationIds: number[] = [];
  for (let index = 0; index < count; index++) relationIds.push(reader.uint32());
  return {
    tag: "truncate",
    cascade: (options & TRUNCATE_CASCADE) !== 0,
    restartIdentity: (options & TRUNCATE_RESTART_IDENTITY) !== 0,
    relationIds,
  };
}

function decodeLogicalMessage(reader: MessageReader): LogicalMessage {
  const transactional = (reader.uint8() & MESSAGE_TRANSACTIONAL) !== 0;
  const lsn = reader.uint64();
  const prefix = reader.cString();
  const length = reader.length();
  const content = reader.copyBytes(length);
  return { tag: "message", transactional, lsn, prefix, content };
}

/** A cursor over one message that throws {@linkcode ProtocolError} instead of reading past the end. */
class MessageReader {
  readonly bytes: Uint8Array;
  /** Message kind for error messages. */
  readonly kind: string;
  /** Position of the next unread byte (the type byte is already known). */
  offset = 1;

  constructor(bytes: Uint8Array, kind: string) {
    this.bytes = bytes;
    this.kind = kind;
  }

  need(count: number, what?: string): void {
    const remaining = this.bytes.length - this.offset;
    if (remaining >= count) return;
    const needed = what ?? `${count} ${count === 1 ? "byte" : "bytes"}`;
    throw new ProtocolError(
      this.kind,
      this.offset,
      `needed ${needed} at offset ${this.offset}, ${remaining} remain`,
      "Truncated",
    );
  }

  invalid(detail: string, offset: number): ProtocolError {
    return new ProtocolError(this.kind, offset, `${detail} at offset ${offset}`);
  }

  expectEnd(): void {
    const extra = this.bytes.length - this.offset;
    if (extra === 0) return;
    throw this.invalid(`${extra} unexpected trailing bytes`, this.offset);
  }

  expectByte(expected: number, name: string): void {
    const offset = this.offset;
    const found = this.uint8();
    if (found !== expected) {
      throw this.invalid(`expected ${name} but found ${describeByte(found)}`, offset);
    }
  }

  uint8(): number {
    this.need(1);
    return this.bytes[this.offset++];
  }

  int16(): number {
    this.need(INT16_BYTES);
    const b = this.bytes, o = this.offset;
    this.offset = o + INT16_BYTES;
    return (((b[o] << 8) | b[o + 1]) << 16) >> 16;
  }

  int32(): number {
    this.need(INT32_BYTES);
    const b = this.bytes, o = this.offset;
    this.offset = o + INT32_BYTES;
    return (b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3];
  }

  uint32(): number {
    return this.int32() >>> 0;
  }

  uint64(): bigint {
    const high = BigInt(this.uint32());
    return (high << 32n) | BigInt(this.uint32());
  }

  int64(): bigint {
    return BigInt.asIntN(64, this.uint64());
  }

  /** Reads a non-negative Int16 count of items that each take at least `minItemBytes`. */
  count(minItemBytes: number, what: string): number {
    const offset = this.offset;
    const count = this.int16();
    if (count < 0) throw this.invalid(`negative ${what} ${count}`, offset);
    this.need(count * minItemBytes, `at least ${count * minItemBytes} bytes for ${count} items`);
    return count;
  }

  /** Reads a non-negative Int32 byte length. */
  length(): number {
    const offset = this.offset;
    const length = this.int32();
    if (length < 0) throw this.invalid(`negative length ${length}`, offset);
    return length;
  }

  cString(): string {
    const start = this.offset;
    const end = this.bytes.indexOf(0, start);
    if (end < 0) {
      const remaining = this.bytes.length - start;
      throw new ProtocolError(
        this.kind,
        start,
        `unterminated string at offset ${start}, ${remaining} bytes remain`,
        "Truncated",
      );
    }
    this.offset = end + 1;
    return this.text(start, end);
  }

  text(start: number, end: number): string {
    const bytes = this.bytes;
    if (end - start <= ASCII_FAST_PATH_MAX) {
      let text = "";
      for (let index = start; index < end; index++) {
        const byte = bytes[index];
        if (byte >= ASCII_LIMIT) return this.utf8(start, end);
        text += String.fromCharCode(byte);
      }
      return text;
    }
    return this.utf8(start, end);
  }

  utf8(start: number, end: number): string {
    const bytes = this.bytes.subarray(start, end);
    const text = utf8.decode(bytes);
    if (!text.includes(REPLACEMENT_CHARACTER)) return text;
    try {
      return strictUtf8.decode(bytes);
    } catch {
      throw this.invalid(`invalid UTF-8 in the ${end - start} bytes`, start);
    }
  }

  copyBytes(length: number): Uint8Array {
    this.need(length);
    const start = this.offset;
    this.offset = start + length;
    const copy = new Uint8Array(length);
    copy.set(this.bytes.subarray(start, start + length));
    return copy;
  }

  tuple(): TupleData {
    const count = this.count(MIN_VALUE_BYTES, "column count");
    const values: TupleValue[] = [];
    for (let index = 0; index < count; index++) values.push(this.value());
    return values;
  }

  value(): TupleValue {
    const offset = this.offset;
    const kind = this.uint8();
    switch (kind) {
      case VALUE_TEXT: {
        const length = this.length();
        this.need(length);
        const start = this.offset;
        this.offset = start + length;
        return this.text(start, start + length);
      }
      case VALUE_NULL:
        return null;
      case VALUE_UNCHANGED_TOAST:
        return undefined;
      case VALUE_BINARY:
        return this.copyBytes(this.length());
      default:
        throw this.invalid(`unknown tuple value kind ${describeByte(kind)}`, offset);
    }
  }
}
