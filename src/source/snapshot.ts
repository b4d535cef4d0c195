/**
 * The initial snapshot: every existing row of the published tables, emitted
 * as `op: "snapshot"` events through the same targets, filters and
 * checkpoint as streamed changes, and consistent with the stream.
 *
 * ## Consistency at the seam
 *
 * The slot is created with `CREATE_REPLICATION_SLOT … EXPORT_SNAPSHOT`,
 * which returns the slot's consistent point C and the name of a snapshot
 * that sees exactly the transactions committed before C. The tables are read
 * on an ordinary connection inside `BEGIN ISOLATION LEVEL REPEATABLE READ`
 * with `SET TRANSACTION SNAPSHOT`; the slot streams every transaction that
 * commits after C. So each change is either in the snapshot or in the
 * stream, never both and never neither. The exported snapshot can only be
 * imported while the replication connection stays idle: nothing else runs
 * on it until streaming starts.
 *
 * ## Order and checkpointing
 *
 * The whole snapshot is one synthetic transaction in the source's
 * checkpoint, committed at C (the flush LSN the session starts from, so it
 * never moves the slot). Streaming starts only once every snapshot message
 * is acked by Kafka: per key, the snapshot row always precedes the streamed
 * changes, and the slot confirms nothing past C before the snapshot is
 * delivered. Rows are read with a cursor, `snapshot_fetch_rows` at a time,
 * and reading waits while the source's in-flight budget is full, so memory
 * stays bounded whatever the table size.
 *
 * Values are read in PostgreSQL's text format and go through the same
 * decoder as pgoutput's tuples (synthetic Relation, Type and Insert
 * messages), so a snapshot row and a streamed row of the same data are
 * identical: same converters, same key columns, same handling of domains.
 * Generated columns are left out and publication column lists and row
 * filters (PostgreSQL 15+) are applied, as pgoutput does.
 *
 * ## Interrupted snapshots
 *
 * A snapshot that did not finish must not leave a slot behind: the next
 * start would stream from C and never send the rows not yet delivered. Before
 * creating the slot, pg2kafka creates a marker, a physical replication slot
 * named by {@linkcode snapshotMarkerName} that reserves no WAL, and drops it
 * once every snapshot message is acked. A start that finds the marker (after
 * a crash, a kill -9, a lost connection or a shutdown during the snapshot)
 * drops the unfinished slot and the marker and snapshots again from a new
 * slot. Rows delivered by the unfinished attempt are sent again: duplicates
 * are possible, loss is not (DESIGN invariant 7).
 *
 * ## Modes
 *
 * - `initial`: snapshot when this start creates the slot.
 * - `when_needed`: also when the slot was lost (`wal_status = 'lost'`, its WAL
 *   removed, e.g. past `max_slot_wal_keep_size`): the lost slot is dropped
 *   and recreated with a snapshot, instead of failing.
 * - `never`: create the slot without a snapshot; only changes committed
 *   after its creation are sent.
 *
 * @module
 */
import type { Sql } from "postgres";
import { formatLsn, type Lsn } from "../lsn.ts";
import { logger } from "../telemetry/log.ts";
import type { Metrics } from "../telemetry/metrics.ts";
import type { PipelineSession, TransactionHandle } from "../pipeline/mod.ts";
import { expectedRows, type ProgressReport, SnapshotProgress } from "./snapshot_progress.ts";
import { ChangeDecoder } from "./changes.ts";
import { type ConnectionSettings, openQueryConnection } from "./connect.ts";
import { ValueConversionError } from "./errors.ts";
import { loadPrimaryKeys, type PrimaryKeys } from "./keys.ts";
import {
  type InsertMessage,
  PG_EPOCH_OFFSET_MICROS,
  type RelationMessage,
  type ReplicaIdentity,
} from "./pgoutput.ts";
import { prepareSlot, qualifiedName, type SlotSetup, type SlotState } from "./slot.ts";
import { quoteIdentifier, quoteLiteral } from "./stream.ts";
import type { ValueOptions } from "./values.ts";

/** When a source snapshots its tables (see the module docs). */
export type SnapshotMode = "initial" | "never" | "when_needed";

/** A source's snapshot settings. */
export interface SnapshotSettings {
  mode: SnapshotMode;
  /** Rows fetched per cursor round trip. */
  fetchRows: number;
  /** How often a long table read logs its progress. */
  progressIntervalMs: number;
}

const log = logger("snapshot");

