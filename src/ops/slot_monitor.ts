/**
 * The slots as PostgreSQL sees them: {@linkcode querySlots} reads rows of
 * `pg_replication_slots` ({@linkcode querySlot} one, for the `health`
 * command), and {@linkcode SlotMonitor} polls every source's slot for
 * `pg2kafka_slot_retained_wal_bytes`, `pg2kafka_slot_active` and the server's
 * WAL end that `pg2kafka_replication_lag_bytes` is measured against.
 *
 * `pg_replication_slots` is cluster-wide: the monitor holds one connection
 * per server and credentials (`source/connections.ts`), whatever the number
 * of sources on it, and reads all their slots in one query per poll.
 *
 * @module
 */
import type { Sql } from "postgres";
import { type ConnectionSettings, openQueryConnection } from "../source/connect.ts";
import { serverKey } from "../source/connections.ts";
import { logger } from "../telemetry/log.ts";
import type { Metrics } from "../telemetry/metrics.ts";

/** One slot as `pg_replication_slots` shows it, positions as bigint. */
export interface SlotState {
  /** A walsender streams the slot right now. */
  active: boolean;
  /** The output plugin (`pgoutput`), or null for a physical slot. */
  plugin: string | null;
  /** `reserved`, `extended`, `unreserved` or `lost` (PostgreSQL 13+). */
  walStatus: string | null;
  /** The server's WAL end: `pg_current_wal_lsn()` (the replay position on a standby). */
  walEnd: bigint;
  /** The oldest WAL the slot needs, or null once the slot lost it. */
  restartLsn: bigint | null;
  /** What the consumer confirmed, or null. */
  confirmedFlushLsn: bigint | null;
}

interface SlotRow {
  slot_name: string;
  active: boolean;
  plugin: string | null;
  wal_status: string | null;
  wal_end: string;
  restart_lsn: string | null;
  confirmed_flush_lsn: string | null;
}

const bigintOrNull = (text: string | null) => text === null ? null : BigInt(text);

/**
 * Reads slot `slot`, or null when it does not exist. Positions are queried
 * as numbers of bytes (`lsn - '0/0'`) to stay exact beyond 2^53.
 */
export async function querySlot(sql: Sql, slot: string): Promise<SlotState | null> {
  return (await querySlots(sql, [slot])).get(slot) ?? null;
}

/** Reads the slots named `slots` at once; missing ones are left out of the map. */
export async function querySlots(
  sql: Sql,
  slots: readonly string[],
): Promise<Map<string, SlotState>> {
  const rows = await sql<SlotRow[]>`
    SELECT s.slot_name::text, s.active, s.plugin, s.wal_status,
      ((CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn()
             ELSE pg_current_wal_lsn() END) - '0/0')::text AS wal_end,
      (s.restart_lsn - '0/0')::text AS restart_lsn,
      (s.confirmed_flush_lsn - '0/0')::text AS confirmed_flush_lsn
    FROM pg_replication_slots s WHERE s.slot_name = ANY(${slots as string[]}::text[])`;
  return new Map(rows.map((row) => [row.slot_name, slotState(row)]));
}

function slotState(row: SlotRow): SlotState {
  return {
    active: row.active,
    plugin: row.plugin,
    walStatus: row.wal_status,
    walEnd: BigInt(row.wal_end),
    restartLsn: bigintOrNull(row.restart_lsn),
    confirmedFlushLsn: bigintOrNull(row.confirmed_flush_lsn),
  };
}

/** WAL the slot keeps on the server's disk, or null once it lost WAL it needed. */
export function retainedWalBytes(state: SlotState): bigint | null {
  if (state.restartLsn === null) return null;
  return state.walEnd > state.restartLsn ? state.walEnd - state.restartLsn : 0n;
}

/** A source's slot to watch. */
export interface MonitoredSlot {
  source: string;
  slot: string;
  connection: ConnectionSettings;
}

const log = logger("slot_monitor");
/** Seconds postgres.js may take to close a monitor connection. */
const CLOSE_TIMEOUT_S = 1;

/** The sources of one server and credentials, watched over one connection. */
interface ServerGroup {
  /** The first source's settings: any database of the server shows every slot. */
  readonly connection: ConnectionSettings;
  readonly slots: MonitoredSlot[];
  sql: Sql | null;
}

/** Polls the slots of every source; {@linkcode state} holds the latest reading. */
export class SlotMonitor {
  readonly #groups: readonly ServerGroup[];
  readonly #metrics: Metrics;
  readonly #intervalMs: number;
  readonly #states = new Map<string, SlotState>();
  /** Sources whose last poll failed, so a failure is logged once, not every poll. */
  readonly #failing = new Set<string>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #polling: Promise<void> | null = null;
  #stopped = false;

  /** Creates the monitor; {@linkcode start} runs it. */
  constructor(slots: readonly MonitoredSlot[], metrics: Metrics, intervalMs: number) {
    const groups = new Map<string, ServerGroup>();
    for (const slot of slots) {
      const key = serverKey(slot.connection);
      const group = groups.get(key) ?? { connection: slot.connection, slots: [], sql: null };
      group.slots.push(slot);
      groups.set(key, group);
    }
    this.#groups = [...groups.values()];
    this.#metrics = metrics;
    this.#intervalMs = intervalMs;
  }

  /** The latest reading of `source`'s slot, or undefined when unknown or missing. */
  state(source: string): SlotState | undefined {
    return this.#states.get(source);
  }

  /** Polls now, then every interval until {@linkcode stop}. */
  start(): void {
    this.#stopped = false;
    this.#cycle();
  }

  /** Stops polling and closes the connections. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#polling;
    await Promise.all(this.#groups.map((group) => {
      const sql = group.sql;
      group.sql = null;
      return sql?.end({ timeout: CLOSE_TIMEOUT_S });
    }));
  }

  #cycle(): void {
    this.#polling = Promise.all(this.#groups.map((group) => this.#poll(group))).then(() => {
      this.#polling = null;
      if (!this.#stopped) this.#timer = setTimeout(() => this.#cycle(), this.#intervalMs);
    });
  }

  async #poll(group: ServerGroup): Promise<void> {
    group.sql ??= openQueryConnection(group.connection, "monitor");
    let states: Map<string, SlotState>;
    try {
      states = await querySlots(group.sql, group.slots.map(({ slot }) => slot));
    } catch (error) {
      for (const watched of group.slots) this.#failed(watched, error);
      return;
    }
    for (const { source, slot } of group.slots) {
      this.#record(source, states.get(slot) ?? null);
      if (this.#failing.delete(source)) log.info("Slot {slot} readable again", { source, slot });
    }
  }

  #failed({ source, slot }: MonitoredSlot, error: unknown): void {
    this.#record(source, null);
    if (this.#failing.has(source) || this.#stopped) return;
    this.#failing.add(source);
    log.warn("Cannot read slot {slot} from pg_replication_slots: {error}", {
      source,
      slot,
      error: error instanceof Error ? error.message : String(error),
    });
  }

  /** Keeps the reading; unknown or missing slots lose their retained-WAL sample. */
  #record(source: string, state: SlotState | null): void {
    const { slotRetainedWalBytes, slotActive } = this.#metrics;
    if (state === null) {
      this.#states.delete(source);
      slotRetainedWalBytes.remove(source);
      slotActive.labels(source).set(0);
      return;
    }
    this.#states.set(source, state);
    slotActive.labels(source).set(state.active ? 1 : 0);
    const retained = retainedWalBytes(state);
    if (retained === null) slotRetainedWalBytes.remove(source);
    else slotRetainedWalBytes.labels(source).set(Number(retained));
  }
}
