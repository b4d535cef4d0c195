/**
 * Safety of `matches`: no pattern and no row value can make a filter stall
 * the pipeline (ReDoS).
 *
 * 1. Matching runs on the linear-time automaton of `regex_engine.ts`, never
 *    on a backtracking engine: the work is at most input length × program
 *    size ({@linkcode MAX_MATCH_INPUT_LENGTH} × `MAX_PROGRAM_SIZE`).
 * 2. At load time, patterns that would backtrack catastrophically in a
 *    backtracking engine are rejected anyway, so a filter stays safe if it is
 *    ever run elsewhere, and because each has a simple safe rewrite:
 *    - a group repeated by `*`, `+` or `{n,m}` (m > 1) that contains a
 *      quantifier or an alternation, at any depth: `(a+)+`, `(a*)*`,
 *      `(a|a)*`, `((ab|a)c)+`; write a character class (`[ab]+`) or drop the
 *      inner repetition;
 *    - backreferences (`\1`, `\k<name>`), which no automaton can run;
 *    - patterns longer than {@linkcode MAX_PATTERN_LENGTH}.
 * 3. At run time, strings longer than {@linkcode MAX_MATCH_INPUT_LENGTH} are
 *    a runtime error (the event is dead-lettered) rather than a test of a
 *    prefix, which could silently give the wrong answer for `$`-anchored
 *    patterns.
 *
 * @module
 */
import { compileMatcher, type Matcher, PatternError } from "./regex_engine.ts";

/** Longest pattern `matches` accepts, in UTF-16 code units. */
export const MAX_PATTERN_LENGTH = 256;
/** Longest string `matches` tests, in UTF-16 code units; longer is a runtime error. */
export const MAX_MATCH_INPUT_LENGTH = 10_000;
/** Flags the pattern syntax is validated with: `u` for strict syntax and code points. */
export const PATTERN_FLAGS = "u";

/** Why a pattern was refused, and where in the pattern. */
export interface PatternProblem {
  /** 0-based offset in the pattern. */
  readonly index: number;
  /** What is wrong, in lower case to follow "Unsafe regular expression: ". */
  readonly reason: string;
  /** How to rewrite the pattern. */
  readonly advice: string;
}

const GROUP_ADVICE = "Backtracking regex engines can take forever on such patterns: " +
  "use a character class (e.g. [ab]+) or drop the inner repetition";
const BACKREFERENCE_ADVICE = "Match the repeated text explicitly instead";

/** What a group, open or closed, contains at any depth. */
interface GroupContents {
  quantifier: boolean;
  alternation: boolean;
}

/** The atom a quantifier would apply to. */
type Atom = { kind: "group"; contents: GroupContents } | { kind: "simple" };

const QUANTIFIER_PATTERN = /^(?:[*+?]|\{(\d+)(,(\d*))?\})/;
const BACKREFERENCE_START = /[1-9k]/;
const BRACED_ESCAPES = /[pPu]/;
const GROUP_PREFIX = /^\?(?::|=|!|<=|<!|<[^>]*>)/;

/**
 * Compiles `pattern` for `matches` after the safety checks.
 *
 * @throws {PatternError} when the pattern is too long, invalid, unsafe or
 * uses an unsupported construct.
 * @example
 * ```ts
 * compileSafePattern("^A-[0-9]+$").test("A-42"); // true
 * compileSafePattern("(a+)+$"); // throws PatternError
 * ```
 */
export function compileSafePattern(pattern: string): Matcher {
  if (pattern.length > MAX_PATTERN_LENGTH) {
    throw new PatternError(
      `Regular expression is ${pattern.length} characters long; the limit is ${MAX_PATTERN_LENGTH}`,
    );
  }
  try {
    new RegExp(pattern, PATTERN_FLAGS);
  } catch (error) {
    throw new PatternError(`Invalid regular expression: ${engineReason(error as Error)}`);
  }
  const problem = findBacktrackingHazard(pattern);
  if (problem !== undefined) {
    throw new PatternError(
      `Unsafe regular expression: ${problem.reason}`,
      `See index ${problem.index} of the pattern. ${problem.advice}`,
    );
  }
  return compileMatcher(pattern);
}

