import assert from "node:assert/strict";
import type { Node } from "../../src/filter/ast.ts";
import { tokenize } from "../../src/filter/lexer.ts";
import { FilterSyntaxError } from "../../src/filter/errors.ts";
import { MAX_FILTER_NESTING, parse } from "../../src/filter/parser.ts";

/** Prints a tree as fully parenthesized prefix notation, to assert its shape. */
function show(node: Node): string {
  switch (node.kind) {
    case "literal":
      return typeof node.value === "bigint" ? `${node.value}n` : JSON.stringify(node.value);
    case "list":
      return `[${node.items.map(show).join(" ")}]`;
    case "path":
      return node.root +
        node.segments.map((segment) => `[${JSON.stringify(segment.key)}]`).join("");
    case "call":
      return `${node.name}(${node.args.map(show).join(" ")})`;
    case "not":
      return `(! ${show(node.operand)})`;
    case "logical":
    case "comparison":
      return `(${node.operator} ${show(node.left)} ${show(node.right)})`;
  }
}

function literal(source: string): unknown {
  const node = parse(source);
  assert.equal(node.kind, "literal");
  return node.kind === "literal" ? node.value : undefined;
}

Deno.test("parse() reads single- and double-quoted strings with every escape", () => {
  assert.equal(literal(String.raw`'it\'s'`), "it's");
  assert.equal(literal(String.raw`"say \"hi\""`), 'say "hi"');
  assert.equal(literal(`"it's"`), "it's");
  assert.equal(literal(String.raw`'\\ \/ \n \r \t \b \f \v \0'`), "\\ / \n \r \t \b \f \v \0");
  assert.equal(literal(String.raw`'caf\u00e9 \u{1F600}'`), "café 😀");
  assert.equal(literal("''"), "");
});

Deno.test("parse() reads integers, decimals, negatives and exponents", () => {
  assert.equal(literal("42"), 42);
  assert.equal(literal("-7"), -7);
  assert.equal(literal("- 7"), -7);
  assert.equal(literal("10.5"), 10.5);
  assert.equal(literal("-0.25"), -0.25);
  assert.equal(literal("1.5e3"), 1500);
  assert.equal(literal("2E-2"), 0.02);
  assert.equal(literal("9007199254740991"), 9007199254740991);
});

Deno.test("parse() keeps integers beyond 2^53 exact as bigint", () => {
  assert.equal(literal("12345678901234567890"), 12345678901234567890n);
  assert.equal(literal("-9223372036854775808"), -9223372036854775808n);
});

Deno.test("parse() reads true, false, null and lists", () => {
  assert.equal(literal("true"), true);
  assert.equal(literal("false"), false);
  assert.equal(literal("null"), null);
  assert.equal(show(parse("[1, 'a', null]")), '[1 "a" null]');
  assert.equal(show(parse("[]")), "[]");
  assert.equal(show(parse("[[1], -2,]")), "[[1] -2]");
});

Deno.test("parse() reads dotted, quoted and indexed field paths", () => {
  assert.equal(show(parse("new.payload.sku")), 'new["payload"]["sku"]');
  assert.equal(show(parse('new["Order Id"]')), 'new["Order Id"]');
  assert.equal(show(parse("new.items[0].id")), 'new["items"][0]["id"]');
  assert.equal(show(parse("old.in")), 'old["in"]');
  assert.equal(show(parse("new.contains contains 'x'")), '(contains new["contains"] "x")');
});

Deno.test("parse() reads function calls with any number of arguments", () => {
  assert.equal(show(parse("changed(status)")), "changed(status)");
  assert.equal(show(parse("f()")), "f()");
  assert.equal(show(parse("f(a, 'b')")), 'f(a "b")');
});

Deno.test("parse() binds ! tighter than comparisons, && tighter than ||", () => {
  assert.equal(show(parse("!a == b")), "(== (! a) b)");
  assert.equal(show(parse("!(a == b)")), "(! (== a b))");
  assert.equal(show(parse("a == 1 && b == 2")), "(&& (== a 1) (== b 2))");
  assert.equal(show(parse("a || b && c")), "(|| a (&& b c))");
  assert.equal(show(parse("a && b || c")), "(|| (&& a b) c)");
  assert.equal(show(parse("(a || b) && c")), "(&& (|| a b) c)");
  assert.equal(show(parse("!!a")), "(! (! a))");
});

Deno.test("parse() gives every word operator the precedence of ==", () => {
  for (const operator of ["in", "contains", "startsWith", "endsWith", "matches", "<=", "!="]) {
    assert.equal(
      show(parse(`x ${operator} y && z ${operator} w`)),
      `(&& (${operator} x y) (${operator} z w))`,
    );
  }
});

Deno.test("parse() joins chains of && and || as balanced trees, operands in order", () => {
  assert.equal(show(parse("a && b && c")), "(&& a (&& b c))");
  assert.equal(show(parse("a || b || c || d")), "(|| (|| a b) (|| c d))");
  assert.equal(show(parse("a || b && c || d")), "(|| a (|| (&& b c) d))");
});

/** The depth of a syntax tree. */
function depth(node: Node): number {
  const children = Object.values(node).filter((value): value is Node =>
    typeof value === "object" && value !== null && "kind" in value
  );
  return 1 + Math.max(0, ...children.map(depth));
}

Deno.test("parse() keeps a filter of 8,000 alternatives shallow", () => {
  const source = Array.from({ length: 8_000 }, (_, i) => `new.id == ${i}`).join(" || ");
  assert.ok(depth(parse(source)) < 20);
});

Deno.test("parse() refuses nesting past MAX_FILTER_NESTING with a syntax error, not a stack overflow", () => {
  const nested = (levels: number) => "(".repeat(levels) + "a" + ")".repeat(levels);
  parse(nested(MAX_FILTER_NESTING));
  for (
    const source of [nested(MAX_FILTER_NESTING + 1), nested(2_000), "!".repeat(10_000) + "a"]
  ) {
    assert.throws(() => parse(source), (error: Error) => {
      assert.ok(error instanceof FilterSyntaxError, String(error));
      assert.match(error.message, /^Filter nests deeper than 100 levels at /);
      return true;
    });
  }
  assert.throws(() => parse("f(".repeat(200) + ")".repeat(200)), /nests deeper than 100/);
  assert.throws(() => parse("[".repeat(200) + "]".repeat(200)), /nests deeper than 100/);
});

Deno.test("parse() records where each node starts and ends", () => {
  const node = parse("op == 'x' && new.a");
  assert.equal(node.kind, "logical");
  if (node.kind !== "logical") return;
  assert.deepEqual([node.start, node.end], [0, 18]);
  assert.deepEqual([node.right.start, node.right.end], [13, 18]);
});

Deno.test("tokenize() ends with an end token at the source length", () => {
  const tokens = tokenize("a <= 1 ");
  assert.deepEqual(tokens.map((token) => token.kind), [
    "identifier",
    "punctuator",
    "number",
    "end",
  ]);
  assert.deepEqual([tokens[3].start, tokens[3].end], [7, 7]);
});
