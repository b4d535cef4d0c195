import assert from "node:assert/strict";
import {
  compileFilter,
  type FilterInput,
  FilterRuntimeError,
  MAX_MATCH_INPUT_LENGTH,
} from "../../src/filter/mod.ts";
import type { Row } from "../../src/model.ts";

const ORDER: Row = {
  id: 42,
  big_id: "12345678901234567890",
  amount: "250.00",
  status: "paid",
  note: null,
  active: true,
  tags: ["vip", "b2b"],
  codes: ["1", "2"],
  payload: { sku: "A-100", items: [{ id: 7, qty: 2 }], "odd key": "x" },
  "Order Id": "ORD-1",
};

function input(overrides: Partial<FilterInput> = {}): FilterInput {
  return { op: "update", schema: "public", table: "orders", old: null, new: ORDER, ...overrides };
}

/** Evaluates `source` on the default update of ORDER, with `overrides` applied. */
function run(source: string, overrides: Partial<FilterInput> = {}): boolean {
  return compileFilter(source, { transaction: true }).evaluate(input(overrides));
}

function runtimeError(source: string, overrides: Partial<FilterInput> = {}): FilterRuntimeError {
  try {
    run(source, overrides);
  } catch (error) {
    assert.ok(error instanceof FilterRuntimeError, `${source}: ${error}`);
    return error;
  }
  assert.fail(`"${source}" evaluated without error`);
}

/** Asserts each [expression, expected result] pair on the default input. */
function assertResults(cases: readonly [string, boolean][], overrides?: Partial<FilterInput>) {
  for (const [source, expected] of cases) assert.equal(run(source, overrides), expected, source);
}

Deno.test("evaluate() compares with == and != across types", () => {
  assertResults([
    ["op == 'update'", true],
    ["op != 'update'", false],
    ["schema == 'public' && table == 'orders'", true],
    ["new.id == 42", true],
    ["new.id == 42.0", true],
    ["new.id != 43", true],
    ["new.active == true", true],
    ["new.status == 'PAID'", false],
    ["new.status == 1", false],
    ["new.active == 'true'", false],
    ["new.tags == ['vip', 'b2b']", true],
    ["new.tags == ['b2b', 'vip']", false],
    ["new.codes == [1, 2]", true],
    ["new.payload.items == [7]", false],
  ]);
});

Deno.test("evaluate() orders numbers and strings with < <= > >=", () => {
  assertResults([
    ["new.id < 43", true],
    ["new.id <= 42", true],
    ["new.id > 42", false],
    ["new.id >= 42", true],
    ["-1 < 0", true],
    ["new.status > 'b'", true],
    ["new.status < 'paie'", true],
    ["'Z' < 'a'", true],
  ]);
});

Deno.test("evaluate() applies && || ! with short-circuit", () => {
  assertResults([
    ["true && false", false],
    ["true || false", true],
    ["!false", true],
    ["!(new.id == 42)", false],
    ["true || false && false", true],
    ["(true || false) && false", false],
    // The right side would be a runtime error (string < boolean) if it ran.
    ["false && new.status < new.active", false],
    ["true || new.status < new.active", true],
  ]);
});

Deno.test("evaluate() treats null as false in conditions and rejects other non-booleans", () => {
  assertResults([["new.active", true], ["new.note", false], ["!new.note", true], [
    "new.missing || true",
    true,
  ]]);
  assert.equal(
    runtimeError("new.status").message,
    "Expected a condition (true, false or null), got a string at column 1 (new.status)",
  );
  assert.ok(runtimeError("!new.id == true") instanceof FilterRuntimeError);
});

Deno.test("evaluate() tests list membership with in", () => {
  assertResults([
    ["new.status in ['paid', 'shipped']", true],
    ["new.status in ['shipped']", false],
    ["new.status in []", false],
    ["new.id in [1, 42]", true],
    ["new.id in ['42']", true],
    ["new.amount in [250]", true],
    ["new.note in [null]", true],
    ["new.missing in ['a', null]", true],
    ["new.status in new.tags", false],
    ["'vip' in new.tags", true],
    ["new.status in [new.status]", true],
    ["new.status in new.missing", false],
  ]);
  assert.equal(
    runtimeError("new.id in new.status").message,
    'Operator "in" needs a list on the right, got a string at column 1 (new.id in new.status)',
  );
});

Deno.test("evaluate() tests substrings and list elements with contains", () => {
  assertResults([
    ["new.status contains 'ai'", true],
    ["new.status contains ''", true],
    ["new.status contains 'x'", false],
    ["new.tags contains 'vip'", true],
    ["new.tags contains 'VIP'", false],
    ["new.codes contains 2", true],
    ["new.missing contains 'a'", false],
    ["new.status contains new.missing", false],
  ]);
  assert.equal(
    runtimeError("new.id contains 'x'").message,
    'Operator "contains" needs a list, or two strings, got a number and a string ' +
      "at column 1 (new.id contains 'x')",
  );
});

