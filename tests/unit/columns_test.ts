import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { ConfigError, parseConfig, type TargetConfig } from "../../src/config/mod.ts";
import type { ChangeEvent, ChangeOp, EventColumn, RawTuple, Row } from "../../src/model.ts";
import { Metrics } from "../../src/telemetry/metrics.ts";
import { handInto, MemorySink } from "../fixtures/memory_sink.ts";
import { Checkpoint } from "../../src/pipeline/checkpoint.ts";
import {
  ColumnPolicy,
  truncateBytesOf,
  truncateChars,
  valueText,
} from "../../src/pipeline/columns.ts";
import { Hmac256 } from "../../src/pipeline/hmac.ts";
import { InflightBudget } from "../../src/pipeline/inflight.ts";
import type { OutgoingMessage } from "../../src/pipeline/message.ts";
import { Router } from "../../src/pipeline/router.ts";
import { builtinTypeOid } from "../../src/source/values.ts";

const INT4_OID = builtinTypeOid("int4")!;
const TEXT_OID = builtinTypeOid("text")!;

const SECRET = "a-test-secret-of-32-bytes-length";
const ENV = { HASH_SECRET: SECRET };

function configText(targets: string): string {
  return `
[source]
database = "app"
user = "app"
tables = ["public.customers", "public.orders"]
[kafka]
brokers = ["127.0.0.1:9092"]
${targets}`;
}

function targetsOf(targets: string, env: Record<string, string> = ENV): readonly TargetConfig[] {
  return parseConfig(configText(targets), { origin: "test.toml", env }).targets;
}

/** The issues a config is refused with, as `path: message` lines. */
function refusal(targets: string, env: Record<string, string> = ENV): string {
  try {
    parseConfig(configText(targets), { origin: "test.toml", env });
  } catch (error) {
    if (error instanceof ConfigError) return error.message;
    throw error;
  }
  assert.fail("expected the config to be refused");
}

function hmacHex(text: string): string {
  return createHmac("sha256", SECRET).update(text).digest("hex");
}

let lsn = 0x1000n;

/**
 * The columns of each table as the decoder announces them (one array per
 * table, as per Relation message), for the debezium format, which encodes
 * the values as PostgreSQL sent them.
 */
const TABLE_COLUMNS: Record<string, readonly EventColumn[]> = {
  customers: textColumns(["id", "email", "card"]),
  orders: textColumns(["id", "note"]),
};

function textColumns(names: readonly string[]): readonly EventColumn[] {
  return names.map((name) => ({
    name,
    valueTypeOid: name === "id" ? INT4_OID : TEXT_OID,
    typeModifier: -1,
    isKey: name === "id",
  }));
}

/** A row as pgoutput sends it: each value's text, a column the image lacks as NULL. */
function tupleOf(columns: readonly EventColumn[], row: Row | undefined): RawTuple | null {
  if (row === undefined) return null;
  return columns.map(({ name }) => (row[name] ?? null) === null ? null : String(row[name]));
}

function change(op: ChangeOp, images: { before?: Row; after?: Row }, table = "customers") {
  lsn += 0x10n;
  const columns = TABLE_COLUMNS[table];
  const event: ChangeEvent = {
    op,
    schema: "public",
    table,
    before: images.before ?? null,
    after: images.after ?? null,
    unchanged: [],
    keyColumns: ["id"],
    lsn,
    commitLsn: 0x5000n,
    xid: 77,
    commitTimeMicros: 1_700_000_000_000_000n,
    columns,
    beforeTuple: tupleOf(columns, images.before),
    afterTuple: tupleOf(columns, images.after),
  };
  return event;
}

/** The table policy of the first target for public.customers. */
function policyOf(rules: string) {
  const [target] = targetsOf(`[[targets]]\nname = "t"\ntables = ["public.*"]\n${rules}`);
  const policy = ColumnPolicy.of(target.columnRules)?.forTable("public", "customers");
  assert.ok(policy, "expected rules covering public.customers");
  return policy;
}