/** PostgreSQL's longest identifier (NAMEDATALEN - 1), which slot names share. */
const MAX_SLOT_NAME = 63;
const MARKER_SUFFIX = "_snapshot";
/** Hex digits of the slot-name hash that keeps truncated marker names apart. */
const MARKER_HASH_DIGITS = 8;
/** `server_version_num` from which pg_publication_tables has column lists and row filters. */
const PG15 = 150_000;
const XID_MODULUS = 2n ** 32n;
/** Seconds postgres.js may take to close the snapshot's connection. */
const CLOSE_TIMEOUT_S = 1;
const MICROS_PER_MS = 1000n;

/**
 * The name of the marker slot that exists while the snapshot of `slot` is
 * unfinished: `<slot>_snapshot`, or for long names a truncated prefix, a hash
 * of the whole name and the suffix, within PostgreSQL's 63 characters.
 *
 * @example
 * ```ts
 * snapshotMarkerName("orders"); // "orders_snapshot"
 * ```
 */
export function snapshotMarkerName(slot: string): string {
  const plain = `${slot}${MARKER_SUFFIX}`;
  if (plain.length <= MAX_SLOT_NAME) return plain;
  const hash = fnv1a(slot).toString(16).padStart(MARKER_HASH_DIGITS, "0");
  const prefix = slot.slice(0, MAX_SLOT_NAME - MARKER_SUFFIX.length - MARKER_HASH_DIGITS - 1);
  return `${prefix}_${hash}${MARKER_SUFFIX}`;
}

/** 32-bit FNV-1a of a string's UTF-16 code units: short, stable, dependency-free. */
function fnv1a(text: string): number {
  const FNV_OFFSET = 0x811c9dc5;
  const FNV_PRIME = 0x01000193;
  let hash = FNV_OFFSET;
  for (let i = 0; i < text.length; i++) {
    hash = Math.imul(hash ^ text.charCodeAt(i), FNV_PRIME) >>> 0;
  }
  return hash;
}

interface SlotRow {
  slot_name: string;
  wal_status: string | null;
  active_pid: number | null;
}

async function findSlot(sql: Sql, name: string): Promise<SlotRow | undefined> {
  const [row] = await sql<SlotRow[]>`
    SELECT slot_name, wal_status, active_pid FROM pg_replication_slots
    WHERE slot_name = ${name}`;
  return row;
}

async function dropSlot(sql: Sql, name: string): Promise<void> {
  await sql`SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots
            WHERE slot_name = ${name}`;
}

/**
 * Prepares the slot of a source as {@linkcode prepareSlot} does, applying the
 * snapshot mode: cleans up after an unfinished snapshot, replaces a lost slot
 * under `when_needed`, and creates a new slot with an exported snapshot
 * (`snapshotName` in the result) unless the mode is `never`.
 *
 * `onMissingSlot` runs before a missing slot is created (not when the slot
 * of an unfinished snapshot was dropped): it throws to refuse, e.g. a
 * {@linkcode import("./slot.ts").SlotLostError} for a source that streamed
 * from the slot before (see slot_guard.ts).
 *
 * @throws {import("./slot.ts").SourceSetupError} as `prepareSlot` does.
 */
export async function prepareSnapshotSlot(
  sql: Sql,
  replication: Sql,
  setup: SlotSetup,
  mode: SnapshotMode,
  onMissingSlot?: () => Promise<void>,
): Promise<SlotState> {
  const restarting = await dropUnfinishedSnapshot(sql, setup.slot);
  const existing = await findSlot(sql, setup.slot);
  // An unfinished snapshot's slot was dropped above on purpose: it is no loss.
  if (existing === undefined && setup.createSlot && !restarting) await onMissingSlot?.();
  if (existing?.wal_status === "lost" && mode === "when_needed") {
    log.warn("Replication slot {slot} was lost; dropping it to snapshot again (when_needed)", {
      slot: setup.slot,
    });
    await dropSlot(sql, setup.slot);
  } else if (existing !== undefined || mode === "never" || !setup.createSlot) {
    return await prepareSlot(sql, replication, setup);
  }
  const marker = snapshotMarkerName(setup.slot);
  // Marker first: a crash from here until the snapshot is acked leaves it behind.
  await sql`SELECT pg_create_physical_replication_slot(${marker})`;
  try {
    const slot = await prepareSlot(sql, replication, setup, true);
    if (slot.snapshotName === undefined) await dropSlot(sql, marker);
    return slot;
  } catch (error) {
    await dropSlot(sql, marker);
    throw error;
  }
}

