/**
 * PostgreSQL connections shared by the sources of one connector, so that a
 * source costs its replication connection and nothing else that stays open.
 *
 * Sources are grouped by *server and credentials* ({@linkcode serverKey}:
 * host, port, user, password and TLS settings): sources on one server that
 * log in as different users never share a connection. Per group:
 *
 * - ordinary queries (start-up checks and set-up, primary-key lookups,
 *   heartbeats) borrow a connection from one {@linkcode ServerConnections}
 *   pool of at most `maxConnections`, each to the database of the source
 *   that borrows it (a PostgreSQL connection is bound to one database). A
 *   connection nobody borrowed for `idleTimeoutMs` closes; a borrower whose
 *   database has no open connection takes a free place, else closes an idle
 *   connection of another database, else waits its turn;
 * - slot monitoring holds one connection (`ops/slot_monitor.ts`):
 *   `pg_replication_slots` is cluster-wide.
 *
 * A source's initial snapshot reads on a connection of its own while it runs
 * (it must import the slot's snapshot in a transaction), closed right after.
 *
 * @module
 */
import type { Sql } from "postgres";
import { type ConnectionSettings, openQueryConnection } from "./connect.ts";

/** The bounds of the ordinary-query pool of each server and credentials. */
export interface QueryPoolOptions {
  /** Most connections open at once (a positive integer). */
  maxConnections: number;
  /** A connection nobody borrowed for this long closes. */
  idleTimeoutMs: number;
}

/** Ordinary queries on one source's database, on a borrowed connection. */
export interface QueryPool {
  /**
   * Runs `work` on a connection to the database, borrowed until `work`
   * settles. Keep `work` short: other sources of the server may be waiting.
   */
  run<T>(work: (sql: Sql) => Promise<T>): Promise<T>;
}

/** Opens an ordinary connection (tests count or fake them). */
export type OpenConnection = (settings: ConnectionSettings) => Sql;

/** Seconds postgres.js may take to close an idle connection. */
const CLOSE_TIMEOUT_S = 1;

/**
 * The identity of a server and the credentials used on it: sources with the
 * same key may share connections. It holds the password: never log it.
 *
 * @example
 * ```ts
 * serverKey({ host: "db", port: 5432, database: "a", user: "u", sslmode: "disable",
 *   connectTimeoutMs: 10_000 }) ===
 *   serverKey({ host: "db", port: 5432, database: "b", user: "u", sslmode: "disable",
 *     connectTimeoutMs: 10_000 }); // true: the database does not count
 * ```
 */
export function serverKey(settings: ConnectionSettings): string {
  const { host, port, user, password, sslmode, sslCaFile } = settings;
  return JSON.stringify([host, port, user, password ?? null, sslmode, sslCaFile ?? null]);
}

/** How a server is named to operators: `host:port`. */
export function serverName(settings: ConnectionSettings): string {
  return `${settings.host}:${settings.port}`;
}

/** What a set of sources holds on one server: the most it can have open at once. */
export interface ServerConnectionPlan {
  /** `host:port`. */
  readonly server: string;
  /** One per source. */
  readonly replication: number;
  /** One per group of credentials (slot monitoring). */
  readonly monitor: number;
  /** Up to the pool's maximum per group of credentials. */
  readonly query: number;
  /** The sum of the three. */
  readonly total: number;
}

/**
 * The connections `sources` hold per server at most, besides the short-lived
 * one of each initial snapshot.
 *
 * @example
 * ```ts ignore
 * planConnections([a, b, c], 2); // [{ server: "db:5432", replication: 3, monitor: 1, query: 2, total: 6 }]
 * ```
 */
export function planConnections(
  sources: readonly ConnectionSettings[],
  maxQueryConnections: number,
): ServerConnectionPlan[] {
  const servers = new Map<string, { replication: number; groups: Set<string> }>();
  for (const settings of sources) {
    const name = serverName(settings);
    const server = servers.get(name) ?? { replication: 0, groups: new Set<string>() };
    server.replication++;
    server.groups.add(serverKey(settings));
    servers.set(name, server);
  }
  return [...servers].map(([server, { replication, groups }]) => {
    const monitor = groups.size;
    const query = groups.size * maxQueryConnections;
    return { server, replication, monitor, query, total: replication + monitor + query };
  });
}

/** The ordinary-query pools of a connector, one per server and credentials. */
export class ServerConnections {
  readonly #options: QueryPoolOptions;
  readonly #open: OpenConnection;
  readonly #pools = new Map<string, ServerPool>();

