/**
 * The database side of one replication session: start-up checks and set-up,
 * primary-key lookups and the replication stream, over two postgres.js
 * connections (an ordinary one and a replication one). A {@linkcode Source}
 * opens one backend per session; tests substitute their own.
 *
 * @module
 */
import type { Sql } from "postgres";
import type { Lsn } from "../lsn.ts";
import {
  type ConnectionSettings,
  describeConnectionError,
  openQueryConnection,
  openReplicationConnection,
} from "./connect.ts";
import { loadPrimaryKeys, loadPublishedPrimaryKeys, type PrimaryKeys } from "./keys.ts";
import { preparePublication, type SlotSetup, type SlotState } from "./slot.ts";
import { prepareSnapshotSlot, type SnapshotSettings } from "./snapshot.ts";
import { type ReplicationStream, startReplication, type StreamHandler } from "./stream.ts";

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
  /** Closes the connections. */
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
   * Runs before a missing slot is created; throws to refuse (see
   * slot_guard.ts). Without it a missing slot is simply created.
   */
  onMissingSlot?: () => Promise<void>;
}

/** Opens the backend of one session; a new one for every session. */
export type BackendFactory = (settings: BackendSettings) => SessionBackend;

/** Seconds postgres.js may take to close a connection when the session ends. */
const CLOSE_TIMEOUT_S = 1;

/** PostgreSQL's system identifier, which tells one cluster from another. */
async function identifySystem(replication: Sql): Promise<string> {
  const [row] = await replication.unsafe<{ systemid: string }[]>("IDENTIFY_SYSTEM").simple();
  return String(row.systemid);
}

/** The backend over a real PostgreSQL server. */
export const postgresBackend: BackendFactory = (settings) => {
  const { connection, setup } = settings;
  const sql = openQueryConnection(connection);
  const replication = openReplicationConnection(connection);
  const described = <T>(work: Promise<T>): Promise<T> =>
    work.catch((error) => {
      throw describeConnectionError(error, connection);
    });
  return {
    prepare: () =>
      described((async () => {
        await preparePublication(sql, setup);
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
      })()),
    publishedPrimaryKeys: () => described(loadPublishedPrimaryKeys(sql, setup.publication)),
    primaryKeys: (relationIds) => described(loadPrimaryKeys(sql, relationIds)),
    startReplication: (startLsn, handler) =>
      described(startReplication({
        sql: replication,
        slot: setup.slot,
        publication: setup.publication,
        startLsn,
        messages: settings.messages,
        handler,
      })),
    close: async () => {
      await replication.end({ timeout: CLOSE_TIMEOUT_S }).catch(() => {});
      await sql.end({ timeout: CLOSE_TIMEOUT_S }).catch(() => {});
    },
  };
};
