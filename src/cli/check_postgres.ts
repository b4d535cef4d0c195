/**
 * `pg2kafka check --connect`, PostgreSQL side: what a source needs of its
 * server (logical WAL, the replication privilege, a replication connection,
 * the slot, the publication, the tables and their keys), found with
 * read-only queries. Nothing is created: where pg2kafka would create the
 * slot or publication, the check says whether it could.
 *
 * Gathering ({@linkcode gatherPostgresFacts}) is apart from judging
 * ({@linkcode judgePostgres}), so every verdict can be tested without a
 * misconfigured server.
 *
 * @module
 */
import type { Sql } from "postgres";
import type { SourceConfig, TableName } from "../config/mod.ts";
import { connectionOf, openQueryConnection, openReplicationConnection } from "../source/connect.ts";
import type { ServerConnectionPlan } from "../source/connections.ts";
import type { CheckLine } from "./check_line.ts";

/** How a table's old rows are identified (`pg_class.relreplident`). */
export type ReplicaIdentity = "default" | "nothing" | "full" | "index";

/** What the check learned about one table. */
export interface TableFacts {
  /** `schema.table`. */
  readonly name: string;
  readonly identity: ReplicaIdentity;
  readonly hasPrimaryKey: boolean;
  /** Whether the connecting role owns the table (needed to publish it). */
  readonly owned: boolean;
}

/** The slot as `pg_replication_slots` shows it. */
export interface SlotFacts {
  readonly plugin: string | null;
  readonly database: string | null;
  /** Whether it belongs to the connected database. */
  readonly here: boolean;
  readonly activePid: number | null;
  readonly walStatus: string | null;
}

/** Everything the PostgreSQL verdicts are based on, for one reachable source. */
export interface PostgresFacts {
  readonly serverVersion: string;
  readonly walLevel: string;
  readonly role: {
    readonly name: string;
    readonly replication: boolean;
    readonly superuser: boolean;
  };
  /** CREATE on the database: needed to create a publication. */
  readonly canCreateInDatabase: boolean;
  readonly replicationSlots: { readonly max: number; readonly used: number };
  /** `max_connections`, `max_wal_senders`, and client connections open now (this one too). */
  readonly connections: {
    readonly max: number;
    readonly maxWalSenders: number;
    readonly used: number;
  };
  /** Why a replication connection failed, or null when it worked. */
  readonly replicationError: string | null;
  readonly slot: SlotFacts | null;
  /** The publication, or null when it does not exist. */
  readonly publication:
    | { readonly allTables: boolean; readonly tables: ReadonlySet<string> }
    | null;
  /** The configured tables found (every user table when the source takes all). */
  readonly tables: ReadonlyMap<string, TableFacts>;
}

/** Why the server could not be used at all. */
export interface PostgresUnavailable {
  /** `unreachable` when nothing answered, `fail` when the server refused (login, database). */
  readonly status: "unreachable" | "fail";
  readonly error: string;
}

const IDENTITY: Readonly<Record<string, ReplicaIdentity>> = {
  d: "default",
  n: "nothing",
  f: "full",
  i: "index",
};
/** SQLSTATE classes of a server that answered but refused: authorization, unknown database. */
const REFUSED_SQLSTATE = /^(28|3D)/;
const PLUGIN = "pgoutput";

/**
 * Connects to the source and gathers the facts, read-only.
 *
 * @returns the facts, or why the server could not be used.
 */
export async function gatherPostgresFacts(
  source: SourceConfig,
): Promise<PostgresFacts | PostgresUnavailable> {
  const settings = connectionOf(source);
  const sql = openQueryConnection(settings, "check");
  try {
    const server = await serverFacts(sql).catch((error) => unavailable(error));
    if ("status" in server) return server;
    return {
      ...server,
      replicationError: await replicationError(source),
      slot: await slotFacts(sql, source.slot),
      publication: await publicationFacts(sql, source.publication),
      tables: await tableFacts(sql, source.tables),
    };
  } catch (error) {
    return unavailable(error);
  } finally {
    await sql.end({ timeout: 1 }).catch(() => {});
  }
}

function unavailable(error: unknown): PostgresUnavailable {
  const code = (error as { code?: unknown })?.code;
  const answered = (error as { name?: unknown })?.name === "PostgresError";
  const refused = answered && typeof code === "string" && REFUSED_SQLSTATE.test(code);
  return {
    status: refused || answered ? "fail" : "unreachable",
    error: error instanceof Error ? error.message : String(error),
  };
}