Deno.test("Hmac256 agrees with node:crypto over lengths around the block size and multibyte text", () => {
  const hmac = new Hmac256(new TextEncoder().encode(SECRET));
  for (const length of [0, 1, 20, 54, 55, 56, 63, 64, 65, 119, 120, 128, 500]) {
    for (const text of ["x".repeat(length), "é😀".repeat(length)]) {
      assert.equal(hmac.digest(text, "hex"), hmacHex(text), `hex, ${text.length} units`);
      const base64 = createHmac("sha256", SECRET).update(text).digest("base64");
      assert.equal(hmac.digest(text, "base64"), base64, `base64, ${text.length} units`);
    }
  }
  const longKey = "k".repeat(100);
  const long = new Hmac256(new TextEncoder().encode(longKey));
  assert.equal(long.digest("v", "hex"), createHmac("sha256", longKey).update("v").digest("hex"));
});

Deno.test("drop removes the column from before, after and unchanged", () => {
  const policy = policyOf(`[[targets.column_rules]]\ncolumns = ["ssn"]\naction = "drop"`);
  const event = {
    ...change("update", { before: { id: 1, ssn: "123" }, after: { id: 1, name: "Ada" } }),
    unchanged: ["ssn"],
  };
  const shown = policy.apply(event);
  assert.deepEqual(shown.before, { id: 1 });
  assert.deepEqual(shown.after, { id: 1, name: "Ada" });
  assert.deepEqual(shown.unchanged, []);
  assert.equal(event.before!.ssn, "123", "the event itself is left as it was");
});

Deno.test("mask replaces values, keeps NULL as NULL and masks the empty string too", () => {
  const policy = policyOf(
    `[[targets.column_rules]]\ncolumns = ["card"]\naction = "mask"\nwith = "XXXX"`,
  );
  assert.deepEqual(policy.row({ id: 1, card: "4111111111111111" }), { id: 1, card: "XXXX" });
  assert.deepEqual(policy.row({ id: 1, card: null }), { id: 1, card: null });
  assert.deepEqual(policy.row({ id: 1, card: "" }), { id: 1, card: "XXXX" });
  assert.deepEqual(policy.row({ id: 1, card: 42 }), { id: 1, card: "XXXX" });
  const byDefault = policyOf(`[[targets.column_rules]]\ncolumns = ["card"]\naction = "mask"`);
  assert.deepEqual(byDefault.row({ card: "4111" }), { card: "****" });
});

Deno.test("hash gives the HMAC-SHA-256 of the value's text, hex or base64, NULL kept", () => {
  const hex = policyOf(`[[targets.column_rules]]
columns = ["email", "payload", "photo", "age"]
action = "hash"
secret = "\${HASH_SECRET}"`);
  const row = hex.row({
    email: "ada@example.com",
    payload: { a: [1, 2] },
    photo: "AAEC/w==", // bytea arrives base64-encoded
    age: 36,
    nothing: null,
  })!;
  assert.equal(row.email, hmacHex("ada@example.com"));
  assert.equal(row.payload, hmacHex('{"a":[1,2]}'));
  assert.equal(row.photo, hmacHex("AAEC/w=="));
  assert.equal(row.age, hmacHex("36"));
  assert.deepEqual(hex.row({ email: null }), { email: null });
  assert.deepEqual(hex.row({ email: "" }), { email: hmacHex("") });
  const base64 = policyOf(`[[targets.column_rules]]
columns = ["email"]
action = "hash"
secret = "\${HASH_SECRET}"
encoding = "base64"`);
  const expected = createHmac("sha256", SECRET).update("ada@example.com").digest("base64");
  assert.equal(base64.row({ email: "ada@example.com" })!.email, expected);
});

Deno.test("hash gives the same output for the same input under a new policy (a restart)", () => {
  const rules = `[[targets.column_rules]]\ncolumns = ["email"]\naction = "hash"\n` +
    `secret = "\${HASH_SECRET}"`;
  const first = policyOf(rules).row({ email: "ada@example.com" });
  const second = policyOf(rules).row({ email: "ada@example.com" });
  assert.deepEqual(first, second);
});

