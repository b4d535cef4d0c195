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

/**
 * A column of the table a change belongs to, as the server announced it: what
 * an encoder that converts values on its own (Debezium's format) needs.
 */
export interface EventColumn {
  /** Column name. */
  readonly name: string;
  /**
   * OID of the type the values convert as: the column's type, or for a domain
   * over a built-in type, that built-in type.
   */
  readonly valueTypeOid: number;
  /** Type modifier (length, precision and scale), -1 when none. */
  readonly typeModifier: number;
  /** Whether the column belongs to the replica identity. */
  readonly isKey: boolean;
}

/**
 * A row as PostgreSQL sent it: a value's text, `null` for SQL NULL,
 * `undefined` for an unchanged TOASTed value it left out, bytes when the
 * plugin sent binary values.
 */
export type RawTuple = readonly (string | Uint8Array | null | undefined)[];

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
  /**
   * The table's columns, one array per announced relation (encoders may cache
   * by its identity). Set on row changes; absent on truncates.
   */
  columns?: readonly EventColumn[];
  /** The old row as sent, or `null` when there was none. Set with `columns`. */
  beforeTuple?: RawTuple | null;
  /** The new row as sent, or `null` for deletes. Set with `columns`. */
  afterTuple?: RawTuple | null;
  /** For truncates: the tables truncated together and the options. */
  truncate?: { cascade: boolean; restartIdentity: boolean };
}
