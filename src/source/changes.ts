/**
 * Turns decoded pgoutput messages into {@linkcode ChangeEvent}s: keeps the
 * relations (tables) the server announced, with a value converter per column
 * built once per Relation message, and tracks the open transaction.
 *
 * ## Old row images and REPLICA IDENTITY
 *
 * What `before` holds depends on the table's replica identity, which decides
 * what PostgreSQL writes to the WAL and therefore what it can send:
 *
 * - `DEFAULT` (the primary key) and `USING INDEX` (a unique index): updates
 *   that change a key column and deletes carry the old key (`K`); `before`
 *   then holds the key columns only. Updates that keep the key carry no old
 *   image: `before` is `null`.
 * - `FULL`: updates and deletes carry the whole old row (`O`); `before` holds
 *   every column. pgoutput flags every column as a key column, so
 *   `keyColumns` lists them all.
 * - `NOTHING`: no old image. PostgreSQL refuses updates and deletes on such a
 *   table while a publication publishes them, so only inserts and truncates
 *   arrive.
 *
 * ## Key columns
 *
 * `keyColumns` (the Kafka message key) are the columns pgoutput flags as the
 * replica identity, except where those give no stable key: for `FULL` (every
 * column flagged, so the key would change with every update and one row's
 * changes would scatter across partitions) and for tables with no flagged
 * column (`NOTHING`, `DEFAULT` without a primary key). Those are keyed by their
 * primary key, which the caller supplies per relation (see `keys.ts`), in
 * column order. A `FULL` table without a primary key keeps every column as
 * its key; a table with no key at all has none (a null Kafka key). A target's
 * `key_columns` overrides all of this.
 *
 * ## Unchanged TOAST
 *
 * An update that does not touch a large, out-of-line (TOASTed) value does not
 * send it. Such columns are left out of `after` and listed in `unchanged`:
 * the event never carries a stale or `null` value in their place. They are
 * also left out of `before` should an old image ever lack them.
 *
 * ## Positions
 *
 * `lsn` is the WAL position given with the message (the XLogData start).
 * `commitLsn`, `xid` and `commitTimeMicros` come from the transaction's Begin
 * message; `commitLsn` is the LSN of the commit record (Begin's final LSN,
 * equal to Commit's commit LSN). The commit's end LSN, the position to
 * confirm to the server, only arrives with the Commit message.
 *
 * @module
 */
import { formatLsn, type Lsn } from "../lsn.ts";
import type { ChangeEvent, EventColumn, Row } from "../model.ts";
import { ProtocolError, ValueConversionError } from "./errors.ts";
import {
  type DeleteMessage,
  type InsertMessage,
  type OldTupleKind,
  type PgOutputMessage,
  pgTimestampToUnixMicros,
  type RelationMessage,
  type ReplicaIdentity,
  type TruncateMessage,
  type TupleData,
  type TypeMessage,
  type UpdateMessage,
} from "./pgoutput.ts";
import {
  builtinTypeName,
  builtinTypeOid,
  converterFor,
  type ValueConverter,
  type ValueOptions,
} from "./values.ts";

/** pgoutput names `pg_catalog` with an empty string. */
const CATALOG_SCHEMA = "pg_catalog";

/** A column of a cached relation. */
export interface CachedColumn extends EventColumn {
  /** Type OID as announced. */
  readonly typeOid: number;
  /** Type name: built-in name, `schema.name` from a Type message, or `oid 12345`. */
  readonly typeName: string;
}

/** A table as last announced by a Relation message, ready to convert tuples. */
export interface CachedRelation {
  /** Relation OID. */
  readonly relationId: number;
  /** Schema name. */
  readonly schema: string;
  /** Table name. */
  readonly table: string;
  /** Replica identity setting. */
  readonly replicaIdentity: ReplicaIdentity;
  /** Columns in tuple order. */
  readonly columns: readonly CachedColumn[];
  /** Names of the key columns, in column order. */
  readonly keyColumns: readonly string[];
  /** One converter per column, in tuple order. */
  readonly converters: readonly ValueConverter[];
}

/** A type named by a Type message. */
interface AnnouncedType {
  readonly schema: string;
  readonly name: string;
}

/**
 * Relations (and user types) announced on one replication connection. A new
 * connection starts with an empty cache: the server announces everything again.
 *
 * @example
 * ```ts
 * const cache = new RelationCache({ bigNumbers: "string" });
 * cache.add(relationMessage);
 * cache.require(16398, "Insert").converters[0]("42"); // 42
 * ```
 */
