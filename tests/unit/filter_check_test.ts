import assert from "node:assert/strict";
import { compileFilter, FilterSyntaxError } from "../../src/filter/mod.ts";

function loadError(source: string, transaction = false): FilterSyntaxError {
  try {
    compileFilter(source, { transaction });
  } catch (error) {
    assert.ok(error instanceof FilterSyntaxError, `${source}: ${error}`);
    return error;
  }
  assert.fail(`"${source}" compiled, but an error was expected`);
}

/** Bad expression, the reason reported, and the 1-based column it points at. */
const BAD_EXPRESSIONS: readonly [string, string, number][] = [
  // Lexer
  ["", "Filter is empty", 1],
  ["   ", "Filter is empty", 1],
  ["new.a = 5", 'Unexpected character "="', 7],
  ["new.a & true", 'Unexpected character "&"', 7],
  ["new.a # 1", 'Unexpected character "#"', 7],
  ["'abc", "Unterminated string", 1],
  [String.raw`'a\q'`, String.raw`Unknown escape sequence "\q"`, 3],
  [String.raw`'\u12'`, "Invalid unicode escape", 2],
  ["12abc", 'Invalid number "12abc"', 1],
  ["1e999", 'Number "1e999" is out of range', 1],
  // Parser
  ["new.id == 5 )", 'Unexpected token ")"', 13],
  ["new.id ==", "Unexpected end of expression", 10],
  ["(op == 'insert'", "Unexpected end of expression", 16],
  ["[1, 2", "Unexpected end of expression", 6],
  ["new.", 'Expected a field name after "."', 5],
  ["new[1.5]", 'Expected a quoted name or a list index inside "[ ]"', 5],
  ["a == b == c", "Comparisons cannot be chained", 8],
  ["new.a matches 'x' matches 'y'", "Comparisons cannot be chained", 19],
  ["-new.a", "A minus sign must be followed by a number", 2],
  ["new.a AND new.b", 'Unexpected token "AND"', 7],
  ["new.a new.b", 'Unexpected token "new"', 7],
  // Names
  ["foo.bar == 1", 'Unknown identifier "foo"', 1],
  ["status == 'paid'", 'Unknown identifier "status"', 1],
  ["tx.x == 1", 'Unknown transaction field "tx.x"', 4],
  ["tx == 1", '"tx" needs a field', 1],
  ["tx.size > 1", '"tx.size" is only available in transaction mode', 1],
  ["op.x == 'a'", '"op" is a string and has no fields', 4],
  ["new[0] == 1", "Columns are named, not numbered", 5],
  ["op == 'updte'", 'Unknown operation "updte"', 7],
  ["op in ['insert', 'upsert']", 'Unknown operation "upsert"', 18],
  // Functions
  ["foo(1)", 'Unknown function "foo"', 1],
  ["changed()", 'Function "changed" takes 1 argument, got 0', 1],
  ["new.a == 1 || changed(a, b)", 'Function "changed" takes 1 argument, got 2', 15],
  ["changed(new.status)", "changed() takes a column name, not a field of old or new", 9],
  ["changed(1)", "changed() takes a column name", 9],
  ["exists(status)", "exists() takes a field of old or new", 8],
  ["exists(new)", "exists() takes a field of old or new", 8],
  ["lower(5) == 'x'", "lower() needs a string, got a number", 7],
  ["len(true) > 1", "len() needs a string or a list, got a boolean", 5],
  // Types visible without data
  ["'a' && true", 'Operator "&&" needs a condition, got a string', 1],
  ["!5", 'Operator "!" needs a condition, got a number', 2],
  ["'paid'", "A filter must be a condition (true or false), got a string", 1],
  ["new.a < null", 'Operator "<" with null is always false', 9],
  ["new.a < true", 'Operator "<" needs numbers or strings, got a boolean', 9],
  ["new.a in 'abc'", 'Operator "in" needs a list on the right, got a string', 10],
  ["5 contains 1", 'Operator "contains" needs a string or a list on the left, got a number', 1],
  ["new.a contains null", 'Operator "contains" with null is always false', 16],
  ["new.a startsWith 1", 'Operator "startsWith" needs strings, got a number', 18],
  // matches
  ["new.a matches new.b", 'The pattern of "matches" must be a string literal', 15],
  ["new.a matches '('", "Invalid regular expression: Unterminated group", 15],
  [
    "new.a matches '(a+)+$'",
    "Unsafe regular expression: a repeated group contains a quantifier",
    15,
  ],
  ["new.a matches '(?=a)b'", "Lookaround assertions are not supported in regular expressions", 15],
];

Deno.test("compileFilter() reports each load-time mistake with its reason and column", () => {
  for (const [source, reason, column] of BAD_EXPRESSIONS) {
    const error = loadError(source);
    assert.deepEqual([error.reason, error.column], [reason, column], source);
  }
});

Deno.test("FilterSyntaxError quotes the expression with a caret under the column", () => {
  assert.equal(
    loadError("new.id == 5 )").message,
    'Unexpected token ")" at column 13:\n  new.id == 5 )\n              ^',
  );
});

Deno.test("FilterSyntaxError ends with a hint when one helps", () => {
  assert.equal(
    loadError("new.a startswith 'x'").message,
    [
      'Unexpected token "startswith" at column 7:',
      "  new.a startswith 'x'",
      "        ^",
      'Did you mean "startsWith"?',
    ].join("\n"),
  );
  assert.match(loadError("status == 'paid'").message, /did you mean new\.status\?$/);
  assert.match(loadError("new.a = 5").message, /Did you mean "=="\?$/);
  assert.match(loadError("op == 'updte'").message, /Operations are insert, update, delete/);
});

Deno.test("FilterSyntaxError names the line of a multi-line filter", () => {
  const error = loadError("new.a == 1 &&\n  5");
  assert.deepEqual([error.line, error.column], [2, 3]);
  assert.equal(
    error.message,
    'Operator "&&" needs a condition, got a number at line 2, column 3:\n    5\n    ^',
  );
});

Deno.test("compileFilter() accepts tx fields only in transaction mode", () => {
  const source = "tx.size > 10 && 'public.orders' in tx.tables && tx.ops contains 'delete'";
  assert.equal(loadError(source).reason, '"tx.size" is only available in transaction mode');
  assert.equal(compileFilter(source, { transaction: true }).source, source);
  assert.equal(loadError("tx.ops contains 'inserts'", true).reason, 'Unknown operation "inserts"');
  assert.equal(loadError("tx.size.x > 1", true).reason, '"tx.size" has no fields');
});

Deno.test("unknownColumns() lists referenced top-level columns missing from the relation", () => {
  const filter = compileFilter(
    "changed(stauts) && new.payload.sku startsWith 'A' && exists(old.note) && " +
      'new["Order Id"] != null && old.id == new.id && changed(payload.sku)',
  );
  assert.deepEqual(filter.unknownColumns(["id", "status", "payload"]), [
    "stauts",
    "note",
    "Order Id",
  ]);
  assert.deepEqual(filter.unknownColumns(["id", "stauts", "payload", "note", "Order Id"]), []);
});

Deno.test("unknownColumns() ignores op, schema, table and tx fields", () => {
  const filter = compileFilter("op == 'insert' && schema == 'public' && tx.size > 1", {
    transaction: true,
  });
  assert.deepEqual(filter.unknownColumns([]), []);
});
