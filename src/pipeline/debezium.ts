/**
 * The Debezium-compatible message (`format = "debezium"`): the key, value and
 * headers Debezium's PostgreSQL connector writes with Kafka Connect's
 * `JsonConverter`, so that a consumer of Debezium topics reads pg2kafka's
 * without code changes. Values are encoded as Debezium encodes them (see
 * `src/source/debezium_values.ts`), with or without the schema block
 * (`schemas.enable`).
 *
 * ```json
 * {
 *   "before": null,
 *   "after": { "id": 1, "email": "annek@noanswer.org" },
 *   "source": {
 *     "version": "pg2kafka-0.1.0", "connector": "postgresql", "name": "main",
 *     "ts_ms": 1559033904863, "snapshot": "false", "db": "app",
 *     "sequence": "[\"24023119\",\"24023128\"]", "ts_us": 1559033904863123,
 *     "ts_ns": 1559033904863123000, "schema": "public", "table": "customers",
 *     "txId": 555, "lsn": 24023128, "xmin": null, "origin": null, "origin_lsn": null
 *   },
 *   "transaction": null,
 *   "op": "c",
 *   "ts_ms": 1559033904871, "ts_us": 1559033904871004, "ts_ns": 1559033904871004000
 * }
 * ```
 *
 * Each relation's columns are compiled once (converters and schema text) and
 * cached by the identity of the event's `columns` array, which the decoder
 * creates once per Relation message.
 *
 * @module
 */
import type { ChangeEvent, ChangeOp, EventColumn, RawTuple, Row } from "../model.ts";
import type { Lsn } from "../lsn.ts";
import type { DebeziumOptions } from "../config/types.ts";
import type { TablePolicy } from "./columns.ts";
import { VERSION } from "../version.ts";
import {
  compileDebeziumColumn,
  type ConnectSchema,
  type DebeziumColumn,
  DEFAULT_DEBEZIUM_VALUE_OPTIONS,
} from "../source/debezium_values.ts";

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

/** Debezium's default `unavailable.value.placeholder`. */
export const UNAVAILABLE_VALUE_PLACEHOLDER =
  DEFAULT_DEBEZIUM_VALUE_OPTIONS.unavailableValuePlaceholder;

/** `source.version`: says which program wrote the event, as Debezium's version does. */
export const DEBEZIUM_SOURCE_VERSION = `pg2kafka-${VERSION}`;

export type { DebeziumOptions } from "../config/types.ts";

/** Debezium's defaults (`schemas.enable=false`). */
export const DEFAULT_DEBEZIUM_OPTIONS: DebeziumOptions = Object.freeze({
  ...DEFAULT_DEBEZIUM_VALUE_OPTIONS,
  schemas: false,
});

/** The part of `source` that is fixed for one pg2kafka source. */
export interface DebeziumOrigin {
  /** Debezium's logical server name (`topic.prefix`): the pg2kafka source name. */
  readonly name: string;
  /** The database the source replicates. */
  readonly db: string;
}

/** `source.connector` of every PostgreSQL event. */
const CONNECTOR = "postgresql";
/** Debezium runs one task for PostgreSQL. */
const TASK_ID = "0";
const MICROS_PER_MS = 1000;
const BIG_MICROS_PER_MS = 1000n;
const NANOS_PER_MICRO = "000";

/** Names of the `__debezium.context.*` headers Debezium writes on every message. */
export const DEBEZIUM_HEADER = Object.freeze({
  logicalName: "__debezium.context.connectorLogicalName",
  taskId: "__debezium.context.taskId",
  connectorName: "__debezium.context.connectorName",
  runId: "__debezium.context.runId",
});

/** Identifies this run of pg2kafka in `__debezium.context.runId`, as Debezium's does. */
const RUN_ID = crypto.randomUUID();

/** A relation's compiled columns and schema texts. */
interface CompiledTable {
  readonly columns: readonly DebeziumColumn[];
  /** Whether a column name is `__proto__`, which plain assignment would not make a field. */
  readonly unsafeNames: readonly boolean[];
  /** The Envelope schema text, built on first use. */
  envelopeSchema: string | null;
  /** `source.schema` and `source.table` as text, set on first use. */
  nameText: string | null;
  /** The key's column indexes and schema text, by key column list. */
  readonly keys: Map<readonly string[], CompiledKey>;
}

interface CompiledKey {
  /** Index of each key column in the tuple, or -1 when the table has no such column. */
  readonly indexes: readonly number[];
  readonly names: readonly string[];
  schema: string | null;
}

/** The processing time, in whole microseconds since the epoch. */
export type Clock = () => number;