/**
 * Drops the slot and the marker an unfinished snapshot left behind, if any;
 * true when there was one.
 */
async function dropUnfinishedSnapshot(sql: Sql, slot: string): Promise<boolean> {
  const marker = snapshotMarkerName(slot);
  if (await findSlot(sql, marker) === undefined) return false;
  const unfinished = await findSlot(sql, slot);
  if (unfinished !== undefined && unfinished.active_pid !== null) {
    throw new SnapshotError(
      `Replication slot "${slot}" is active in another process (PID ${unfinished.active_pid}) ` +
        `while its snapshot is unfinished: stop that process`,
    );
  }
  log.warn(
    "The snapshot of slot {slot} did not finish; dropping the slot to snapshot again",
    { slot, marker },
  );
  if (unfinished !== undefined) await dropSlot(sql, slot);
  await dropSlot(sql, marker);
  return true;
}

/** A snapshot could not be taken; the message says why. */
export class SnapshotError extends Error {
  /** Creates the error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "SnapshotError";
  }
}

/** What {@linkcode runSnapshot} needs. */
export interface SnapshotRun {
  /** Source name, for logs and metrics. */
  source: string;
  connection: ConnectionSettings;
  slot: string;
  publication: string;
  /** The exported snapshot's name and the slot's consistent point. */
  snapshotName: string;
  consistentPoint: Lsn;
  fetchRows: number;
  progressIntervalMs: number;
  values: ValueOptions;
  /** The session the rows go to, as one transaction committed at the consistent point. */
  pipeline: PipelineSession;
  metrics: Metrics;
  /** Aborts the snapshot (shutdown); the next start snapshots again. */
  signal: AbortSignal;
}

/**
 * Work a session does after building its pipeline session and before it
 * starts streaming; `signal` aborts when the source stops.
 */
export type BeforeStreaming = (pipeline: PipelineSession, signal: AbortSignal) => Promise<void>;

/** What {@linkcode snapshotStep} needs of a source. */
export interface SnapshotSource {
  name: string;
  connection: ConnectionSettings;
  setup: SlotSetup;
  values: ValueOptions;
  snapshot?: SnapshotSettings;
}

/**
 * The snapshot a session must read before streaming, when preparing the slot
 * exported one, as a {@linkcode BeforeStreaming} step; `undefined` otherwise.
 */
export function snapshotStep(
  source: SnapshotSource,
  deps: { metrics: Metrics },
  slot: SlotState,
): BeforeStreaming | undefined {
  const snapshotName = slot.snapshotName;
  if (snapshotName === undefined || source.snapshot === undefined) return undefined;
  const { fetchRows, progressIntervalMs } = source.snapshot;
  return (pipeline, signal) =>
    runSnapshot({
      source: source.name,
      connection: source.connection,
      slot: source.setup.slot,
      publication: source.setup.publication,
      snapshotName,
      consistentPoint: slot.confirmedFlushLsn,
      fetchRows,
      progressIntervalMs,
      values: source.values,
      pipeline,
      metrics: deps.metrics,
      signal,
    });
}

/** A published table as the snapshot reads it. */
interface SnapshotTable {
  relationId: number;
  schema: string;
  table: string;
  /** `r` table, `p` partitioned table. */
  relkind: string;
  replicaIdentity: ReplicaIdentity;
  /** The publication's column list (PostgreSQL 15+), or null for every column. */
  columnList: string[] | null;
  /** The publication's row filter (PostgreSQL 15+), or null. */
  rowFilter: string | null;
}

const REPLICA_IDENTITIES: Record<string, ReplicaIdentity> = {
  d: "default",
  n: "nothing",
  f: "full",
  i: "index",
};

/**
 * Reads every published table in the exported snapshot and routes its rows,
 * then waits until Kafka acked them all and drops the snapshot's marker.
 * Call it before streaming starts, while the replication connection is idle.
 *
 * @throws {SnapshotError} when the snapshot cannot be imported (the
 *   replication connection ran another command or closed).
 * @throws the abort reason when `run.signal` aborts.
 */
export async function runSnapshot(run: SnapshotRun): Promise<void> {
  const sql = openQueryConnection(run.connection, "snapshot");
  const started = Date.now();
  try {
    const { tx, rows, tables } = await sql.begin(
      "ISOLATION LEVEL REPEATABLE READ READ ONLY",
      (snapshot) => readAll(snapshot as unknown as Sql, run, started),
    );
    log.info(
      "Snapshot of source {source} read {rows} row(s) of {tables} table(s); waiting for Kafka",
      { source: run.source, rows, tables },
    );
    await abortable(run.pipeline.whenSettled(tx), run.signal);
    await dropSlot(sql, snapshotMarkerName(run.slot));
    log.info("Snapshot of source {source} complete: {rows} row(s) delivered in {ms} ms", {
      source: run.source,
      rows,
      tables,
      ms: Date.now() - started,
      lsn: formatLsn(run.consistentPoint),
    });
  } catch (error) {
    if (run.signal.aborted) {
      log.info("Snapshot of source {source} stopped unfinished; the next start takes it again", {
        source: run.source,
        slot: run.slot,
      });
    }
    throw error;
  } finally {
    await sql.end({ timeout: CLOSE_TIMEOUT_S }).catch(() => {});
  }
}

/** Imports the snapshot and routes every row of every published table. */
async function readAll(
  sql: Sql,
  run: SnapshotRun,
  startedMs: number,
): Promise<{ tx: TransactionHandle; rows: number; tables: number }> {
  try {
    await sql.unsafe(`SET TRANSACTION SNAPSHOT ${quoteLiteral(run.snapshotName)}`);
  } catch (error) {
    throw new SnapshotError(
      `Snapshot "${run.snapshotName}" of slot "${run.slot}" cannot be imported: ${error}`,
      { cause: error },
    );
  }
  const tables = await publishedTables(sql, run.publication);
  const xid = await snapshotXmin(sql);
  const decoder = await relationDecoder(sql, tables, run.values);
  log.info("Snapshot of source {source} started at {lsn}: {tables} table(s)", {
    source: run.source,
    lsn: formatLsn(run.consistentPoint),
    tables: tables.length,
    xid,
  });
  const commitTime = BigInt(startedMs) * MICROS_PER_MS - PG_EPOCH_OFFSET_MICROS;
  decoder.apply({ tag: "begin", finalLsn: run.consistentPoint, commitTime, xid }, 0n);
  const tx = run.pipeline.begin(xid);
  let rows = 0;
  for (const table of tables) rows += await readTable(sql, run, decoder, table, tx);
  await run.pipeline.commit(tx, run.consistentPoint, run.signal);
  return { tx, rows, tables: tables.length };
}

async function publishedTables(sql: Sql, publication: string): Promise<SnapshotTable[]> {
  const [{ version }] = await sql<{ version: number }[]>`
    SELECT current_setting('server_version_num')::int AS version`;
  // Column lists and row filters exist from PostgreSQL 15 on.
  const filters = version >= PG15
    ? sql`p.attnames::text[] AS column_list, p.rowfilter AS row_filter`
    : sql`NULL::text[] AS column_list, NULL::text AS row_filter`;
  const rows = await sql<
    {
      relid: string;
      schema: string;
      table: string;
      relkind: string;
      replident: string;
      column_list: string[] | null;
      row_filter: string | null;
    }[]
  >`
    SELECT c.oid::text AS relid, p.schemaname AS schema, p.tablename AS table,
           c.relkind::text AS relkind, c.relreplident::text AS replident, ${filters}
    FROM pg_publication_tables p
    JOIN pg_namespace n ON n.nspname = p.schemaname
    JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = p.tablename
    WHERE p.pubname = ${publication}
    ORDER BY p.schemaname, p.tablename`;
  return rows.map((row) => ({
    relationId: Number(row.relid),
    schema: row.schema,
    table: row.table,
    relkind: row.relkind,
    replicaIdentity: REPLICA_IDENTITIES[row.replident] ?? "default",
    columnList: row.column_list,
    rowFilter: row.row_filter,
  }));
}

/** The snapshot's xmin as a 32-bit xid: the `xid` of snapshot events. */
async function snapshotXmin(sql: Sql): Promise<number> {
  const [{ xmin }] = await sql<{ xmin: string }[]>`
    SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS xmin`;
  return Number(BigInt(xmin) % XID_MODULUS);
}

/**
 * A decoder that knows the tables as pgoutput would announce them: a Type
 * message per domain (named after its base type, as pgoutput names it) and a
 * Relation message per table, with the replica identity columns flagged.
 */
async function relationDecoder(
  sql: Sql,
  tables: readonly SnapshotTable[],
  values: ValueOptions,
): Promise<ChangeDecoder> {
  const relationIds = tables.map((table) => table.relationId);
  const primaryKeys: PrimaryKeys = await loadPrimaryKeys(sql, relationIds);
  const decoder = new ChangeDecoder(values, (id) => primaryKeys.get(id));
  const relations = await Promise.all(tables.map((table) => relationMessage(sql, table)));
  const typeOids = [...new Set(relations.flatMap((r) => r.columns.map((c) => c.typeOid)))];
  for (const type of await domainTypes(sql, typeOids)) decoder.apply(type, 0n);
  for (const relation of relations) decoder.apply(relation, 0n);
  return decoder;
}

async function relationMessage(sql: Sql, table: SnapshotTable): Promise<RelationMessage> {
  const columns = await sql<
    { name: string; type_oid: string; type_modifier: number; is_key: boolean }[]
  >`
    SELECT a.attname AS name, a.atttypid::text AS type_oid, a.atttypmod AS type_modifier,
           (c.relreplident = 'f' OR coalesce(a.attnum = ANY (ri.indkey::int2[]), false)) AS is_key
    FROM pg_attribute a
    JOIN pg_class c ON c.oid = a.attrelid
    LEFT JOIN pg_index ri ON ri.indrelid = c.oid
      AND ((c.relreplident = 'd' AND ri.indisprimary) OR (c.relreplident = 'i' AND ri.indisreplident))
    WHERE a.attrelid = ${table.relationId} AND a.attnum > 0
      AND NOT a.attisdropped AND a.attgenerated = ''
    ORDER BY a.attnum`;
  const listed = table.columnList === null ? null : new Set(table.columnList);
  return {
    tag: "relation",
    relationId: table.relationId,
    namespace: table.schema,
    name: table.table,
    replicaIdentity: table.replicaIdentity,
    columns: columns
      .filter((column) => listed === null || listed.has(column.name))
      .map((column) => ({
        isKey: column.is_key,
        name: column.name,
        typeOid: Number(column.type_oid),
        typeModifier: column.type_modifier,
      })),
  };
}

/** Type messages for the domains among `typeOids`, each named after its base type. */
async function domainTypes(sql: Sql, typeOids: readonly number[]) {
  const rows = await sql<{ oid: string; namespace: string; name: string }[]>`
    WITH RECURSIVE chain(domain, base) AS (
      SELECT t.oid, t.typbasetype FROM pg_type t
      WHERE t.typtype = 'd' AND t.oid = ANY (${typeOids.map(String)}::oid[])
      UNION ALL
      SELECT chain.domain, t.typbasetype FROM chain JOIN pg_type t ON t.oid = chain.base
      WHERE t.typtype = 'd'
    )
    SELECT chain.domain::text AS oid, n.nspname AS namespace, b.typname AS name
    FROM chain
    JOIN pg_type b ON b.oid = chain.base
    JOIN pg_namespace n ON n.oid = b.typnamespace
    WHERE b.typtype <> 'd'`;
  return rows.map((row) => ({
    tag: "type" as const,
    typeOid: Number(row.oid),
    namespace: row.namespace,
    name: row.name,
  }));
}

/** Reads one table with a cursor and routes its rows; returns how many were read. */
async function readTable(
  sql: Sql,
  run: SnapshotRun,
  decoder: ChangeDecoder,
  table: SnapshotTable,
  tx: TransactionHandle,
): Promise<number> {
  const relation = decoder.relations.require(table.relationId, "snapshot");
  const name = `${table.schema}.${table.table}`;
  run.pipeline.relation(
    table.schema,
    table.table,
    relation.columns.map((column) => column.name),
  );
  const counter = run.metrics.snapshotRows.labels(run.source, name);
  const estimate = await expectedRows(sql, {
    relationId: table.relationId,
    countQuery: `SELECT count(*) AS count ${fromClause(table)}`,
  });
  const progress = new SnapshotProgress(estimate, Date.now());
  const tracker = new ProgressLog(run, name, progress);
  log.info("Snapshot of {table} started: {expected} row(s) to read ({kind})", {
    source: run.source,
    table: name,
    expected: estimate.rows,
    kind: estimate.kind,
  });
  const text = new TextDecoder();
  for await (
    const chunk of sql.unsafe(selectAll(table, relation.columns)).raw().cursor(run.fetchRows)
  ) {
    for (const raw of chunk as unknown as (Uint8Array | null)[][]) {
      await waitForRoom(run.pipeline, run.signal);
      const newTuple = raw.map((value) => value === null ? null : text.decode(value));
      routeRow(run, decoder, { tag: "insert", relationId: table.relationId, newTuple }, tx);
    }
    progress.advance(chunk.length);
    counter.inc(chunk.length);
    tracker.maybeLog();
  }
  tracker.finish();
  return progress.rows;
}

/** Logs a table read's progress every `progressIntervalMs` and keeps its gauges current. */
class ProgressLog {
  readonly #run: SnapshotRun;
  readonly #table: string;
  readonly #progress: SnapshotProgress;
  #nextLogMs: number;

