/**
 * Lexer of the filter language: turns the expression text into tokens.
 *
 * Identifiers include the word operators (`in`, `contains`, `startsWith`,
 * `endsWith`, `matches`) and the literals `true`, `false`, `null`: the parser
 * decides from context, so `new.contains` stays a column name.
 *
 * @module
 */
import { FilterSyntaxError } from "./errors.ts";

/** Symbols of the language. `-` only appears before a number literal. */
export type Punctuator =
  | "("
  | ")"
  | "["
  | "]"
  | ","
  | "."
  | "=="
  | "!="
  | "<"
  | "<="
  | ">"
  | ">="
  | "&&"
  | "||"
  | "!"
  | "-";

/** Offsets of a token in the source: `start` inclusive, `end` exclusive. */
export interface Span {
  /** 0-based offset of the first character. */
  readonly start: number;
  /** 0-based offset just after the last character. */
  readonly end: number;
}

/** One token of a filter expression. */
export type Token =
  | Span & { readonly kind: "identifier"; readonly name: string }
  | Span & { readonly kind: "string"; readonly value: string }
  | Span & { readonly kind: "number"; readonly value: number | bigint }
  | Span & { readonly kind: "punctuator"; readonly value: Punctuator }
  | Span & { readonly kind: "end" };

/** Two-character symbols, tried before the one-character ones. */
const TWO_CHARACTER_PUNCTUATORS: readonly Punctuator[] = ["==", "!=", "<=", ">=", "&&", "||"];
const ONE_CHARACTER_PUNCTUATORS: readonly Punctuator[] = [
  "(",
  ")",
  "[",
  "]",
  ",",
  ".",
  "<",
  ">",
  "!",
  "-",
];
/** Single characters that are a typo of a two-character operator. */
const LONE_OPERATOR_HINTS: Readonly<Record<string, string>> = { "=": "==", "&": "&&", "|": "||" };

const WHITESPACE = /\s/;
const IDENTIFIER_START = /[\p{L}_]/u;
const IDENTIFIER_PART = /[\p{L}\p{N}_$]/u;
const NUMBER_PATTERN = /\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const INTEGER_TEXT = /^\d+$/;
const DIGIT = /\d/;

/** Escapes with a fixed meaning after a backslash inside a string literal. */
const SIMPLE_ESCAPES: Readonly<Record<string, string>> = {
  "\\": "\\",
  "'": "'",
  '"': '"',
  "/": "/",
  "n": "\n",
  "r": "\r",
  "t": "\t",
  "b": "\b",
  "f": "\f",
  "v": "\v",
  "0": "\0",
};
const HEX_ESCAPE_DIGITS = 4;
const HEX_RADIX = 16;
const FIXED_UNICODE_ESCAPE = /^[0-9a-fA-F]{4}$/;
const BRACED_UNICODE_ESCAPE = /^\{([0-9a-fA-F]{1,6})\}/;
const MAX_CODE_POINT = 0x10ffff;

/**
 * Splits a filter expression into tokens; the last token has kind `end`.
 *
 * @throws {FilterSyntaxError} on a character that starts no token, an
 * unterminated string, a bad escape or a malformed number.
 * @example
 * ```ts
 * tokenize("new.id == 5").map((token) => token.kind);
 * // ["identifier", "punctuator", "identifier", "punctuator", "number", "end"]
 * ```
 */
export function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  let offset = 0;
  while (offset < source.length) {
    const char = source[offset];
    if (WHITESPACE.test(char)) {
      offset++;
      continue;
    }
    const token = readToken(source, offset);
    tokens.push(token);
    offset = token.end;
  }
  tokens.push({ kind: "end", start: source.length, end: source.length });
  return tokens;
}

