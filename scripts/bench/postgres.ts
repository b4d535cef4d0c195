/**
 * PostgreSQL for the bench: connections, the publication and slots each run
 * creates before writing (so the backlog is in the slot when the reader
 * starts), WAL positions, and the walsender serving a slot.
 *
 * @module
 */
import postgres, { type Sql } from "postgres";
import { parseLsn } from "../../src/lsn.ts";
import type { StackEndpoints } from "./stack.ts";

const POLL_MS = 50;
/** Finer than POLL_MS: the activation time starts the "streaming" clock. */
const ACTIVE_POLL_MS = 10;
const SLOT_RELEASE_TIMEOUT_MS = 30_000;

/**
 * An ordinary connection to the stack's database. Its commits wait for the
 * WAL flush (`synchronous_commit = on`, PostgreSQL's default): the local stack
 * turns that off server-wide, and then a commit reaches the walsender only at
 * the WAL writer's next round (`wal_writer_delay`, 200 ms), which the latency
 * run would measure instead of the connector.
 */
export function benchSql(stack: StackEndpoints): Sql {
  return postgres({
    host: stack.pgHost,
    port: stack.pgPort,
    database: stack.pgDatabase,
    username: stack.pgUser,
    password: stack.pgPassword,
    max: 2,
    onnotice: () => {},
    connection: { synchronous_commit: "on" },
  });
}

/** Creates a publication of one table. */
export async function createPublication(sql: Sql, name: string, table: string): Promise<void> {
  await sql.unsafe(`CREATE PUBLICATION "${name}" FOR TABLE "${table}"`);
}

/** Creates a pgoutput slot now: it keeps every change committed from here on. */
export async function createSlot(sql: Sql, slot: string): Promise<void> {
  await sql`SELECT pg_create_logical_replication_slot(${slot}, 'pgoutput')`;
}

/** Drops the slots (once no process streams them) and the publication, if present. */
export async function dropSlotsAndPublication(
  sql: Sql,
  slots: readonly string[],
  publication: string,
): Promise<void> {
  const deadline = performance.now() + SLOT_RELEASE_TIMEOUT_MS;
  for (const slot of slots) {
    while (await activePid(sql, slot) !== null && performance.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
    await sql`SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots
              WHERE slot_name = ${slot}`;
  }
  await sql.unsafe(`DROP PUBLICATION IF EXISTS "${publication}"`);
}

/** The WAL insert position now. */
export async function walInsertLsn(sql: Sql): Promise<bigint> {
  const [row] = await sql<{ lsn: string }[]>`SELECT pg_current_wal_insert_lsn()::text AS lsn`;
  return parseLsn(row.lsn);
}

/** The slot's confirmed flush position, or null when the slot has none. */
export async function confirmedFlushLsn(sql: Sql, slot: string): Promise<bigint | null> {
  const [row] = await sql<{ lsn: string | null }[]>`
    SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = ${slot}`;
  return row?.lsn ? parseLsn(row.lsn) : null;
}

/** The walsender process streaming `slot`, or null when no one streams it. */
export async function activePid(sql: Sql, slot: string): Promise<number | null> {
  const [row] = await sql<{ pid: number | null }[]>`
    SELECT active_pid AS pid FROM pg_replication_slots WHERE slot_name = ${slot}`;
  return row?.pid ?? null;
}

/** When a slot became active, and the walsender streaming it. */
export interface SlotActivation {
  /** Milliseconds since the Unix epoch (within one poll interval). */
  readonly at: number;
  readonly walsenderPid: number;
}

/**
 * Polls until a process streams `slot`: the moment a reader's
 * `START_REPLICATION` ran.
 *
 * @throws {Error} when `failed()` reports a reason (the reader died) or after `timeoutMs`.
 */
export async function waitForActive(
  sql: Sql,
  slot: string,
  timeoutMs: number,
  failed: () => string | null,
): Promise<SlotActivation> {
  const deadline = performance.now() + timeoutMs;
  let pid: number | null;
  while ((pid = await activePid(sql, slot)) === null) {
    const reason = failed();
    if (reason !== null) throw new Error(`${reason} before streaming slot ${slot}`);
    if (performance.now() > deadline) {
      throw new Error(`No process streamed slot ${slot} within ${timeoutMs} ms`);
    }
    await new Promise((resolve) => setTimeout(resolve, ACTIVE_POLL_MS));
  }
  return { at: Date.now(), walsenderPid: pid };
}

/**
 * Polls until the slot's confirmed flush position reaches `lsn`.
 *
 * @throws {Error} after `timeoutMs`, with the position reached.
 */
export async function waitForConfirmed(
  sql: Sql,
  slot: string,
  lsn: bigint,
  timeoutMs: number,
): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  let confirmed: bigint | null = null;
  while ((confirmed = await confirmedFlushLsn(sql, slot)) === null || confirmed < lsn) {
    if (performance.now() > deadline) {
      throw new Error(`Slot ${slot} confirmed ${confirmed} < ${lsn} after ${timeoutMs} ms`);
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  return Date.now();
}

/** The server's major version, e.g. 15. */
export async function serverMajorVersion(sql: Sql): Promise<number> {
  const [row] = await sql<{ server_version_num: string }[]>`SHOW server_version_num`;
  const VERSION_NUM_PER_MAJOR = 10_000;
  return Math.floor(Number(row.server_version_num) / VERSION_NUM_PER_MAJOR);
}

/** The server's version string, e.g. "15.14 (Debian 15.14-0+deb12u1)". */
export async function serverVersion(sql: Sql): Promise<string> {
  const [row] = await sql<{ server_version: string }[]>`SHOW server_version`;
  return row.server_version;
}
