/**
 * Static checks of a parsed filter, run once when the config loads: names
 * resolve to known fields and functions, argument counts are right,
 * operators get operands of a usable type when that is visible without data,
 * `matches` patterns are safe literals, and `op` is compared with real
 * operation names. Collects the referenced columns for
 * `CompiledFilter.unknownColumns`.
 *
 * @module
 */
import { CHANGE_OPS } from "../model.ts";
import type { CallNode, ComparisonNode, LiteralValue, Node, PathNode } from "./ast.ts";
import { FilterSyntaxError } from "./errors.ts";
import type { Matcher } from "./regex_engine.ts";
import { compileSafePattern, PatternError } from "./regex_safety.ts";
import { withArticle } from "./values.ts";

/** What can be known about a node's value before evaluation. */
export type StaticType = "boolean" | "number" | "string" | "null" | "list" | "unknown";

/** Options of a check. */
export interface CheckOptions {
  /** Whether `tx.*` fields are available (transaction mode). */
  readonly transaction: boolean;
}

/** A filter that passed the checks. */
export interface CheckedFilter {
  /** The syntax tree, unchanged. */
  readonly root: Node;
  /** Top-level columns referenced, in order of first use, without duplicates. */
  readonly columns: readonly string[];
  /** The compiled pattern of every `matches` node. */
  readonly patterns: ReadonlyMap<ComparisonNode, Matcher>;
}

/** Result type and argument rule of each function (all take one argument). */
const FUNCTION_RESULTS: Readonly<Record<string, StaticType>> = {
  changed: "boolean",
  exists: "boolean",
  len: "number",
  lower: "string",
  number: "number",
  upper: "string",
};
/** Argument types each value function accepts ("unknown" is always accepted). */
const FUNCTION_ARGUMENTS: Readonly<Record<string, readonly StaticType[]>> = {
  len: ["string", "list"],
  lower: ["string"],
  number: ["number", "string"],
  upper: ["string"],
};
const FUNCTION_ARITY = 1;
const SCALAR_FIELDS: Readonly<Record<string, StaticType>> = {
  op: "string",
  schema: "string",
  table: "string",
};
const ROW_FIELDS: readonly string[] = ["old", "new"];
const TRANSACTION_FIELDS: Readonly<Record<string, StaticType>> = {
  tables: "list",
  size: "number",
  ops: "list",
};
const ORDERABLE: readonly StaticType[] = ["number", "string", "unknown"];
const FIELDS_HINT =
  "Fields are op, schema, table, old.<column>, new.<column> and tx.tables, tx.size, tx.ops";
const TRANSACTION_FIELDS_HINT = "Transaction fields are tx.tables, tx.size and tx.ops";
const OPS_HINT = `Operations are ${CHANGE_OPS.join(", ")}`;

/**
 * Checks a parsed filter.
 *
 * @throws {FilterSyntaxError} on the first problem, pointing at its position.
 * @example
 * ```ts
 * checkFilter(src, parse(src), { transaction: false }).columns; // e.g. ["status"]
 * ```
 */
export function checkFilter(source: string, root: Node, options: CheckOptions): CheckedFilter {
  const checker = new Checker(source, options);
  const type = checker.typeOf(root);
  if (!isConditionType(type)) {
    throw new FilterSyntaxError(
      source,
      root.start,
      `A filter must be a condition (true or false), got ${withArticle(type)}`,
    );
  }
  return { root, columns: [...checker.columns], patterns: checker.patterns };
}

function isConditionType(type: StaticType): boolean {
  return type === "boolean" || type === "unknown";
}

class Checker {
  readonly columns = new Set<string>();
  readonly patterns = new Map<ComparisonNode, Matcher>();

  constructor(readonly source: string, readonly options: CheckOptions) {}

  typeOf(node: Node): StaticType {
    switch (node.kind) {
      case "literal":
        return literalType(node.value);
      case "list":
        for (const item of node.items) this.typeOf(item);
        return "list";
      case "path":
        return this.#checkPath(node);
      case "call":
        return this.#checkCall(node);
      case "not":
        this.#requireCondition(node.operand, "!");
        return "boolean";
      case "logical":
        this.#requireCondition(node.left, node.operator);
        this.#requireCondition(node.right, node.operator);
        return "boolean";
      case "comparison":
        this.#checkComparison(node);
        return "boolean";
    }
  }

