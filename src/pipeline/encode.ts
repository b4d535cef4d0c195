/**
 * The default message contract (docs/formats.md): a JSON key of the key columns
 * and a JSON value with op, schema, table, before, after, lsn, xid and
 * commit_ts; and, for transaction-mode targets, the transaction message that
 * carries many such events.
 *
 * @module
 */
import { formatLsn } from "../lsn.ts";
import type { ChangeEvent, Row } from "../model.ts";

const MICROS_PER_MS = 1000n;
const MICRO_DIGITS = 6;

/**
 * Formats microseconds since the Unix epoch as ISO-8601 UTC with microseconds.
 *
 * @example
 * ```ts
 * formatCommitTime(1_700_000_000_123_456n); // "2023-11-14T22:13:20.123456Z"
 * ```
 */
export function formatCommitTime(micros: bigint): string {
  const millis = micros / MICROS_PER_MS;
  const iso = new Date(Number(millis)).toISOString(); // 2023-11-14T22:13:20.123Z
  const fraction = (((micros % 1_000_000n) + 1_000_000n) % 1_000_000n).toString()
    .padStart(MICRO_DIGITS, "0");
  return `${iso.slice(0, iso.indexOf("."))}.${fraction}Z`;
}

/** What {@linkcode eventText} reads of an event. */
export type EventPosition = Pick<ChangeEvent, "lsn" | "commitLsn" | "xid" | "commitTimeMicros">;

/** An event's positions, transaction id and commit time as text, shared by its value and headers. */
export interface EventText {
  readonly lsn: string;
  readonly commitLsn: string;
  readonly xid: string;
  readonly commitTs: string;
}

/**
 * The text of one event.
 *
 * @example
 * ```ts ignore
 * eventText(event); // { lsn: "0/16B3748", commitLsn: "0/16B3790", xid: "742", commitTs: "2023-…Z" }
 * ```
 */
export function eventText(event: EventPosition): EventText {
  return {
    lsn: formatLsn(event.lsn),
    commitLsn: formatLsn(event.commitLsn),
    xid: String(event.xid),
    commitTs: formatCommitTime(event.commitTimeMicros),
  };
}

/**
 * Formats the text of a stream of events, formatting what the events of one
 * transaction share (commit LSN, xid, commit time) once per transaction
 * rather than once per event and message.
 */
export class EventTextFormatter {
  #shared: EventText | null = null;
  #commitLsn = 0n;
  #xid = 0;
  #commitTimeMicros = 0n;

  /** The text of `event` (a change, or anything with its positions). */
  format(event: EventPosition): EventText {
    const shared = this.#shared;
    if (
      shared !== null && event.commitLsn === this.#commitLsn && event.xid === this.#xid &&
      event.commitTimeMicros === this.#commitTimeMicros
    ) {
      return {
        lsn: formatLsn(event.lsn),
        commitLsn: shared.commitLsn,
        xid: shared.xid,
        commitTs: shared.commitTs,
      };
    }
    this.#commitLsn = event.commitLsn;
    this.#xid = event.xid;
    this.#commitTimeMicros = event.commitTimeMicros;
    return this.#shared = eventText(event);
  }
}

/**
 * The message key: the key columns of the row as a JSON object, taken from the
 * new row, or from the old one for deletes. Null when the table has no key.
 *
 * @example
 * ```ts
 * encodeKey(["id"], { id: 42, name: "x" }); // '{"id":42}'
 * ```
 */
export function encodeKey(columns: readonly string[], row: Row | null): string | null {
  const key = keyOf(columns, row);
  return key === null ? null : JSON.stringify(key);
}

/**
 * The key columns of `row` as an object (a missing column is null), or null
 * when there are no key columns or no row.
 *
 * @example
 * ```ts
 * keyOf(["id"], { id: 42, name: "x" }); // { id: 42 }
 * ```
 */
export function keyOf(columns: readonly string[], row: Row | null): Row | null {
  if (columns.length === 0 || row === null) return null;
  const key: Row = {};
  for (const column of columns) key[column] = row[column] ?? null;
  return key;
}

/** The row the key is read from: `after` unless the row is gone. */
export function keyRow(event: ChangeEvent): Row | null {
  return event.after ?? event.before;
}

