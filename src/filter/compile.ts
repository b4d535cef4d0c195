/**
 * Compiles a checked syntax tree to closures: one closure per node, built
 * once, so evaluation walks no tree, parses nothing and allocates nothing
 * beyond what a function like `lower()` or a non-literal list must create.
 * No `eval`, no `new Function`.
 *
 * @module
 */
import type {
  CallNode,
  ComparisonNode,
  LiteralNode,
  LiteralValue,
  LogicalNode,
  Node,
  PathNode,
  PathSegment,
} from "./ast.ts";
import type { CheckedFilter } from "./check.ts";
import { FilterRuntimeError } from "./errors.ts";
import type { Matcher } from "./regex_engine.ts";
import { MAX_MATCH_INPUT_LENGTH } from "./regex_safety.ts";
import type { FilterInput, TransactionSummary } from "./types.ts";
import {
  compareOrdered,
  isDecimalString,
  listIncludes,
  looseEquals,
  parseDecimal,
  strictEquals,
  typeName,
  withArticle,
} from "./values.ts";

/** Computes a node's value for one input. */
export type Evaluator = (input: FilterInput) => unknown;
/** Computes a node's truth for one input. */
export type Condition = (input: FilterInput) => boolean;

/** What a path walk yields when a key or index is absent (as opposed to a null value). */
const MISSING: unique symbol = Symbol("missing");
/** One step of a path walk: a member of `container`, or {@linkcode MISSING}. */
type Step = (container: unknown) => unknown;
type RowName = "old" | "new";
type OrderingOperator = "<" | "<=" | ">" | ">=";

const ORDER_TESTS: Readonly<Record<OrderingOperator, (order: number) => boolean>> = {
  "<": (order) => order < 0,
  "<=": (order) => order <= 0,
  ">": (order) => order > 0,
  ">=": (order) => order >= 0,
};

/** A value function: the result, or `undefined` when the argument has the wrong type. */
interface ValueFunction {
  readonly expects: string;
  readonly apply: (value: unknown) => unknown;
}

const VALUE_FUNCTIONS: Readonly<Record<string, ValueFunction>> = {
  lower: {
    expects: "a string",
    apply: (value) => typeof value === "string" ? value.toLowerCase() : undefined,
  },
  upper: {
    expects: "a string",
    apply: (value) => typeof value === "string" ? value.toUpperCase() : undefined,
  },
  len: {
    expects: "a string or a list",
    apply: (value) => typeof value === "string" || Array.isArray(value) ? value.length : undefined,
  },
  number: { expects: "a number or a decimal string", apply: toNumber },
};

/**
 * Builds the condition of a checked filter.
 *
 * @example
 * ```ts
 * const condition = compileChecked(source, checkFilter(source, parse(source), options));
 * condition(input); // true or false
 * ```
 */
export function compileChecked(source: string, checked: CheckedFilter): Condition {
  return new Compiler(source, checked.patterns).condition(checked.root);
}

class Compiler {
  constructor(
    readonly source: string,
    readonly patterns: ReadonlyMap<ComparisonNode, Matcher>,
  ) {}

  /** Compiles a node whose value decides: true, false, or null (which counts as false). */
  condition(node: Node): Condition {
    const evaluate = this.value(node);
    if (producesBoolean(node)) return evaluate as Condition;
    return (input) => {
      const value = evaluate(input);
      if (typeof value === "boolean") return value;
      if (value === null) return false;
      throw this.#fail(node, `Expected a condition (true, false or null), got ${describe(value)}`);
    };
  }

  value(node: Node): Evaluator {
    switch (node.kind) {
      case "literal": {
        const value = literalValue(node);
        return () => value;
      }
      case "list": {
        if (node.items.every((item) => item.kind === "literal")) {
          const values = Object.freeze(node.items.map(literalValue));
          return () => values;
        }
        const items = node.items.map((item) => this.value(item));
        return (input) => items.map((item) => item(input));
      }
      case "path":
        return this.#path(node);
      case "call":
        return this.#call(node);
      case "not": {
        const operand = this.condition(node.operand);
        return (input) => !operand(input);
      }
      case "logical":
        return this.#logical(node);
      case "comparison":
        return this.#comparison(node);
    }
  }