async function serverFacts(sql: Sql) {
  const [row] = await sql<{
    version: string;
    wal_level: string;
    name: string;
    replication: boolean;
    superuser: boolean;
    can_create: boolean;
    max_slots: number;
    used_slots: number;
    max_connections: number;
    max_wal_senders: number;
    used_connections: number;
  }[]>`
    SELECT current_setting('server_version') AS version,
           current_setting('wal_level') AS wal_level,
           r.rolname AS name, r.rolreplication AS replication, r.rolsuper AS superuser,
           has_database_privilege(current_database(), 'CREATE') AS can_create,
           current_setting('max_replication_slots')::int AS max_slots,
           (SELECT count(*)::int FROM pg_replication_slots) AS used_slots,
           current_setting('max_connections')::int AS max_connections,
           current_setting('max_wal_senders')::int AS max_wal_senders,
           (SELECT count(*)::int FROM pg_stat_activity
            WHERE backend_type IN ('client backend', 'walsender')) AS used_connections
    FROM pg_roles r WHERE r.rolname = current_user`;
  return {
    // "15.8 (Debian 15.8-1)": the version without the packager's suffix.
    serverVersion: row.version.split(" ")[0],
    walLevel: row.wal_level,
    role: { name: row.name, replication: row.replication, superuser: row.superuser },
    canCreateInDatabase: row.can_create,
    replicationSlots: { max: row.max_slots, used: row.used_slots },
    connections: {
      max: row.max_connections,
      maxWalSenders: row.max_wal_senders,
      used: row.used_connections,
    },
  };
}

/** Opens a replication connection and runs IDENTIFY_SYSTEM; null when that works. */
async function replicationError(source: SourceConfig): Promise<string | null> {
  const replication = openReplicationConnection(connectionOf(source));
  try {
    await replication.unsafe("IDENTIFY_SYSTEM").simple();
    return null;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  } finally {
    await replication.end({ timeout: 1 }).catch(() => {});
  }
}

async function slotFacts(sql: Sql, slot: string): Promise<SlotFacts | null> {
  const [row] = await sql<{
    plugin: string | null;
    database: string | null;
    here: boolean;
    active_pid: number | null;
    wal_status: string | null;
  }[]>`
    SELECT plugin, database, database = current_database() AS here, active_pid, wal_status
    FROM pg_replication_slots WHERE slot_name = ${slot}`;
  if (!row) return null;
  return {
    plugin: row.plugin,
    database: row.database,
    here: row.here,
    activePid: row.active_pid,
    walStatus: row.wal_status,
  };
}

async function publicationFacts(sql: Sql, publication: string) {
  const [row] = await sql<{ all_tables: boolean }[]>`
    SELECT puballtables AS all_tables FROM pg_publication WHERE pubname = ${publication}`;
  if (!row) return null;
  const tables = await sql<{ name: string }[]>`
    SELECT schemaname || '.' || tablename AS name
    FROM pg_publication_tables WHERE pubname = ${publication}`;
  return { allTables: row.all_tables, tables: new Set(tables.map((t) => t.name)) };
}

async function tableFacts(
  sql: Sql,
  tables: "all" | readonly TableName[],
): Promise<Map<string, TableFacts>> {
  const configured = tables === "all"
    ? sql``
    : sql`AND n.nspname || '.' || c.relname = ANY(${tables.map(qualified)})`;
  const rows = await sql<{ name: string; identity: string; has_pk: boolean; owned: boolean }[]>`
    SELECT n.nspname || '.' || c.relname AS name, c.relreplident AS identity,
           EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary) AS has_pk,
           pg_has_role(c.relowner, 'USAGE') AS owned
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p')
      AND n.nspname NOT IN ('pg_catalog', 'information_schema')
      AND n.nspname !~ '^pg_toast' ${configured}`;
  return new Map(rows.map((row) => [row.name, {
    name: row.name,
    identity: IDENTITY[row.identity] ?? "default",
    hasPrimaryKey: row.has_pk,
    owned: row.owned,
  }]));
}

function qualified({ schema, table }: TableName): string {
  return `${schema}.${table}`;
}

/**
 * The verdicts on one source, one line each, from its facts.
 *
 * @example
 * ```ts ignore
 * judgePostgres(source, { ...facts, walLevel: "replica" });
 * // [..., { status: "fail", subject: "postgres main", text: 'wal_level is "replica", ...' }, ...]
 * ```
 */