function readToken(source: string, start: number): Token {
  const char = source[start];
  if (char === "'" || char === '"') return readString(source, start);
  if (DIGIT.test(char)) return readNumber(source, start);
  if (IDENTIFIER_START.test(char)) return readIdentifier(source, start);
  const pair = source.slice(start, start + 2);
  for (const value of TWO_CHARACTER_PUNCTUATORS) {
    if (pair === value) return { kind: "punctuator", value, start, end: start + 2 };
  }
  for (const value of ONE_CHARACTER_PUNCTUATORS) {
    if (char === value) return { kind: "punctuator", value, start, end: start + 1 };
  }
  const intended = LONE_OPERATOR_HINTS[char];
  const hint = intended === undefined ? undefined : `Did you mean "${intended}"?`;
  throw new FilterSyntaxError(source, start, `Unexpected character "${char}"`, hint);
}

function readIdentifier(source: string, start: number): Token {
  let end = start + 1;
  while (end < source.length && IDENTIFIER_PART.test(source[end])) end++;
  return { kind: "identifier", name: source.slice(start, end), start, end };
}

function readNumber(source: string, start: number): Token {
  NUMBER_PATTERN.lastIndex = start;
  const text = NUMBER_PATTERN.exec(source)![0];
  const end = start + text.length;
  if (end < source.length && IDENTIFIER_PART.test(source[end])) {
    let badEnd = end;
    while (badEnd < source.length && IDENTIFIER_PART.test(source[badEnd])) badEnd++;
    throw new FilterSyntaxError(source, start, `Invalid number "${source.slice(start, badEnd)}"`);
  }
  return { kind: "number", value: numberValue(source, start, text), start, end };
}

/** Integers beyond the safe range stay exact as `bigint` (int8 ids compare exactly). */
function numberValue(source: string, start: number, text: string): number | bigint {
  const value = Number(text);
  if (INTEGER_TEXT.test(text) && !Number.isSafeInteger(value)) return BigInt(text);
  if (!Number.isFinite(value)) {
    throw new FilterSyntaxError(source, start, `Number "${text}" is out of range`);
  }
  return value;
}

function readString(source: string, start: number): Token {
  const quote = source[start];
  let value = "";
  let offset = start + 1;
  while (offset < source.length) {
    const char = source[offset];
    if (char === quote) return { kind: "string", value, start, end: offset + 1 };
    if (char === "\\") {
      const escape = readEscape(source, offset);
      value += escape.text;
      offset = escape.end;
    } else {
      value += char;
      offset++;
    }
  }
  throw new FilterSyntaxError(source, start, "Unterminated string", `Close it with ${quote}`);
}

/** Reads the escape starting at the backslash at `start`. */
function readEscape(source: string, start: number): { text: string; end: number } {
  const letter = source[start + 1];
  if (letter === undefined) {
    throw new FilterSyntaxError(source, start, "Unterminated string");
  }
  const simple = SIMPLE_ESCAPES[letter];
  if (simple !== undefined) return { text: simple, end: start + 2 };
  if (letter === "u") return readUnicodeEscape(source, start);
  throw new FilterSyntaxError(
    source,
    start,
    `Unknown escape sequence "\\${letter}"`,
    String.raw`Known escapes: \\ \' \" \/ \n \r \t \b \f \v \0 \uXXXX \u{X…}`,
  );
}

function readUnicodeEscape(source: string, start: number): { text: string; end: number } {
  const rest = source.slice(start + 2);
  const fixed = rest.slice(0, HEX_ESCAPE_DIGITS);
  if (FIXED_UNICODE_ESCAPE.test(fixed)) {
    return {
      text: String.fromCharCode(parseInt(fixed, HEX_RADIX)),
      end: start + 2 + HEX_ESCAPE_DIGITS,
    };
  }
  const braced = BRACED_UNICODE_ESCAPE.exec(rest);
  const codePoint = braced === null ? NaN : parseInt(braced[1], HEX_RADIX);
  if (braced === null || codePoint > MAX_CODE_POINT) {
    throw new FilterSyntaxError(
      source,
      start,
      "Invalid unicode escape",
      String.raw`Write \uXXXX with four hex digits or \u{X…} up to 10FFFF`,
    );
  }
  return { text: String.fromCodePoint(codePoint), end: start + 2 + braced[0].length };
}
