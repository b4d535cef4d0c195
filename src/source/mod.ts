/**
 * The source side: one replication slot per configured database, read with
 * pgoutput, decoded into change events, with the connection helpers the
 * `check` and `health` commands share.
 *
 * @example
 * ```ts ignore
 * import { connectionOf, Source } from "./source/mod.ts";
 * ```
 *
 * @module
 */
export { Source } from "./source.ts";
export type { SourceDependencies, SourceSettings, SourceStatus } from "./source.ts";
export {
  ConnectionError,
  connectionOf,
  openQueryConnection,
  openReplicationConnection,
} from "./connect.ts";
export type { ConnectionSettings } from "./connect.ts";
export { planConnections, ServerConnections, serverKey } from "./connections.ts";
export type { QueryPool, QueryPoolOptions, ServerConnectionPlan } from "./connections.ts";
