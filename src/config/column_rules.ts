/**
 * `[[targets.column_rules]]`: the schema of one rule, the checks that span
 * a target's rules and its `key_columns`, and the compiled rules the
 * pipeline applies (`src/pipeline/columns.ts`).
 *
 * @module
 */
import { z } from "zod";
import { formatPath, type IssueCollector } from "./issues.ts";
import { integer, nonEmptyString, refinementIssue, tableLeaf, whenValid } from "./leaves.ts";
import { compileTableMatcher, readTablePattern, type TableName } from "./tables.ts";
import type { ColumnAction, ColumnRule } from "./types.ts";

/** What a rule can do to a column. */
export const COLUMN_ACTIONS = ["drop", "mask", "hash", "truncate", "rename"] as const;

/** The replacement `mask` writes when the rule names none. */
export const DEFAULT_MASK = "****";

/**
 * The shortest HMAC secret accepted, in bytes: shorter keys make the hashes
 * of guessable values (emails, card numbers) cheap to brute-force.
 */
export const MIN_SECRET_BYTES = 16;

/** Every table of the target. */
const ALL_TABLES = "*.*";

/** The keys only one action takes, and that action. */
const ACTION_KEYS = {
  with: "mask",
  secret: "hash",
  length: "truncate",
  to: "rename",
} as const;

/** Characters that make a column name a pattern. */
const GLOB = /[*?]/;

const tablePattern = tableLeaf(
  `a table pattern such as "public.customers" or "crm.*"`,
  readTablePattern,
);

/** One `[[targets.column_rules]]` entry. */
export const columnRuleSchema = z.strictObject({
  tables: z.array(tablePattern).min(1).prefault([ALL_TABLES]),
  columns: z.array(nonEmptyString()).min(1),
  action: z.enum(COLUMN_ACTIONS),
  with: z.string().optional(),
  secret: z.string().optional(),
  encoding: z.enum(["hex", "base64"]).prefault("hex"),
  length: integer(1).optional(),
  unit: z.enum(["chars", "bytes"]).prefault("chars"),
  to: nonEmptyString().optional(),
}).superRefine((rule, context) => {
  for (const [key, action] of Object.entries(ACTION_KEYS)) {
    const given = rule[key as keyof typeof ACTION_KEYS] !== undefined;
    if (given && rule.action !== action) {
      const message = `expected no ${key} because action is "${rule.action}" ` +
        `(${key} belongs to action = "${action}")`;
      context.issues.push(refinementIssue([key], message));
    }
  }
  const required = { hash: "secret", truncate: "length", rename: "to" } as const;
  const needed = required[rule.action as keyof typeof required];
  if (needed !== undefined && rule[needed] === undefined) {
    const message = `expected ${needed} because action is "${rule.action}", found none`;
    context.issues.push(refinementIssue([needed], message));
  }
  if (rule.action === "hash" && rule.secret !== undefined) {
    const bytes = new TextEncoder().encode(rule.secret).length;
    if (bytes < MIN_SECRET_BYTES) {
      // Not quoting the secret, nor its length: only that it is too short.
      const message = `expected a secret of at least ${MIN_SECRET_BYTES} bytes`;
      context.issues.push(refinementIssue(["secret"], message));
    }
  }
  if (rule.action === "rename" && (rule.columns.length !== 1 || GLOB.test(rule.columns[0]))) {
    const message = `expected one column name without * or ? because action is "rename" ` +
      `(many columns cannot take one name)`;
    context.issues.push(refinementIssue(["columns"], message));
  }
}, whenValid("action", "columns", "with", "secret", "length", "to"));

/** A validated rule, in TOML's shape. */
export type ValidatedColumnRule = z.output<typeof columnRuleSchema>;

/** What the cross-rule checks read of a validated target. */
interface TargetRules {
  key_columns: readonly string[];
  column_rules: readonly ValidatedColumnRule[];
}

/**
 * Checks a target's rules against each other and against its `key_columns`:
 * a hash secret written in the file instead of coming from the environment,
 * a key column dropped or renamed, a rule that an earlier one shadows
 * entirely, two renames to one name.
 *
 * @param index the target's index, for issue paths.
 */