export class RelationCache {
  readonly #options: ValueOptions;
  readonly #primaryKeyOf: PrimaryKeyLookup;
  readonly #relations = new Map<number, CachedRelation>();
  readonly #types = new Map<number, AnnouncedType>();

  /**
   * @param options Conversion choices for every column.
   * @param primaryKeyOf The primary key of a relation, for relations without a
   *   stable replica identity key (see the module docs).
   */
  constructor(options: ValueOptions = {}, primaryKeyOf: PrimaryKeyLookup = noPrimaryKey) {
    this.#options = options;
    this.#primaryKeyOf = primaryKeyOf;
  }

  /** Number of cached relations. */
  get size(): number {
    return this.#relations.size;
  }

  /** Records the name of a user type announced by a Type message. */
  registerType(message: TypeMessage): void {
    const schema = message.namespace === "" ? CATALOG_SCHEMA : message.namespace;
    this.#types.set(message.typeOid, { schema, name: message.name });
  }

  /**
   * Name of a type: built-in name (`int4`, `int4[]`), `schema.name` of an
   * announced user type, or `oid N` when unknown.
   */
  typeName(typeOid: number): string {
    const builtin = builtinTypeName(typeOid);
    if (builtin !== undefined) return builtin;
    const announced = this.#types.get(typeOid);
    if (announced === undefined) return `oid ${typeOid}`;
    return `${announced.schema}.${announced.name}`;
  }

  /** Caches (or replaces) a relation and builds its column converters. */
  add(message: RelationMessage): CachedRelation {
    const columns: CachedColumn[] = [];
    const converters: ValueConverter[] = [];
    const keyColumns: string[] = [];
    for (const column of message.columns) {
      const valueTypeOid = this.#conversionOid(column.typeOid);
      columns.push({ ...column, typeName: this.typeName(column.typeOid), valueTypeOid });
      converters.push(converterFor(valueTypeOid, this.#options));
      if (column.isKey) keyColumns.push(column.name);
    }
    const relation: CachedRelation = {
      relationId: message.relationId,
      schema: message.namespace === "" ? CATALOG_SCHEMA : message.namespace,
      table: message.name,
      replicaIdentity: message.replicaIdentity,
      columns,
      keyColumns: Object.freeze(this.#stableKey(message, keyColumns)),
      converters,
    };
    this.#relations.set(message.relationId, relation);
    return relation;
  }

  /** The primary key for FULL or keyless relations, when it fits their columns. */
  #stableKey(message: RelationMessage, flagged: string[]): string[] {
    const identityIsStable = message.replicaIdentity !== "full" && flagged.length > 0;
    if (identityIsStable) return flagged;
    const primaryKey = this.#primaryKeyOf(message.relationId);
    if (primaryKey === undefined || primaryKey.length === 0) return flagged;
    const names = message.columns.map((column) => column.name);
    if (!primaryKey.every((name) => names.includes(name))) return flagged;
    return names.filter((name) => primaryKey.includes(name));
  }

  /** The cached relation, or `undefined`. */
  get(relationId: number): CachedRelation | undefined {
    return this.#relations.get(relationId);
  }

  /**
   * The cached relation a change refers to.
   *
   * @param messageKind Named in the error, e.g. `"Insert"`.
   * @throws {ProtocolError} when no Relation message announced the id.
   */
  require(relationId: number, messageKind: string): CachedRelation {
    const relation = this.#relations.get(relationId);
    if (relation !== undefined) return relation;
    throw new ProtocolError(
      messageKind,
      undefined,
      `relation id ${relationId} was never announced by a Relation message`,
    );
  }

  /**
   * pgoutput announces a domain under its base type's name, so a domain over a
   * built-in type converts like that type. Other user types keep their OID (text).
   */
  #conversionOid(typeOid: number): number {
    const announced = this.#types.get(typeOid);
    if (announced === undefined || announced.schema !== CATALOG_SCHEMA) return typeOid;
    return builtinTypeOid(announced.name) ?? typeOid;
  }
}

/** Primary-key column names of a relation, or `undefined` when unknown. */
export type PrimaryKeyLookup = (relationId: number) => readonly string[] | undefined;

function noPrimaryKey(): undefined {
  return undefined;
}

/** The transaction whose changes are being received. */
export interface TransactionInfo {
  /** Transaction id. */
  readonly xid: number;
  /** LSN of the commit record (Begin's final LSN). */
  readonly commitLsn: Lsn;
  /** Commit time in microseconds since the Unix epoch. */
  readonly commitTimeMicros: bigint;
  /** Replication origin of the transaction, when an Origin message named one. */
  readonly origin: string | null;
}

const NO_EVENTS: readonly ChangeEvent[] = Object.freeze([]);
const NO_COLUMNS: readonly string[] = Object.freeze([]);

/**
 * Applies decoded pgoutput messages in stream order and produces change
 * events. Use one decoder per replication connection.
 *
 * @example
 * ```ts
 * const decoder = new ChangeDecoder({ bigNumbers: "string" });
 * for (const { lsn, payload } of xlogData) {
 *   for (const event of decoder.apply(decodePgOutput(payload), lsn)) deliver(event);
 * }
 * ```
 */
export class ChangeDecoder {
  /** The relations announced so far. */
  readonly relations: RelationCache;
  #transaction: TransactionInfo | null = null;