  #fail(node: Node, reason: string): FilterRuntimeError {
    return new FilterRuntimeError(this.source, node.start, node.end, reason);
  }

  #path(node: PathNode): Evaluator {
    switch (node.root) {
      case "op":
        return (input) => input.op;
      case "schema":
        return (input) => input.schema;
      case "table":
        return (input) => input.table;
      case "tx":
        return this.#transactionField(node);
    }
    const { row, keys } = rowPath(node);
    if (keys.length === 0) return (input) => input[row] ?? null;
    if (keys.length === 1 && typeof keys[0] === "string" && !isInherited(keys[0])) {
      return columnReader(row, keys[0]);
    }
    const walk = walker(row, keys);
    return (input) => {
      const value = walk(input);
      return value === MISSING ? null : value;
    };
  }

  #transactionField(node: PathNode): Evaluator {
    const field = internalize(node.segments[0].key) as keyof TransactionSummary;
    return (input) => {
      const summary = input.tx;
      if (summary === undefined) {
        throw this.#fail(node, "The event has no transaction summary (tx)");
      }
      return summary[field];
    };
  }

  #call(node: CallNode): Evaluator {
    const [argument] = node.args;
    if (node.name === "changed") return changedTest(columnPath(argument));
    if (node.name === "exists") {
      const { row, keys } = rowPath(argument as PathNode);
      const walk = walker(row, keys);
      return (input) => walk(input) !== MISSING;
    }
    const { expects, apply } = VALUE_FUNCTIONS[node.name];
    const evaluate = this.value(argument);
    return (input) => {
      const value = evaluate(input);
      if (value === null) return null;
      const result = apply(value);
      if (result === undefined) {
        throw this.#fail(node, `${node.name}() needs ${expects}, got ${describe(value)}`);
      }
      return result;
    };
  }

  /** Compiles a chain `a && b && c` as one closure over its operands: fewer nested calls. */
  #logical(node: LogicalNode): Condition {
    const operands = operandsOf(node).map((operand) => this.condition(operand));
    return node.operator === "&&" ? allOf(operands) : anyOf(operands);
  }

  #comparison(node: ComparisonNode): Condition {
    switch (node.operator) {
      case "==":
        return this.#equals(node);
      case "!=": {
        const equals = this.#equals(node);
        return (input) => !equals(input);
      }
      case "<":
      case "<=":
      case ">":
      case ">=":
        return this.#ordering(node, ORDER_TESTS[node.operator]);
      case "in":
        return this.#in(node);
      case "contains":
        return this.#contains(node);
      case "startsWith":
        return this.#stringTest(node, (text, part) => text.startsWith(part));
      case "endsWith":
        return this.#stringTest(node, (text, part) => text.endsWith(part));
      case "matches":
        return this.#matches(node);
    }
  }

  #equals(node: ComparisonNode): Condition {
    const { left, right } = node;
    const literal = right.kind === "literal" ? right : left.kind === "literal" ? left : undefined;
    if (literal === undefined) {
      const a = this.value(left);
      const b = this.value(right);
      return (input) => looseEquals(a(input), b(input));
    }
    const other = this.value(literal === right ? left : right);
    const constant = literalValue(literal);
    if (constant === null) return (input) => other(input) === null;
    if (typeof constant === "string") {
      return (input) => {
        const value = other(input);
        return value === constant || (typeof value !== "string" && looseEquals(value, constant));
      };
    }
    return (input) => looseEquals(other(input), constant);
  }

  #ordering(node: ComparisonNode, test: (order: number) => boolean): Condition {
    const left = this.value(node.left);
    const right = this.value(node.right);
    return (input) => {
      const a = left(input);
      if (a === null) return false;
      const b = right(input);
      if (b === null) return false;
      const order = compareOrdered(a, b);
      if (order === undefined) {
        throw this.#fail(
          node,
          `Operator "${node.operator}" cannot compare ${describe(a, b)} with ${describe(b, a)}`,
        );
      }
      return test(order);
    };
  }

  #in(node: ComparisonNode): Condition {
    const needle = this.value(node.left);
    const { right } = node;
    if (right.kind === "list" && right.items.every((item) => item.kind === "literal")) {
      return literalListTest(needle, right.items.map(literalValue));
    }
    const haystack = this.value(right);
    return (input) => {
      const value = needle(input);
      const list = haystack(input);
      if (list === null) return false;
      if (!Array.isArray(list)) {
        throw this.#fail(node, `Operator "in" needs a list on the right, got ${describe(list)}`);
      }
      return listIncludes(list, value);
    };
  }

  #contains(node: ComparisonNode): Condition {
    const left = this.value(node.left);
    const right = this.value(node.right);
    return (input) => {
      const a = left(input);
      if (a === null) return false;
      const b = right(input);
      if (b === null) return false;
      if (Array.isArray(a)) return listIncludes(a, b);
      if (typeof a === "string" && typeof b === "string") return a.includes(b);
      throw this.#fail(
        node,
        `Operator "contains" needs a list, or two strings, got ${describe(a)} and ${describe(b)}`,
      );
    };
  }

  #stringTest(node: ComparisonNode, test: (text: string, part: string) => boolean): Condition {
    const left = this.value(node.left);
    const right = this.value(node.right);
    return (input) => {
      const a = left(input);
      if (a === null) return false;
      const b = right(input);
      if (b === null) return false;
      if (typeof a !== "string" || typeof b !== "string") {
        throw this.#fail(
          node,
          `Operator "${node.operator}" needs strings, got ${describe(a)} and ${describe(b)}`,
        );
      }
      return test(a, b);
    };
  }

  #matches(node: ComparisonNode): Condition {
    const pattern = this.patterns.get(node)!;
    const subject = this.value(node.left);
    return (input) => {
      const text = subject(input);
      if (text === null) return false;
      if (typeof text !== "string") {
        throw this.#fail(node, `Operator "matches" needs a string, got ${describe(text)}`);
      }
      if (text.length > MAX_MATCH_INPUT_LENGTH) {
        throw this.#fail(
          node,
          `Operator "matches" tests strings of up to ${MAX_MATCH_INPUT_LENGTH} characters, ` +
            `got ${text.length}`,
        );
      }
      return pattern.test(text);
    };
  }
}

