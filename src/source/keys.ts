/**
 * Primary keys of published tables, read from the catalog on the ordinary
 * connection, for tables whose replica identity gives no stable message key.
 *
 * pgoutput flags the replica identity columns of a Relation as key columns.
 * For `REPLICA IDENTITY FULL` that is every column, so a key built from them
 * changes with every update and one row's changes would scatter across
 * partitions (DESIGN invariant 5). With `NOTHING`, or `DEFAULT` without a
 * primary key, no column is flagged. Such tables are keyed by their primary
 * key instead, looked up by relation OID (`pg_index.indisprimary`).
 *
 * @module
 */
import type { Sql } from "postgres";
import type { RelationMessage } from "./pgoutput.ts";

/** Primary-key column names by relation OID; an empty list for a table without one. */
export type PrimaryKeys = Map<number, readonly string[]>;

const NO_COLUMNS: readonly string[] = Object.freeze([]);

/**
 * Whether a table's Kafka key must come from its primary key rather than
 * from the key columns pgoutput flagged.
 */
export function needsPrimaryKey(message: RelationMessage): boolean {
  return message.replicaIdentity === "full" || !message.columns.some((column) => column.isKey);
}

/**
 * Whether `keys` lacks a usable entry for the relation: never looked up, or
 * naming a column the relation no longer has (renamed since the lookup).
 */
export function primaryKeyUnknown(keys: PrimaryKeys, message: RelationMessage): boolean {
  const known = keys.get(message.relationId);
  if (known === undefined) return true;
  return !known.every((name) => message.columns.some((column) => column.name === name));
}

/** Loads the primary keys of every table of `publication`. */
export async function loadPublishedPrimaryKeys(
  sql: Sql,
  publication: string,
): Promise<PrimaryKeys> {
  const rows = await sql<{ relid: string; columns: string[] }[]>`
    SELECT i.indrelid::text AS relid,
           array_agg(a.attname::text ORDER BY a.attnum) AS columns
    FROM pg_index i
    JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
    WHERE i.indisprimary AND i.indrelid IN (
      SELECT c.oid FROM pg_publication_tables p
      JOIN pg_namespace n ON n.nspname = p.schemaname
      JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = p.tablename
      WHERE p.pubname = ${publication})
    GROUP BY i.indrelid`;
  return toMap(rows);
}

/**
 * Loads the primary key of each relation in `relationIds`; a relation without
 * one (or since dropped) maps to an empty list, so it is not looked up again.
 */
export async function loadPrimaryKeys(
  sql: Sql,
  relationIds: readonly number[],
): Promise<PrimaryKeys> {
  const ids = relationIds.map(String);
  const rows = await sql<{ relid: string; columns: string[] }[]>`
    SELECT i.indrelid::text AS relid,
           array_agg(a.attname::text ORDER BY a.attnum) AS columns
    FROM pg_index i
    JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
    WHERE i.indisprimary AND i.indrelid = ANY (${ids}::oid[])
    GROUP BY i.indrelid`;
  const keys = toMap(rows);
  for (const id of relationIds) if (!keys.has(id)) keys.set(id, NO_COLUMNS);
  return keys;
}

function toMap(rows: readonly { relid: string; columns: string[] }[]): PrimaryKeys {
  return new Map(rows.map((row) => [Number(row.relid), Object.freeze(row.columns)]));
}