export function judgePostgres(source: SourceConfig, facts: PostgresFacts): CheckLine[] {
  const subject = `postgres ${source.name}`;
  const line = (status: CheckLine["status"], text: string): CheckLine => ({
    status,
    subject,
    text,
  });
  const where = `${source.host}:${source.port}/${source.database}`;
  return [
    line("ok", `reachable at ${where} as ${facts.role.name} (PostgreSQL ${facts.serverVersion})`),
    judgeWalLevel(facts, line),
    judgeRole(facts, line),
    facts.replicationError === null
      ? line("ok", "replication connection accepted (IDENTIFY_SYSTEM)")
      : line("fail", `replication connection refused: ${facts.replicationError}`),
    judgeSlot(source, facts, line),
    judgeFailoverSlot(source, facts, line),
    judgeTablesExist(source, facts, line),
    ...judgeKeys(facts, line),
    judgePublication(source, facts, line),
  ].filter((entry): entry is CheckLine => entry !== null);
}

type Line = (status: CheckLine["status"], text: string) => CheckLine;

/**
 * The verdict on what the config's sources hold on one server (`plan`), from
 * the facts of one of them: a failure when the server's limits cannot fit it.
 *
 * @example
 * ```ts ignore
 * judgeConnections({ server: "db:5432", replication: 20, monitor: 1, query: 2, total: 23 }, facts);
 * // { status: "ok", subject: "postgres db:5432", text: "the config holds up to 23 connection(s): …" }
 * ```
 */
export function judgeConnections(plan: ServerConnectionPlan, facts: PostgresFacts): CheckLine {
  const { max, maxWalSenders, used } = facts.connections;
  const held = `the config holds up to ${plan.total} connection(s): ` +
    `${plan.replication} replication (one per source), ${plan.monitor} slot monitoring, ` +
    `up to ${plan.query} for queries (max_query_connections per user)`;
  const limits = `max_connections ${max} (${used} in use now), max_wal_senders ${maxWalSenders}`;
  const line = (status: CheckLine["status"], text: string) => ({
    status,
    subject: `postgres ${plan.server}`,
    text,
  });
  if (plan.replication > maxWalSenders) {
    return line("fail", `${held}; max_wal_senders ${maxWalSenders} is too low for them`);
  }
  if (plan.total > max) return line("fail", `${held}; max_connections ${max} is too low for them`);
  return line("ok", `${held}; ${limits}`);
}

function judgeWalLevel(facts: PostgresFacts, line: Line): CheckLine {
  if (facts.walLevel === "logical") return line("ok", "wal_level is logical");
  return line(
    "fail",
    `wal_level is "${facts.walLevel}", but logical replication needs "logical": ` +
      "set wal_level = logical in postgresql.conf and restart PostgreSQL",
  );
}

function judgeRole(facts: PostgresFacts, line: Line): CheckLine {
  const { name, replication, superuser } = facts.role;
  if (replication || superuser) return line("ok", `role ${name} may replicate`);
  return line(
    "fail",
    `role ${name} lacks the REPLICATION attribute: ALTER ROLE ${name} WITH REPLICATION`,
  );
}

/** The first major release with failover slots. */
const FAILOVER_SLOTS_SINCE_MAJOR = 17;

function judgeFailoverSlot(
  source: SourceConfig,
  facts: PostgresFacts,
  line: Line,
): CheckLine | null {
  if (!source.failoverSlot) return null;
  if (parseInt(facts.serverVersion, 10) >= FAILOVER_SLOTS_SINCE_MAJOR) {
    return line("ok", "failover_slot: the slot is (or becomes) a failover slot");
  }
  return line(
    "fail",
    `failover_slot = true needs PostgreSQL 17 or later, but the server is ${facts.serverVersion}: ` +
      "set failover_slot = false, or upgrade the server",
  );
}

function judgeSlot(source: SourceConfig, facts: PostgresFacts, line: Line): CheckLine {
  const name = `slot "${source.slot}"`;
  const slot = facts.slot;
  if (slot === null) {
    if (!source.createSlot) {
      return line(
        "fail",
        `${name} does not exist and create_slot = false: create it or set create_slot = true`,
      );
    }
    const { max, used } = facts.replicationSlots;
    if (used >= max) {
      return line(
        "fail",
        `${name} does not exist and all ${max} max_replication_slots are used: ` +
          "raise max_replication_slots or drop an unused slot",
      );
    }
    return line(
      "ok",
      `${name} does not exist yet; pg2kafka will create it (${max - used} of ${max} slots free)`,
    );
  }
  if (slot.plugin !== PLUGIN) {
    return line("fail", `${name} uses plugin "${slot.plugin}", not ${PLUGIN}`);
  }
  if (!slot.here) return line("fail", `${name} belongs to database "${slot.database}"`);
  if (slot.walStatus === "lost") {
    return line("fail", `${name} is lost (the WAL it needed was removed): drop it and start again`);
  }
  if (slot.activePid !== null) {
    return line(
      "warn",
      `${name} is in use by PID ${slot.activePid}: pg2kafka cannot stream it until that process stops`,
    );
  }
  return line("ok", `${name} exists (${PLUGIN})`);
}

