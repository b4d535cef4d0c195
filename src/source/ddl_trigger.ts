/**
 * pg2kafka's DDL event triggers: two event triggers that write each DDL
 * command on a table into the WAL as a transactional logical message
 * (`pg_logical_emit_message(true, 'pg2kafka.ddl', json)`), with the command
 * tag, the object identity, the statement and the table's columns after the
 * command. pgoutput passes such messages on with `messages 'true'`
 * (PostgreSQL 14+) in commit order; a rolled-back DDL writes nothing that is
 * decoded.
 *
 * - `pg2kafka_ddl` (`ddl_command_end`): CREATE TABLE, CREATE TABLE AS,
 *   SELECT INTO and ALTER TABLE, once per table the command touched.
 * - `pg2kafka_ddl_drop` (`sql_drop`): every table a command dropped (DROP
 *   TABLE, DROP SCHEMA … CASCADE), with no columns.
 *
 * Creating event triggers needs a superuser. The functions are SECURITY
 * DEFINER so the DDL of any role can write the message, and a failure to
 * write one is a WARNING, never an error: the trigger must not block DDL.
 *
 * @module
 */
import type { Sql } from "postgres";
import { DDL_MESSAGE_PREFIX } from "../pipeline/schema_change.ts";

/** The names of the event triggers and their functions. */
export const DDL_TRIGGERS = {
  command: "pg2kafka_ddl",
  drop: "pg2kafka_ddl_drop",
} as const;

/** The schema the trigger functions live in. */
export const DDL_FUNCTION_SCHEMA = "public";

/** The first PostgreSQL version (as `server_version_num`) whose pgoutput passes logical messages. */
export const MIN_MESSAGES_VERSION_NUM = 140_000;

/** The command tags `pg2kafka_ddl` fires on. */
const COMMAND_TAGS = ["CREATE TABLE", "CREATE TABLE AS", "SELECT INTO", "ALTER TABLE"];

/** A table's columns after the command, as JSON (the `columns` of the message). */
const COLUMNS_JSON = `(
  SELECT json_agg(json_build_object(
    'name', a.attname,
    'type', format_type(a.atttypid, a.atttypmod),
    'type_oid', a.atttypid,
    'not_null', a.attnotnull,
    'key', EXISTS (SELECT 1 FROM pg_index i
                   WHERE i.indrelid = a.attrelid AND i.indisprimary AND a.attnum = ANY (i.indkey))
  ) ORDER BY a.attnum)
  FROM pg_attribute a
  WHERE a.attrelid = command.objid AND a.attnum > 0 AND NOT a.attisdropped)`;

/** Writes `message` (a json expression), or warns when that fails: DDL must go on. */
function emit(message: string): string {
  return `BEGIN
      PERFORM pg_logical_emit_message(true, '${DDL_MESSAGE_PREFIX}', (${message})::text);
    EXCEPTION WHEN OTHERS THEN
      RAISE WARNING 'pg2kafka could not record a schema change: %', SQLERRM;
    END;`;
}

const COMMAND_FUNCTION = `
CREATE OR REPLACE FUNCTION ${DDL_FUNCTION_SCHEMA}.${DDL_TRIGGERS.command}() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $pg2kafka$
DECLARE
  command record;
BEGIN
  FOR command IN
    SELECT c.command_tag, c.object_type, c.object_identity, c.schema_name, c.objid, r.relname
    FROM pg_event_trigger_ddl_commands() c JOIN pg_class r ON r.oid = c.objid
    WHERE c.classid = 'pg_class'::regclass AND c.object_type IN ('table', 'table column')
      AND c.schema_name NOT IN ('pg_catalog', 'information_schema')
      AND c.schema_name NOT LIKE 'pg\\_temp%' AND NOT c.in_extension
  LOOP
    ${
  emit(`json_build_object(
      'command_tag', command.command_tag, 'object_type', command.object_type,
      'object_identity', command.object_identity, 'schema', command.schema_name,
      'table', command.relname, 'statement', current_query(), 'columns', ${COLUMNS_JSON})`)
}
  END LOOP;
END
$pg2kafka$`;

