import assert from "node:assert/strict";
import { compileFilter, FilterSyntaxError } from "../../src/filter/mod.ts";
import { compileMatcher, MAX_PROGRAM_SIZE, PatternError } from "../../src/filter/regex_engine.ts";
import {
  compileSafePattern,
  findBacktrackingHazard,
  MAX_MATCH_INPUT_LENGTH,
  MAX_PATTERN_LENGTH,
} from "../../src/filter/regex_safety.ts";

/**
 * A match on four times the input may take at most this many times as long:
 * linear time gives about 4, the quadratic time of a backtracking engine 16.
 * A ratio, not a time, so a slow or busy machine does not fail it.
 */
const MAX_GROWTH_ON_FOUR_TIMES_THE_INPUT = 10;
/** Absolute slack for timer resolution and garbage collection pauses. */
const TIMER_SLACK_MILLISECONDS = 20;
/** Each timing is the fastest of this many runs, which filters out the machine's hiccups. */
const TIMING_RUNS = 3;

Deno.test("findBacktrackingHazard() flags repeated groups holding quantifiers or alternations", () => {
  const unsafe: [string, string][] = [
    ["(a+)+$", "a repeated group contains a quantifier"],
    ["(a*)*", "a repeated group contains a quantifier"],
    ["(?:a+)+", "a repeated group contains a quantifier"],
    ["(\\d+)*x", "a repeated group contains a quantifier"],
    ["(a{1,2})+", "a repeated group contains a quantifier"],
    ["(a?){2,}", "a repeated group contains a quantifier"],
    ["(a|a)*", "a repeated group contains an alternation"],
    ["((ab|a)c)+", "a repeated group contains an alternation"],
    ["(x|y){2}", "a repeated group contains an alternation"],
    ["(a)\\1", "backreferences are not allowed"],
    ["(?<x>a)\\k<x>", "backreferences are not allowed"],
  ];
  for (const [pattern, reason] of unsafe) {
    assert.equal(findBacktrackingHazard(pattern)?.reason, reason, pattern);
  }
  assert.equal(findBacktrackingHazard("(a+)+$")?.index, 4);
});

Deno.test("findBacktrackingHazard() accepts groups repeated without inner ambiguity", () => {
  const safe = [
    "^[a-z]+@example\\.com$",
    "(ab)+",
    "(a+)?",
    "(a+){1}",
    "(a+){0,1}",
    "^(?:foo|bar)-\\d+$",
    "[(+]+",
    "\\(a+\\)+",
    "a{2,5}b*",
    "\\u{1F600}+",
    "\\0",
  ];
  for (const pattern of safe) assert.equal(findBacktrackingHazard(pattern), undefined, pattern);
});

Deno.test("compileSafePattern() enforces MAX_PATTERN_LENGTH and MAX_PROGRAM_SIZE", () => {
  assert.ok(compileSafePattern("a".repeat(MAX_PATTERN_LENGTH)).test("a".repeat(300)));
  assert.throws(
    () => compileSafePattern("a".repeat(MAX_PATTERN_LENGTH + 1)),
    new PatternError(
      `Regular expression is ${MAX_PATTERN_LENGTH + 1} characters long; ` +
        `the limit is ${MAX_PATTERN_LENGTH}`,
    ),
  );
  assert.throws(
    () => compileSafePattern(`a{${MAX_PROGRAM_SIZE}}`),
    new RegExp(`compiles to more than ${MAX_PROGRAM_SIZE} steps`),
  );
});

Deno.test("compileMatcher() rejects constructs an automaton cannot run", () => {
  assert.throws(() => compileMatcher("(?<=a)b"), /Lookaround assertions are not supported/);
  assert.throws(() => compileMatcher("a(?!b)"), /Lookaround assertions are not supported/);
  assert.throws(() => compileMatcher("\\p{L}"), /Unicode property escapes are not supported/);
  assert.throws(() => compileMatcher("(?i:a)"), /Inline modifiers are not supported/);
  assert.throws(() => compileMatcher("(a)\\1"), /Backreferences are not supported/);
});