function judgeTablesExist(source: SourceConfig, facts: PostgresFacts, line: Line): CheckLine {
  if (source.tables === "all") {
    return line("ok", `the source takes every table (${facts.tables.size} found)`);
  }
  const missing = source.tables.map(qualified).filter((name) => !facts.tables.has(name));
  if (missing.length > 0) {
    return line("fail", `configured tables do not exist: ${missing.join(", ")}`);
  }
  return line("ok", `the ${source.tables.length} configured table(s) exist`);
}

function judgeKeys(facts: PostgresFacts, line: Line): CheckLine[] {
  const lines: CheckLine[] = [];
  for (const table of facts.tables.values()) {
    const keyed = table.identity === "full" || table.identity === "index" ||
      (table.identity === "default" && table.hasPrimaryKey);
    if (keyed) continue;
    if (table.identity === "nothing" && table.hasPrimaryKey) {
      lines.push(line(
        "warn",
        `table ${table.name} has REPLICA IDENTITY NOTHING although it has a primary key: its ` +
          `messages are keyed by that key, but PostgreSQL refuses its UPDATE and DELETE once ` +
          `published; ALTER TABLE ${table.name} REPLICA IDENTITY DEFAULT`,
      ));
      continue;
    }
    lines.push(line(
      "warn",
      `table ${table.name} has no primary key or replica identity: its messages have no key, and ` +
        `PostgreSQL refuses its UPDATE and DELETE once published; add a primary key or ` +
        `ALTER TABLE ${table.name} REPLICA IDENTITY FULL`,
    ));
  }
  return lines;
}

function judgePublication(source: SourceConfig, facts: PostgresFacts, line: Line): CheckLine {
  const name = `publication "${source.publication}"`;
  const publication = facts.publication;
  if (publication === null) return judgeNewPublication(source, facts, line, name);
  if (source.tables === "all") {
    if (publication.allTables) return line("ok", `${name} exists (FOR ALL TABLES)`);
    return line("fail", `${name} is not FOR ALL TABLES, but tables = ["*"] asks for every table`);
  }
  if (publication.allTables) return line("ok", `${name} exists (FOR ALL TABLES)`);
  const missing = source.tables.map(qualified).filter((table) => !publication.tables.has(table));
  if (missing.length === 0) return line("ok", `${name} exists and covers the configured tables`);
  const names = missing.join(", ");
  if (!source.alterPublication) {
    return line(
      "fail",
      `${name} does not cover ${names}: add them or set alter_publication = true`,
    );
  }
  const notOwned = missing.filter((table) => facts.tables.get(table)?.owned === false);
  if (notOwned.length > 0) {
    return line(
      "fail",
      `${name} lacks ${names}, and role ${facts.role.name} does not own ${
        notOwned.join(", ")
      } to add them`,
    );
  }
  return line("ok", `${name} lacks ${names}; pg2kafka will add them`);
}

function judgeNewPublication(
  source: SourceConfig,
  facts: PostgresFacts,
  line: Line,
  name: string,
): CheckLine {
  if (!source.createPublication) {
    return line(
      "fail",
      `${name} does not exist and create_publication = false: create it or set create_publication = true`,
    );
  }
  const role = facts.role.name;
  if (source.tables === "all") {
    if (facts.role.superuser) {
      return line("ok", `${name} does not exist yet; pg2kafka will create it FOR ALL TABLES`);
    }
    return line(
      "fail",
      `${name} does not exist, and creating it FOR ALL TABLES needs a superuser, which ${role} is not`,
    );
  }
  if (!facts.canCreateInDatabase && !facts.role.superuser) {
    return line(
      "fail",
      `${name} does not exist, and role ${role} lacks CREATE on database ${source.database}`,
    );
  }
  const notOwned = [...facts.tables.values()].filter((table) => !table.owned).map((t) => t.name);
  if (notOwned.length > 0 && !facts.role.superuser) {
    return line(
      "fail",
      `${name} does not exist, and role ${role} does not own ${
        notOwned.join(", ")
      } to publish them`,
    );
  }
  return line("ok", `${name} does not exist yet; pg2kafka will create it`);
}
