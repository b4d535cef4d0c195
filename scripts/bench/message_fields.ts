/**
 * The fields of pg2kafka's message value the bench reads back: the commit
 * time (`commit_ts`, for latency) and the commit position (`commit_lsn`, to
 * check the slot confirmed the last transaction); in the debezium format
 * (`--set targets.format='"debezium"'`), `source.ts_us` and `source.lsn`.
 *
 * @module
 */
import { type Lsn, parseLsn } from "../../src/lsn.ts";

const MS_PER_SECOND = 1_000;
const MICRO_DIGITS = 6;
const MS_DIGITS = 3;
const ISO_FRACTION = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.(\d{1,6})Z$/;

/**
 * Milliseconds since the Unix epoch, with the microseconds as a fraction, of
 * an ISO-8601 UTC time such as pg2kafka's `commit_ts`.
 *
 * @throws {RangeError} when the text is not such a time.
 * @example
 * ```ts
 * commitTimeMs("1970-01-01T00:00:01.000250Z"); // 1000.25
 * ```
 */
export function commitTimeMs(iso: string): number {
  const match = ISO_FRACTION.exec(iso);
  if (match === null) throw new RangeError(`"${iso}" is not an ISO-8601 UTC time`);
  const fraction = match[2].padEnd(MICRO_DIGITS, "0");
  const wholeMs = Date.parse(`${match[1]}.${fraction.slice(0, MS_DIGITS)}Z`);
  return wholeMs + Number(fraction.slice(MS_DIGITS)) / MS_PER_SECOND;
}

function fields(value: string | null): Record<string, unknown> {
  if (value === null) throw new RangeError("A tombstone has no commit fields");
  return JSON.parse(value);
}

/**
 * The commit time of a message value, in milliseconds since the Unix epoch.
 *
 * @throws {RangeError} when the value has no valid `commit_ts`.
 */
export function commitTimeOf(value: string | null): number {
  const parsed = fields(value);
  const source = debeziumSource(parsed);
  if (source !== null) return Number(source.ts_us) / MICROS_PER_MS;
  return commitTimeMs(String(parsed.commit_ts));
}

const MICROS_PER_MS = 1_000;

/** The `source` block of a Debezium value (with or without the schema block), or null. */
function debeziumSource(value: Record<string, unknown>): Record<string, unknown> | null {
  const payload = (value.payload ?? value) as Record<string, unknown>;
  const source = payload.source;
  return typeof source === "object" && source !== null ? source as Record<string, unknown> : null;
}

/**
 * The commit LSN of a message value; for a Debezium value, its event's LSN.
 *
 * @throws {RangeError} when the value has no valid `commit_lsn`.
 */
export function commitLsnOf(value: string | null): Lsn {
  const parsed = fields(value);
  const source = debeziumSource(parsed);
  // Debezium's value has no commit LSN: its event LSN is at or before the commit.
  if (source !== null) return BigInt(Number(source.lsn));
  return parseLsn(String(parsed.commit_lsn));
}
