/**
 * Parser of the filter language: tokens to a syntax tree ({@linkcode Node}).
 *
 * Grammar, loosest binding first (comparisons do not chain: `a == b == c`
 * is an error, `(a == b) == c` is not):
 *
 * ```
 * filter     = or END
 * or         = and ( "||" and )*
 * and        = comparison ( "&&" comparison )*
 * comparison = unary [ ( "==" | "!=" | "<" | "<=" | ">" | ">=" | "in" | "contains"
 *                      | "startsWith" | "endsWith" | "matches" ) unary ]
 * unary      = "!" unary | "-" NUMBER | postfix
 * postfix    = primary ( "." NAME | "[" ( STRING | INTEGER ) "]" )*   (fields only)
 * primary    = STRING | NUMBER | "true" | "false" | "null" | list
 *            | NAME "(" [ or ( "," or )* ] ")" | NAME | "(" or ")"
 * list       = "[" [ or ( "," or )* [ "," ] ] "]"
 * ```
 *
 * A chain of `||` (or of `&&`) becomes a balanced tree, which evaluates
 * left to right and stops early exactly as the chain does, so a filter of
 * thousands of alternatives stays shallow. Nesting (parentheses, `!`,
 * function calls, lists) is limited to {@linkcode MAX_FILTER_NESTING}
 * levels: the checker and compiler recurse over the tree, and a deeper
 * filter would overflow the stack instead of getting a clear error.
 *
 * @module
 */
import {
  COMPARISON_OPERATORS,
  type ComparisonOperator,
  type Node,
  type PathNode,
  type PathSegment,
} from "./ast.ts";
import { FilterSyntaxError } from "./errors.ts";
import { type Punctuator, type Token, tokenize } from "./lexer.ts";

const KEYWORD_LITERALS: Readonly<Record<string, boolean | null>> = {
  true: true,
  false: false,
  null: null,
};
/** The deepest nesting of parentheses, `!`, calls and lists a filter may have. */
export const MAX_FILTER_NESTING = 100;

/** Words from other languages people type out of habit, with the operator to use instead. */
const FOREIGN_LOGICAL_WORDS: Readonly<Record<string, string>> = { and: "&&", or: "||", not: "!" };

/**
 * Parses a filter expression into a syntax tree. Names are not resolved
 * here; see `check.ts`.
 *
 * @throws {FilterSyntaxError} on any syntax error.
 * @example
 * ```ts
 * parse("op == 'update'").kind; // "comparison"
 * ```
 */
export function parse(source: string): Node {
  return new Parser(source, tokenize(source)).parseFilter();
}

class Parser {
  #index = 0;
  /** Open nesting levels at the current token. */
  #depth = 0;

  constructor(readonly source: string, readonly tokens: readonly Token[]) {}

  parseFilter(): Node {
    if (this.#peek().kind === "end") {
      throw new FilterSyntaxError(this.source, 0, "Filter is empty");
    }
    const node = this.#parseOr();
    if (this.#peek().kind !== "end") throw this.#unexpected(this.#peek());
    return node;
  }

  #parseOr(): Node {
    const operands = [this.#parseAnd()];
    while (this.#atPunctuator("||")) {
      this.#advance();
      operands.push(this.#parseAnd());
    }
    return balancedChain("||", operands);
  }

  #parseAnd(): Node {
    const operands = [this.#parseComparison()];
    while (this.#atPunctuator("&&")) {
      this.#advance();
      operands.push(this.#parseComparison());
    }
    return balancedChain("&&", operands);
  }

  /** Parses `parse()` one nesting level deeper, refusing to go past the limit. */
  #nested<T>(opening: Token, parse: () => T): T {
    if (this.#depth >= MAX_FILTER_NESTING) {
      throw new FilterSyntaxError(
        this.source,
        opening.start,
        `Filter nests deeper than ${MAX_FILTER_NESTING} levels`,
        "Each parenthesis, !, function call and list opens a level: remove redundant ones, " +
          "or use `in [...]` for long lists of alternatives",
      );
    }
    this.#depth++;
    try {
      return parse();
    } finally {
      this.#depth--;
    }
  }

  #parseComparison(): Node {
    const left = this.#parseUnary();
    const operatorToken = this.#peek();
    const operator = comparisonOperator(operatorToken);
    if (operator === undefined) return left;
    this.#advance();
    const right = this.#parseUnary();
    const next = this.#peek();
    if (comparisonOperator(next) !== undefined) {
      throw new FilterSyntaxError(
        this.source,
        next.start,
        "Comparisons cannot be chained",
        "Add parentheses or join the comparisons with && or ||",
      );
    }
    return {
      kind: "comparison",
      operator,
      operatorStart: operatorToken.start,
      left,
      right,
      start: left.start,
      end: right.end,
    };
  }

  #parseUnary(): Node {
    const token = this.#peek();
    if (this.#atPunctuator("!")) {
      this.#advance();
      const operand = this.#nested(token, () => this.#parseUnary());
      return { kind: "not", operand, start: token.start, end: operand.end };
    }
    if (this.#atPunctuator("-")) {
      this.#advance();
      const number = this.#advance();
      if (number.kind !== "number") {
        throw new FilterSyntaxError(
          this.source,
          number.start,
          "A minus sign must be followed by a number",
        );
      }
      return { kind: "literal", value: -number.value, start: token.start, end: number.end };
    }
    return this.#parsePostfix();
  }