export function checkColumnRules(
  target: TargetRules,
  index: number,
  collector: IssueCollector,
): void {
  const rules = target.column_rules;
  const renamedTo = new Map<string, number>();
  for (const [position, rule] of rules.entries()) {
    const path = (...keys: string[]) =>
      formatPath(["targets", index, "column_rules", position, ...keys]);
    if (rule.action === "hash" && !collector.isSecret(path("secret"))) {
      collector.add(
        path("secret"),
        `expected the secret from the environment, such as "\${PG2KAFKA_HASH_SECRET}", ` +
          "found it written in the file",
      );
    }
    if (rule.action === "drop" || rule.action === "rename") {
      const matches = compileColumnMatcher(rule.columns);
      for (const key of target.key_columns.filter(matches)) {
        const effect = rule.action === "drop"
          ? "the message key would lose it"
          : "the message key would no longer carry the column key_columns names";
        collector.add(
          path("columns"),
          `expected no key column because action is "${rule.action}", found key column ` +
            `"${key}" (key_columns): ${effect}; hash or mask it instead`,
        );
      }
    }
    if (rule.to !== undefined && rule.action === "rename") {
      const earlier = renamedTo.get(rule.to);
      if (earlier !== undefined) {
        collector.add(
          path("to"),
          `expected a name no other rename gives, found "${rule.to}" (also ` +
            `${formatPath(["targets", index, "column_rules", earlier, "to"])})`,
        );
      } else renamedTo.set(rule.to, position);
    }
    const shadow = rules.slice(0, position).findIndex((earlier) => shadows(earlier, rule));
    if (shadow !== -1) {
      collector.add(
        path("columns"),
        `expected columns no earlier rule takes, found them all taken by ` +
          `${formatPath(["targets", index, "column_rules", shadow])} (the first matching ` +
          "rule wins, so this one never applies)",
      );
    }
  }
}

/** Whether `earlier` takes every column of every table `later` names. */
function shadows(earlier: ValidatedColumnRule, later: ValidatedColumnRule): boolean {
  const sameTables = tablesText(earlier.tables) === tablesText(later.tables) ||
    earlier.tables.some(({ schema, table }) => schema === "*" && table === "*");
  if (!sameTables) return false;
  const matches = compileColumnMatcher(earlier.columns);
  // A pattern is taken when the earlier rule lists it as written or takes everything.
  return later.columns.every((column) =>
    earlier.columns.includes(column) || earlier.columns.includes("*") ||
    (!GLOB.test(column) && matches(column))
  );
}

function tablesText(tables: readonly TableName[]): string {
  return tables.map(({ schema, table }) => `${schema}.${table}`).sort().join(",");
}

/**
 * Compiles column name patterns (`*` any run of characters, `?` one) into
 * one predicate.
 *
 * @example
 * ```ts
 * const matches = compileColumnMatcher(["email", "*_phone"]);
 * matches("home_phone"); // true
 * matches("emails"); // false
 * ```
 */
export function compileColumnMatcher(patterns: readonly string[]): (column: string) => boolean {
  const exact = new Set(patterns.filter((pattern) => !GLOB.test(pattern)));
  const globs = patterns.filter((pattern) => GLOB.test(pattern)).map((pattern) => {
    const source = [...pattern]
      .map((char) =>
        char === "*" ? ".*" : char === "?" ? "." : char.replace(/[.+^${}()|[\]\\]/, "\\$&")
      )
      .join("");
    return new RegExp(`^${source}$`, "s");
  });
  return (column) => exact.has(column) || globs.some((glob) => glob.test(column));
}

/** The typed rule of a validated one, with its matchers compiled. */
export function resolveColumnRule(rule: ValidatedColumnRule): ColumnRule {
  return {
    tables: rule.tables,
    matchesTable: compileTableMatcher(rule.tables),
    columns: rule.columns,
    matchesColumn: compileColumnMatcher(rule.columns),
    action: actionOf(rule),
  };
}

function actionOf(rule: ValidatedColumnRule): ColumnAction {
  switch (rule.action) {
    case "drop":
      return { kind: "drop" };
    case "mask":
      return { kind: "mask", with: rule.with ?? DEFAULT_MASK };
    case "hash":
      return { kind: "hash", secret: rule.secret!, encoding: rule.encoding };
    case "truncate":
      return { kind: "truncate", length: rule.length!, unit: rule.unit };
    case "rename":
      return { kind: "rename", to: rule.to! };
  }
}
