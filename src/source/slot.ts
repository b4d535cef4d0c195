/**
 * Start-up checks and set-up of a source: logical WAL, the replication
 * privilege, the publication and the permanent logical slot. Every failure is
 * a {@linkcode SourceSetupError} that says what is wrong and how to fix it.
 *
 * Names are always quoted with {@linkcode quoteIdentifier}; values always go
 * through bound parameters.
 *
 * @module
 */
import type { Sql } from "postgres";
import { type Lsn, parseLsn } from "../lsn.ts";
import { quoteIdentifier } from "./stream.ts";

/** A table named in a source's config. */
export interface TableName {
  schema: string;
  table: string;
}

/** What a source needs in place before it can stream. */
export interface SlotSetup {
  slot: string;
  createSlot: boolean;
  publication: string;
  createPublication: boolean;
  alterPublication: boolean;
  /** Tables the publication must cover, or "all" for `FOR ALL TABLES`. */
  tables: readonly TableName[] | "all";
  /**
   * Make the slot a failover slot (PostgreSQL 17+): standbys with
   * `sync_replication_slots` keep a copy that survives a promotion.
   */
  failover?: boolean;
}

/** The slot as found (or created) at start-up. */
export interface SlotState {
  /** Whether this start created the slot. */
  created: boolean;
  /** PostgreSQL's system identifier (IDENTIFY_SYSTEM), when the backend read it. */
  systemIdentifier?: string;
  /** The slot's `confirmed_flush_lsn` (or consistent point when just created). */
  confirmedFlushLsn: Lsn;
  /**
   * The snapshot the slot exported when this start created it with
   * `exportSnapshot`: importable while the replication connection runs no
   * other command (see snapshot.ts).
   */
  snapshotName?: string;
}

/** A start-up check failed; the message names the problem and the fix. */
export class SourceSetupError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "SourceSetupError";
  }
}

/**
 * The slot this source streamed from is gone (dropped, or its WAL removed)
 * and the config does not allow replacing it: the changes it held are lost
 * to pg2kafka, so the source stops rather than skip them silently.
 */
export class SlotLostError extends SourceSetupError {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "SlotLostError";
  }
}

/** The slot streams to another process: this one is a standby until it is free. */
export class SlotBusyError extends SourceSetupError {
  /** The PID of the walsender that holds the slot. */
  readonly activePid: number;

  /** Creates the error. */
  constructor(message: string, activePid: number) {
    super(message);
    this.name = "SlotBusyError";
    this.activePid = activePid;
  }
}

const PGOUTPUT = "pgoutput";
/** `server_version_num` of PostgreSQL 17.0, the first release with failover slots. */
const FAILOVER_SLOTS_SINCE = 170000;

/** Formats a table as a quoted, schema-qualified SQL name. */
export function qualifiedName({ schema, table }: TableName): string {
  return `${quoteIdentifier(schema)}.${quoteIdentifier(table)}`;
}

/**
 * Checks the server and prepares the publication, on an ordinary connection.
 *
 * @throws {SourceSetupError} when the server cannot serve this source.
 */
export async function preparePublication(sql: Sql, setup: SlotSetup): Promise<void> {
  await checkServer(sql);
  if (setup.tables !== "all") await checkTablesExist(sql, setup.tables);
  const [publication] = await sql<{ puballtables: boolean }[]>`
    SELECT puballtables FROM pg_publication WHERE pubname = ${setup.publication}`;
  if (!publication) {
    if (!setup.createPublication) {
      throw new SourceSetupError(
        `Publication "${setup.publication}" does not exist: create it or set create_publication = true`,
      );
    }
    const scope = setup.tables === "all"
      ? "FOR ALL TABLES"
      : `FOR TABLE ${setup.tables.map(qualifiedName).join(", ")}`;
    await sql.unsafe(`CREATE PUBLICATION ${quoteIdentifier(setup.publication)} ${scope}`);
    return;
  }
  if (publication.puballtables || setup.tables === "all") {
    if (setup.tables === "all" && !publication.puballtables) {
      throw new SourceSetupError(
        `Publication "${setup.publication}" is not FOR ALL TABLES, but tables = ["*"] asks for every table`,
      );
    }
    return;
  }
  await coverTables(sql, setup.publication, setup.tables, setup.alterPublication);
}

async function checkServer(sql: Sql): Promise<void> {
  const [{ wal_level: walLevel }] = await sql<{ wal_level: string }[]>`SHOW wal_level`;
  if (walLevel !== "logical") {
    throw new SourceSetupError(
      `wal_level is "${walLevel}", but logical replication needs "logical": ` +
        "set wal_level = logical in postgresql.conf and restart PostgreSQL",
    );
  }
  const [role] = await sql<{ name: string; allowed: boolean }[]>`
    SELECT rolname AS name, rolreplication OR rolsuper AS allowed
    FROM pg_roles WHERE rolname = current_user`;
  if (!role?.allowed) {
    throw new SourceSetupError(
      `Role "${role?.name}" may not replicate: ALTER ROLE ${role?.name} WITH REPLICATION`,
    );
  }
}

async function checkTablesExist(sql: Sql, tables: readonly TableName[]): Promise<void> {
  const found = await sql<TableName[]>`
    SELECT n.nspname AS schema, c.relname AS table
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p')`;
  const known = new Set(found.map((t) => `${t.schema}.${t.table}`));
  const missing = tables.filter((t) => !known.has(`${t.schema}.${t.table}`));
  if (missing.length > 0) {
    const names = missing.map((t) => `${t.schema}.${t.table}`).join(", ");
    throw new SourceSetupError(`Configured tables do not exist: ${names}`);
  }
}