Deno.test("compileMatcher() agrees with RegExp on the supported syntax", () => {
  const patterns = [
    "^A-\\d+$",
    "@example\\.com$",
    "^(foo|bar)baz",
    "colou?r",
    "x{2,3}y",
    "x{2,}",
    "^$",
    "",
    "\\bcat\\b",
    "\\Bat",
    "[^a-c]+$",
    "[\\d\\s]+",
    "[\\w-]+@",
    "\\u{1F600}",
    "^.$",
    "[😀-😂]",
    "a.c",
    "[\\b]",
    "\\x41\\u0042",
    "\\uD83D\\uDE00",
    "(?<year>\\d{4})-(?:\\d\\d)",
    "a*?b",
    "^\\s*$",
    "[^\\W]",
    "\\cJ",
    "[.]",
    "(ab){2,}",
    "^(a|ab)(c|bcd)$",
    "[a-]",
    "[]",
    "[^]",
  ];
  const inputs = [
    "",
    "a",
    "A-42",
    "A-",
    "x@example.com",
    "x@example.comx",
    "foobaz",
    "bazfoo",
    "colour",
    "xxy",
    "xxxxy",
    "cat",
    "concat",
    "a cat b",
    "bat",
    " 1 2 ",
    "foo-bar@",
    "😀",
    "😁a",
    "\n",
    "\b",
    "AB",
    "2024-12",
    "ab",
    "ababab",
    "abcd",
    "-",
    "a\nc",
  ];
  for (const pattern of patterns) {
    const expected = new RegExp(pattern, "u");
    const matcher = compileMatcher(pattern);
    for (const text of inputs) {
      assert.equal(
        matcher.test(text),
        expected.test(text),
        `/${pattern}/u on ${JSON.stringify(text)}`,
      );
    }
  }
});

Deno.test("compileFilter() rejects (a+)+$ when the config loads", () => {
  assert.throws(
    () => compileFilter("new.name matches '(a+)+$'"),
    (error) =>
      error instanceof FilterSyntaxError &&
      error.reason === "Unsafe regular expression: a repeated group contains a quantifier",
  );
});

/** The fastest of {@linkcode TIMING_RUNS} runs of `run`, in milliseconds. */
function fastestMilliseconds(run: () => void): number {
  let fastest = Infinity;
  for (let attempt = 0; attempt < TIMING_RUNS; attempt++) {
    const started = performance.now();
    run();
    fastest = Math.min(fastest, performance.now() - started);
  }
  return fastest;
}

Deno.test("matches runs in linear time on maximal input for patterns that backtrack polynomially", () => {
  const worstCases: [string, string][] = [
    ["a.*a.*a.*b$", "a"],
    ["\\d+\\d+\\d+x$", "1"],
    ["^(?:a|b)c*d", "a"],
    [".{0,240}x", "a"],
  ];
  for (const [pattern, letter] of worstCases) {
    const filter = compileFilter(`new.text matches '${pattern.replaceAll("\\", "\\\\")}'`);
    const matchTime = (length: number) =>
      fastestMilliseconds(() => {
        const text = letter.repeat(length);
        const row = { op: "insert", schema: "s", table: "t", old: null, new: { text } } as const;
        assert.equal(filter.evaluate(row), false);
      });
    const quarter = matchTime(MAX_MATCH_INPUT_LENGTH / 4);
    const full = matchTime(MAX_MATCH_INPUT_LENGTH);
    assert.ok(
      full < quarter * MAX_GROWTH_ON_FOUR_TIMES_THE_INPUT + TIMER_SLACK_MILLISECONDS,
      `${pattern}: ${full.toFixed(1)} ms on ${MAX_MATCH_INPUT_LENGTH} characters, ` +
        `${quarter.toFixed(1)} ms on a quarter of them`,
    );
  }
});
