/**
 * `pg2kafka check --connect`, the parts that need the tables' columns and
 * the server's event triggers: column rules against the real tables (a rule
 * or pattern that matches nothing is a warning, a rule that drops a table's
 * key column a failure) and, for `schema_changes.via = "trigger"`, the DDL
 * event triggers and a server whose pgoutput passes logical messages.
 *
 * Gathering ({@linkcode gatherSchemaFacts}) is apart from judging
 * ({@linkcode judgeSchema}), as in check_postgres.ts.
 *
 * @module
 */
import type { Sql } from "postgres";
import { connectionOf } from "../source/connect.ts";
import { compileColumnMatcher, type SourceConfig, type TargetConfig } from "../config/mod.ts";
import { openQueryConnection } from "../source/connect.ts";
import { type DdlTriggerState, ddlTriggerState } from "../source/ddl_trigger.ts";
import type { CheckLine } from "./check_line.ts";

/** A table's columns and the columns its messages are keyed by. */
export interface TableColumns {
  /** `schema.table`. */
  readonly name: string;
  readonly schema: string;
  readonly table: string;
  /** Column names in table order. */
  readonly columns: readonly string[];
  /** The replica identity index's columns, else the primary key's; empty for none. */
  readonly keyColumns: readonly string[];
}

/** What the schema verdicts are based on. */
export interface SchemaFacts {
  /** Every user table of the database. */
  readonly tables: readonly TableColumns[];
  /** The DDL triggers, when the source takes its schema changes from them. */
  readonly trigger: (DdlTriggerState & { readonly superuser: boolean }) | null;
}

/**
 * Reads the tables' columns and, when needed, the triggers, read-only.
 *
 * @throws the connection's error (the caller already found the server reachable).
 */
export async function gatherSchemaFacts(source: SourceConfig): Promise<SchemaFacts> {
  const sql = openQueryConnection(connectionOf(source));
  try {
    const tables = await tableColumns(sql);
    const wantsTrigger = source.schemaChanges.enabled && source.schemaChanges.via === "trigger";
    if (!wantsTrigger) return { tables, trigger: null };
    const [{ superuser }] = await sql<{ superuser: boolean }[]>`
      SELECT rolsuper AS superuser FROM pg_roles WHERE rolname = current_user`;
    return { tables, trigger: { ...await ddlTriggerState(sql), superuser } };
  } finally {
    await sql.end({ timeout: 1 }).catch(() => {});
  }
}

async function tableColumns(sql: Sql): Promise<TableColumns[]> {
  const rows = await sql<{ schema: string; table: string; columns: string[]; keys: string[] }[]>`
    SELECT n.nspname AS schema, c.relname AS table,
           array(SELECT a.attname::text FROM pg_attribute a
                 WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
                 ORDER BY a.attnum) AS columns,
           array(SELECT a.attname::text FROM pg_index i
                 JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
                 WHERE i.indrelid = c.oid
                   AND (i.indisreplident OR (c.relreplident IN ('d', 'f') AND i.indisprimary))
                 ORDER BY a.attnum) AS keys
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p')
      AND n.nspname NOT IN ('pg_catalog', 'information_schema')
      AND n.nspname !~ '^pg_toast'`;
  return rows.map((row) => ({
    name: `${row.schema}.${row.table}`,
    schema: row.schema,
    table: row.table,
    columns: row.columns,
    keyColumns: row.keys,
  }));
}

/**
 * The verdicts on the column rules of `targets` (those reading `source`) and
 * on the source's DDL triggers.
 *
 * @example
 * ```ts ignore
 * judgeSchema(source, config.targets, facts);
 * // [{ status: "warn", subject: "postgres main", text: 'target "out" column_rules[1]: …' }]
 * ```
 */
export function judgeSchema(
  source: SourceConfig,
  targets: readonly TargetConfig[],
  facts: SchemaFacts,
): CheckLine[] {
  const subject = `postgres ${source.name}`;
  const lines: CheckLine[] = [];
  for (const target of targets) {
    if (target.sources.length > 0 && !target.sources.includes(source.name)) continue;
    const tables = facts.tables.filter((table) => target.matchesTable(table.schema, table.table));
    target.columnRules.forEach((rule, index) => {
      const where = `target "${target.name}" column_rules[${index}]`;
      for (const text of judgeRule(rule, index, target, tables)) {
        lines.push({ status: text.status, subject, text: `${where}: ${text.text}` });
      }
    });
  }
  if (facts.trigger !== null) lines.push({ subject, ...judgeTrigger(source, facts.trigger) });
  return lines;
}

type Verdict = Pick<CheckLine, "status" | "text">;

function judgeRule(
  rule: TargetConfig["columnRules"][number],
  index: number,
  target: TargetConfig,
  targetTables: readonly TableColumns[],
): Verdict[] {
  const tables = targetTables.filter((table) => rule.matchesTable(table.schema, table.table));
  if (tables.length === 0) {
    return [{ status: "warn", text: "covers no table of the target: it never applies" }];
  }
  const verdicts: Verdict[] = [];
  for (const pattern of rule.columns) {
    const matchesPattern = compileColumnMatcher([pattern]);
    if (!tables.some((table) => table.columns.some(matchesPattern))) {
      verdicts.push({
        status: "warn",
        text: `column "${pattern}" matches no column of ${names(tables)}: a typo?`,
      });
    }
  }
  const earlier = target.columnRules.slice(0, index);
  if (rule.action.kind === "drop" && target.keyColumns.length === 0) {
    for (const table of tables) {
      // A column an earlier rule takes is not dropped by this one.
      const dropped = table.keyColumns.filter((column) =>
        rule.matchesColumn(column) && !earlier.some((other) => other.matchesColumn(column))
      );
      if (dropped.length === 0) continue;
      verdicts.push({
        status: "fail",
        text: `drops key column(s) ${dropped.join(", ")} of ${table.name}: its messages ` +
          "would be keyed without them, so one row's changes could go to different " +
          "partitions; hash or mask them instead",
      });
    }
  }
  return verdicts;
}

function names(tables: readonly TableColumns[]): string {
  const MAX_NAMED = 3;
  const named = tables.slice(0, MAX_NAMED).map((table) => table.name).join(", ");
  return tables.length > MAX_NAMED ? `${named} and ${tables.length - MAX_NAMED} more` : named;
}

function judgeTrigger(
  source: SourceConfig,
  trigger: DdlTriggerState & { superuser: boolean },
): Verdict {
  if (!trigger.messagesSupported) {
    return {
      status: "fail",
      text: 'schema_changes.via = "trigger" needs PostgreSQL 14 or later, whose pgoutput ' +
        'passes logical messages: use via = "relation"',
    };
  }
  if (trigger.missing.length === 0) {
    return { status: "ok", text: "the DDL event triggers are installed and enabled" };
  }
  const missing = trigger.missing.join(", ");
  if (source.schemaChanges.installTrigger && trigger.superuser) {
    return {
      status: "ok",
      text: `event trigger(s) ${missing} missing; pg2kafka will install them`,
    };
  }
  const how = source.schemaChanges.installTrigger
    ? `install_trigger = true, but role ${source.user} is not a superuser, which creating ` +
      "event triggers needs"
    : "set install_trigger = true (as a superuser) or run the SQL of docs/schema_changes.md";
  return { status: "fail", text: `event trigger(s) ${missing} missing or disabled: ${how}` };
}