  constructor(run: SnapshotRun, table: string, progress: SnapshotProgress) {
    this.#run = run;
    this.#table = table;
    this.#progress = progress;
    this.#nextLogMs = Date.now() + run.progressIntervalMs;
    this.#setGauges(progress.report(Date.now()));
  }

  /** Logs when the interval has passed since the last line. */
  maybeLog(): void {
    const now = Date.now();
    if (now < this.#nextLogMs) return;
    this.#nextLogMs = now + this.#run.progressIntervalMs;
    const report = this.#progress.report(now);
    this.#setGauges(report);
    const fields = { source: this.#run.source, table: this.#table, ...report };
    if (report.expected === undefined) {
      log.info(
        "Snapshot of {table} in progress: {rows} row(s) read; the total is unknown " +
          "because the table was never analyzed (ANALYZE gives an estimate)",
        fields,
      );
    } else {
      log.info(
        "Snapshot of {table} in progress: {rows} of {expected} row(s), {percent}% done, " +
          "about {secondsLeft} s left",
        fields,
      );
    }
  }

  /** Logs the end of the read: every row read, 100% done. */
  finish(): void {
    const report = this.#progress.report(Date.now());
    this.#setGauges({ ...report, expected: report.rows, secondsLeft: 0 });
    log.info("Snapshot of {table}: {rows} row(s) read, {percent}% done", {
      source: this.#run.source,
      table: this.#table,
      rows: report.rows,
      percent: 100,
    });
  }

  #setGauges(report: ProgressReport): void {
    const labels = [this.#run.source, this.#table] as const;
    const metrics = this.#run.metrics;
    if (report.expected !== undefined) {
      metrics.snapshotRowsExpected.labels(...labels).set(report.expected);
    }
    if (report.secondsLeft !== undefined) {
      metrics.snapshotSecondsLeft.labels(...labels).set(report.secondsLeft);
    }
  }
}

/** `FROM` the table itself (`ONLY`, unless partitioned) with the publication's row filter. */
function fromClause(table: SnapshotTable): string {
  // A partitioned table has no rows of its own: its partitions' are wanted (publish_via_partition_root).
  const only = table.relkind === "p" ? "" : "ONLY ";
  const where = table.rowFilter === null ? "" : ` WHERE ${table.rowFilter}`;
  return `FROM ${only}${qualifiedName(table)}${where}`;
}

/** `SELECT` of the published columns of the rows the snapshot reads. */
function selectAll(table: SnapshotTable, columns: readonly { name: string }[]): string {
  const list = columns.map((column) => quoteIdentifier(column.name)).join(", ");
  return `SELECT ${list} ${fromClause(table)}`;
}

/** Routes one row; a value that does not convert goes to the dead-letter topic, as when streamed. */
function routeRow(
  run: SnapshotRun,
  decoder: ChangeDecoder,
  message: InsertMessage,
  tx: TransactionHandle,
): void {
  try {
    const [event] = decoder.apply(message, run.consistentPoint);
    event.op = "snapshot";
    run.pipeline.route(event, tx);
  } catch (error) {
    if (!(error instanceof ValueConversionError)) throw error;
    const event = decoder.rawChange(message, run.consistentPoint);
    event.op = "snapshot";
    run.pipeline.undecodable(event, error.message, tx);
  }
}

/**
 * Waits while the session waits (in-flight budget full, or the sink refuses
 * to try); throws the abort reason on abort.
 */
async function waitForRoom(pipeline: PipelineSession, signal: AbortSignal): Promise<void> {
  signal.throwIfAborted();
  while (pipeline.waiting) await abortable(pipeline.whenReadable(), signal);
}

function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  signal.throwIfAborted();
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}
