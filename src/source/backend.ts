/**
 * The database side of one replication session: start-up checks and set-up,
 * primary-key lookups and the replication stream. The session holds its
 * replication connection; the ordinary queries borrow a connection from the
 * server's pool (`connections.ts`) for as long as each step takes. A
 * {@linkcode Source} opens one backend per session; tests substitute their own.
 *
 * @module
 */
import type { Sql } from "postgres";
import type { Lsn } from "../lsn.ts";
import {
  type ConnectionSettings,
  describeConnectionError,
  openReplicationConnection,
} from "./connect.ts";
import { type QueryPool, type QueryPoolOptions, ServerConnections } from "./connections.ts";
import { loadPrimaryKeys, loadPublishedPrimaryKeys, type PrimaryKeys } from "./keys.ts";
import { preparePublication, type SlotSetup, type SlotState } from "./slot.ts";
import { prepareSnapshotSlot, type SnapshotSettings } from "./snapshot.ts";
import { type ReplicationStream, startReplication, type StreamHandler } from "./stream.ts";
import { ddlTriggerState, installDdlTrigger } from "./ddl_trigger.ts";
import { logger } from "../telemetry/log.ts";

/** What a session needs from the database. */
export interface SessionBackend {
  /**
   * Checks the server, prepares the publication and the slot, and returns
   * the slot's state.
   *
   * @throws {import("./slot.ts").SourceSetupError} when the server cannot serve the source.
   */
  prepare(): Promise<SlotState>;
  /** The primary keys of every published table. */
  publishedPrimaryKeys(): Promise<PrimaryKeys>;
  /** The primary keys of the given relations (an empty list for none). */
  primaryKeys(relationIds: readonly number[]): Promise<PrimaryKeys>;
  /** Starts streaming the slot from `startLsn` to `handler`. */
  startReplication(startLsn: Lsn, handler: StreamHandler): Promise<ReplicationStream>;
  /** Closes the replication connection (and the session's own pool, if any). */
  close(): Promise<void>;
}

/** What {@linkcode postgresBackend} needs to know of a source. */
export interface BackendSettings {
  connection: ConnectionSettings;
  setup: SlotSetup;
  /** Also decode `pg_logical_emit_message` messages (PG14+). */
  messages: boolean;
  /** The initial snapshot; none when left out. */
  snapshot?: SnapshotSettings;
  /**
   * The ordinary-query pool of the source's server and credentials; when
   * left out, the session has a pool of one connection to itself.
   */
  queries?: QueryPool;
  /**
   * Runs before a missing slot is created; throws to refuse (see
   * slot_guard.ts). Without it a missing slot is simply created.
   */
  onMissingSlot?: () => Promise<void>;
  /** Schema-change messages; none when left out. */
  schemaChanges?: SchemaChangeSettings;
}

/** How a source reports schema changes (see `src/pipeline/schema_change.ts`). */
export interface SchemaChangeSettings {
  /** From pg2kafka's event trigger, or from Relation messages. */
  via: "relation" | "trigger";
  /** The topic of schema-change messages. */
  topic: string;
  /** Install the event trigger when the session prepares (needs a superuser). */
  installTrigger: boolean;
}

const log = logger("source");

/** Opens the backend of one session; a new one for every session. */
export type BackendFactory = (settings: BackendSettings) => SessionBackend;

/** Seconds postgres.js may take to close a connection when the session ends. */
const CLOSE_TIMEOUT_S = 1;
/** The pool of a session given none: one connection, closed when idle this long. */
const OWN_POOL: QueryPoolOptions = {
  maxConnections: 1,
  idleTimeoutMs: 10_000,
};

/** PostgreSQL's system identifier, which tells one cluster from another. */
async function identifySystem(replication: Sql): Promise<string> {
  const [row] = await replication.unsafe<{ systemid: string }[]>("IDENTIFY_SYSTEM").simple();
  return String(row.systemid);
}

/** The backend over a real PostgreSQL server. */
export const postgresBackend: BackendFactory = (settings) => {
  const { connection, setup } = settings;
  const ownPool = settings.queries === undefined ? new ServerConnections(OWN_POOL) : null;
  const queries = settings.queries ?? ownPool!.queries(connection);
  const replication = openReplicationConnection(connection);
  const described = <T>(work: Promise<T>): Promise<T> =>
    work.catch((error) => {
      throw describeConnectionError(error, connection);
    });
  return {
    prepare: () =>
      described(queries.run(async (sql) => {
        await preparePublication(sql, setup);
        if (settings.schemaChanges?.via === "trigger") await prepareDdlTrigger(sql, settings);
        // Before the slot is created: its exported snapshot allows no other command.
        const systemIdentifier = await identifySystem(replication);
        const mode = settings.snapshot?.mode ?? "never";
        const slot = await prepareSnapshotSlot(
          sql,
          replication,
          setup,
          mode,
          settings.onMissingSlot,
        );
        return { ...slot, systemIdentifier };
      })),
    publishedPrimaryKeys: () =>
      described(queries.run((sql) => loadPublishedPrimaryKeys(sql, setup.publication))),
    primaryKeys: (relationIds) =>
      described(queries.run((sql) => loadPrimaryKeys(sql, relationIds))),
    startReplication: (startLsn, handler) =>
      described(startReplication({
        sql: replication,
        slot: setup.slot,
        publication: setup.publication,
        startLsn,
        // The trigger's schema changes travel as logical messages.
        messages: settings.messages || settings.schemaChanges?.via === "trigger",
        handler,
      })),
    close: async () => {
      await replication.end({ timeout: CLOSE_TIMEOUT_S }).catch(() => {});
      await ownPool?.close();
    },
  };
};

/**
 * Installs the DDL event trigger when the config asks for it, else checks
 * that it is there: a missing trigger is logged as an error (rows still
 * flow; schema changes go unreported until it is installed).
 */
async function prepareDdlTrigger(sql: Sql, settings: BackendSettings): Promise<void> {
  if (settings.schemaChanges?.installTrigger) {
    await installDdlTrigger(sql);
    log.info("Installed the DDL event triggers for schema-change messages", {
      database: settings.connection.database,
    });
    return;
  }
  const { missing } = await ddlTriggerState(sql);
  if (missing.length === 0) return;
  log.error(
    "Schema changes are to come from pg2kafka's event triggers, but {missing} are missing " +
      "or disabled in {database}: schema changes go unreported until they are installed " +
      "(install_trigger = true, or the SQL in docs/schema_changes.md)",
    { missing: missing.join(", "), database: settings.connection.database },
  );
}