Deno.test("truncate cuts characters at code points, never inside a surrogate pair", () => {
  assert.equal(truncateChars("héllo", 2), "hé");
  assert.equal(truncateChars("a😀b", 2), "a😀");
  assert.equal(truncateChars("😀😀😀", 1), "😀");
  assert.equal(truncateChars("", 3), "");
  assert.equal(truncateChars("abc", 3), "abc");
  const policy = policyOf(
    `[[targets.column_rules]]\ncolumns = ["notes"]\naction = "truncate"\nlength = 3`,
  );
  assert.deepEqual(policy.row({ notes: "日本語のテキスト", n: null }), {
    notes: "日本語",
    n: null,
  });
  assert.deepEqual(policy.row({ notes: null }), { notes: null });
  assert.deepEqual(policy.row({ notes: 123456 }), { notes: 123456 }, "only text is cut");
});

Deno.test("truncate by bytes keeps whole UTF-8 characters within the limit", () => {
  const cut = truncateBytesOf(4);
  assert.equal(cut("héllo"), "hél"); // 1 + 2 + 1 bytes
  assert.equal(cut("日本語"), "日"); // 3 bytes each: a second would need 6
  assert.equal(cut("😀x"), "😀"); // 4 bytes
  assert.equal(cut("abcdef"), "abcd");
  assert.equal(cut(""), "");
  assert.equal(cut("ab"), "ab");
  const policy = policyOf(
    `[[targets.column_rules]]\ncolumns = ["notes"]\naction = "truncate"\nlength = 5\nunit = "bytes"`,
  );
  assert.deepEqual(policy.row({ notes: "ééé" }), { notes: "éé" });
});

Deno.test("rename gives the column its new name in rows, unchanged and the key", () => {
  const policy = policyOf(
    `[[targets.column_rules]]\ncolumns = ["surname"]\naction = "rename"\nto = "last_name"`,
  );
  const event = {
    ...change("update", { after: { id: 1, surname: "Lovelace" } }),
    unchanged: ["bio", "surname"],
  };
  const shown = policy.apply(event);
  assert.deepEqual(shown.after, { id: 1, last_name: "Lovelace" });
  assert.deepEqual(shown.unchanged, ["bio", "last_name"]);
});

Deno.test("column patterns match names, the first matching rule wins, and other tables pass", () => {
  const [target] = targetsOf(`[[targets]]
name = "t"
tables = ["public.*"]
[[targets.column_rules]]
tables = ["public.customers"]
columns = ["*_phone", "email?"]
action = "mask"
[[targets.column_rules]]
columns = ["*"]
action = "truncate"
length = 2`);
  const policy = ColumnPolicy.of(target.columnRules)!;
  const customers = policy.forTable("public", "customers")!;
  assert.deepEqual(customers.row({ home_phone: "555", email2: "a@b", email: "xyz" }), {
    home_phone: "****",
    email2: "****",
    email: "xy",
  });
  const orders = policy.forTable("public", "orders")!;
  assert.deepEqual(orders.row({ home_phone: "555" }), { home_phone: "55" });
  const [plain] = targetsOf(`[[targets]]\nname = "p"\ntables = ["public.*"]`);
  assert.equal(ColumnPolicy.of(plain.columnRules), null, "no rules, no policy");
});

Deno.test("a column named __proto__ stays a field when a rule keeps or renames it", () => {
  const policy = policyOf(
    `[[targets.column_rules]]\ncolumns = ["x"]\naction = "rename"\nto = "__proto__"`,
  );
  const row: Row = {};
  Object.defineProperty(row, "x", { value: 1, enumerable: true });
  const shown = policy.row(row)!;
  assert.deepEqual(Object.keys(shown), ["__proto__"]);
  assert.equal(Object.getPrototypeOf(shown), Object.prototype);
});

Deno.test("valueText() hashes strings as they are and other values as JSON", () => {
  assert.equal(valueText("a"), "a");
  assert.equal(valueText(true), "true");
  assert.equal(valueText([1, "b"]), '[1,"b"]');
});