  /**
   * @param open opens one connection; tests pass their own.
   * @throws {RangeError} when `maxConnections` is not a positive integer.
   */
  constructor(options: QueryPoolOptions, open: OpenConnection = openQueryConnection) {
    if (!Number.isInteger(options.maxConnections) || options.maxConnections < 1) {
      throw new RangeError(
        `maxConnections must be a positive integer, got ${options.maxConnections}`,
      );
    }
    this.#options = options;
    this.#open = open;
  }

  /** The pool for `settings`' database, shared with its server and credentials. */
  queries(settings: ConnectionSettings): QueryPool {
    const key = serverKey(settings);
    let pool = this.#pools.get(key);
    if (pool === undefined) {
      pool = new ServerPool(this.#options, this.#open);
      this.#pools.set(key, pool);
    }
    const server = pool;
    return { run: (work) => server.run(settings, work) };
  }

  /** Ordinary connections open now (or closing), over every server. */
  get openConnections(): number {
    let open = 0;
    for (const pool of this.#pools.values()) open += pool.size;
    return open;
  }

  /** Closes every connection once its borrowers are done; later borrowers open new ones. */
  async close(): Promise<void> {
    await Promise.all([...this.#pools.values()].map((pool) => pool.close()));
  }
}

/** One open connection of a pool, to one database. */
interface PooledConnection {
  readonly database: string;
  readonly sql: Sql;
  borrowers: number;
  idleTimer: ReturnType<typeof setTimeout> | undefined;
  /** Set once it is closing: nobody borrows it any more. */
  closed: Promise<void> | null;
}

/** The connections of one server and credentials, each to one database. */
class ServerPool {
  readonly #options: QueryPoolOptions;
  readonly #open: OpenConnection;
  /** By database; closing ones stay until closed, so the bound holds. */
  readonly #connections = new Map<string, PooledConnection>();
  /** Borrowers waiting for a connection to become idle or close. */
  #waiters: (() => void)[] = [];

  constructor(options: QueryPoolOptions, open: OpenConnection) {
    this.#options = options;
    this.#open = open;
  }

  get size(): number {
    return this.#connections.size;
  }

  async run<T>(settings: ConnectionSettings, work: (sql: Sql) => Promise<T>): Promise<T> {
    const connection = await this.#borrow(settings);
    try {
      return await work(connection.sql);
    } finally {
      this.#giveBack(connection);
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.#connections.values()].map((connection) => {
      clearTimeout(connection.idleTimer);
      return this.#close(connection);
    }));
  }

  async #borrow(settings: ConnectionSettings): Promise<PooledConnection> {
    while (true) {
      const own = this.#connections.get(settings.database);
      if (own !== undefined && own.closed === null) {
        own.borrowers++;
        clearTimeout(own.idleTimer);
        return own;
      }
      if (own === undefined && this.#connections.size < this.#options.maxConnections) {
        return this.#add(settings);
      }
      const idle = own === undefined ? this.#idleConnection() : undefined;
      if (idle !== undefined) {
        clearTimeout(idle.idleTimer);
        await this.#close(idle);
        continue;
      }
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
  }

  #add(settings: ConnectionSettings): PooledConnection {
    const connection: PooledConnection = {
      database: settings.database,
      sql: this.#open(settings),
      borrowers: 1,
      idleTimer: undefined,
      closed: null,
    };
    this.#connections.set(settings.database, connection);
    return connection;
  }

  #idleConnection(): PooledConnection | undefined {
    for (const connection of this.#connections.values()) {
      if (connection.borrowers === 0 && connection.closed === null) return connection;
    }
    return undefined;
  }

  #giveBack(connection: PooledConnection): void {
    connection.borrowers--;
    if (connection.borrowers > 0 || connection.closed !== null) return;
    connection.idleTimer = setTimeout(() => this.#close(connection), this.#options.idleTimeoutMs);
    this.#wakeWaiters();
  }

  /** Closes `connection` (once) and lets the waiters look again. */
  #close(connection: PooledConnection): Promise<void> {
    connection.closed ??= connection.sql.end({ timeout: CLOSE_TIMEOUT_S }).catch(() => {})
      .then(() => {
        this.#connections.delete(connection.database);
        this.#wakeWaiters();
      });
    return connection.closed;
  }

  /** Every waiter looks again: one may find its database open, another an idle place. */
  #wakeWaiters(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }
}