  /**
   * @param options Conversion choices for every column.
   * @param primaryKeyOf Primary keys for relations without a stable replica
   *   identity key (see the module docs).
   */
  constructor(options: ValueOptions = {}, primaryKeyOf?: PrimaryKeyLookup) {
    this.relations = new RelationCache(options, primaryKeyOf);
  }

  /** The open transaction (between Begin and Commit), or `null`. */
  get transaction(): TransactionInfo | null {
    return this.#transaction;
  }

  /**
   * Applies one message. Begin, Commit, Origin, Relation, Type and logical
   * messages update state and yield no event; a Truncate yields one event per
   * truncated table.
   *
   * @param message The decoded message.
   * @param lsn The WAL position sent with the message (XLogData start).
   * @throws {ProtocolError} for a change outside a transaction, of an unknown
   *   relation, or whose column count differs from its Relation message.
   * @throws {ValueConversionError} when a value's text does not fit its type.
   */
  apply(message: PgOutputMessage, lsn: Lsn): readonly ChangeEvent[] {
    switch (message.tag) {
      case "insert":
      case "update":
      case "delete":
        return [this.#rowChange(message, lsn)];
      case "truncate":
        return this.#truncate(message, lsn);
      case "begin":
        this.#begin(message.xid, message.finalLsn, message.commitTime);
        return NO_EVENTS;
      case "commit":
        this.#commit(message.commitLsn);
        return NO_EVENTS;
      case "origin":
        this.#transaction = { ...this.#openTransaction("Origin"), origin: message.name };
        return NO_EVENTS;
      case "relation":
        this.relations.add(message);
        return NO_EVENTS;
      case "type":
        this.relations.registerType(message);
        return NO_EVENTS;
      case "message":
        return NO_EVENTS;
    }
  }

  /**
   * The change a row message describes with every value as the text
   * PostgreSQL sent, unconverted: what is left to report when a value does not
   * convert ({@linkcode ValueConversionError}). Call it instead of
   * {@linkcode apply} for that message; the transaction stays open.
   *
   * @throws {ProtocolError} as {@linkcode apply} does.
   */
  rawChange(message: InsertMessage | UpdateMessage | DeleteMessage, lsn: Lsn): ChangeEvent {
    const relation = this.relations.require(message.relationId, MESSAGE_KINDS[message.tag]);
    const raw: CachedRelation = { ...relation, converters: relation.columns.map(() => keepRaw) };
    return this.#rowChange(message, lsn, raw);
  }

  #begin(xid: number, finalLsn: Lsn, commitTime: bigint): void {
    if (this.#transaction !== null) {
      throw new ProtocolError(
        "Begin",
        undefined,
        `transaction ${xid} began while transaction ${this.#transaction.xid} is still open`,
      );
    }
    this.#transaction = {
      xid,
      commitLsn: finalLsn,
      commitTimeMicros: pgTimestampToUnixMicros(commitTime),
      origin: null,
    };
  }

