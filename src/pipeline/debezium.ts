/**
 * The Debezium-compatible message value (`format = "debezium"`): the
 * envelope Debezium's PostgreSQL connector writes with Kafka Connect's
 * `JsonConverter` and `value.converter.schemas.enable=false`, so a consumer
 * of Debezium topics can read pg2kafka's without code changes.
 *
 * ```json
 * {
 *   "before": null,
 *   "after": { "id": 1, "email": "annek@noanswer.org" },
 *   "source": {
 *     "version": "pg2kafka-0.1.0", "connector": "postgresql", "name": "main",
 *     "ts_ms": 1559033904863, "snapshot": "false", "db": "app",
 *     "sequence": "[\"24023119\",\"24023128\"]", "schema": "public",
 *     "table": "customers", "txId": 555, "lsn": 24023128, "xmin": null
 *   },
 *   "op": "c",
 *   "ts_ms": 1559033904871,
 *   "transaction": null
 * }
 * ```
 *
 * The key needs no Debezium variant: with `key.converter.schemas.enable=false`
 * Debezium's key is the JSON object of the key columns, which is what
 * `encodeKey` writes. The differences that remain (value encodings, key
 * changes, the `last` snapshot marker) are listed in `docs/debezium.md`.
 *
 * @module
 */
import type { ChangeEvent, ChangeOp, Row } from "../model.ts";
import { VERSION } from "../version.ts";

/** Debezium's one-letter operation codes. */
export type DebeziumOp = "c" | "u" | "d" | "t" | "r";

/** The Debezium operation of each pg2kafka operation; snapshot rows are reads (`r`). */
export const DEBEZIUM_OPS: Readonly<Record<ChangeOp, DebeziumOp>> = Object.freeze({
  insert: "c",
  update: "u",
  delete: "d",
  truncate: "t",
  snapshot: "r",
});

/**
 * What Debezium writes in place of an unchanged TOASTed value it did not
 * receive (its `unavailable.value.placeholder` default).
 */
export const UNAVAILABLE_VALUE_PLACEHOLDER = "__debezium_unavailable_value";

/** `source.version`: says which program wrote the event, as Debezium's version does. */
export const DEBEZIUM_SOURCE_VERSION = `pg2kafka-${VERSION}`;

/** `source.connector` of every PostgreSQL event. */
const CONNECTOR = "postgresql";
const MICROS_PER_MS = 1000n;

/** The part of `source` that is fixed for one pg2kafka source. */
export interface DebeziumOrigin {
  /** Debezium's logical server name (`topic.prefix`): the pg2kafka source name. */
  readonly name: string;
  /** The database the source replicates. */
  readonly db: string;
}

/**
 * Encodes a change as Debezium's PostgreSQL connector value (schemas disabled).
 *
 * @param event The change.
 * @param origin The source name and database, for `source.name` and `source.db`.
 * @param nowMs The processing time for the top-level `ts_ms` (Debezium's too
 *   is the time the connector handled the event, not the commit time).
 * @example
 * ```ts
 * import { encodeDebeziumValue } from "./debezium.ts";
 *
 * const value = JSON.parse(encodeDebeziumValue(event, { name: "main", db: "app" }, Date.now()));
 * value.op; // "c" for an insert
 * ```
 */
export function encodeDebeziumValue(
  event: ChangeEvent,
  origin: DebeziumOrigin,
  nowMs: number,
): string {
  const snapshot = event.op === "snapshot";
  return JSON.stringify({
    before: event.before,
    after: withPlaceholders(event.after, event.unchanged),
    source: {
      version: DEBEZIUM_SOURCE_VERSION,
      connector: CONNECTOR,
      name: origin.name,
      ts_ms: Number(event.commitTimeMicros / MICROS_PER_MS),
      snapshot: snapshot ? "true" : "false",
      db: origin.db,
      sequence: sequence(event, snapshot),
      schema: event.schema,
      table: event.table,
      txId: event.xid,
      lsn: Number(event.lsn),
      xmin: null,
    },
    op: DEBEZIUM_OPS[event.op],
    ts_ms: nowMs,
    transaction: null,
  });
}

/**
 * `source.sequence`: a JSON array of two decimal LSN strings, as Debezium
 * writes it. Debezium's first element is the commit LSN of the transaction
 * before; pg2kafka writes the commit LSN of the event's own transaction,
 * which orders events the same way (see docs/debezium.md). Snapshot rows
 * have no commit, so the first element is null there, as in Debezium.
 */
function sequence(event: ChangeEvent, snapshot: boolean): string {
  const commit = snapshot ? null : event.commitLsn.toString();
  return JSON.stringify([commit, event.lsn.toString()]);
}

/** The new row with Debezium's placeholder in each unchanged TOAST column. */
function withPlaceholders(after: Row | null, unchanged: readonly string[]): Row | null {
  if (after === null || unchanged.length === 0) return after;
  const row: Row = { ...after };
  for (const column of unchanged) {
    // defineProperty, not assignment: a column named __proto__ must stay a field.
    Object.defineProperty(row, column, {
      value: UNAVAILABLE_VALUE_PLACEHOLDER,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return row;
}