Deno.test("evaluate() tests prefixes and suffixes with startsWith and endsWith", () => {
  assertResults([
    ["new.payload.sku startsWith 'A-'", true],
    ["new.payload.sku startsWith 'a-'", false],
    ["new.payload.sku endsWith '100'", true],
    ["new.payload.sku endsWith 'A'", false],
    ["new.missing startsWith 'A'", false],
    ["new.status endsWith new.missing", false],
  ]);
  assert.match(runtimeError("new.id startsWith '4'").message, /needs strings, got a number/);
});

Deno.test("evaluate() searches with matches anywhere unless anchored", () => {
  assertResults([
    ["new.payload.sku matches '^A-\\\\d+$'", true],
    ["new.payload.sku matches '\\\\d'", true],
    ["new.payload.sku matches '^\\\\d'", false],
    ["new.status matches 'ai'", true],
    ["new.missing matches 'a'", false],
    ["lower(new.status) matches '^(paid|shipped)$'", true],
  ]);
  assert.match(runtimeError("new.id matches '4'").message, /needs a string, got a number/);
});

Deno.test("evaluate() treats missing fields as null", () => {
  assertResults([
    ["new.missing == null", true],
    ["new.note == null", true],
    ["new.status != null", true],
    ["old.status == null", true],
    ["old == null", true],
    ["new != null", true],
    ["new.status.length == null", true],
    ["new.tags[5] == null", true],
    ["new.payload.items[0].nope.deeper == null", true],
    ["new.missing < 5", false],
    ["new.missing >= 'a'", false],
    ["5 > new.note", false],
  ]);
  assertResults([["new.status == null", true], ["new.status != null", false]], { new: null });
});

Deno.test("evaluate() ignores properties every object inherits", () => {
  assertResults([
    ["new.constructor == null", true],
    ["new.toString == null", true],
    ["new.__proto__ == null", true],
    ["new.tags.length == null", true],
    ["exists(new.constructor)", false],
  ]);
  const row = JSON.parse('{"constructor": "own", "__proto__": "own too"}');
  assertResults([["new.constructor == 'own'", true], ["new.__proto__ == 'own too'", true]], {
    new: row,
  });
});

Deno.test("evaluate() compares numbers with decimal strings numerically", () => {
  assertResults([
    ["new.amount > 100", true],
    ["new.amount == 250", true],
    ["new.amount == '250.00'", true],
    ["new.amount < 250.01", true],
    ["new.big_id == 12345678901234567890", true],
    ["new.big_id > 12345678901234567889", true],
    ["new.big_id < 12345678901234567891", true],
    ["new.big_id == 12345678901234567891", false],
    ["new.id == '42'", true],
    ["new.id < '100'", true],
    ["new.status == 0", false],
  ]);
  assertResults([["new.amount > 0", false], ["new.amount == new.amount", true]], {
    new: { amount: "NaN" },
  });
});

Deno.test("evaluate() compares two strings as strings, and number() converts them", () => {
  assertResults([["new.a > new.b", false], ["number(new.a) > number(new.b)", true]], {
    new: { a: "10.50", b: "9.5" },
  });
  assertResults([["number(new.a) == 12345678901234567890", true]], {
    new: { a: "12345678901234567890" },
  });
});

Deno.test("evaluate() raises FilterRuntimeError for an ordering between incompatible types", () => {
  const error = runtimeError("new.status > new.active");
  assert.equal(
    error.message,
    'Operator ">" cannot compare a string with a boolean at column 1 (new.status > new.active)',
  );
  assert.equal(error.column, 1);
  assert.equal(
    runtimeError("op == 'update' && new.status < 5").message,
    'Operator "<" cannot compare a non-numeric string with a number ' +
      "at column 19 (new.status < 5)",
  );
  assert.match(runtimeError("new.tags < 'a'").message, /cannot compare a list with a string/);
});

Deno.test("evaluate() follows nested JSON paths, indexes and quoted names", () => {
  assertResults([
    ["new.payload.sku == 'A-100'", true],
    ["new.payload.items[0].id == 7", true],
    ["new.payload.items[0]['qty'] == 2", true],
    ["new.payload[\"odd key\"] == 'x'", true],
    ["new['Order Id'] == 'ORD-1'", true],
    ["new.tags[1] == 'b2b'", true],
    ["new.payload.items[1].id == null", true],
  ]);
});