/** The processing time from the high-resolution clock. */
export function nowMicros(): number {
  return Math.floor((performance.timeOrigin + performance.now()) * MICROS_PER_MS);
}

/** `source.schema` and `source.table` of an event, as text. */
function tableNameText(event: ChangeEvent): string {
  return `"schema":${JSON.stringify(event.schema)},"table":${JSON.stringify(event.table)},`;
}

/**
 * Encodes changes as Debezium's PostgreSQL connector does, for one target.
 *
 * @example
 * ```ts ignore
 * const encoder = new DebeziumEncoder(DEFAULT_DEBEZIUM_OPTIONS, { name: "main", db: "app" });
 * const key = encoder.key(event, event.keyColumns); // '{"id":1}'
 * const value = encoder.value(event, previousCommitEndLsn); // '{"before":null,"after":…}'
 * ```
 */
export class DebeziumEncoder {
  readonly #options: DebeziumOptions;
  readonly #origin: DebeziumOrigin;
  readonly #clock: Clock;
  readonly #tables = new WeakMap<readonly EventColumn[], CompiledTable>();
  /** The transaction whose `source` text is cached, and that text. */
  #txMicros = -1n;
  #txXid = -1;
  #txSnapshot = false;
  #txText = "";
  /** `source.ts_us` and `source.ts_ns` of that transaction, as text. */
  #times = "";
  /** The headers of every message (Debezium's context headers). */
  readonly headers: Readonly<Record<string, string>>;

  /**
   * @param options The target's Debezium settings.
   * @param origin The source name and database, for `source.name` and `source.db`.
   * @param clock The processing time, for the top-level `ts_*` fields.
   */
  constructor(options: DebeziumOptions, origin: DebeziumOrigin, clock: Clock = nowMicros) {
    this.#options = options;
    this.#origin = origin;
    this.#clock = clock;
    this.headers = Object.freeze({
      [DEBEZIUM_HEADER.logicalName]: origin.name,
      [DEBEZIUM_HEADER.taskId]: TASK_ID,
      [DEBEZIUM_HEADER.connectorName]: CONNECTOR,
      [DEBEZIUM_HEADER.runId]: RUN_ID,
    });
  }

