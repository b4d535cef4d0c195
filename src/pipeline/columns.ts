/**
 * Column rules (`[[targets.column_rules]]`): personal data is dropped,
 * masked, hashed, truncated or renamed before anything is encoded, in the
 * new row, the old row, the key and therefore the dead-letter copy alike.
 *
 * Rules are compiled once per target ({@linkcode ColumnPolicy}) and once per
 * table ({@linkcode TablePolicy}); a column's fate is decided the first time
 * its name shows up in that table and kept, so the hot path does a map
 * lookup per column and never matches a pattern. Tables no rule covers get
 * no table policy at all, and their events pass untouched.
 *
 * Filters (`where`) see the rows as the database sent them, before the
 * rules: they name the database's columns, as `key_columns` do.
 *
 * @module
 */
import type { ColumnAction, ColumnRule } from "../config/mod.ts";
import type { ChangeEvent, Row } from "../model.ts";
import { logger } from "../telemetry/log.ts";
import { keyOf } from "./encode.ts";
import { type DigestEncoding, Hmac256 } from "./hmac.ts";

const log = logger("columns");

/** A column's value transform; NULL stays NULL before it is called. */
type Transform = (value: unknown) => unknown;

/** What happens to one column of one table. */
interface ColumnPlan {
  /** The column's name in messages, or null when the column is dropped. */
  readonly name: string | null;
  /** The value transform, or null to keep the value. */
  readonly transform: Transform | null;
  /** Whether the value becomes a string whatever its type (mask, hash). */
  readonly replaced: boolean;
}

/** A column no rule matches. */
const KEEP_PLAN: ColumnPlan = Object.freeze({ name: null, transform: null, replaced: false });
const PROTOTYPE_KEY = "__proto__";
const NO_COLUMNS: readonly string[] = Object.freeze([]);

/**
 * The column rules of one target, with a {@linkcode TablePolicy} per table
 * built on first use.
 *
 * @example
 * ```ts ignore
 * const policy = ColumnPolicy.of(target.columnRules);
 * const table = policy?.forTable("public", "customers") ?? null;
 * const shown = table === null ? event : table.apply(event);
 * ```
 */
export class ColumnPolicy {
  readonly #rules: readonly CompiledRule[];
  readonly #tables = new Map<string, TablePolicy | null>();

  private constructor(rules: readonly CompiledRule[]) {
    this.#rules = rules;
  }

  /** The policy of `rules`, or null when there are none (nothing to do). */
  static of(rules: readonly ColumnRule[] | undefined): ColumnPolicy | null {
    if (rules === undefined || rules.length === 0) return null;
    return new ColumnPolicy(rules.map(compileRule));
  }

  /** The policy of one table, or null when no rule covers the table. */
  forTable(schema: string, table: string): TablePolicy | null {
    const name = `${schema}.${table}`;
    let policy = this.#tables.get(name);
    if (policy === undefined) {
      const rules = this.#rules.filter((rule) => rule.source.matchesTable(schema, table));
      policy = rules.length === 0 ? null : new TablePolicy(name, rules);
      this.#tables.set(name, policy);
    }
    return policy;
  }
}

/** A rule with its value transform built (the HMAC key prepared once). */
interface CompiledRule {
  readonly source: ColumnRule;
  readonly transform: Transform | null;
  /** The new name (rename), or undefined to keep it. */
  readonly rename?: string;
  readonly drop: boolean;
}

function compileRule(rule: ColumnRule): CompiledRule {
  const action = rule.action;
  const rename = action.kind === "rename" ? action.to : undefined;
  return { source: rule, transform: transformOf(action), rename, drop: action.kind === "drop" };
}

/**
 * The value transform of an action, or null for those that keep the value
 * (drop, rename).
 *
 * @example
 * ```ts
 * transformOf({ kind: "truncate", length: 3, unit: "chars" })!("héllo"); // "hél"
 * ```
 */
export function transformOf(action: ColumnAction): Transform | null {
  switch (action.kind) {
    case "drop":
    case "rename":
      return null;
    case "mask": {
      const replacement = action.with;
      return () => replacement;
    }
    case "hash": {
      const hmac = new Hmac256(new TextEncoder().encode(action.secret));
      const encoding: DigestEncoding = action.encoding;
      return (value) => hmac.digest(valueText(value), encoding);
    }
    case "truncate":
      return action.unit === "chars"
        ? (value) => typeof value === "string" ? truncateChars(value, action.length) : value
        : truncateBytesOf(action.length);
  }
}

/**
 * The text a value is hashed as: a string as it is, a number or boolean as
 * JSON writes it, anything else (json, arrays) as its JSON text.
 */
export function valueText(value: unknown): string {
  return typeof value === "string" ? value : JSON.stringify(value);
}

/**
 * The first `length` characters (Unicode code points, so a character outside
 * the Basic Multilingual Plane is never cut in half) of `text`.
 *
 * @example
 * ```ts
 * truncateChars("a😀b", 2); // "a😀"
 * ```
 */
export function truncateChars(text: string, length: number): string {
  // A code point takes one or two UTF-16 units: short enough as units is short enough.
  if (text.length <= length) return text;
  let end = 0;
  for (let count = 0; count < length && end < text.length; count++) {
    const unit = text.charCodeAt(end);
    const pair = unit >= 0xd800 && unit <= 0xdbff && end + 1 < text.length;
    end += pair ? 2 : 1;
  }
  return text.slice(0, end);
}

