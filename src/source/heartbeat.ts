/**
 * Heartbeats: WAL written in the source's database at a fixed interval, so
 * that its slot keeps advancing when the captured tables are idle.
 *
 * A logical slot moves its `restart_lsn` (the oldest WAL it retains) when
 * decoding reaches a running-transactions record (logged every 15 s while
 * WAL is written) and the client then confirms a later position. While other
 * databases write, the session's idle advance (DESIGN invariant 3) confirms
 * the keepalive positions and the slot follows, 15 to 25 s behind. Once they
 * stop, nothing more happens in the slot's view and it may keep what it
 * retains: measured on PostgreSQL 15, two runs out of three still retained
 * 16 MiB or more 45 s later (`tests/integration/heartbeat_test.ts` with
 * heartbeats off). A heartbeat writes a tiny record in the source's own
 * database at each interval, so decoding and confirmations go on and the
 * slot lets go within seconds.
 *
 * Two kinds, per `heartbeat_table`:
 *
 * - none (default): `pg_logical_emit_message(false, 'pg2kafka.heartbeat', …)`,
 *   a non-transactional logical decoding message (PostgreSQL 14+; needs the
 *   REPLICATION attribute the source has anyway). It produces no Kafka
 *   message unless the source decodes messages.
 * - a table: an upsert of the row `(source, ts)` into it. Create the table
 *   first: `CREATE TABLE pg2kafka_heartbeat (source text PRIMARY KEY, ts
 *   timestamptz NOT NULL)`. Publish it to get heartbeats as change events.
 *
 * A heartbeat borrows a connection from the server's pool (`connections.ts`)
 * for its one statement. A failed heartbeat is logged and retried at the
 * next interval: it never affects delivery.
 *
 * @module
 */
import type { Sql } from "postgres";
import { logger } from "../telemetry/log.ts";
import type { ConnectionSettings } from "./connect.ts";
import { type QueryPool, ServerConnections } from "./connections.ts";
import { qualifiedName, type TableName } from "./slot.ts";

/** A source's heartbeat settings. */
export interface HeartbeatSettings {
  /** Period in milliseconds; 0 turns heartbeats off. */
  intervalMs: number;
  /** The table to upsert into, or null for a logical decoding message. */
  table: TableName | null;
}

/** What {@linkcode startHeartbeat} needs of a source. */
export interface HeartbeatSource {
  name: string;
  connection: ConnectionSettings;
  heartbeat?: HeartbeatSettings;
  /** The server's pool; when left out, heartbeats have one connection of their own. */
  queries?: QueryPool;
}

/** The prefix of heartbeat messages, for consumers of logical decoding messages. */
export const HEARTBEAT_PREFIX = "pg2kafka.heartbeat";

const log = logger("heartbeat");
/**
 * Intervals the heartbeats' own connection (when the source gives no pool)
 * may stay idle: it is kept between beats and closes once they stop.
 */
const OWN_POOL_IDLE_FACTOR = 2;

/** Heartbeats of one source, on a connection borrowed for each beat. */
export class Heartbeat {
  readonly #source: string;
  readonly #queries: QueryPool;
  /** The pool made for these heartbeats when the source gave none. */
  readonly #ownPool: ServerConnections | null;
  readonly #beat: (sql: Sql) => Promise<unknown>;
  readonly #timer: ReturnType<typeof setInterval>;
  #running: Promise<void> | null = null;
  #failing = false;
  #beats = 0;

  private constructor(source: HeartbeatSource, settings: HeartbeatSettings) {
    this.#source = source.name;
    this.#ownPool = source.queries === undefined
      ? new ServerConnections({
        maxConnections: 1,
        idleTimeoutMs: settings.intervalMs * OWN_POOL_IDLE_FACTOR,
      })
      : null;
    this.#queries = source.queries ?? this.#ownPool!.queries(source.connection);
    this.#beat = heartbeatStatement(source.name, settings.table);
    this.#timer = setInterval(() => this.#tick(), settings.intervalMs);
  }

  /**
   * Starts the heartbeats of `source`, or returns null when its interval is 0
   * (or it has no heartbeat settings).
   */
  static start(source: HeartbeatSource): Heartbeat | null {
    const settings = source.heartbeat;
    if (settings === undefined || settings.intervalMs <= 0) return null;
    log.info("Heartbeats of source {source} every {intervalMs} ms ({kind})", {
      source: source.name,
      intervalMs: settings.intervalMs,
      kind: settings.table === null ? "logical message" : qualifiedName(settings.table),
    });
    return new Heartbeat(source, settings);
  }

  /** Heartbeats written so far. */
  get beats(): number {
    return this.#beats;
  }

  /** Stops the heartbeats (and closes their own connection, if they have one). */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#running;
    await this.#ownPool?.close();
  }

  #tick(): void {
    // A slow server must not pile up heartbeats: skip while one is running.
    if (this.#running !== null) return;
    this.#running = this.#queries.run(this.#beat).then(
      () => {
        this.#beats++;
        if (this.#failing) log.info("Heartbeats of source {source} work again", this.#context());
        this.#failing = false;
      },
      (error) => {
        // Logged once per run of failures, not at every interval.
        if (!this.#failing) {
          log.warn("Heartbeat of source {source} failed: {error}", {
            ...this.#context(),
            error: error instanceof Error ? error.message : String(error),
          });
        }
        this.#failing = true;
      },
    ).finally(() => this.#running = null);
  }

  #context(): Record<string, unknown> {
    return { source: this.#source };
  }
}

/** The heartbeat's SQL: a logical decoding message, or an upsert into `table`. */
function heartbeatStatement(
  source: string,
  table: TableName | null,
): (sql: Sql) => Promise<unknown> {
  if (table === null) {
    return (sql) => sql`SELECT pg_logical_emit_message(false, ${HEARTBEAT_PREFIX}, ${source})`;
  }
  const statement = `INSERT INTO ${qualifiedName(table)} (source, ts) VALUES ($1, now()) ` +
    "ON CONFLICT (source) DO UPDATE SET ts = EXCLUDED.ts";
  return (sql) => sql.unsafe(statement, [source]);
}