Deno.test("the config refuses a hash secret written in the file, naming no secret", () => {
  const message = refusal(`[[targets]]
name = "t"
tables = ["public.*"]
[[targets.column_rules]]
columns = ["email"]
action = "hash"
secret = "plain-text-secret-in-the-file"`);
  assert.match(
    message,
    /targets\[0\]\.column_rules\[0\]\.secret: expected the secret from the env/,
  );
  assert.doesNotMatch(message, /plain-text-secret/);
});

Deno.test("the config refuses a short secret and a missing variable without showing either", () => {
  const short = refusal(
    `[[targets]]\nname = "t"\ntables = ["public.*"]\n[[targets.column_rules]]\n` +
      `columns = ["email"]\naction = "hash"\nsecret = "\${HASH_SECRET}"`,
    { HASH_SECRET: "short" },
  );
  assert.match(short, /column_rules\[0\]\.secret: expected a secret of at least 16 bytes/);
  assert.doesNotMatch(short, /short"/);
  const missing = refusal(
    `[[targets]]\nname = "t"\ntables = ["public.*"]\n[[targets.column_rules]]\n` +
      `columns = ["email"]\naction = "hash"\nsecret = "\${NOT_SET}"`,
    {},
  );
  assert.match(missing, /environment variable NOT_SET is not set/);
});

Deno.test("the config refuses dropping or renaming a key column, with the reason", () => {
  const dropped = refusal(`[[targets]]
name = "t"
tables = ["public.*"]
key_columns = ["customer_id"]
[[targets.column_rules]]
columns = ["customer_*"]
action = "drop"`);
  assert.match(
    dropped,
    /column_rules\[0\]\.columns: expected no key column because action is "drop", found key column "customer_id" \(key_columns\): the message key would lose it/,
  );
  const renamed = refusal(`[[targets]]
name = "t"
tables = ["public.*"]
key_columns = ["id"]
[[targets.column_rules]]
columns = ["id"]
action = "rename"
to = "customer"`);
  assert.match(renamed, /found key column "id" \(key_columns\)/);
});

Deno.test("the config refuses keys of another action, missing keys and pattern renames", () => {
  const message = refusal(`[[targets]]
name = "t"
tables = ["public.*"]
[[targets.column_rules]]
columns = ["a"]
action = "mask"
length = 3
[[targets.column_rules]]
columns = ["b"]
action = "truncate"
[[targets.column_rules]]
columns = ["c_*"]
action = "rename"
to = "c"
[[targets.column_rules]]
columns = ["d"]
action = "scramble"`);
  assert.match(message, /column_rules\[0\]\.length: expected no length because action is "mask"/);
  assert.match(message, /column_rules\[1\]\.length: expected length because action is "truncate"/);
  assert.match(message, /column_rules\[2\]\.columns: expected one column name without \* or \?/);
  assert.match(message, /column_rules\[3\]\.action: expected one of "drop", "mask"/);
});

Deno.test("the config refuses a rule an earlier one shadows and two renames to one name", () => {
  const message = refusal(`[[targets]]
name = "t"
tables = ["public.*"]
[[targets.column_rules]]
columns = ["email", "phone"]
action = "mask"
[[targets.column_rules]]
columns = ["email"]
action = "drop"
[[targets.column_rules]]
columns = ["a"]
action = "rename"
to = "x"
[[targets.column_rules]]
columns = ["b"]
action = "rename"
to = "x"`);
  assert.match(
    message,
    /column_rules\[1\]\.columns: expected columns no earlier rule takes, found them all taken by targets\[0\]\.column_rules\[0\]/,
  );
  assert.match(message, /column_rules\[3\]\.to: expected a name no other rename gives, found "x"/);
});

function routerOf(targets: string) {
  const sink = new MemorySink();
  const checkpoint = new Checkpoint();
  const account = new InflightBudget({ maxMessages: 1000, maxBytes: 1 << 20 }).account("default");
  const router = new Router({
    source: "default",
    metrics: new Metrics(),
    database: "app",
    hand: handInto(checkpoint, account, sink),
  }, targetsOf(targets));
  return { sink, checkpoint, router };
}

const RULES = `
[[targets.column_rules]]
tables = ["public.customers"]
columns = ["email", "id"]
action = "hash"
secret = "\${HASH_SECRET}"
[[targets.column_rules]]
tables = ["public.customers"]
columns = ["card"]
action = "mask"`;

const CLEAR = ["ada@example.com", "4111111111111111"];

/** Every text of a message: topic, key, value and headers. */
function textOf(message: OutgoingMessage): string {
  return JSON.stringify([message.topic, message.key, message.value, message.headers]);
}

Deno.test("Router applies the rules to key and value in the json and debezium formats", () => {
  const { sink, checkpoint, router } = routerOf(`
[[targets]]
name = "json"
tables = ["public.customers"]
where = "op == 'delete' || new.email endsWith '@example.com'"
${RULES}
[[targets]]
name = "debezium"
tables = ["public.customers"]
format = "debezium"
tombstones = false
${RULES}`);
  const tx = checkpoint.begin(77);
  router.route(change("insert", { after: { id: 7, email: CLEAR[0], card: CLEAR[1] } }), tx);
  router.route(change("delete", { before: { id: 7, email: CLEAR[0], card: null } }), tx);
  assert.equal(sink.sent.length, 4, "the filter saw the clear email and kept the insert");
  for (const message of sink.sent) {
    for (const clear of CLEAR) assert.ok(!textOf(message).includes(clear), textOf(message));
    assert.equal(message.key, JSON.stringify({ id: hmacHex("7") }));
  }
  const json = JSON.parse(sink.sent[0].value!);
  assert.deepEqual(json.after, { id: hmacHex("7"), email: hmacHex(CLEAR[0]), card: "****" });
  const debezium = JSON.parse(sink.sent[1].value!);
  assert.deepEqual(debezium.after, { id: hmacHex("7"), email: hmacHex(CLEAR[0]), card: "****" });
  assert.equal(JSON.parse(sink.sent[3].value!).before.card, null);
});

Deno.test("Router applies the rules to transaction messages, streamed or held for tx.*", () => {
  for (const where of ["", `where = "tx.size > 0"`]) {
    const { sink, checkpoint, router } = routerOf(`
[[targets]]
name = "tx"
tables = ["public.*"]
mode = "transaction"
${where}
${RULES}`);
    const tx = checkpoint.begin(77);
    router.route(change("insert", { after: { id: 7, email: CLEAR[0], card: CLEAR[1] } }), tx);
    router.route(change("insert", { after: { id: 8, note: CLEAR[0] } }, "orders"), tx);
    router.commit(tx);
    assert.equal(sink.sent.length, 1);
    const events = JSON.parse(sink.sent[0].value!).events;
    assert.deepEqual(events[0].key, { id: hmacHex("7") }, where);
    assert.deepEqual(events[0].after, { id: hmacHex("7"), email: hmacHex(CLEAR[0]), card: "****" });
    assert.deepEqual(events[1].after, { id: 8, note: CLEAR[0] }, "no rule covers orders");
  }
});

Deno.test("Router dead-letters an undecodable change with the rules applied and its error withheld", () => {
  const { sink, checkpoint, router } = routerOf(
    `[[targets]]\nname = "t"\ntables = ["public.customers"]\n${RULES}`,
  );
  const tx = checkpoint.begin(77);
  const raw = change("insert", { after: { id: "7", email: CLEAR[0], card: CLEAR[1] } });
  router.deadLetterUndecodable(raw, `Cannot convert int4 value "${CLEAR[1]}"`, tx);
  assert.equal(sink.deadLettered.length, 1);
  const { message, error } = sink.deadLettered[0];
  for (const clear of CLEAR) {
    assert.ok(!textOf(message).includes(clear));
    assert.ok(!error.includes(clear));
  }
  assert.equal(JSON.parse(message.value!).after.card, "****");
});

Deno.test("Hmac256 hashes a value larger than the buffer it keeps, and short ones after it", () => {
  const hmac = new Hmac256(new TextEncoder().encode(SECRET));
  const large = "ü".repeat(100_000);
  assert.equal(hmac.digest(large, "hex"), hmacHex(large));
  assert.equal(hmac.digest("short", "hex"), hmacHex("short"));
});