  /**
   * The message key: the key columns with Debezium's values, or null (for
   * truncates and tables without key columns).
   */
  key(
    event: ChangeEvent,
    keyColumns: readonly string[],
    policy: TablePolicy | null = null,
  ): string | null {
    const columns = event.columns;
    const tuple = event.afterTuple ?? event.beforeTuple ?? null;
    if (columns === undefined || tuple === null || keyColumns.length === 0) return null;
    const table = this.#compiled(columns);
    const key = this.#compiledKey(table, columns, keyColumns);
    const row: Row = {};
    for (let index = 0; index < key.indexes.length; index++) {
      const at = key.indexes[index];
      const value = at < 0 ? null : this.#value(table.columns[at], tuple[at]);
      setField(row, key.names[index], value, key.names[index] === PROTOTYPE_KEY);
    }
    const payload = policy === null ? JSON.stringify(row) : policy.key(keyColumns, row);
    if (payload === null || !this.#options.schemas) return payload;
    key.schema ??= JSON.stringify(this.#keySchema(event, table, key, policy));
    return `{"schema":${key.schema},"payload":${payload}}`;
  }

  /**
   * The message value.
   *
   * @param previousCommitEnd End LSN of the commit of the transaction before
   *   this event's, or null when none was received since the start: the first
   *   element of `source.sequence`, as Debezium writes it.
   */
  value(
    event: ChangeEvent,
    previousCommitEnd: Lsn | null,
    policy: TablePolicy | null = null,
  ): string {
    const table = event.columns === undefined ? null : this.#compiled(event.columns);
    const snapshot = event.op === "snapshot";
    const first = snapshot || previousCommitEnd === null ? "null" : `\\"${previousCommitEnd}\\"`;
    const now = this.#clock();
    const names = table === null ? tableNameText(event) : (table.nameText ??= tableNameText(event));
    // Written as text: the fields shared by a transaction are formatted once, and the
    // nanosecond times (beyond 2^53) need no bigint or raw JSON.
    const payload = `{"before":${this.#rowJson(table, event.beforeTuple, policy)},` +
      `"after":${this.#rowJson(table, event.afterTuple, policy)},` +
      `"source":{${
        this.#transactionText(event, snapshot)
      }"sequence":"[${first},\\"${event.lsn}\\"]",` +
      `${this.#times}${names}"txId":${event.xid},` +
      `"lsn":${event.lsn},"xmin":null,"origin":null,"origin_lsn":null},` +
      `"transaction":null,"op":"${DEBEZIUM_OPS[event.op]}",` +
      `"ts_ms":${Math.floor(now / MICROS_PER_MS)},"ts_us":${now},"ts_ns":${now}${NANOS_PER_MICRO}}`;
    if (!this.#options.schemas) return payload;
    if (table === null) throw new Error(`No columns known for ${event.schema}.${event.table}`);
    table.envelopeSchema ??= JSON.stringify(this.#envelopeSchema(event, table, policy));
    return `{"schema":${table.envelopeSchema},"payload":${payload}}`;
  }

  /**
   * `source`'s fields from `version` to `db`, for the event's transaction;
   * also sets {@linkcode #times}. Formatted once per transaction.
   */
  #transactionText(event: ChangeEvent, snapshot: boolean): string {
    const micros = event.commitTimeMicros;
    if (
      micros === this.#txMicros && event.xid === this.#txXid && snapshot === this.#txSnapshot
    ) {
      return this.#txText;
    }
    this.#txMicros = micros;
    this.#txXid = event.xid;
    this.#txSnapshot = snapshot;
    this.#times = `"ts_us":${micros},"ts_ns":${micros}${NANOS_PER_MICRO},`;
    return this.#txText = `"version":${JSON.stringify(DEBEZIUM_SOURCE_VERSION)},` +
      `"connector":"${CONNECTOR}","name":${JSON.stringify(this.#origin.name)},` +
      `"ts_ms":${micros / BIG_MICROS_PER_MS},"snapshot":"${snapshot}",` +
      `"db":${JSON.stringify(this.#origin.db)},`;
  }

  /** A row as JSON text, with the target's column rules applied. */
  #rowJson(
    table: CompiledTable | null,
    tuple: RawTuple | null | undefined,
    policy: TablePolicy | null,
  ): string {
    const row = this.#row(table, tuple ?? null);
    if (row === null) return "null";
    return JSON.stringify(policy === null ? row : policy.row(row));
  }

  #compiled(columns: readonly EventColumn[]): CompiledTable {
    let table = this.#tables.get(columns);
    if (table === undefined) {
      table = {
        columns: columns.map((column) => compileDebeziumColumn(column, this.#options)),
        unsafeNames: columns.map((column) => column.name === PROTOTYPE_KEY),
        envelopeSchema: null,
        nameText: null,
        keys: new Map(),
      };
      this.#tables.set(columns, table);
    }
    return table;
  }

  #compiledKey(
    table: CompiledTable,
    columns: readonly EventColumn[],
    keyColumns: readonly string[],
  ): CompiledKey {
    let key = table.keys.get(keyColumns);
    if (key === undefined) {
      const indexes = keyColumns.map((name) => columns.findIndex((column) => column.name === name));
      key = { indexes, names: keyColumns, schema: null };
      table.keys.set(keyColumns, key);
    }
    return key;
  }

  /** A row of every column: a column PostgreSQL left out of a key image is null. */
  #row(table: CompiledTable | null, tuple: RawTuple | null): Row | null {
    if (table === null || tuple === null) return null;
    const row: Row = {};
    const columns = table.columns;
    for (let index = 0; index < columns.length; index++) {
      const column = columns[index];
      setField(row, column.name, this.#value(column, tuple[index]), table.unsafeNames[index]);
    }
    return row;
  }

  #value(column: DebeziumColumn, value: RawTuple[number]): unknown {
    if (typeof value === "string") return column.convert(value);
    if (value === null) return null;
    if (value === undefined) return column.unavailable;
    throw new Error(
      `Column "${column.name}" arrived in binary form; the debezium format needs text values`,
    );
  }

  #keySchema(
    event: ChangeEvent,
    table: CompiledTable,
    key: CompiledKey,
    policy: TablePolicy | null,
  ): ConnectSchema {
    const fields = key.indexes.flatMap((at, index) => {
      const shown = policy?.shown(key.names[index]) ?? { name: key.names[index], replaced: false };
      if (shown.name === null) return [];
      if (at < 0 || shown.replaced) {
        return [{ type: "string", optional: at < 0, field: shown.name }];
      }
      return [field(table.columns[at].schema, false, shown.name)];
    });
    return { type: "struct", fields, optional: false, name: `${this.#prefix(event)}.Key` };
  }