export { PatternError };

/**
 * Finds the first construct that can make a backtracking engine take
 * exponential time, or `undefined`. Expects a pattern valid with the `u` flag.
 *
 * @example
 * ```ts
 * findBacktrackingHazard("(a+)+$")?.index; // 4
 * findBacktrackingHazard("^[a-z]+@x\\.com$"); // undefined
 * ```
 */
export function findBacktrackingHazard(pattern: string): PatternProblem | undefined {
  const open: GroupContents[] = [{ quantifier: false, alternation: false }];
  let last: Atom = { kind: "simple" };
  let index = 0;
  while (index < pattern.length) {
    const char = pattern[index];
    const current = open[open.length - 1];
    if (char === "\\") {
      if (BACKREFERENCE_START.test(pattern[index + 1])) {
        return { index, reason: "backreferences are not allowed", advice: BACKREFERENCE_ADVICE };
      }
      index = skipEscape(pattern, index);
      last = { kind: "simple" };
    } else if (char === "[") {
      index = skipClass(pattern, index);
      last = { kind: "simple" };
    } else if (char === "(") {
      open.push({ quantifier: false, alternation: false });
      const prefix = GROUP_PREFIX.exec(pattern.slice(index + 1));
      index += 1 + (prefix === null ? 0 : prefix[0].length);
    } else if (char === ")") {
      const contents = open.pop()!;
      mergeInto(open[open.length - 1], contents);
      last = { kind: "group", contents };
      index++;
    } else if (char === "|") {
      current.alternation = true;
      index++;
    } else {
      const quantifier = QUANTIFIER_PATTERN.exec(pattern.slice(index));
      if (quantifier === null) {
        last = { kind: "simple" };
        index++;
        continue;
      }
      if (last.kind === "group" && repeats(quantifier) && isAmbiguous(last.contents)) {
        const what = last.contents.quantifier ? "a quantifier" : "an alternation";
        return { index, reason: `a repeated group contains ${what}`, advice: GROUP_ADVICE };
      }
      current.quantifier = true;
      last = { kind: "simple" };
      index += quantifier[0].length;
    }
  }
  return undefined;
}

/** V8 says "Invalid regular expression: /(/u: Unterminated group"; keep the last part. */
function engineReason(error: Error): string {
  const parts = error.message.split(": ");
  return parts[parts.length - 1];
}

function mergeInto(parent: GroupContents, child: GroupContents): void {
  parent.quantifier ||= child.quantifier;
  parent.alternation ||= child.alternation;
}

function isAmbiguous(contents: GroupContents): boolean {
  return contents.quantifier || contents.alternation;
}

/** Whether a quantifier can match its atom more than once (`?`, `{1}`, `{0,1}` cannot). */
function repeats(quantifier: RegExpExecArray): boolean {
  const [text, min, comma, max] = quantifier;
  if (text === "*" || text === "+") return true;
  if (text === "?") return false;
  if (comma === undefined) return Number(min) > 1;
  return max === "" || Number(max) > 1;
}

/** Returns the index just after the escape starting at the backslash at `start`. */
function skipEscape(pattern: string, start: number): number {
  const letter = pattern[start + 1];
  if (BRACED_ESCAPES.test(letter) && pattern[start + 2] === "{") {
    return pattern.indexOf("}", start) + 1;
  }
  return start + 2;
}

/** Returns the index just after the character class starting at `start`. */
function skipClass(pattern: string, start: number): number {
  let index = start + 1;
  while (index < pattern.length && pattern[index] !== "]") {
    index = pattern[index] === "\\" ? skipEscape(pattern, index) : index + 1;
  }
  return index + 1;
}