const DROP_FUNCTION = `
CREATE OR REPLACE FUNCTION ${DDL_FUNCTION_SCHEMA}.${DDL_TRIGGERS.drop}() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $pg2kafka$
DECLARE
  dropped record;
BEGIN
  FOR dropped IN
    SELECT * FROM pg_event_trigger_dropped_objects()
    WHERE classid = 'pg_class'::regclass AND object_type = 'table' AND NOT is_temporary
  LOOP
    ${
  emit(`json_build_object(
      'command_tag', tg_tag, 'object_type', dropped.object_type,
      'object_identity', dropped.object_identity, 'schema', dropped.schema_name,
      'table', dropped.object_name, 'statement', current_query(), 'columns', NULL)`)
}
  END LOOP;
END
$pg2kafka$`;

const tagList = COMMAND_TAGS.map((tag) => `'${tag}'`).join(", ");

/**
 * The SQL that installs (or refreshes) the triggers: run it as a superuser,
 * or let pg2kafka run it (`install_trigger = true`). Idempotent.
 */
export const DDL_TRIGGER_SQL = `${COMMAND_FUNCTION};
${DROP_FUNCTION};
DROP EVENT TRIGGER IF EXISTS ${DDL_TRIGGERS.command};
CREATE EVENT TRIGGER ${DDL_TRIGGERS.command} ON ddl_command_end
  WHEN TAG IN (${tagList})
  EXECUTE FUNCTION ${DDL_FUNCTION_SCHEMA}.${DDL_TRIGGERS.command}();
DROP EVENT TRIGGER IF EXISTS ${DDL_TRIGGERS.drop};
CREATE EVENT TRIGGER ${DDL_TRIGGERS.drop} ON sql_drop
  EXECUTE FUNCTION ${DDL_FUNCTION_SCHEMA}.${DDL_TRIGGERS.drop}();
`;

/** The SQL that removes the triggers and their functions. */
export const DDL_TRIGGER_REMOVAL_SQL = `DROP EVENT TRIGGER IF EXISTS ${DDL_TRIGGERS.command};
DROP EVENT TRIGGER IF EXISTS ${DDL_TRIGGERS.drop};
DROP FUNCTION IF EXISTS ${DDL_FUNCTION_SCHEMA}.${DDL_TRIGGERS.command}();
DROP FUNCTION IF EXISTS ${DDL_FUNCTION_SCHEMA}.${DDL_TRIGGERS.drop}();
`;

/** What the server has of the triggers. */
export interface DdlTriggerState {
  /** Triggers that are missing or disabled, by name; empty when both fire. */
  readonly missing: readonly string[];
  /** Whether pgoutput on this server can pass logical messages (PostgreSQL 14+). */
  readonly messagesSupported: boolean;
}

/**
 * Looks up the triggers, read-only.
 *
 * @example
 * ```ts ignore
 * const { missing } = await ddlTriggerState(sql);
 * if (missing.length > 0) console.log(`missing: ${missing.join(", ")}`);
 * ```
 */
export async function ddlTriggerState(sql: Sql): Promise<DdlTriggerState> {
  const names = Object.values(DDL_TRIGGERS);
  const rows = await sql<{ name: string }[]>`
    SELECT evtname AS name FROM pg_event_trigger
    WHERE evtname = ANY(${names}) AND evtenabled <> 'D'`;
  const [{ version }] = await sql<{ version: number }[]>`
    SELECT current_setting('server_version_num')::int AS version`;
  const present = new Set(rows.map((row) => row.name));
  return {
    missing: names.filter((name) => !present.has(name)),
    messagesSupported: version >= MIN_MESSAGES_VERSION_NUM,
  };
}

/**
 * Installs (or refreshes) the triggers in one transaction.
 *
 * @throws the server's error, e.g. "permission denied to create event
 *   trigger" for a role that is not a superuser.
 */
export async function installDdlTrigger(sql: Sql): Promise<void> {
  await sql.begin((transaction) => transaction.unsafe(DDL_TRIGGER_SQL).simple());
}