/** The operands of a left-associated chain of one logical operator, in order. */
function operandsOf(node: LogicalNode): Node[] {
  const left = node.left.kind === "logical" && node.left.operator === node.operator
    ? operandsOf(node.left)
    : [node.left];
  return [...left, node.right];
}

/** Short-circuit conjunction, unrolled for the common chain lengths. */
function allOf(conditions: readonly Condition[]): Condition {
  const [first, second, third] = conditions;
  if (conditions.length === 2) return (input) => first(input) && second(input);
  if (conditions.length === 3) return (input) => first(input) && second(input) && third(input);
  return (input) => {
    for (let index = 0; index < conditions.length; index++) {
      if (!conditions[index](input)) return false;
    }
    return true;
  };
}

/** Short-circuit disjunction, unrolled for the common chain lengths. */
function anyOf(conditions: readonly Condition[]): Condition {
  const [first, second, third] = conditions;
  if (conditions.length === 2) return (input) => first(input) || second(input);
  if (conditions.length === 3) return (input) => first(input) || second(input) || third(input);
  return (input) => {
    for (let index = 0; index < conditions.length; index++) {
      if (conditions[index](input)) return true;
    }
    return false;
  };
}

/** Nodes whose closure always returns a boolean, so no check is needed around it. */
function producesBoolean(node: Node): boolean {
  switch (node.kind) {
    case "comparison":
    case "logical":
    case "not":
      return true;
    case "call":
      return node.name === "changed" || node.name === "exists";
    case "literal":
      return typeof node.value === "boolean";
    default:
      return false;
  }
}

