/**
 * The default message contract of DESIGN.md: a JSON key of the key columns
 * and a JSON value with op, schema, table, before, after, lsn, xid and
 * commit_ts.
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
  if (columns.length === 0 || row === null) return null;
  const key: Row = {};
  for (const column of columns) key[column] = row[column] ?? null;
  return JSON.stringify(key);
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
export function encodeValue(event: ChangeEvent, source: string): string {
  const value: Record<string, unknown> = {
    op: event.op,
    source,
    schema: event.schema,
    table: event.table,
    before: event.before,
    after: event.after,
    lsn: formatLsn(event.lsn),
    commit_lsn: formatLsn(event.commitLsn),
    xid: event.xid,
    commit_ts: formatCommitTime(event.commitTimeMicros),
  };
  if (event.unchanged.length > 0) value.unchanged = event.unchanged;
  if (event.truncate) value.truncate = event.truncate;
  return JSON.stringify(value);
}