/** Bytes UTF-8 takes at most per UTF-16 unit. */
const MAX_UTF8_BYTES_PER_UNIT = 3;

/**
 * A transform keeping at most `length` UTF-8 bytes of a string, cut at a
 * character boundary; other values pass unchanged.
 *
 * @example
 * ```ts
 * truncateBytesOf(3)("héllo"); // "hé" (h is 1 byte, é is 2)
 * ```
 */
export function truncateBytesOf(length: number): Transform {
  const encoder = new TextEncoder();
  const buffer = new Uint8Array(length);
  return (value) => {
    if (typeof value !== "string") return value;
    if (value.length * MAX_UTF8_BYTES_PER_UNIT <= length) return value;
    // encodeInto writes whole characters only: `read` ends on a boundary.
    const { read } = encoder.encodeInto(value, buffer);
    return read === value.length ? value : value.slice(0, read);
  };
}

/** The column rules as they apply to one table. */
export class TablePolicy {
  /** `schema.table`. */
  readonly table: string;
  readonly #rules: readonly CompiledRule[];
  /** Each column's plan, decided on the column's first appearance. */
  readonly #plans = new Map<string, ColumnPlan>();
  /** Key columns already reported as dropped, so the error is logged once. */
  readonly #reportedKeys = new Set<string>();

  constructor(table: string, rules: readonly CompiledRule[]) {
    this.table = table;
    this.#rules = rules;
  }

  /**
   * The event as messages show it: `before`, `after` and `unchanged` with
   * the rules applied. Positions, op and table stay as they are.
   */
  apply(event: ChangeEvent): ChangeEvent {
    return {
      ...event,
      before: this.row(event.before),
      after: this.row(event.after),
      unchanged: event.unchanged.length === 0 ? event.unchanged : this.names(event.unchanged),
    };
  }

  /**
   * The message key of `row` by `columns` (database names), with the rules
   * applied to it as to a row; null when there are no key columns, no row,
   * or every key column is dropped.
   */
  key(columns: readonly string[], row: Row | null): string | null {
    const key = this.row(keyOf(columns, row));
    if (key === null) return null;
    for (const column of columns) {
      const plan = this.#plan(column);
      if (plan !== KEEP_PLAN && plan.name === null) this.#reportDroppedKey(column);
    }
    for (const _ in key) return JSON.stringify(key);
    return null;
  }

  /** `row` with the rules applied: a new object, or `row` itself when it is null. */
  row(row: Row | null): Row | null {
    if (row === null) return null;
    const shown: Row = {};
    for (const column in row) {
      const plan = this.#plan(column);
      if (plan === KEEP_PLAN) {
        setColumn(shown, column, row[column]);
        continue;
      }
      if (plan.name === null) continue;
      const value = row[column];
      const transformed = value === null || plan.transform === null ? value : plan.transform(value);
      setColumn(shown, plan.name, transformed);
    }
    return shown;
  }

  /** Column names as messages show them: renamed, dropped ones left out. */
  names(columns: readonly string[]): readonly string[] {
    const shown: string[] = [];
    for (const column of columns) {
      const plan = this.#plan(column);
      if (plan === KEEP_PLAN) shown.push(column);
      else if (plan.name !== null) shown.push(plan.name);
    }
    return shown.length === 0 ? NO_COLUMNS : shown;
  }

  /**
   * How messages show `column`: its name there (null when dropped), and
   * whether its value is replaced by a string (mask, hash), which changes its
   * type in a schema.
   */
  shown(column: string): { readonly name: string | null; readonly replaced: boolean } {
    const plan = this.#plan(column);
    return plan === KEEP_PLAN ? { name: column, replaced: false } : plan;
  }

  /** Whether some rule changes or drops `column`. */
  covers(column: string): boolean {
    return this.#plan(column) !== KEEP_PLAN;
  }

  #plan(column: string): ColumnPlan {
    let plan = this.#plans.get(column);
    if (plan === undefined) {
      const rule = this.#rules.find((candidate) => candidate.source.matchesColumn(column));
      plan = rule === undefined ? KEEP_PLAN : {
        name: rule.drop ? null : rule.rename ?? column,
        transform: rule.transform,
        replaced: rule.source.action.kind === "mask" || rule.source.action.kind === "hash",
      };
      this.#plans.set(column, plan);
    }
    return plan;
  }

  #reportDroppedKey(column: string): void {
    if (this.#reportedKeys.has(column)) return;
    this.#reportedKeys.add(column);
    log.error(
      "A column rule drops key column {column} of {table}: its messages are keyed without it, " +
        "so changes to one row may go to different partitions; hash or mask it instead",
      { column, table: this.table },
    );
  }
}

/** Sets a column; a column named `__proto__` becomes a field, not the row's prototype. */
function setColumn(row: Row, name: string, value: unknown): void {
  if (name !== PROTOTYPE_KEY) {
    row[name] = value;
    return;
  }
  Object.defineProperty(row, name, { value, enumerable: true, writable: true, configurable: true });
}
