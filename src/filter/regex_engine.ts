/**
 * A linear-time regular expression matcher for `matches`: the pattern is
 * parsed into an automaton and run as a Thompson NFA simulation (a Pike VM
 * without captures), so matching costs O(input length × program size) and
 * never backtracks, whatever the pattern.
 *
 * Supported: the JavaScript syntax (with the `u` flag) of literals, escapes
 * (`\d \D \w \W \s \S \b \B \t \n \r \v \f \0 \cX \xHH \uHHHH \u{H…}`),
 * `.`, character classes with ranges and negation, groups (capturing,
 * non-capturing, named; captures are not kept), `|`, `^`, `$` and the
 * quantifiers `* + ? {n} {n,} {n,m}` (greedy or lazy, the same for a yes/no
 * match). Not supported, rejected when the pattern compiles: lookarounds,
 * backreferences, `\p{…}` properties and inline modifiers.
 *
 * @module
 */

/** Most instructions a pattern may compile to (repetitions `{n,m}` are expanded). */
export const MAX_PROGRAM_SIZE = 500;

/** A pattern the engine cannot compile; the message says why. */
export class PatternError extends Error {
  /** An optional suggestion for the user. */
  readonly hint?: string;

  /** Creates the error with a sentence-case message and an optional hint. */
  constructor(message: string, hint?: string) {
    super(message);
    this.name = "PatternError";
    this.hint = hint;
  }
}

/** A compiled pattern. */
export interface Matcher {
  /** Whether the pattern matches anywhere in `text`. */
  test(text: string): boolean;
}

/**
 * Compiles a pattern, already valid for `new RegExp(pattern, "u")`.
 *
 * @throws {PatternError} on an unsupported construct or a too large program.
 * @example
 * ```ts
 * compileMatcher("^A-\\d+$").test("A-42"); // true
 * ```
 */
export function compileMatcher(pattern: string): Matcher {
  const tree = new PatternParser(pattern).parse();
  const program = new ProgramBuilder();
  program.emitNode(tree);
  program.emit(MATCH, 0, 0);
  return new PikeMatcher(program, startsAnchored(tree));
}

// ---- Character sets -------------------------------------------------------

/** Sorted, disjoint, inclusive code point ranges: `[low0, high0, low1, high1, …]`. */
type Ranges = readonly number[];

const MAX_CODE_POINT = 0x10ffff;
const DIGITS: Ranges = [0x30, 0x39];
const WORD_CHARACTERS: Ranges = [0x30, 0x39, 0x41, 0x5a, 0x5f, 0x5f, 0x61, 0x7a];
/** `\s`: WhiteSpace and LineTerminator of ECMAScript. */
const SPACES: Ranges = [
  0x09,
  0x0d,
  0x20,
  0x20,
  0xa0,
  0xa0,
  0x1680,
  0x1680,
  0x2000,
  0x200a,
  0x2028,
  0x2029,
  0x202f,
  0x202f,
  0x205f,
  0x205f,
  0x3000,
  0x3000,
  0xfeff,
  0xfeff,
];
const LINE_TERMINATORS: Ranges = [0x0a, 0x0a, 0x0d, 0x0d, 0x2028, 0x2029];

function normalize(ranges: Ranges): number[] {
  const pairs: [number, number][] = [];
  for (let index = 0; index < ranges.length; index += 2) {
    pairs.push([ranges[index], ranges[index + 1]]);
  }
  pairs.sort((a, b) => a[0] - b[0]);
  const merged: number[] = [];
  for (const [low, high] of pairs) {
    const last = merged.length - 1;
    if (last > 0 && low <= merged[last] + 1) merged[last] = Math.max(merged[last], high);
    else merged.push(low, high);
  }
  return merged;
}

function complement(ranges: Ranges): number[] {
  const sorted = normalize(ranges);
  const result: number[] = [];
  let next = 0;
  for (let index = 0; index < sorted.length; index += 2) {
    if (sorted[index] > next) result.push(next, sorted[index] - 1);
    next = sorted[index + 1] + 1;
  }
  if (next <= MAX_CODE_POINT) result.push(next, MAX_CODE_POINT);
  return result;
}

function rangesContain(ranges: Int32Array, codePoint: number): boolean {
  let low = 0;
  let high = ranges.length / 2 - 1;
  while (low <= high) {
    const middle = (low + high) >> 1;
    if (codePoint < ranges[middle * 2]) high = middle - 1;
    else if (codePoint > ranges[middle * 2 + 1]) low = middle + 1;
    else return true;
  }
  return false;
}