  #fail(offset: number, reason: string, hint?: string): FilterSyntaxError {
    return new FilterSyntaxError(this.source, offset, reason, hint);
  }

  #requireCondition(node: Node, operator: string): void {
    const type = this.typeOf(node);
    if (!isConditionType(type)) {
      throw this.#fail(
        node.start,
        `Operator "${operator}" needs a condition, got ${withArticle(type)}`,
      );
    }
  }

  #checkPath(node: PathNode): StaticType {
    const [first] = node.segments;
    if (Object.hasOwn(SCALAR_FIELDS, node.root)) {
      if (first !== undefined) {
        throw this.#fail(first.start, `"${node.root}" is a string and has no fields`);
      }
      return SCALAR_FIELDS[node.root];
    }
    if (ROW_FIELDS.includes(node.root)) {
      if (first === undefined) return "unknown";
      if (typeof first.key === "number") {
        throw this.#fail(
          first.start,
          "Columns are named, not numbered",
          'Quote odd column names, e.g. new["Order Id"]',
        );
      }
      this.columns.add(first.key);
      return "unknown";
    }
    if (node.root === "tx") return this.#checkTransactionField(node);
    const hint = node.segments.length === 0
      ? `${FIELDS_HINT}; did you mean new.${node.root}?`
      : FIELDS_HINT;
    throw this.#fail(node.start, `Unknown identifier "${node.root}"`, hint);
  }

  #checkTransactionField(node: PathNode): StaticType {
    const [first, second] = node.segments;
    if (first === undefined) {
      throw this.#fail(node.start, '"tx" needs a field', TRANSACTION_FIELDS_HINT);
    }
    if (typeof first.key !== "string" || !Object.hasOwn(TRANSACTION_FIELDS, first.key)) {
      const name = this.source.slice(node.start, first.end);
      throw this.#fail(first.start, `Unknown transaction field "${name}"`, TRANSACTION_FIELDS_HINT);
    }
    if (!this.options.transaction) {
      throw this.#fail(
        node.start,
        `"tx.${first.key}" is only available in transaction mode`,
      );
    }
    if (second !== undefined) {
      throw this.#fail(second.start, `"tx.${first.key}" has no fields`);
    }
    return TRANSACTION_FIELDS[first.key];
  }

  #checkCall(node: CallNode): StaticType {
    if (!Object.hasOwn(FUNCTION_RESULTS, node.name)) {
      const known = Object.keys(FUNCTION_RESULTS).join(", ");
      throw this.#fail(node.start, `Unknown function "${node.name}"`, `Functions are ${known}`);
    }
    if (node.args.length !== FUNCTION_ARITY) {
      throw this.#fail(
        node.start,
        `Function "${node.name}" takes ${FUNCTION_ARITY} argument, got ${node.args.length}`,
      );
    }
    const [argument] = node.args;
    if (node.name === "changed") this.#checkChangedArgument(argument);
    else if (node.name === "exists") this.#checkExistsArgument(argument);
    else this.#checkValueArgument(node.name, argument);
    return FUNCTION_RESULTS[node.name];
  }

  #checkChangedArgument(argument: Node): void {
    if (argument.kind === "literal" && typeof argument.value === "string") {
      this.columns.add(argument.value);
      return;
    }
    if (argument.kind !== "path") {
      throw this.#fail(
        argument.start,
        "changed() takes a column name",
        'E.g. changed(status) or changed("Order Id")',
      );
    }
    if (ROW_FIELDS.includes(argument.root) && argument.segments.length > 0) {
      throw this.#fail(
        argument.start,
        "changed() takes a column name, not a field of old or new",
        "Write changed(status) to compare old.status with new.status",
      );
    }
    this.columns.add(argument.root);
  }

  #checkExistsArgument(argument: Node): void {
    const isRowField = argument.kind === "path" && ROW_FIELDS.includes(argument.root) &&
      argument.segments.length > 0;
    if (!isRowField) {
      throw this.#fail(
        argument.start,
        "exists() takes a field of old or new",
        "E.g. exists(new.discount)",
      );
    }
    this.typeOf(argument);
  }

  #checkValueArgument(name: string, argument: Node): void {
    const type = this.typeOf(argument);
    const accepted = FUNCTION_ARGUMENTS[name];
    if (type !== "unknown" && !accepted.includes(type)) {
      const expected = accepted.map(withArticle).join(" or ");
      throw this.#fail(argument.start, `${name}() needs ${expected}, got ${withArticle(type)}`);
    }
  }

  #checkComparison(node: ComparisonNode): void {
    const left = this.typeOf(node.left);
    const right = this.typeOf(node.right);
    switch (node.operator) {
      case "==":
      case "!=":
        this.#checkOperationName(node.left, node.right);
        this.#checkOperationName(node.right, node.left);
        return;
      case "<":
      case "<=":
      case ">":
      case ">=":
        this.#requireOrderable(node, node.left, left);
        this.#requireOrderable(node, node.right, right);
        return;
      case "in":
        this.#checkIn(node, right);
        return;
      case "contains":
        this.#checkContains(node, left, right);
        return;
      case "startsWith":
      case "endsWith":
        this.#requireString(node, node.left, left);
        this.#requireString(node, node.right, right);
        return;
      case "matches":
        this.#requireString(node, node.left, left);
        this.#compilePattern(node);
        return;
    }
  }

  #requireOrderable(node: ComparisonNode, operand: Node, type: StaticType): void {
    if (type === "null") {
      throw this.#fail(
        operand.start,
        `Operator "${node.operator}" with null is always false`,
        "Use == null or != null",
      );
    }
    if (!ORDERABLE.includes(type)) {
      throw this.#fail(
        operand.start,
        `Operator "${node.operator}" needs numbers or strings, got ${withArticle(type)}`,
      );
    }
  }

  #requireString(node: ComparisonNode, operand: Node, type: StaticType): void {
    this.#rejectNull(node, operand, type);
    if (type !== "string" && type !== "unknown") {
      throw this.#fail(
        operand.start,
        `Operator "${node.operator}" needs strings, got ${withArticle(type)}`,
      );
    }
  }

  #rejectNull(node: ComparisonNode, operand: Node, type: StaticType): void {
    if (type === "null") {
      throw this.#fail(operand.start, `Operator "${node.operator}" with null is always false`);
    }
  }

  #checkIn(node: ComparisonNode, right: StaticType): void {
    if (right !== "list" && right !== "unknown") {
      throw this.#fail(
        node.right.start,
        `Operator "in" needs a list on the right, got ${withArticle(right)}`,
        right === "string" ? "To find a substring, write text contains 'part'" : undefined,
      );
    }
    if (node.right.kind === "list") {
      for (const item of node.right.items) this.#checkOperationName(node.left, item);
    }
    this.#checkOperationName(node.right, node.left);
  }

  #checkContains(node: ComparisonNode, left: StaticType, right: StaticType): void {
    if (left !== "string" && left !== "list" && left !== "unknown") {
      throw this.#fail(
        node.left.start,
        `Operator "contains" needs a string or a list on the left, got ${withArticle(left)}`,
      );
    }
    this.#rejectNull(node, node.right, right);
    if (left === "string" && right !== "string" && right !== "unknown") {
      throw this.#fail(
        node.right.start,
        `Operator "contains" needs a string on the right of a string, got ${withArticle(right)}`,
      );
    }
    this.#checkOperationName(node.left, node.right);
  }

  /** Rejects `op == 'updte'`: a string compared with operations must name one. */
  #checkOperationName(field: Node, value: Node): void {
    if (!namesOperations(field) || value.kind !== "literal" || typeof value.value !== "string") {
      return;
    }
    if (!(CHANGE_OPS as readonly string[]).includes(value.value)) {
      throw this.#fail(value.start, `Unknown operation "${value.value}"`, OPS_HINT);
    }
  }

  #compilePattern(node: ComparisonNode): void {
    const pattern = node.right;
    if (pattern.kind !== "literal" || typeof pattern.value !== "string") {
      throw this.#fail(
        pattern.start,
        'The pattern of "matches" must be a string literal',
        "Patterns are checked and compiled once, when the config loads",
      );
    }
    try {
      this.patterns.set(node, compileSafePattern(pattern.value));
    } catch (error) {
      if (!(error instanceof PatternError)) throw error;
      throw this.#fail(pattern.start, error.message, error.hint);
    }
  }
}

/** Whether `node` is `op` or `tx.ops`, whose strings must be operation names. */
function namesOperations(node: Node): boolean {
  if (node.kind !== "path") return false;
  if (node.root === "op") return node.segments.length === 0;
  return node.root === "tx" && node.segments.length === 1 && node.segments[0].key === "ops";
}

function literalType(value: LiteralValue): StaticType {
  if (value === null) return "null";
  if (typeof value === "bigint") return "number";
  return typeof value as "string" | "number" | "boolean";
}