Deno.test("changed() compares old and new images deeply and strictly", () => {
  const before: Row = { status: "new", payload: { sku: "A-100", list: [1, 2] }, n: 5 };
  const after: Row = { status: "paid", payload: { sku: "A-100", list: [1, 2] }, n: "5" };
  assertResults([
    ["changed(status)", true],
    ["changed(payload)", false],
    ["changed(payload.sku)", false],
    ["changed(n)", true],
    ["changed(missing)", false],
  ], { old: before, new: after });
  assertResults([["changed(payload)", true]], {
    old: before,
    new: { payload: { sku: "A-100", list: [2, 1] } },
  });
  assertResults([['changed("Order Id")', true]], {
    old: { "Order Id": 1 },
    new: { "Order Id": 2 },
  });
});

Deno.test("changed() is false when either image lacks the column", () => {
  // REPLICA IDENTITY DEFAULT: the old image holds only the key.
  assertResults([["changed(status)", false]], { old: { id: 1 }, new: { id: 1, status: "paid" } });
  // Unchanged TOAST: the column is absent from the new image.
  assertResults([["changed(doc)", false]], { old: { doc: "long" }, new: { id: 1 } });
  assertResults([["changed(status)", false]], { op: "insert", old: null });
  assertResults([["changed(status)", false]], { op: "delete", old: ORDER, new: null });
  assertResults([["changed(note)", true]], { old: { note: null }, new: { note: "x" } });
});

Deno.test("exists() tells a missing field from a null one", () => {
  assertResults([
    ["exists(new.note)", true],
    ["exists(new.missing)", false],
    ["exists(new.payload.sku)", true],
    ["exists(new.payload.nope)", false],
    ["exists(new.tags[1])", true],
    ["exists(new.tags[2])", false],
    ["exists(old.id)", false],
  ]);
});

Deno.test("evaluate() reads tx fields from the transaction summary", () => {
  const tx = { tables: ["public.orders", "public.items"], size: 12, ops: ["insert", "update"] };
  assertResults([
    ["tx.size > 10", true],
    ["'public.items' in tx.tables", true],
    ["tx.tables contains 'public.users'", false],
    ["tx.ops contains 'update'", true],
    ["'delete' in tx.ops", false],
    ["len(tx.tables) == 2", true],
  ], { tx });
  assert.equal(
    runtimeError("tx.size > 1").message,
    "The event has no transaction summary (tx) at column 1 (tx.size)",
  );
});

Deno.test("lower(), upper(), len() and number() transform values and pass null through", () => {
  assertResults([
    ["lower(new.payload.sku) == 'a-100'", true],
    ["upper(new.status) == 'PAID'", true],
    ["len(new.status) == 4", true],
    ["len(new.tags) == 2", true],
    ["number(new.amount) == 250", true],
    ["number(new.id) == 42", true],
    ["lower(new.missing) == null", true],
    ["len(new.missing) == null", true],
  ]);
  assert.match(runtimeError("lower(new.id) == 'x'").message, /^lower\(\) needs a string, got a/);
  assert.match(
    runtimeError("number(new.status) > 1").message,
    /^number\(\) needs a number or a decimal string, got a string at column 1/,
  );
});

Deno.test("matches refuses input over MAX_MATCH_INPUT_LENGTH instead of testing a prefix", () => {
  const long = "a".repeat(MAX_MATCH_INPUT_LENGTH + 1);
  assert.equal(run("new.text matches 'a'", { new: { text: long.slice(1) } }), true);
  assert.equal(
    runtimeError("new.text matches 'a'", { new: { text: long } }).message,
    `Operator "matches" tests strings of up to ${MAX_MATCH_INPUT_LENGTH} characters, ` +
      `got ${MAX_MATCH_INPUT_LENGTH + 1} at column 1 (new.text matches 'a')`,
  );
});

Deno.test("evaluate() works on the example from the config documentation", () => {
  const filter = compileFilter(
    "op == 'update' && changed(status) && new.status in ['paid', 'shipped'] && " +
      "new.payload.sku startsWith 'A-'",
  );
  assert.equal(filter.evaluate(input({ old: { status: "new" } })), true);
  assert.equal(filter.evaluate(input({ old: { status: "paid" } })), false);
  assert.equal(filter.evaluate(input({ op: "insert", old: { status: "new" } })), false);
});

Deno.test("evaluate() runs a balanced chain left to right and stops as a chain does", () => {
  // The failing comparison is never reached: an earlier operand decides.
  assertResults([
    ["new.id == 1 || new.id == 42 || new.id startsWith '4' || new.id == 3", true],
    ["new.id == 42 && new.id == 1 && new.id startsWith '4' && new.id == 3", false],
  ]);
  assert.match(
    runtimeError("new.id == 1 || new.id == 2 || new.id startsWith '4' || new.id == 42").message,
    /needs strings, got a number/,
  );
});

Deno.test("evaluate() handles a filter of 8,000 alternatives", () => {
  const source = Array.from({ length: 8_000 }, (_, i) => `new.id == ${i + 100}`).join(" || ");
  assert.equal(run(source), false);
  assert.equal(run(`${source} || new.id == 42`), true);
});
