/**
 * Errors of the filter language: {@linkcode FilterSyntaxError} for every
 * problem found when a filter is loaded, {@linkcode FilterRuntimeError} for a
 * problem found while evaluating one event.
 *
 * @module
 */

/** Indentation of the quoted expression and caret in a syntax error message. */
const QUOTE_INDENT = "  ";
/** Longest excerpt of the expression quoted in a runtime error message. */
const MAX_EXCERPT_LENGTH = 60;

/** A 1-based line and column in a filter's source text. */
export interface SourcePosition {
  /** 1-based line (filters written as TOML multi-line strings span lines). */
  readonly line: number;
  /** 1-based column within the line, in UTF-16 code units. */
  readonly column: number;
}

/**
 * Converts a 0-based offset in `source` to a 1-based line and column.
 *
 * @example
 * ```ts
 * locate("a &&\n  b", 7); // { line: 2, column: 3 }
 * ```
 */
export function locate(source: string, offset: number): SourcePosition {
  let line = 1;
  let lineStart = 0;
  for (let index = 0; index < offset && index < source.length; index++) {
    if (source[index] === "\n") {
      line++;
      lineStart = index + 1;
    }
  }
  return { line, column: offset - lineStart + 1 };
}

function describePosition(source: string, position: SourcePosition): string {
  return source.includes("\n")
    ? `line ${position.line}, column ${position.column}`
    : `column ${position.column}`;
}

function caretDisplay(source: string, position: SourcePosition): string {
  const lineText = source.split("\n")[position.line - 1].replace(/\r$/, "").replaceAll("\t", " ");
  const caret = " ".repeat(position.column - 1) + "^";
  return `${QUOTE_INDENT}${lineText}\n${QUOTE_INDENT}${caret}`;
}

/**
 * A filter that cannot be loaded: a syntax error, an unknown identifier or
 * function, a wrong argument count, a type mistake visible without data, or an
 * unsafe regular expression. The message quotes the offending line with a
 * caret under the column:
 *
 * ```
 * Unexpected token ")" at column 13:
 *   new.id == 5 )
 *               ^
 * ```
 */
export class FilterSyntaxError extends Error {
  /** What is wrong, without the position (e.g. `Unexpected token ")"`). */
  readonly reason: string;
  /** 1-based line of the problem. */
  readonly line: number;
  /** 1-based column of the problem within its line. */
  readonly column: number;

  /**
   * Builds the message from the position of the problem.
   *
   * @param source the whole filter expression
   * @param offset 0-based offset of the problem in `source`
   * @param reason what is wrong, in sentence case, without a final period
   * @param hint an optional last line suggesting a fix
   */
  constructor(source: string, offset: number, reason: string, hint?: string) {
    const position = locate(source, offset);
    const lines = [
      `${reason} at ${describePosition(source, position)}:`,
      caretDisplay(source, position),
    ];
    if (hint !== undefined) lines.push(hint);
    super(lines.join("\n"));
    this.name = "FilterSyntaxError";
    this.reason = reason;
    this.line = position.line;
    this.column = position.column;
  }
}

/**
 * An event the filter cannot decide, e.g. an ordering comparison between a
 * string and a boolean. The pipeline dead-letters such an event with the
 * message as the reason. The message names types, never values, so row data
 * does not leak into logs:
 * `Operator "<" cannot compare a string with a boolean at column 1 (new.a < true)`.
 */
export class FilterRuntimeError extends Error {
  /** 1-based line of the failing sub-expression. */
  readonly line: number;
  /** 1-based column of the failing sub-expression within its line. */
  readonly column: number;

  /**
   * Builds the message from the span of the failing sub-expression.
   *
   * @param source the whole filter expression
   * @param start 0-based offset where the failing sub-expression starts
   * @param end 0-based offset just after the failing sub-expression
   * @param reason what went wrong, in sentence case
   */
  constructor(source: string, start: number, end: number, reason: string) {
    const position = locate(source, start);
    super(`${reason} at ${describePosition(source, position)} (${excerpt(source, start, end)})`);
    this.name = "FilterRuntimeError";
    this.line = position.line;
    this.column = position.column;
  }
}

function excerpt(source: string, start: number, end: number): string {
  const text = source.slice(start, end).replace(/\s+/g, " ");
  return text.length <= MAX_EXCERPT_LENGTH ? text : `${text.slice(0, MAX_EXCERPT_LENGTH - 1)}…`;
}
