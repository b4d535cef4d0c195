/**
 * postgres.js connection options for a source: the ordinary connection used
 * for checks and set-up, and the replication connection, with TLS per
 * `sslmode` and session settings that fix how values are printed.
 *
 * @module
 */
import postgres, { type Options, type Sql } from "postgres";
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

/**
 * Session settings of every connection: values are decoded from text, so the
 * text must not depend on the server's defaults.
 */
const SESSION_SETTINGS = {
  application_name: `pg2kafka/${VERSION}`,
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
        servername: settings.host,
        ca: settings.sslCaFile ? Deno.readTextFileSync(settings.sslCaFile) : undefined,
      };
  }
}

/** Opens a pool of one ordinary connection (checks, set-up, slot queries). */
export function openQueryConnection(settings: ConnectionSettings): Sql {
  return postgres(baseOptions(settings));
}

/** Opens a replication connection (`replication=database`), for replication commands only. */
export function openReplicationConnection(settings: ConnectionSettings): Sql {
  const options = baseOptions(settings);
  return postgres({
    ...options,
    fetch_types: false,
    connection: { ...options.connection, replication: "database" },
  });
}

function baseOptions(settings: ConnectionSettings): Options<Record<string, never>> {
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
    connection: { ...SESSION_SETTINGS },
  };
}
