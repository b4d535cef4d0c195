/**
 * postgres.js connection options for a source: the ordinary connection used
 * for checks and set-up, and the replication connection, with TLS per
 * `sslmode` and session settings that fix how values are printed.
 *
 * TLS goes through postgres.js's own upgrade of the socket (`node:tls` over
 * the plain connection after PostgreSQL's SSLRequest). Reports of npm:postgres
 * TLS timing out under Deno (denoland/deno#28526, porsager/postgres#1044)
 * came from Deno 2.2's `node:tls` failing to upgrade a socket already read
 * from (denoland/deno#28551, fixed by #30417); the pinned Deno passes
 * `tests/integration/tls_test.ts` (disable, require, verify-full, wrong CA)
 * without a workaround.
 *
 * For verify-full the certificate is checked against `host`: postgres.js
 * sends SNI only for names, and Node's check would otherwise compare an IP
 * address host with "localhost".
 *
 * @module
 */
import postgres, { type Options, type Sql } from "postgres";
import type { SourceConfig } from "../config/mod.ts";
import { VERSION } from "../version.ts";

/** How to reach the database of a source. */
export interface ConnectionSettings {
  host: string;
  port: number;
  database: string;
  user: string;
  password?: string;
  sslmode: "disable" | "require" | "verify-full";
  /** PEM file of the CA that signed the server certificate (verify-full). */
  sslCaFile?: string;
  connectTimeoutMs: number;
}

const MS_PER_SECOND = 1000;

/** The server could not be reached or trusted; the message says which and where. */
export class ConnectionError extends Error {
  /** Creates the error; `cause` is the driver's error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ConnectionError";
  }
}

/** OpenSSL and Node codes of a failed certificate check. */
const CERTIFICATE_ERROR = /CERT|SELF_SIGNED|UNABLE_TO_|ERR_TLS_/;

/**
 * Session settings of every connection: values are decoded from text, so the
 * text must not depend on the server's defaults.
 */
const SESSION_SETTINGS = {
  TimeZone: "UTC",
  DateStyle: "ISO, YMD",
  IntervalStyle: "postgres",
  extra_float_digits: "3",
  bytea_output: "hex",
} as const;

function tlsOptions(settings: ConnectionSettings): Options<Record<string, never>>["ssl"] {
  switch (settings.sslmode) {
    case "disable":
      return false;
    case "require":
      // Encrypted, but the certificate is not checked: libpq's meaning of "require".
      return { rejectUnauthorized: false };
    case "verify-full":
      return {
        rejectUnauthorized: true,
        host: settings.host,
        ca: settings.sslCaFile ? Deno.readTextFileSync(settings.sslCaFile) : undefined,
      };
  }
}

/**
 * Rewords a certificate failure so it names the server, the sslmode and the
 * CA file; any other error is returned as is.
 *
 * @example
 * ```ts
 * describeConnectionError(Object.assign(new Error("self-signed certificate"), {
 *   code: "DEPTH_ZERO_SELF_SIGNED_CERT",
 * }), settings).message;
 * // "TLS certificate of PostgreSQL at db:5432 not trusted (sslmode verify-full, CA file /ca.pem): self-signed certificate (DEPTH_ZERO_SELF_SIGNED_CERT)"
 * ```
 */
export function describeConnectionError(error: unknown, settings: ConnectionSettings): unknown {
  const code = (error as { code?: unknown } | null)?.code;
  if (!(error instanceof Error) || typeof code !== "string" || !CERTIFICATE_ERROR.test(code)) {
    return error;
  }
  const ca = settings.sslCaFile === undefined ? "system CAs" : `CA file ${settings.sslCaFile}`;
  return new ConnectionError(
    `TLS certificate of PostgreSQL at ${settings.host}:${settings.port} not trusted ` +
      `(sslmode ${settings.sslmode}, ${ca}): ${error.message} (${code})`,
    { cause: error },
  );
}

/** Driver and socket codes of a connection that went away. */
const CONNECTION_LOST_CODES = new Set([
  "CONNECTION_CLOSED",
  "CONNECTION_ENDED",
  "CONNECTION_DESTROYED",
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
]);
/** SQLSTATE class 57: operator intervention (shutdown, terminated backend). */
const OPERATOR_INTERVENTION = "57";

/**
 * Rewords the error that ended a replication stream when the connection
 * went away (server restart, terminated walsender, network drop), naming
 * the server; any other error is returned as is.
 *
 * @example
 * ```ts
 * describeStreamError(Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" }), settings)
 *   .message; // "Replication connection to db:5432 lost (ECONNRESET): read ECONNRESET"
 * ```
 */
export function describeStreamError(error: Error, settings: ConnectionSettings): Error {
  const code = (error as { code?: unknown }).code;
  if (typeof code !== "string") return error;
  const lost = CONNECTION_LOST_CODES.has(code) ||
    (error.name === "PostgresError" && code.startsWith(OPERATOR_INTERVENTION));
  if (!lost) return error;
  return new ConnectionError(
    `Replication connection to ${settings.host}:${settings.port} lost (${code}): ${error.message}`,
    { cause: error },
  );
}

/**
 * What a connection is for, shown after the version in its `application_name`
 * (`pg2kafka/0.1.0 query`), so `pg_stat_activity` tells them apart.
 */
export type ConnectionPurpose = "replication" | "query" | "monitor" | "snapshot" | "check";

/**
 * The `application_name` of a pg2kafka connection for `purpose`.
 *
 * @example
 * ```ts
 * applicationName("monitor"); // "pg2kafka/0.1.0 monitor"
 * ```
 */
export function applicationName(purpose: ConnectionPurpose): string {
  return `pg2kafka/${VERSION} ${purpose}`;
}

/**
 * Opens a pool of one ordinary connection. The connector's own queries go
 * through the shared pools of `connections.ts`; this is for the ones that
 * need a connection to themselves (a snapshot's transaction, `check`, `health`).
 */
export function openQueryConnection(
  settings: ConnectionSettings,
  purpose: ConnectionPurpose = "query",
): Sql {
  return postgres(baseOptions(settings, purpose));
}

/** Opens a replication connection (`replication=database`), for replication commands only. */
export function openReplicationConnection(settings: ConnectionSettings): Sql {
  const options = baseOptions(settings, "replication");
  return postgres({
    ...options,
    fetch_types: false,
    connection: { ...options.connection, replication: "database" },
  });
}

function baseOptions(
  settings: ConnectionSettings,
  purpose: ConnectionPurpose,
): Options<Record<string, never>> {
  return {
    host: settings.host,
    port: settings.port,
    database: settings.database,
    username: settings.user,
    password: settings.password,
    ssl: tlsOptions(settings),
    max: 1,
    idle_timeout: 0,
    max_lifetime: null,
    connect_timeout: settings.connectTimeoutMs / MS_PER_SECOND,
    prepare: false,
    onnotice: () => {},
    connection: { ...SESSION_SETTINGS, application_name: applicationName(purpose) },
  };
}

/** How to connect to a source's database from its config (the connector, `check` and `health` use it). */
export function connectionOf(source: SourceConfig): ConnectionSettings {
  return {
    host: source.host,
    port: source.port,
    database: source.database,
    user: source.user,
    password: source.password ?? undefined,
    sslmode: source.sslMode,
    sslCaFile: source.sslCaFile ?? undefined,
    connectTimeoutMs: source.connectTimeoutMs,
  };
}
