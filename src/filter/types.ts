/**
 * Public types of the filter language: the input of an evaluation and the
 * compiled filter.
 *
 * @module
 */
import type { Row } from "../model.ts";

/** A summary of the transaction an event belongs to (transaction mode only). */
export interface TransactionSummary {
  /** The tables the transaction changed, as `"schema.table"`. */
  readonly tables: readonly string[];
  /** Number of change events in the transaction. */
  readonly size: number;
  /** The operations of the transaction's events (`"insert"`, `"update"`, …). */
  readonly ops: readonly string[];
}

/**
 * The input of {@linkcode CompiledFilter.evaluate}. The caller maps
 * `ChangeEvent.before` to `old` and `ChangeEvent.after` to `new`.
 */
export interface FilterInput {
  /** The operation: `"insert"`, `"update"`, `"delete"`, `"truncate"` or `"snapshot"`. */
  readonly op: string;
  /** Schema of the changed table. */
  readonly schema: string;
  /** Name of the changed table. */
  readonly table: string;
  /** The old row image, or `null` when PostgreSQL sent none. */
  readonly old: Row | null;
  /** The new row image, or `null` (deletes, truncates). */
  readonly new: Row | null;
  /** The enclosing transaction; required when the filter uses `tx.*`. */
  readonly tx?: TransactionSummary;
}

/**
 * A filter ready to run, from {@linkcode compileFilter}.
 */
export interface CompiledFilter {
  /** The expression as written in the config. */
  readonly source: string;
  /**
   * Decides one event: `true` keeps it.
   *
   * @throws {FilterRuntimeError} when the event cannot be decided (e.g. an
   * ordering comparison between a string and a boolean).
   */
  evaluate(input: FilterInput): boolean;
  /**
   * The top-level columns the filter references (through `old.*`, `new.*`,
   * `changed()` and `exists()`) that are not in `columns`, in order of first
   * use, without duplicates.
   */
  unknownColumns(columns: readonly string[]): string[];
}