  #envelopeSchema(
    event: ChangeEvent,
    table: CompiledTable,
    policy: TablePolicy | null,
  ): ConnectSchema {
    // Primary-key columns are NOT NULL; pgoutput says nothing of other columns' nullability.
    const required = new Set(event.keyColumns);
    // Column rules drop and rename fields; a masked or hashed value is a string.
    const fields = table.columns.flatMap((column) => {
      const shown = policy?.shown(column.name) ?? { name: column.name, replaced: false };
      if (shown.name === null) return [];
      const schema = shown.replaced ? STRING_SCHEMA : column.schema;
      return [field(schema, !required.has(column.name), shown.name)];
    });
    const row = (name: string) => ({
      type: "struct",
      fields,
      optional: true,
      name: `${this.#prefix(event)}.Value`,
      field: name,
    });
    return {
      type: "struct",
      fields: [
        row("before"),
        row("after"),
        SOURCE_SCHEMA,
        TRANSACTION_SCHEMA,
        { type: "string", optional: false, field: "op" },
        { type: "int64", optional: true, field: "ts_ms" },
        { type: "int64", optional: true, field: "ts_us" },
        { type: "int64", optional: true, field: "ts_ns" },
      ],
      optional: false,
      name: `${this.#prefix(event)}.Envelope`,
      version: 2,
    };
  }

  /** Debezium's schema names: `<topic.prefix>.<schema>.<table>`. */
  #prefix(event: ChangeEvent): string {
    return `${this.#origin.name}.${event.schema}.${event.table}`;
  }
}

const PROTOTYPE_KEY = "__proto__";

/** Sets a field; a column named `__proto__` becomes a field, not the row's prototype. */
function setField(row: Row, name: string, value: unknown, unsafe: boolean): void {
  if (!unsafe) {
    row[name] = value;
    return;
  }
  Object.defineProperty(row, name, { value, enumerable: true, writable: true, configurable: true });
}

/** A struct field's schema in the order `JsonConverter` writes it. */
function field(schema: ConnectSchema, optional: boolean, name: string): ConnectSchema {
  const { type, fields, items, ...rest } = schema;
  return {
    type,
    ...(fields === undefined ? {} : { fields }),
    ...(items === undefined ? {} : { items }),
    optional,
    ...rest,
    field: name,
  };
}

const STRING_SCHEMA: ConnectSchema = Object.freeze({ type: "string" });

const SNAPSHOT_VALUES = "true,first,first_in_data_collection,last_in_data_collection,last,false," +
  "incremental";

/** `io.debezium.connector.postgresql.Source`, as Debezium 3 writes it. */
const SOURCE_SCHEMA: ConnectSchema = Object.freeze({
  type: "struct",
  fields: [
    { type: "string", optional: false, field: "version" },
    { type: "string", optional: false, field: "connector" },
    { type: "string", optional: false, field: "name" },
    { type: "int64", optional: false, field: "ts_ms" },
    {
      type: "string",
      optional: true,
      name: "io.debezium.data.Enum",
      version: 1,
      parameters: { allowed: SNAPSHOT_VALUES },
      default: "false",
      field: "snapshot",
    },
    { type: "string", optional: false, field: "db" },
    { type: "string", optional: true, field: "sequence" },
    { type: "int64", optional: true, field: "ts_us" },
    { type: "int64", optional: true, field: "ts_ns" },
    { type: "string", optional: false, field: "schema" },
    { type: "string", optional: false, field: "table" },
    { type: "int64", optional: true, field: "txId" },
    { type: "int64", optional: true, field: "lsn" },
    { type: "int64", optional: true, field: "xmin" },
    { type: "string", optional: true, field: "origin" },
    { type: "int64", optional: true, field: "origin_lsn" },
  ],
  optional: false,
  name: "io.debezium.connector.postgresql.Source",
  version: 1,
  field: "source",
});

/** Debezium's transaction block (always null: `provide.transaction.metadata` is off). */
const TRANSACTION_SCHEMA: ConnectSchema = Object.freeze({
  type: "struct",
  fields: [
    { type: "string", optional: false, field: "id" },
    { type: "int64", optional: false, field: "total_order" },
    { type: "int64", optional: false, field: "data_collection_order" },
  ],
  optional: true,
  name: "event.block",
  version: 1,
  field: "transaction",
});

/**
 * Encodes a change with Debezium's default settings: a shorthand of
 * {@linkcode DebeziumEncoder.value} for one event.
 *
 * @example
 * ```ts ignore
 * const value = JSON.parse(encodeDebeziumValue(event, { name: "main", db: "app" }, null));
 * value.op; // "c" for an insert
 * ```
 */
export function encodeDebeziumValue(
  event: ChangeEvent,
  origin: DebeziumOrigin,
  previousCommitEnd: Lsn | null,
  clock?: Clock,
): string {
  return new DebeziumEncoder(DEFAULT_DEBEZIUM_OPTIONS, origin, clock).value(
    event,
    previousCommitEnd,
  );
}
