/**
 * How far the snapshot of one table has come: rows read against the rows to
 * expect, the percent done and the time left at the rate seen so far, so an
 * operator watching a snapshot of a hundred million rows knows when it ends.
 *
 * The rows to expect come from {@linkcode expectedRows}: an exact count when
 * the table is small enough to count cheaply (in the snapshot itself, so it
 * is exactly what will be read), else PostgreSQL's own estimate
 * (`pg_class.reltuples`, kept by VACUUM and ANALYZE).
 *
 * @module
 */
import type { Sql } from "postgres";

/** Where the number of rows to expect came from. */
export type RowEstimateKind = "exact" | "estimate" | "unknown";

/** The rows a table read should yield. */
export interface RowEstimate {
  /** Rows to expect; 0 when {@linkcode kind} is `"unknown"`. */
  readonly rows: number;
  /** `exact`: counted in the snapshot; `estimate`: reltuples; `unknown`: never analyzed. */
  readonly kind: RowEstimateKind;
}

/** What a progress line or metric reports at one moment. */
export interface ProgressReport {
  /** Rows read so far. */
  readonly rows: number;
  /** Rows to expect, at least the rows read; undefined when unknown. */
  readonly expected: number | undefined;
  /** Percent done, 0–100, one decimal; undefined when the total is unknown. */
  readonly percent: number | undefined;
  /** Seconds left at the average rate so far; undefined before any row or without a total. */
  readonly secondsLeft: number | undefined;
}

/**
 * Tables of at most this many 8 KiB pages (64 MiB) are counted exactly: a
 * sequential scan of that size takes well under a second, a small price
 * beside reading the table itself.
 */
export const EXACT_COUNT_MAX_PAGES = 8_192;
const PERCENT = 100;
const PERCENT_DECIMALS = 10;
const MS_PER_SECOND = 1000;

/**
 * Tracks one table read.
 *
 * @example
 * ```ts
 * import { SnapshotProgress } from "./snapshot_progress.ts";
 *
 * const progress = new SnapshotProgress({ rows: 1000, kind: "exact" }, 0);
 * progress.advance(250);
 * progress.report(10_000); // { rows: 250, expected: 1000, percent: 25, secondsLeft: 30 }
 * ```
 */
export class SnapshotProgress {
  readonly #estimate: RowEstimate;
  readonly #startedMs: number;
  #rows = 0;

  /** Starts tracking a read expected to yield `estimate` rows, begun at `startedMs`. */
  constructor(estimate: RowEstimate, startedMs: number) {
    this.#estimate = estimate;
    this.#startedMs = startedMs;
  }

  /** Counts `rows` more rows read. */
  advance(rows: number): void {
    this.#rows += rows;
  }

  /** Rows read so far. */
  get rows(): number {
    return this.#rows;
  }

  /**
   * The progress at `nowMs`. An estimate lower than what was read is raised
   * to the rows read, so the percent never passes 100 and the time left
   * never goes negative.
   */
  report(nowMs: number): ProgressReport {
    const rows = this.#rows;
    if (this.#estimate.kind === "unknown") {
      return { rows, expected: undefined, percent: undefined, secondsLeft: undefined };
    }
    const expected = Math.max(this.#estimate.rows, rows);
    // Multiplied before dividing: 11500 / 20000 * 1000 is 574.999… in floating point.
    const tenths = expected === 0
      ? PERCENT * PERCENT_DECIMALS
      : Math.floor(rows * PERCENT * PERCENT_DECIMALS / expected);
    const percent = tenths / PERCENT_DECIMALS;
    const elapsedSeconds = (nowMs - this.#startedMs) / MS_PER_SECOND;
    const secondsLeft = rows === 0
      ? undefined
      : Math.round((expected - rows) * elapsedSeconds / rows);
    return { rows, expected, percent, secondsLeft };
  }
}

/** The table whose rows {@linkcode expectedRows} estimates. */
export interface CountedTable {
  /** The table's OID (a partitioned table counts its leaf partitions). */
  readonly relationId: number;
  /** `SELECT count(*) …` of exactly the rows the snapshot will read. */
  readonly countQuery: string;
}

/**
 * The rows to expect from a table: counted with `countQuery` when the table
 * (all its leaf partitions) has at most `exactCountMaxPages` pages, else `reltuples` summed over the leaves; `unknown` when a large
 * table was never vacuumed or analyzed (reltuples -1).
 *
 * Run it inside the snapshot's transaction, so an exact count is exactly
 * what the read yields.
 */
export async function expectedRows(
  sql: Sql,
  table: CountedTable,
  exactCountMaxPages = EXACT_COUNT_MAX_PAGES,
): Promise<RowEstimate> {
  // pg_partition_tree lists nothing for a table outside any partition tree.
  const [size] = await sql<{ pages: string; tuples: number; analyzed: boolean }[]>`
    WITH leaves AS (
      SELECT relid FROM pg_partition_tree(${table.relationId}::oid) WHERE isleaf
      UNION
      SELECT oid FROM pg_class WHERE oid = ${table.relationId}::oid AND relkind <> 'p'
    )
    SELECT coalesce(sum(pg_relation_size(c.oid)) / current_setting('block_size')::int, 0)
             AS pages,
           coalesce(sum(greatest(c.reltuples, 0)), 0)::float8 AS tuples,
           coalesce(bool_and(c.reltuples >= 0), true) AS analyzed
    FROM leaves JOIN pg_class c ON c.oid = leaves.relid`;
  if (Number(size.pages) <= exactCountMaxPages) {
    const [{ count }] = await sql.unsafe<{ count: string }[]>(table.countQuery);
    return { rows: Number(count), kind: "exact" };
  }
  if (!size.analyzed) return { rows: 0, kind: "unknown" };
  return { rows: Math.round(size.tuples), kind: "estimate" };
}