function isWordCharacter(codePoint: number): boolean {
  return (codePoint >= 0x61 && codePoint <= 0x7a) || (codePoint >= 0x41 && codePoint <= 0x5a) ||
    (codePoint >= 0x30 && codePoint <= 0x39) || codePoint === 0x5f;
}

// ---- Syntax tree ----------------------------------------------------------

type Assertion = "start" | "end" | "wordBoundary" | "notWordBoundary";

type PatternNode =
  | { readonly kind: "set"; readonly ranges: Ranges }
  | { readonly kind: "assert"; readonly assertion: Assertion }
  | { readonly kind: "sequence"; readonly parts: readonly PatternNode[] }
  | { readonly kind: "alternation"; readonly options: readonly PatternNode[] }
  | {
    readonly kind: "repeat";
    readonly body: PatternNode;
    readonly min: number;
    readonly max: number;
  };

const ESCAPE_SETS: Readonly<Record<string, Ranges>> = {
  d: DIGITS,
  D: complement(DIGITS),
  w: WORD_CHARACTERS,
  W: complement(WORD_CHARACTERS),
  s: SPACES,
  S: complement(SPACES),
};
const CONTROL_ESCAPES: Readonly<Record<string, number>> = {
  t: 0x09,
  n: 0x0a,
  v: 0x0b,
  f: 0x0c,
  r: 0x0d,
  "0": 0x00,
};
const BACKSPACE = 0x08;
const CONTROL_LETTER_MODULUS = 32;
const HEX_RADIX = 16;
const FIXED_HEX_ESCAPE = /^[0-9a-fA-F]{4}/;
const SHORT_HEX_ESCAPE = /^[0-9a-fA-F]{2}/;
const BRACED_HEX_ESCAPE = /^\{([0-9a-fA-F]+)\}/;
const QUANTIFIER = /^(?:([*+?])|\{(\d+)(?:(,)(\d*))?\})\??/;
const HIGH_SURROGATES: Ranges = [0xd800, 0xdbff];
const LOW_SURROGATES: Ranges = [0xdc00, 0xdfff];
const SURROGATE_BASE = 0x10000;
const SURROGATE_SHIFT = 10;
const ANY_CHARACTER = complement(LINE_TERMINATORS);

class PatternParser {
  #index = 0;

  constructor(readonly pattern: string) {}

  parse(): PatternNode {
    const node = this.#alternation();
    if (this.#index < this.pattern.length) {
      throw new PatternError(`Unexpected "${this.pattern[this.#index]}" in regular expression`);
    }
    return node;
  }

