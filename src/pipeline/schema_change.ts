/**
 * Schema-change events: a table's shape changed, as seen either by pg2kafka's
 * event trigger (a transactional logical message with the DDL command, see
 * `src/source/ddl_trigger.ts`) or by a Relation message whose columns differ
 * from the ones the session knew. Each becomes one message on the source's
 * schema-change topic, in commit order with the row changes around it, with
 * the LSN, the xid and the table's columns after the change.
 *
 * What each way sees and misses is in docs/schema_changes.md.
 *
 * @module
 */
import type { Lsn } from "../lsn.ts";
import { formatLsn } from "../lsn.ts";
import { formatCommitTime } from "./encode.ts";

/** The prefix of the logical messages pg2kafka's event trigger writes. */
export const DDL_MESSAGE_PREFIX = "pg2kafka.ddl";

/** The `op` of every schema-change message (and its `pg2kafka.op` header). */
export const SCHEMA_CHANGE_OP = "schema_change";

/** How a schema change was seen. */
export type SchemaChangeVia = "trigger" | "relation";

/** A column as a Relation message announces it (the shape of the source's relation cache). */
export interface RelationColumnShape {
  readonly name: string;
  readonly typeOid: number;
  readonly typeName: string;
  readonly typeModifier: number;
  readonly isKey: boolean;
}

/** A table as a Relation message announces it. */
export interface RelationShape {
  readonly relationId: number;
  readonly schema: string;
  readonly table: string;
  readonly columns: readonly RelationColumnShape[];
}

/** Where in the stream a schema change happened. */
export interface SchemaChangePosition {
  /** WAL position of the logical message or Relation message. */
  readonly lsn: Lsn;
  /** End LSN of the commit of its transaction. */
  readonly commitLsn: Lsn;
  readonly xid: number;
  /** Commit time in microseconds since the Unix epoch. */
  readonly commitTimeMicros: bigint;
}

/** One schema change, ready to encode. */
export interface SchemaChange extends SchemaChangePosition {
  readonly via: SchemaChangeVia;
  readonly schema: string;
  readonly table: string;
  /**
   * The message's fields besides the envelope: `command_tag`,
   * `object_identity`, `statement` and `columns` (trigger); `columns`,
   * `before_columns`, `added`, `dropped`, `retyped` (relation).
   */
  readonly detail: Readonly<Record<string, unknown>>;
}

/** A column in a relation-way schema-change message. */
interface RelationColumnJson {
  name: string;
  type: string;
  type_oid: number;
  type_modifier: number;
  key: boolean;
}

/**
 * The schema change between two announcements of one relation, or null
 * when the columns (names, types, modifiers, key flags) and the table's
 * name are the same, or when there is no earlier announcement to compare.
 *
 * @example
 * ```ts ignore
 * relationSchemaChange(cachedBefore, cachedAfter, position)?.detail.added; // ["email"]
 * ```
 */
export function relationSchemaChange(
  previous: RelationShape | undefined,
  next: RelationShape,
  position: SchemaChangePosition,
): SchemaChange | null {
  if (previous === undefined) return null;
  const before = previous.columns.map(columnJson);
  const after = next.columns.map(columnJson);
  const renamed = previous.schema !== next.schema || previous.table !== next.table;
  if (!renamed && JSON.stringify(before) === JSON.stringify(after)) return null;
  const beforeByName = new Map(before.map((column) => [column.name, column]));
  const afterNames = new Set(after.map((column) => column.name));
  const detail: Record<string, unknown> = {
    columns: after,
    before_columns: before,
    added: after.filter((column) => !beforeByName.has(column.name)).map(({ name }) => name),
    dropped: before.filter((column) => !afterNames.has(column.name)).map(({ name }) => name),
    retyped: after.filter((column) => {
      const old = beforeByName.get(column.name);
      return old !== undefined &&
        (old.type_oid !== column.type_oid || old.type_modifier !== column.type_modifier);
    }).map(({ name }) => name),
  };
  if (renamed) detail.before_table = `${previous.schema}.${previous.table}`;
  return { ...position, via: "relation", schema: next.schema, table: next.table, detail };
}

function columnJson(column: RelationColumnShape): RelationColumnJson {
  return {
    name: column.name,
    type: column.typeName,
    type_oid: column.typeOid,
    type_modifier: column.typeModifier,
    key: column.isKey,
  };
}

/** What the event trigger writes into each logical message (see ddl_trigger.ts). */
interface DdlMessageContent {
  command_tag: string;
  object_type: string;
  object_identity: string;
  schema: string;
  table: string;
  statement: string | null;
  columns: unknown[] | null;
}

/** Thrown when a `pg2kafka.ddl` message is not what pg2kafka's trigger writes. */
export class DdlMessageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DdlMessageError";
  }
}

/**
 * The schema change a `pg2kafka.ddl` logical message describes.
 *
 * @throws {DdlMessageError} when the content is not the trigger's JSON.
 */
export function ddlSchemaChange(content: Uint8Array, position: SchemaChangePosition): SchemaChange {
  let parsed: Partial<DdlMessageContent>;
  try {
    parsed = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(content));
  } catch (error) {
    throw new DdlMessageError(
      `A ${DDL_MESSAGE_PREFIX} message at ${formatLsn(position.lsn)} is not JSON: ${error}`,
    );
  }
  if (typeof parsed?.schema !== "string" || typeof parsed.table !== "string") {
    throw new DdlMessageError(
      `A ${DDL_MESSAGE_PREFIX} message at ${formatLsn(position.lsn)} names no schema and table`,
    );
  }
  return {
    ...position,
    via: "trigger",
    schema: parsed.schema,
    table: parsed.table,
    detail: {
      command_tag: parsed.command_tag ?? null,
      object_type: parsed.object_type ?? null,
      object_identity: parsed.object_identity ?? null,
      statement: parsed.statement ?? null,
      columns: parsed.columns ?? null,
    },
  };
}

/**
 * The message value of a schema change.
 *
 * @example
 * ```ts ignore
 * encodeSchemaChange(change, "main");
 * // '{"op":"schema_change","source":"main","via":"trigger","schema":"public","table":"t",
 * //   "command_tag":"ALTER TABLE",…,"columns":[…],"lsn":"0/16B3748","commit_lsn":…,"xid":…}'
 * ```
 */
export function encodeSchemaChange(change: SchemaChange, source: string): string {
  return JSON.stringify({
    op: SCHEMA_CHANGE_OP,
    source,
    via: change.via,
    schema: change.schema,
    table: change.table,
    ...change.detail,
    lsn: formatLsn(change.lsn),
    commit_lsn: formatLsn(change.commitLsn),
    xid: change.xid,
    commit_ts: formatCommitTime(change.commitTimeMicros),
  });
}

/** The message key of a schema change: its table, so one table's changes keep their order. */
export function schemaChangeKey(change: SchemaChange): string {
  return JSON.stringify({ schema: change.schema, table: change.table });
}