async function coverTables(
  sql: Sql,
  publication: string,
  tables: readonly TableName[],
  alter: boolean,
): Promise<void> {
  const covered = await sql<TableName[]>`
    SELECT schemaname AS schema, tablename AS table
    FROM pg_publication_tables WHERE pubname = ${publication}`;
  const have = new Set(covered.map((t) => `${t.schema}.${t.table}`));
  const missing = tables.filter((t) => !have.has(`${t.schema}.${t.table}`));
  if (missing.length === 0) return;
  if (!alter) {
    const names = missing.map((t) => `${t.schema}.${t.table}`).join(", ");
    throw new SourceSetupError(
      `Publication "${publication}" does not cover ${names}: add them or set alter_publication = true`,
    );
  }
  await sql.unsafe(
    `ALTER PUBLICATION ${quoteIdentifier(publication)} ADD TABLE ${
      missing.map(qualifiedName).join(", ")
    }`,
  );
}

/**
 * Finds the slot, or creates it over the replication connection `replication`,
 * exporting its initial snapshot when `exportSnapshot` is set.
 *
 * @throws {SourceSetupError} when the slot is of another plugin, in another
 * database, lost, or streaming to another process.
 */
export async function prepareSlot(
  sql: Sql,
  replication: Sql,
  setup: SlotSetup,
  exportSnapshot = false,
): Promise<SlotState> {
  const [slot] = await sql<
    {
      plugin: string | null;
      database: string | null;
      active_pid: number | null;
      confirmed_flush_lsn: string | null;
      wal_status: string | null;
      here: boolean;
    }[]
  >`
    SELECT plugin, database, active_pid, confirmed_flush_lsn::text, wal_status,
           database = current_database() AS here
    FROM pg_replication_slots WHERE slot_name = ${setup.slot}`;
  if (setup.failover) await checkFailoverSupport(sql);
  if (!slot) return await createSlot(replication, setup, exportSnapshot);
  const name = `Replication slot "${setup.slot}"`;
  if (slot.plugin !== PGOUTPUT) {
    throw new SourceSetupError(`${name} uses plugin "${slot.plugin}", not ${PGOUTPUT}`);
  }
  if (!slot.here) throw new SourceSetupError(`${name} belongs to database "${slot.database}"`);
  if (slot.wal_status === "lost") {
    throw new SlotLostError(
      `${name} is lost (the WAL it needed was removed): the changes it held are gone. ` +
        `To start again with a snapshot (every row sent again), set snapshot = "when_needed" ` +
        `and restart pg2kafka`,
    );
  }
  if (slot.active_pid !== null) {
    throw new SlotBusyError(
      `${name} is active in another process (PID ${slot.active_pid}): waiting as a standby ` +
        `until it is free (stop that process, or use another slot)`,
      slot.active_pid,
    );
  }
  if (setup.failover) await makeFailoverSlot(sql, replication, setup.slot);
  return { created: false, confirmedFlushLsn: parseLsn(slot.confirmed_flush_lsn ?? "0/0") };
}

async function checkFailoverSupport(sql: Sql): Promise<void> {
  const [server] = await sql<{ number: number; text: string }[]>`
    SELECT current_setting('server_version_num')::int AS number,
           current_setting('server_version') AS text`;
  if (server.number < FAILOVER_SLOTS_SINCE) {
    throw new SourceSetupError(
      `failover_slot = true needs PostgreSQL 17 or later, but the server is ${server.text}: ` +
        "set failover_slot = false, or upgrade the server",
    );
  }
}

/** Turns an existing slot (made before the option was set) into a failover slot. */
async function makeFailoverSlot(sql: Sql, replication: Sql, slot: string): Promise<void> {
  const [{ failover }] = await sql<{ failover: boolean }[]>`
    SELECT failover FROM pg_replication_slots WHERE slot_name = ${slot}`;
  if (failover) return;
  await replication.unsafe(`ALTER_REPLICATION_SLOT ${quoteIdentifier(slot)} (FAILOVER true)`)
    .simple();
}

async function createSlot(
  replication: Sql,
  setup: SlotSetup,
  exportSnapshot: boolean,
): Promise<SlotState> {
  if (!setup.createSlot) {
    throw new SourceSetupError(
      `Replication slot "${setup.slot}" does not exist: create it or set create_slot = true`,
    );
  }
  // The option list (PostgreSQL 15+) is the only syntax that takes FAILOVER; the old one runs everywhere.
  const options = setup.failover
    ? `(SNAPSHOT '${exportSnapshot ? "export" : "nothing"}', FAILOVER true)`
    : exportSnapshot
    ? "EXPORT_SNAPSHOT"
    : "NOEXPORT_SNAPSHOT";
  const [created] = await replication.unsafe<
    { consistent_point: string; snapshot_name: string | null }[]
  >(
    `CREATE_REPLICATION_SLOT ${quoteIdentifier(setup.slot)} LOGICAL ${PGOUTPUT} ${options}`,
  ).simple();
  const state: SlotState = { created: true, confirmedFlushLsn: parseLsn(created.consistent_point) };
  if (created.snapshot_name !== null) state.snapshotName = created.snapshot_name;
  return state;
}
