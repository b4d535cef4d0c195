/**
 * The filter language: the `where` conditions of targets in the TOML config.
 * A filter is parsed, checked and compiled to closures once, when the config
 * loads; evaluating it never runs `eval` and allocates nothing in the common
 * cases.
 *
 * ```ts
 * const filter = compileFilter(
 *   "op == 'update' && changed(status) && new.status in ['paid', 'shipped']",
 * );
 * filter.evaluate({ op: "update", schema: "public", table: "orders",
 *   old: { status: "new" }, new: { status: "paid" } }); // true
 * ```
 *
 * ## Values
 * - Literals: `'single'` or `"double"` quoted strings with escapes
 *   `\\ \' \" \/ \n \r \t \b \f \v \0 \uXXXX \u{X…}`; numbers `42`, `-7`,
 *   `10.5`, `1.5e3` (integers beyond 2^53 stay exact); `true`, `false`,
 *   `null`; lists `[1, 'a', null]` (a trailing comma is allowed).
 * - Fields: `op`, `schema`, `table`; row images `old` and `new` (the
 *   pipeline maps `ChangeEvent.before`/`after` to them); columns `new.status`,
 *   `new["Order Id"]`; JSON paths `new.payload.sku`, `new.items[0].id`;
 *   in transaction mode only, `tx.tables` (list of `"schema.table"`),
 *   `tx.size` (number of events) and `tx.ops` (list of operations).
 * - Functions (one argument each): `changed(col)`, `exists(new.col)`,
 *   `lower(s)`, `upper(s)`, `len(s or list)` (UTF-16 length of a string),
 *   `number(x)` (decimal string to number, e.g. to order two numeric columns).
 *
 * ## Operators, tightest first
 * 1. `!` (so `!a == b` is `(!a) == b`; write `!(a == b)`)
 * 2. `==` `!=` `<` `<=` `>` `>=` `in` `contains` `startsWith` `endsWith`
 *    `matches`: one level, not chainable (`a < b < c` is an error)
 * 3. `&&`
 * 4. `||`
 *
 * `&&` and `||` are left-associative and short-circuit. Parentheses group.
 *
 * ## Null semantics
 * - A missing field (column absent from the image, a null image, a path
 *   through a non-object, an index past the end) is `null`.
 *   `exists(new.col)` tells a missing column from a null one; unchanged TOAST
 *   columns are missing from `new`.
 * - `==` and `!=` compare null as a value: `new.x == null` is true for a
 *   missing or null `x`. `x in list` is true when some element `== x`.
 * - `<`, `<=`, `>`, `>=`, `contains`, `startsWith`, `endsWith`, `matches`
 *   are false when either operand is null.
 * - `&&`, `||`, `!` and the filter's result treat null as false;
 *   `lower`/`upper`/`len`/`number` of null are null.
 *
 * ## Types
 * - A number and a string holding a decimal number (how PostgreSQL int8 and
 *   numeric arrive: `"12345678901234567890"`, `"10.50"`) compare
 *   numerically, in `==` too: `new.amount > 100`, `new.id == 42`. Integers
 *   compare exactly at any size; fractions compare as doubles. `NaN` and
 *   `Infinity` strings count as numbers. Two strings compare as strings
 *   (by UTF-16 code units): use `number(new.a) > number(old.a)` to order two
 *   numeric columns.
 * - `==` of lists/objects compares deeply with the same rules; values of
 *   other different types are simply unequal.
 * - An ordering between other types (string and boolean, lists…), `contains`
 *   `startsWith` `endsWith` `matches` on non-strings, or a non-boolean result
 *   throws {@linkcode FilterRuntimeError}, naming types (never values) and
 *   the column; the pipeline dead-letters the event.
 *
 * ## `changed(col)`
 * True when both the old and the new image carry `col` (or the nested path
 * `changed(payload.sku)`; quote odd names: `changed("Order Id")`) and the
 * values differ by strict deep equality (`"5"` differs from `5`). False
 * whenever it is unknowable: inserts, deletes, an old image without the
 * column (REPLICA IDENTITY DEFAULT only sends the key, and only when the key
 * changed: use REPLICA IDENTITY FULL), or an unchanged TOAST value.
 *
 * ## `matches`
 * The pattern must be a string literal in JavaScript syntax (as with the `u`
 * flag), searched anywhere in the string (anchor with `^…$`). It is compiled
 * once, to a linear-time automaton that never backtracks, so no row value
 * can stall the pipeline. Lookarounds, backreferences, `\p{…}` and inline
 * modifiers are not supported; use `lower(x)` to ignore case. Patterns
 * longer than {@linkcode MAX_PATTERN_LENGTH} and those a backtracking engine
 * would run catastrophically (a repeated group holding a quantifier or an
 * alternation: `(a+)+`, `(a|b)*`) are rejected at load. Input longer than
 * {@linkcode MAX_MATCH_INPUT_LENGTH} is a runtime error rather than a test of
 * a prefix, which could silently give a wrong answer.
 *
 * ## Load-time checks
 * Syntax, unknown identifiers and functions, argument counts, `tx.*` outside
 * transaction mode, `op` compared with an unknown operation name, and type
 * mistakes visible without data (`'a' && true`, `x < null`) throw
 * {@linkcode FilterSyntaxError} with the line quoted and a caret under the
 * column. Column names are checked later, per relation, with
 * {@linkcode CompiledFilter.unknownColumns}.
 *
 * @module
 */
import { checkFilter } from "./check.ts";
import { compileChecked } from "./compile.ts";
import { parse } from "./parser.ts";
import type { CompiledFilter } from "./types.ts";

export { FilterRuntimeError, FilterSyntaxError } from "./errors.ts";
export { MAX_MATCH_INPUT_LENGTH, MAX_PATTERN_LENGTH } from "./regex_safety.ts";
export type { CompiledFilter, FilterInput, TransactionSummary } from "./types.ts";

/** Options of {@linkcode compileFilter}. */
export interface CompileFilterOptions {
  /** Allow `tx.*` fields: the target delivers whole transactions. Default false. */
  readonly transaction?: boolean;
}

/**
 * Parses, checks and compiles a filter expression.
 *
 * @throws {FilterSyntaxError} on any problem found without data.
 * @example
 * ```ts
 * const filter = compileFilter("new.amount > 100 && new.sku startsWith 'A-'");
 * filter.unknownColumns(["id", "amount"]); // ["sku"]
 * ```
 */
export function compileFilter(source: string, options: CompileFilterOptions = {}): CompiledFilter {
  const checked = checkFilter(source, parse(source), {
    transaction: options.transaction ?? false,
  });
  const referenced = checked.columns;
  return {
    source,
    evaluate: compileChecked(source, checked),
    unknownColumns(columns: readonly string[]): string[] {
      const known = new Set(columns);
      return referenced.filter((column) => !known.has(column));
    },
  };
}