/**
 * The message value in the default contract.
 *
 * `unchanged` is present only when PostgreSQL left out unchanged TOAST
 * values: those columns are absent from `after`, never null or stale.
 */
export function encodeValue(
  event: ChangeEvent,
  source: string,
  text: EventText = eventText(event),
): string {
  const value: Record<string, unknown> = {
    op: event.op,
    source,
    schema: event.schema,
    table: event.table,
    before: event.before,
    after: event.after,
    lsn: text.lsn,
    commit_lsn: text.commitLsn,
    xid: event.xid,
    commit_ts: text.commitTs,
  };
  if (event.unchanged.length > 0) value.unchanged = event.unchanged;
  if (event.truncate) value.truncate = event.truncate;
  return JSON.stringify(value);
}

/**
 * One event inside a transaction message: what the default contract holds,
 * minus the fields every event of the transaction shares (source, xid,
 * commit_lsn, commit_ts: the envelope carries them once), plus the event's
 * `key` (the key columns as an object, or null). With `policy`, the column
 * rules apply to the key, the rows and `unchanged`.
 *
 * @example
 * ```ts ignore
 * encodeTransactionEvent(insert, ["id"]);
 * // '{"op":"insert","schema":"public","table":"orders","key":{"id":1},
 * //   "before":null,"after":{"id":1,"status":"new"},"lsn":"0/16B3748"}'
 * ```
 */
export function encodeTransactionEvent(
  event: ChangeEvent,
  keyColumns: readonly string[],
  policy: RowPolicy | null = null,
): string {
  const key = keyOf(keyColumns, keyRow(event));
  const unchanged = policy === null ? event.unchanged : policy.names(event.unchanged);
  const value: Record<string, unknown> = {
    op: event.op,
    schema: event.schema,
    table: event.table,
    key: policy === null ? key : policy.row(key),
    before: policy === null ? event.before : policy.row(event.before),
    after: policy === null ? event.after : policy.row(event.after),
    lsn: formatLsn(event.lsn),
  };
  if (unchanged.length > 0) value.unchanged = unchanged;
  if (event.truncate) value.truncate = event.truncate;
  return JSON.stringify(value);
}

/** Column rules as encoding applies them (see `columns.ts`): rows and column names. */
export interface RowPolicy {
  row(row: Row | null): Row | null;
  names(columns: readonly string[]): readonly string[];
}

/** The envelope fields of one part of a transaction message. */
export interface TransactionPartFields {
  /** Source (replication slot) name. */
  readonly source: string;
  readonly xid: number;
  /** LSN of the transaction's commit record. */
  readonly commitLsn: bigint;
  /** Commit time in microseconds since the Unix epoch. */
  readonly commitTimeMicros: bigint;
  /** Part number, from 1. */
  readonly part: number;
  /** Whether this is the transaction's final part. */
  readonly last: boolean;
  /** Events of the transaction over all its parts: known, so set, on the final part only. */
  readonly eventCount: number | null;
}

/**
 * A transaction message (or one part of it): the envelope fields, then
 * `events`, the already encoded events (see {@linkcode encodeTransactionEvent})
 * spliced in without being parsed again.
 *
 * @example
 * ```ts ignore
 * encodeTransactionPart({ source: "main", xid: 7, commitLsn: 0x16B3748n,
 *   commitTimeMicros: 1_700_000_000_000_000n, part: 1, last: true, eventCount: 1 }, [event]);
 * // '{"source":"main","xid":7,"commit_lsn":"0/16B3748","commit_ts":"2023-11-14T22:13:20.000000Z",
 * //   "part":1,"last":true,"event_count":1,"events":[…]}'
 * ```
 */
export function encodeTransactionPart(
  fields: TransactionPartFields,
  events: readonly string[],
): string {
  const envelope = JSON.stringify({
    source: fields.source,
    xid: fields.xid,
    commit_lsn: formatLsn(fields.commitLsn),
    commit_ts: formatCommitTime(fields.commitTimeMicros),
    part: fields.part,
    last: fields.last,
    event_count: fields.eventCount,
  });
  // Drop the closing brace, append the events array and close again.
  return `${envelope.slice(0, -1)},"events":[${events.join(",")}]}`;
}