  #commit(commitLsn: Lsn): void {
    const transaction = this.#openTransaction("Commit");
    if (transaction.commitLsn !== commitLsn) {
      throw new ProtocolError(
        "Commit",
        undefined,
        `commit LSN ${formatLsn(commitLsn)} differs from the final LSN ` +
          `${
            formatLsn(transaction.commitLsn)
          } announced by Begin of transaction ${transaction.xid}`,
      );
    }
    this.#transaction = null;
  }

  #openTransaction(messageKind: string): TransactionInfo {
    if (this.#transaction !== null) return this.#transaction;
    throw new ProtocolError(messageKind, undefined, "arrived outside a transaction (no Begin)");
  }

  #rowChange(
    message: InsertMessage | UpdateMessage | DeleteMessage,
    lsn: Lsn,
    converting?: CachedRelation,
  ): ChangeEvent {
    const kind = MESSAGE_KINDS[message.tag];
    const transaction = this.#openTransaction(kind);
    const relation = converting ?? this.relations.require(message.relationId, kind);
    let before: Row | null = null;
    let after: Row | null = null;
    let unchanged = NO_COLUMNS;
    const beforeTuple = message.tag === "insert" ? null : message.oldTuple;
    if (message.tag !== "insert" && message.oldTuple !== null) {
      checkWidth(relation, message.oldTuple, kind);
      before = oldImage(relation, message.oldTuple, message.oldKind!);
    }
    if (message.tag !== "delete") {
      checkWidth(relation, message.newTuple, kind);
      const image = newImage(relation, message.newTuple);
      after = image.row;
      unchanged = image.unchanged;
    }
    return {
      op: message.tag,
      schema: relation.schema,
      table: relation.table,
      before,
      after,
      unchanged,
      keyColumns: relation.keyColumns,
      lsn,
      commitLsn: transaction.commitLsn,
      xid: transaction.xid,
      commitTimeMicros: transaction.commitTimeMicros,
      columns: relation.columns,
      beforeTuple,
      afterTuple: message.tag === "delete" ? null : message.newTuple,
    };
  }

  #truncate(message: TruncateMessage, lsn: Lsn): ChangeEvent[] {
    const transaction = this.#openTransaction("Truncate");
    const options = { cascade: message.cascade, restartIdentity: message.restartIdentity };
    return message.relationIds.map((relationId): ChangeEvent => {
      const relation = this.relations.require(relationId, "Truncate");
      return {
        op: "truncate",
        schema: relation.schema,
        table: relation.table,
        before: null,
        after: null,
        unchanged: NO_COLUMNS,
        keyColumns: relation.keyColumns,
        lsn,
        commitLsn: transaction.commitLsn,
        xid: transaction.xid,
        commitTimeMicros: transaction.commitTimeMicros,
        columns: relation.columns,
        truncate: options,
      };
    });
  }
}

const MESSAGE_KINDS = { insert: "Insert", update: "Update", delete: "Delete" } as const;

function keepRaw(text: string): string {
  return text;
}

function checkWidth(relation: CachedRelation, tuple: TupleData, kind: string): void {
  if (tuple.length === relation.columns.length) return;
  throw new ProtocolError(
    kind,
    undefined,
    `tuple of ${relation.schema}.${relation.table} has ${tuple.length} columns ` +
      `but its Relation message announced ${relation.columns.length}`,
  );
}

/** The new row without unchanged TOAST columns, and the names of those columns. */
function newImage(
  relation: CachedRelation,
  tuple: TupleData,
): { row: Row; unchanged: readonly string[] } {
  const row: Row = {};
  let unchanged = NO_COLUMNS;
  let index = 0;
  try {
    for (; index < tuple.length; index++) {
      const value = tuple[index];
      if (value === undefined) {
        if (unchanged === NO_COLUMNS) unchanged = [];
        (unchanged as string[]).push(relation.columns[index].name);
      } else {
        setField(row, relation.columns[index].name, convert(relation, index, value));
      }
    }
  } catch (error) {
    throw withColumn(error, relation, index);
  }
  return { row, unchanged };
}

/** The old row: key columns only for a key image, every sent column for a full one. */
function oldImage(relation: CachedRelation, tuple: TupleData, kind: OldTupleKind): Row {
  const row: Row = {};
  const keyOnly = kind === "key";
  let index = 0;
  try {
    for (; index < tuple.length; index++) {
      const value = tuple[index];
      const column = relation.columns[index];
      if (value === undefined || (keyOnly && !column.isKey)) continue;
      setField(row, column.name, convert(relation, index, value));
    }
  } catch (error) {
    throw withColumn(error, relation, index);
  }
  return row;
}

const PROTOTYPE_KEY = "__proto__";

/** Sets a column; a column named `__proto__` becomes a field, not the row's prototype. */
function setField(row: Row, name: string, value: unknown): void {
  if (name !== PROTOTYPE_KEY) {
    row[name] = value;
    return;
  }
  Object.defineProperty(row, name, { value, enumerable: true, writable: true, configurable: true });
}

/** Converts a sent value; binary-format values (plugin option `binary`) stay bytes. */
function convert(
  relation: CachedRelation,
  index: number,
  value: string | Uint8Array | null,
): unknown {
  return typeof value === "string" ? relation.converters[index](value) : value;
}

function withColumn(error: unknown, relation: CachedRelation, index: number): unknown {
  if (!(error instanceof ValueConversionError)) return error;
  const column = relation.columns[index];
  const context = `column "${column.name}" of ${relation.schema}.${relation.table}`;
  return new ValueConversionError(error.typeName, error.text, error.detail, context);
}
