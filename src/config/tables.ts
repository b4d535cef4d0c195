/**
 * Table names (`public.orders`) and table patterns (`public.*`,
 * `sales.order_?`) in the config, and the matcher a target uses to decide
 * whether a change concerns it.
 *
 * @module
 */

/** A schema-qualified table name, or a pattern when it contains `*` or `?`. */
export interface TableName {
  /** Schema (namespace); `public` when the config left it out. */
  schema: string;
  /** Table name. */
  table: string;
}

/** Reading a table name or pattern: the name, or why it is not one. */
export type TableReading = { ok: true; value: TableName } | { ok: false; reason: string };

/** The schema an unqualified table name belongs to. */
export const DEFAULT_SCHEMA = "public";

/**
 * Publication, schema and table names: a letter or underscore, then letters,
 * digits, `_` or `$`, at most 63 characters (PostgreSQL's NAMEDATALEN - 1).
 */
export const IDENTIFIER_PATTERN = /^[A-Za-z_][A-Za-z0-9_$]{0,62}$/;

/** Like {@linkcode IDENTIFIER_PATTERN}, with the globs `*` and `?` allowed anywhere. */
const GLOB_PATTERN = /^[A-Za-z_*?][A-Za-z0-9_$*?]{0,62}$/;

const IDENTIFIER_RULE = "a letter or _, then letters, digits, _ or $, at most 63 characters";

/**
 * Reads an exact table name: `schema.table`, or `table` for schema `public`.
 *
 * @example
 * ```ts
 * import { readTableName } from "./tables.ts";
 *
 * readTableName("orders"); // { ok: true, value: { schema: "public", table: "orders" } }
 * ```
 */
export function readTableName(text: string): TableReading {
  return readQualified(text, IDENTIFIER_PATTERN);
}

/**
 * Reads a table pattern: like a table name, with `*` (any run of characters)
 * and `?` (one character) allowed in both parts. `*.*` means every table.
 *
 * @example
 * ```ts
 * import { readTablePattern } from "./tables.ts";
 *
 * readTablePattern("sales.*"); // { ok: true, value: { schema: "sales", table: "*" } }
 * readTablePattern("*"); // { ok: true, value: { schema: "public", table: "*" } }
 * ```
 */
export function readTablePattern(text: string): TableReading {
  return readQualified(text, GLOB_PATTERN);
}

/**
 * Compiles patterns into one predicate: true when the table matches any of
 * them. Exact parts compare as strings; globs compile to anchored regular
 * expressions once, so the returned function does not allocate.
 *
 * @example
 * ```ts
 * import { compileTableMatcher } from "./tables.ts";
 *
 * const matches = compileTableMatcher([{ schema: "public", table: "order_*" }]);
 * matches("public", "order_items"); // true
 * matches("audit", "order_items"); // false
 * ```
 */
export function compileTableMatcher(
  patterns: readonly TableName[],
): (schema: string, table: string) => boolean {
  const compiled = patterns.map(({ schema, table }) => ({
    schema: compilePart(schema),
    table: compilePart(table),
  }));
  return (schema, table) =>
    compiled.some((pattern) => pattern.schema(schema) && pattern.table(table));
}

function readQualified(text: string, partPattern: RegExp): TableReading {
  const parts = text.split(".");
  if (parts.length > 2) {
    return { ok: false, reason: "expected at most one dot, between schema and table" };
  }
  const [schema, table] = parts.length === 2 ? parts : [DEFAULT_SCHEMA, parts[0]];
  for (const [part, role] of [[schema, "schema"], [table, "table"]]) {
    if (!partPattern.test(part)) {
      const shown = part === "" ? "is empty" : `"${part}" is not valid`;
      return { ok: false, reason: `the ${role} name ${shown}: use ${IDENTIFIER_RULE}` };
    }
  }
  return { ok: true, value: { schema, table } };
}

function compilePart(part: string): (name: string) => boolean {
  if (!part.includes("*") && !part.includes("?")) return (name) => name === part;
  const source = [...part]
    .map((char) => char === "*" ? ".*" : char === "?" ? "." : char.replace("$", "\\$"))
    .join("");
  const pattern = new RegExp(`^${source}$`);
  return (name) => pattern.test(name);
}
