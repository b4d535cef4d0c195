/**
 * Syntax tree of the filter language, as the parser builds it. Every node
 * keeps its source span so checks and runtime errors can point at it.
 *
 * @module
 */
import type { Span } from "./lexer.ts";

/** Value of a literal. Integers beyond the safe range are `bigint`. */
export type LiteralValue = string | number | bigint | boolean | null;

/** Comparison and word operators (all of one precedence level). */
export type ComparisonOperator =
  | "=="
  | "!="
  | "<"
  | "<="
  | ">"
  | ">="
  | "in"
  | "contains"
  | "startsWith"
  | "endsWith"
  | "matches";

/** All comparison operators, for the parser. */
export const COMPARISON_OPERATORS: readonly ComparisonOperator[] = [
  "==",
  "!=",
  "<",
  "<=",
  ">",
  ">=",
  "in",
  "contains",
  "startsWith",
  "endsWith",
  "matches",
];

/** A literal: `'paid'`, `10.5`, `true`, `null`. */
export interface LiteralNode extends Span {
  /** Node type tag. */
  readonly kind: "literal";
  /** The constant. */
  readonly value: LiteralValue;
}

/** A list: `['paid', 'shipped']`. */
export interface ListNode extends Span {
  /** Node type tag. */
  readonly kind: "list";
  /** The elements, in order. */
  readonly items: readonly Node[];
}

/** One step of a field path: `.name`, `["odd name"]` or `[0]`. */
export interface PathSegment extends Span {
  /** Object key (string) or list index (number). */
  readonly key: string | number;
}

/** A field: `op`, `new.payload.sku`, `new["Order Id"]`, `tx.size`, or a bare name. */
export interface PathNode extends Span {
  /** Node type tag. */
  readonly kind: "path";
  /** The leading identifier: `op`, `schema`, `table`, `old`, `new`, `tx` or unknown. */
  readonly root: string;
  /** The steps after the root, in order; empty for a bare name. */
  readonly segments: readonly PathSegment[];
}

/** A function call: `changed(status)`. */
export interface CallNode extends Span {
  /** Node type tag. */
  readonly kind: "call";
  /** The function name as written. */
  readonly name: string;
  /** The arguments, in order. */
  readonly args: readonly Node[];
}

/** Logical negation: `!x`. */
export interface NotNode extends Span {
  /** Node type tag. */
  readonly kind: "not";
  /** The negated expression. */
  readonly operand: Node;
}

/** `a && b` or `a || b`. */
export interface LogicalNode extends Span {
  /** Node type tag. */
  readonly kind: "logical";
  /** Which connective. */
  readonly operator: "&&" | "||";
  /** The operand evaluated first. */
  readonly left: Node;
  /** The operand evaluated only when the left one does not decide. */
  readonly right: Node;
}

/** A comparison or word operator: `a == b`, `a in b`, `a matches 'x'`. */
export interface ComparisonNode extends Span {
  /** Node type tag. */
  readonly kind: "comparison";
  /** Which comparison. */
  readonly operator: ComparisonOperator;
  /** 0-based offset of the operator, for error positions. */
  readonly operatorStart: number;
  /** The left operand. */
  readonly left: Node;
  /** The right operand. */
  readonly right: Node;
}

/** Any node of a filter expression. */
export type Node =
  | LiteralNode
  | ListNode
  | PathNode
  | CallNode
  | NotNode
  | LogicalNode
  | ComparisonNode;