function literalValue(node: Node): LiteralValue {
  const { value } = node as LiteralNode;
  return typeof value === "string" ? internalize(value) : value;
}

/**
 * Returns `text` as an internalized string. Names and literals are sliced or
 * concatenated from the source, so they are not internalized, and V8's
 * optimized keyed loads (`row[column]`) compare key identity: a
 * non-internalized key makes them deoptimize again and again.
 */
function internalize<T extends string | number>(key: T): T {
  return typeof key === "string" ? Object.keys({ [key]: true })[0] as T : key;
}

/** Type of a value for an error message; a string next to a number is called non-numeric. */
function describe(value: unknown, other?: unknown): string {
  const isNumber = typeof other === "number" || typeof other === "bigint";
  if (typeof value === "string" && isNumber) return "a non-numeric string";
  return withArticle(typeName(value));
}

/** `x in [literals]`: a set lookup for strings, a scan (with number coercion) otherwise. */
function literalListTest(needle: Evaluator, values: readonly unknown[]): Condition {
  const strings = new Set(values.filter((value) => typeof value === "string"));
  const onlyStrings = values.every((value) => typeof value === "string");
  return (input) => {
    const value = needle(input);
    if (typeof value === "string") {
      if (strings.has(value)) return true;
      if (onlyStrings) return false;
    }
    return listIncludes(values, value);
  };
}

function toNumber(value: unknown): unknown {
  if (typeof value === "number" || typeof value === "bigint") return value;
  if (typeof value === "string" && isDecimalString(value)) return parseDecimal(value);
  return undefined;
}

/** Keys that plain objects inherit (`constructor`, `__proto__`…): only own ones count. */
function isInherited(key: string): boolean {
  return key in Object.prototype;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Fast path for the common `new.column`. */
function columnReader(row: RowName, column: string): Evaluator {
  return (input) => {
    const image = input[row];
    if (!image) return null;
    const value = image[column];
    return value === undefined ? null : value;
  };
}

function step(key: string | number): Step {
  if (typeof key === "number") {
    return (container) => {
      if (!Array.isArray(container) || key >= container.length) return MISSING;
      const value = container[key];
      return value === undefined ? MISSING : value;
    };
  }
  const inherited = isInherited(key);
  return (container) => {
    if (!isRecord(container) || (inherited && !Object.hasOwn(container, key))) return MISSING;
    const value = container[key];
    return value === undefined ? MISSING : value;
  };
}

/** Walks `keys` from a row image; yields {@linkcode MISSING} when any step is absent. */
function walker(row: RowName, keys: readonly (string | number)[]): Evaluator {
  const steps = keys.map(step);
  return (input) => {
    let value: unknown = input[row];
    for (let index = 0; index < steps.length; index++) {
      value = steps[index](value);
      if (value === MISSING) return MISSING;
    }
    return value;
  };
}

/** The row image and keys of a checked `old.…` or `new.…` path. */
function rowPath(path: PathNode): { row: RowName; keys: (string | number)[] } {
  const row: RowName = path.root === "old" ? "old" : "new";
  return { row, keys: path.segments.map((segment) => internalize(segment.key)) };
}

/** The column (and optional nested path) that `changed()` names. */
function columnPath(argument: Node): (string | number)[] {
  if (argument.kind === "literal") return [internalize(argument.value as string)];
  const path = argument as PathNode;
  return [path.root, ...path.segments.map((segment: PathSegment) => segment.key)].map(internalize);
}

/**
 * `changed(col)`: true when both images carry the value and they differ by
 * strict deep equality; false when either image lacks it (unknowable).
 */
function changedTest(keys: readonly (string | number)[]): Condition {
  const before = walker("old", keys);
  const after = walker("new", keys);
  return (input) => {
    const oldValue = before(input);
    if (oldValue === MISSING) return false;
    const newValue = after(input);
    return newValue !== MISSING && !strictEquals(oldValue, newValue);
  };
}
