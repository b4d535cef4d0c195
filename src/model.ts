/**
 * The change event: what the WAL reader produces and every later stage
 * (filters, routing, encoding, checkpointing) consumes.
 *
 * @module
 */
import type { Lsn } from "./lsn.ts";

/** Kinds of change a target can receive. */
export type ChangeOp = "insert" | "update" | "delete" | "truncate" | "snapshot";

/** All change kinds, in a stable order (for config validation and metrics). */
export const CHANGE_OPS: readonly ChangeOp[] = [
  "insert",
  "update",
  "delete",
  "truncate",
  "snapshot",
];

/** A row image: column name to converted value. */
export type Row = Record<string, unknown>;

/** One committed row change (or truncate) with its source position. */
export interface ChangeEvent {
  /** What happened. */
  op: ChangeOp;
  /** Schema (namespace) of the table. */
  schema: string;
  /** Table name. */
  table: string;
  /**
   * The old row as PostgreSQL sent it: the replica identity columns for
   * DEFAULT / USING INDEX, the whole row for FULL, `null` when PostgreSQL
   * sent no old image (inserts, NOTHING, updates that kept the key).
   */
  before: Row | null;
  /**
   * The new row (`null` for deletes and truncates). Columns listed in
   * `unchanged` are omitted: PostgreSQL did not send them (unchanged TOAST).
   */
  after: Row | null;
  /** Columns whose value was unchanged TOAST and therefore not sent. */
  unchanged: readonly string[];
  /** Names of the replica identity (key) columns of the table. */
  keyColumns: readonly string[];
  /** WAL position of this change. */
  lsn: Lsn;
  /** End LSN of the commit of the transaction this change belongs to. */
  commitLsn: Lsn;
  /** Transaction id. */
  xid: number;
  /** Commit time in microseconds since the Unix epoch. */
  commitTimeMicros: bigint;
  /** For truncates: the tables truncated together and the options. */
  truncate?: { cascade: boolean; restartIdentity: boolean };
}