  #alternation(): PatternNode {
    const options = [this.#sequence()];
    while (this.pattern[this.#index] === "|") {
      this.#index++;
      options.push(this.#sequence());
    }
    return options.length === 1 ? options[0] : { kind: "alternation", options };
  }

  #sequence(): PatternNode {
    const parts: PatternNode[] = [];
    while (this.#index < this.pattern.length && !"|)".includes(this.pattern[this.#index])) {
      parts.push(this.#quantified(this.#atom()));
    }
    return parts.length === 1 ? parts[0] : { kind: "sequence", parts };
  }

  #quantified(body: PatternNode): PatternNode {
    const match = QUANTIFIER.exec(this.pattern.slice(this.#index));
    if (match === null) return body;
    this.#index += match[0].length;
    const [, symbol, min, comma, max] = match;
    if (symbol === "*") return { kind: "repeat", body, min: 0, max: Infinity };
    if (symbol === "+") return { kind: "repeat", body, min: 1, max: Infinity };
    if (symbol === "?") return { kind: "repeat", body, min: 0, max: 1 };
    const upper = comma === undefined ? Number(min) : max === "" ? Infinity : Number(max);
    return { kind: "repeat", body, min: Number(min), max: upper };
  }

  #atom(): PatternNode {
    const char = this.pattern[this.#index];
    switch (char) {
      case "(":
        return this.#group();
      case "[":
        return this.#characterClass();
      case ".":
        this.#index++;
        return { kind: "set", ranges: ANY_CHARACTER };
      case "^":
        this.#index++;
        return { kind: "assert", assertion: "start" };
      case "$":
        this.#index++;
        return { kind: "assert", assertion: "end" };
      case "\\":
        return this.#atomEscape();
      default:
        return single(this.#literal());
    }
  }

  #group(): PatternNode {
    const rest = this.pattern.slice(this.#index + 1);
    let prefixLength = 0;
    if (rest.startsWith("?:")) prefixLength = 2;
    else if (/^\?<[^=!]/.test(rest)) prefixLength = rest.indexOf(">") + 1;
    else if (rest.startsWith("?=") || rest.startsWith("?!") || rest.startsWith("?<")) {
      throw new PatternError("Lookaround assertions are not supported in regular expressions");
    } else if (rest.startsWith("?")) {
      throw new PatternError(
        "Inline modifiers are not supported in regular expressions",
        "To ignore case, compare lower(x) with a lower-case pattern",
      );
    }
    this.#index += 1 + prefixLength;
    const inner = this.#alternation();
    this.#index++; // the ")" (the pattern is known to be valid)
    return inner;
  }

  #atomEscape(): PatternNode {
    const letter = this.pattern[this.#index + 1];
    if (letter === "b" || letter === "B") {
      this.#index += 2;
      return { kind: "assert", assertion: letter === "b" ? "wordBoundary" : "notWordBoundary" };
    }
    const set = this.#setEscape();
    return set === undefined ? single(this.#characterEscape()) : { kind: "set", ranges: set };
  }

  /** `\d`, `\w`, `\s` and their negations, or `undefined` for another escape. */
  #setEscape(): Ranges | undefined {
    const set = ESCAPE_SETS[this.pattern[this.#index + 1]];
    if (set !== undefined) this.#index += 2;
    return set;
  }

  /** Reads an escape that stands for one code point, starting at the backslash. */
  #characterEscape(): number {
    const letter = this.pattern[this.#index + 1];
    this.#index += 2;
    if (Object.hasOwn(CONTROL_ESCAPES, letter)) return CONTROL_ESCAPES[letter];
    if (/[1-9k]/.test(letter)) {
      throw new PatternError("Backreferences are not supported in regular expressions");
    }
    if (letter === "p" || letter === "P") {
      throw new PatternError("Unicode property escapes are not supported in regular expressions");
    }
    if (letter === "c") return this.pattern.charCodeAt(this.#index++) % CONTROL_LETTER_MODULUS;
    if (letter === "x") return this.#hex(SHORT_HEX_ESCAPE);
    if (letter === "u") return this.#unicodeEscape();
    return letter.codePointAt(0)!;
  }

  #unicodeEscape(): number {
    const braced = BRACED_HEX_ESCAPE.exec(this.pattern.slice(this.#index));
    if (braced !== null) {
      this.#index += braced[0].length;
      return parseInt(braced[1], HEX_RADIX);
    }
    const unit = this.#hex(FIXED_HEX_ESCAPE);
    const isPairStart = inRanges(HIGH_SURROGATES, unit) &&
      this.pattern.startsWith("\\u", this.#index);
    if (!isPairStart) return unit;
    const save = this.#index;
    this.#index += 2;
    const low = FIXED_HEX_ESCAPE.test(this.pattern.slice(this.#index))
      ? this.#hex(FIXED_HEX_ESCAPE)
      : -1;
    if (!inRanges(LOW_SURROGATES, low)) {
      this.#index = save;
      return unit;
    }
    return SURROGATE_BASE + ((unit - HIGH_SURROGATES[0]) << SURROGATE_SHIFT) +
      (low - LOW_SURROGATES[0]);
  }

  #hex(digits: RegExp): number {
    const text = digits.exec(this.pattern.slice(this.#index))![0];
    this.#index += text.length;
    return parseInt(text, HEX_RADIX);
  }

  #literal(): number {
    const codePoint = this.pattern.codePointAt(this.#index)!;
    this.#index += codePoint > 0xffff ? 2 : 1;
    return codePoint;
  }

  #characterClass(): PatternNode {
    this.#index++;
    const negated = this.pattern[this.#index] === "^";
    if (negated) this.#index++;
    const ranges: number[] = [];
    while (this.pattern[this.#index] !== "]") {
      const set = this.pattern[this.#index] === "\\" ? this.#setEscape() : undefined;
      if (set !== undefined) {
        ranges.push(...set);
        continue;
      }
      const low = this.#classCharacter();
      const isRange = this.pattern[this.#index] === "-" && this.pattern[this.#index + 1] !== "]";
      if (!isRange) {
        ranges.push(low, low);
        continue;
      }
      this.#index++;
      ranges.push(low, this.#classCharacter());
    }
    this.#index++;
    return { kind: "set", ranges: negated ? complement(ranges) : normalize(ranges) };
  }

  #classCharacter(): number {
    if (this.pattern[this.#index] !== "\\") return this.#literal();
    if (this.pattern[this.#index + 1] === "b") {
      this.#index += 2;
      return BACKSPACE;
    }
    return this.#characterEscape();
  }
}

function single(codePoint: number): PatternNode {
  return { kind: "set", ranges: [codePoint, codePoint] };
}

function inRanges(ranges: Ranges, codePoint: number): boolean {
  return codePoint >= ranges[0] && codePoint <= ranges[1];
}

/** Whether every match must start at the beginning of the input (`^…`, `^a|^b`). */
function startsAnchored(node: PatternNode): boolean {
  switch (node.kind) {
    case "assert":
      return node.assertion === "start";
    case "sequence":
      return node.parts.length > 0 && startsAnchored(node.parts[0]);
    case "alternation":
      return node.options.every(startsAnchored);
    default:
      return false;
  }
}

// ---- Program --------------------------------------------------------------

/** Consume one code point equal to `first`. */
const CHARACTER = 0;
/** Consume one code point in set number `first`. */
const SET = 1;
/** Continue at both `first` and `second`. */
const SPLIT = 2;
/** Continue at `first`. */
const JUMP = 3;
/** Continue at the next instruction if assertion number `first` holds. */
const ASSERT = 4;
/** The pattern matched. */
const MATCH = 5;

const ASSERTIONS: readonly Assertion[] = ["start", "end", "wordBoundary", "notWordBoundary"];
const START = 0;
const END = 1;
const WORD_BOUNDARY = 2;
/** Stands for "no code point" before the start and after the end of the input. */
const NONE = -1;

class ProgramBuilder {
  readonly codes: number[] = [];
  readonly firsts: number[] = [];
  readonly seconds: number[] = [];
  readonly sets: Int32Array[] = [];

  get size(): number {
    return this.codes.length;
  }

  emit(code: number, first: number, second: number): number {
    if (this.codes.length >= MAX_PROGRAM_SIZE) {
      throw new PatternError(
        `Regular expression is too large: it compiles to more than ${MAX_PROGRAM_SIZE} steps`,
        "Use smaller repetition counts",
      );
    }
    this.codes.push(code);
    this.firsts.push(first);
    this.seconds.push(second);
    return this.codes.length - 1;
  }

  emitNode(node: PatternNode): void {
    switch (node.kind) {
      case "set":
        this.#emitSet(node.ranges);
        return;
      case "assert":
        this.emit(ASSERT, ASSERTIONS.indexOf(node.assertion), 0);
        return;
      case "sequence":
        for (const part of node.parts) this.emitNode(part);
        return;
      case "alternation":
        this.#emitAlternation(node.options);
        return;
      case "repeat":
        this.#emitRepeat(node.body, node.min, node.max);
        return;
    }
  }

  #emitSet(ranges: Ranges): void {
    if (ranges.length === 2 && ranges[0] === ranges[1]) {
      this.emit(CHARACTER, ranges[0], 0);
      return;
    }
    this.sets.push(Int32Array.from(ranges));
    this.emit(SET, this.sets.length - 1, 0);
  }

  #emitAlternation(options: readonly PatternNode[]): void {
    const jumps: number[] = [];
    for (let index = 0; index < options.length - 1; index++) {
      const split = this.emit(SPLIT, this.size + 1, 0);
      this.emitNode(options[index]);
      jumps.push(this.emit(JUMP, 0, 0));
      this.seconds[split] = this.size;
    }
    this.emitNode(options[options.length - 1]);
    for (const jump of jumps) this.firsts[jump] = this.size;
  }

  #emitRepeat(body: PatternNode, min: number, max: number): void {
    for (let count = 0; count < min; count++) this.emitNode(body);
    if (max === Infinity) {
      const split = this.emit(SPLIT, this.size + 1, 0);
      this.emitNode(body);
      this.emit(JUMP, split, 0);
      this.seconds[split] = this.size;
      return;
    }
    for (let count = min; count < max; count++) {
      const split = this.emit(SPLIT, this.size + 1, 0);
      this.emitNode(body);
      this.seconds[split] = this.size;
    }
  }
}

// ---- Simulation -----------------------------------------------------------

/** A compiled program in flat typed arrays, the form the simulation reads fastest. */
interface Program {
  readonly codes: Int32Array;
  readonly firsts: Int32Array;
  readonly seconds: Int32Array;
  readonly sets: readonly Int32Array[];
}

/** Generation numbers wrap before this, when the marks are cleared. */
const MAX_GENERATION = 0x3fffffff;

/**
 * A Pike VM without captures. The threads at each position are a list of
 * instruction indices; `marks[pc] === generation` says whether `pc` is
 * already in the list being built, so nothing is cleared or allocated per
 * position or per call.
 */
class PikeMatcher implements Matcher {
  readonly #program: Program;
  readonly #anchored: boolean;
  #current: Int32Array;
  #next: Int32Array;
  readonly #marks: Int32Array;
  readonly #stack: Int32Array;
  #generation = 0;

  constructor(builder: ProgramBuilder, anchored: boolean) {
    this.#program = {
      codes: Int32Array.from(builder.codes),
      firsts: Int32Array.from(builder.firsts),
      seconds: Int32Array.from(builder.seconds),
      sets: builder.sets,
    };
    this.#anchored = anchored;
    this.#current = new Int32Array(builder.size);
    this.#next = new Int32Array(builder.size);
    this.#marks = new Int32Array(builder.size).fill(-1);
    // Each instruction enters a list once and pushes at most two successors.
    this.#stack = new Int32Array(2 * builder.size + 1);
  }

  test(text: string): boolean {
    const program = this.#program;
    let previous = NONE;
    let position = 0;
    let current = codePointAt(text, 0);
    let generation = this.#nextGeneration();
    let size = this.#follow(this.#current, 0, generation, 0, previous, current);
    while (size > 0) {
      if (current === NONE) return hasMatch(program.codes, this.#current, size);
      const width = current > 0xffff ? 2 : 1;
      const following = codePointAt(text, position + width);
      generation = this.#nextGeneration();
      const nextSize = this.#step(size, generation, current, following);
      if (nextSize < 0) return true;
      previous = current;
      position += width;
      current = following;
      size = this.#anchored
        ? nextSize
        : this.#follow(this.#next, nextSize, generation, 0, previous, current);
      const done = this.#current;
      this.#current = this.#next;
      this.#next = done;
    }
    return false;
  }

  #nextGeneration(): number {
    if (this.#generation === MAX_GENERATION) {
      this.#marks.fill(-1);
      this.#generation = 0;
    }
    return ++this.#generation;
  }

  /** Moves the threads over `codePoint` into the next list; -1 when one had matched. */
  #step(size: number, generation: number, codePoint: number, following: number): number {
    const { codes, firsts, sets } = this.#program;
    const threads = this.#current;
    const next = this.#next;
    let nextSize = 0;
    for (let index = 0; index < size; index++) {
      const pc = threads[index];
      const code = codes[pc];
      if (code === MATCH) return -1;
      const consumes = code === CHARACTER
        ? firsts[pc] === codePoint
        : code === SET && rangesContain(sets[firsts[pc]], codePoint);
      if (consumes) {
        nextSize = this.#follow(next, nextSize, generation, pc + 1, codePoint, following);
      }
    }
    return nextSize;
  }

  /**
   * Adds `start` and every instruction reachable from it without consuming
   * input to `list` (holding `size` entries); returns the new size.
   */
  #follow(
    list: Int32Array,
    size: number,
    generation: number,
    start: number,
    previous: number,
    current: number,
  ): number {
    const { codes, firsts, seconds } = this.#program;
    const marks = this.#marks;
    const stack = this.#stack;
    let top = 0;
    stack[top++] = start;
    while (top > 0) {
      const pc = stack[--top];
      if (marks[pc] === generation) continue;
      marks[pc] = generation;
      list[size++] = pc;
      const code = codes[pc];
      if (code === JUMP) stack[top++] = firsts[pc];
      else if (code === SPLIT) {
        stack[top++] = seconds[pc];
        stack[top++] = firsts[pc];
      } else if (code === ASSERT && holds(firsts[pc], previous, current)) {
        stack[top++] = pc + 1;
      }
    }
    return size;
  }
}

function hasMatch(codes: Int32Array, threads: Int32Array, size: number): boolean {
  for (let index = 0; index < size; index++) {
    if (codes[threads[index]] === MATCH) return true;
  }
  return false;
}

function codePointAt(text: string, position: number): number {
  return position < text.length ? text.codePointAt(position)! : NONE;
}

function holds(assertion: number, previous: number, current: number): boolean {
  if (assertion === START) return previous === NONE;
  if (assertion === END) return current === NONE;
  const boundary = isWordCharacter(previous) !== isWordCharacter(current);
  return assertion === WORD_BOUNDARY ? boundary : !boundary;
}
