/**
 * Compiles each target's `where` expression at load, so that a mistyped
 * filter stops the connector before it reads a single change.
 *
 * @module
 */
import { type CompiledFilter, compileFilter, FilterSyntaxError } from "../filter/mod.ts";
import { formatPath, type IssueCollector } from "./issues.ts";

/**
 * Compiles the `where` of every target of an interpolated document, in
 * transaction mode when the target's `mode` is `"transaction"`. Syntax
 * errors become issues at `targets[i].where`.
 *
 * @returns the compiled filter of each target by index, `null` where there is none.
 */
export function compileTargetFilters(
  document: unknown,
  collector: IssueCollector,
): (CompiledFilter | null)[] {
  const targets = (document as { targets?: unknown } | null)?.targets;
  if (!Array.isArray(targets)) return [];
  return targets.map((target, index) => {
    const { where, mode } = (target ?? {}) as { where?: unknown; mode?: unknown };
    if (typeof where !== "string" || where.trim() === "") return null;
    const path = formatPath(["targets", index, "where"]);
    try {
      return compileFilter(where, { transaction: mode === "transaction" });
    } catch (error) {
      if (!(error instanceof FilterSyntaxError)) throw error;
      collector.add(path, filterErrorMessage(error, path, collector));
      return null;
    }
  });
}

/** The error as the filter words it, unless the expression is a secret it would quote. */
function filterErrorMessage(
  error: FilterSyntaxError,
  path: string,
  collector: IssueCollector,
): string {
  if (!collector.isSecret(path)) return error.message;
  const position = `line ${error.line}, column ${error.column}`;
  return `expected a valid filter expression, found ${collector.describe(path, "")} ` +
    `with an error at ${position}`;
}