  #parsePostfix(): Node {
    const node = this.#parsePrimary();
    if (node.kind !== "path") return node;
    const segments: PathSegment[] = [];
    for (;;) {
      if (this.#atPunctuator(".")) {
        this.#advance();
        segments.push(this.#parseDotSegment());
      } else if (this.#atPunctuator("[")) {
        this.#advance();
        segments.push(this.#parseBracketSegment());
      } else {
        break;
      }
    }
    if (segments.length === 0) return node;
    return { ...node, segments, end: segments[segments.length - 1].end };
  }

  #parseDotSegment(): PathSegment {
    const token = this.#advance();
    if (token.kind !== "identifier") {
      throw new FilterSyntaxError(
        this.source,
        token.start,
        'Expected a field name after "."',
        'Quote odd names in brackets, e.g. new["Order Id"]',
      );
    }
    return { key: token.name, start: token.start, end: token.end };
  }

  #parseBracketSegment(): PathSegment {
    const token = this.#advance();
    const isIndex = token.kind === "number" && typeof token.value === "number" &&
      Number.isInteger(token.value);
    if (token.kind !== "string" && !isIndex) {
      throw new FilterSyntaxError(
        this.source,
        token.start,
        'Expected a quoted name or a list index inside "[ ]"',
        'E.g. new["Order Id"] or new.items[0]',
      );
    }
    const close = this.#expect("]");
    return { key: (token as { value: string | number }).value, start: token.start, end: close.end };
  }

  #parsePrimary(): Node {
    const token = this.#advance();
    switch (token.kind) {
      case "string":
      case "number":
        return { kind: "literal", value: token.value, start: token.start, end: token.end };
      case "identifier":
        return this.#parseName(token);
      case "punctuator":
        if (token.value === "[") return this.#nested(token, () => this.#parseList(token));
        if (token.value === "(") {
          const inner = this.#nested(token, () => this.#parseOr());
          this.#expect(")");
          return inner;
        }
        throw this.#unexpected(token);
      case "end":
        throw this.#unexpected(token);
    }
  }

  #parseName(token: Token & { kind: "identifier" }): Node {
    if (Object.hasOwn(KEYWORD_LITERALS, token.name)) {
      const value = KEYWORD_LITERALS[token.name];
      return { kind: "literal", value, start: token.start, end: token.end };
    }
    if (!this.#atPunctuator("(")) {
      const path: PathNode = {
        kind: "path",
        root: token.name,
        segments: [],
        start: token.start,
        end: token.end,
      };
      return path;
    }
    this.#advance();
    const args = this.#nested(token, () => this.#parseSequence(")"));
    const close = this.#expect(")");
    return { kind: "call", name: token.name, args, start: token.start, end: close.end };
  }

  #parseList(open: Token): Node {
    const items = this.#parseSequence("]");
    const close = this.#expect("]");
    return { kind: "list", items, start: open.start, end: close.end };
  }

  /** Comma-separated expressions up to (not including) `close`; a trailing comma is allowed. */
  #parseSequence(close: Punctuator): Node[] {
    const items: Node[] = [];
    while (!this.#atPunctuator(close)) {
      items.push(this.#parseOr());
      if (!this.#atPunctuator(",")) break;
      this.#advance();
    }
    return items;
  }

  #expect(value: Punctuator): Token {
    const token = this.#advance();
    if (token.kind === "punctuator" && token.value === value) return token;
    throw this.#unexpected(token, `Expected "${value}"`);
  }

  #unexpected(token: Token, expectation?: string): FilterSyntaxError {
    const what = token.kind === "end"
      ? "Unexpected end of expression"
      : `Unexpected token "${this.source.slice(token.start, token.end)}"`;
    const previous = this.tokens[this.tokens.indexOf(token) - 1];
    const hint = expectation ?? hintFor(token) ?? (previous && hintFor(previous));
    return new FilterSyntaxError(this.source, token.start, what, hint);
  }

  #peek(): Token {
    return this.tokens[this.#index];
  }

  #advance(): Token {
    const token = this.tokens[this.#index];
    if (token.kind !== "end") this.#index++;
    return token;
  }

  #atPunctuator(value: Punctuator): boolean {
    const token = this.#peek();
    return token.kind === "punctuator" && token.value === value;
  }
}

/**
 * Joins `operands` with `operator` as a balanced tree: the same left-to-right
 * evaluation and early stop as a left-leaning chain, at logarithmic depth.
 */
function balancedChain(operator: "||" | "&&", operands: readonly Node[]): Node {
  if (operands.length === 1) return operands[0];
  const middle = operands.length >> 1;
  const left = balancedChain(operator, operands.slice(0, middle));
  const right = balancedChain(operator, operands.slice(middle));
  return { kind: "logical", operator, left, right, start: left.start, end: right.end };
}

function comparisonOperator(token: Token): ComparisonOperator | undefined {
  const text = token.kind === "punctuator"
    ? token.value
    : token.kind === "identifier"
    ? token.name
    : undefined;
  return COMPARISON_OPERATORS.find((operator) => operator === text);
}

/** Suggests the intended operator for a misspelt or foreign one (`AND`, `startswith`). */
function hintFor(token: Token): string | undefined {
  if (token.kind !== "identifier") return undefined;
  const lower = token.name.toLowerCase();
  const logical = FOREIGN_LOGICAL_WORDS[lower];
  if (logical !== undefined) return `Did you mean "${logical}"?`;
  const operator = COMPARISON_OPERATORS.find((candidate) => candidate.toLowerCase() === lower);
  return operator === undefined ? undefined : `Did you mean "${operator}"?`;
}
