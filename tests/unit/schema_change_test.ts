import assert from "node:assert/strict";
import {
  DdlMessageError,
  ddlSchemaChange,
  encodeSchemaChange,
  relationSchemaChange,
  type RelationShape,
  schemaChangeKey,
} from "../../src/pipeline/schema_change.ts";
import { DDL_TRIGGER_SQL } from "../../src/source/ddl_trigger.ts";
import { ConfigError, parseConfig } from "../../src/config/mod.ts";
import { Checkpoint } from "../../src/pipeline/checkpoint.ts";
import { InflightBudget } from "../../src/pipeline/inflight.ts";
import { Router } from "../../src/pipeline/router.ts";
import { Metrics } from "../../src/telemetry/metrics.ts";
import { handInto, MemorySink } from "../fixtures/memory_sink.ts";

const POSITION = {
  lsn: 0x16b3748n,
  commitLsn: 0x16b3790n,
  xid: 742,
  commitTimeMicros: 1_700_000_000_123_456n,
};

function relation(table: string, columns: [string, number, number?, boolean?][]): RelationShape {
  return {
    relationId: 16_384,
    schema: "public",
    table,
    columns: columns.map(([name, typeOid, typeModifier = -1, isKey = false]) => ({
      name,
      typeOid,
      typeName: typeOid === 23 ? "int4" : typeOid === 25 ? "text" : "varchar",
      typeModifier,
      isKey,
    })),
  };
}

Deno.test("relationSchemaChange() lists added, dropped and retyped columns", () => {
  const before = relation("t", [["id", 23, -1, true], ["email", 25], ["old", 25]]);
  const after = relation("t", [["id", 23, -1, true], ["email", 1043, 104], ["new", 25]]);
  const change = relationSchemaChange(before, after, POSITION)!;
  assert.equal(change.via, "relation");
  assert.deepEqual(change.detail.added, ["new"]);
  assert.deepEqual(change.detail.dropped, ["old"]);
  assert.deepEqual(change.detail.retyped, ["email"]);
  assert.deepEqual((change.detail.columns as { name: string }[]).map((c) => c.name), [
    "id",
    "email",
    "new",
  ]);
  assert.equal(change.detail.before_table, undefined);
});

Deno.test("relationSchemaChange() reports nothing for the same shape or a first announcement", () => {
  const shape = relation("t", [["id", 23, -1, true]]);
  assert.equal(relationSchemaChange(shape, relation("t", [["id", 23, -1, true]]), POSITION), null);
  assert.equal(relationSchemaChange(undefined, shape, POSITION), null);
});

Deno.test("relationSchemaChange() reports a renamed table and a changed key", () => {
  const renamed = relationSchemaChange(
    relation("t", [["id", 23, -1, true]]),
    relation("u", [["id", 23, -1, false]]),
    POSITION,
  )!;
  assert.equal(renamed.table, "u");
  assert.equal(renamed.detail.before_table, "public.t");
  assert.deepEqual(renamed.detail.added, []);
});

Deno.test("ddlSchemaChange() reads the trigger's JSON and refuses anything else", () => {
  const content = new TextEncoder().encode(JSON.stringify({
    command_tag: "ALTER TABLE",
    object_type: "table",
    object_identity: "public.t",
    schema: "public",
    table: "t",
    statement: "ALTER TABLE t ADD COLUMN c int",
    columns: [{ name: "c" }],
  }));
  const change = ddlSchemaChange(content, POSITION);
  assert.equal(change.via, "trigger");
  assert.equal(change.detail.command_tag, "ALTER TABLE");
  assert.throws(
    () => ddlSchemaChange(new TextEncoder().encode("not json"), POSITION),
    (error) => error instanceof DdlMessageError && /at 0\/16B3748 is not JSON/.test(error.message),
  );
  assert.throws(
    () => ddlSchemaChange(new TextEncoder().encode("{}"), POSITION),
    /names no schema and table/,
  );
});

Deno.test("encodeSchemaChange() writes op, source, position and the detail; the key is the table", () => {
  const change = ddlSchemaChange(
    new TextEncoder().encode(JSON.stringify({ schema: "public", table: "t", columns: null })),
    POSITION,
  );
  const value = JSON.parse(encodeSchemaChange(change, "main"));
  assert.deepEqual(value, {
    op: "schema_change",
    source: "main",
    via: "trigger",
    schema: "public",
    table: "t",
    command_tag: null,
    object_type: null,
    object_identity: null,
    statement: null,
    columns: null,
    lsn: "0/16B3748",
    commit_lsn: "0/16B3790",
    xid: 742,
    commit_ts: "2023-11-14T22:13:20.123456Z",
  });
  assert.equal(schemaChangeKey(change), '{"schema":"public","table":"t"}');
});

Deno.test("docs/schema_changes.md shows the trigger SQL pg2kafka installs", async () => {
  const doc = await Deno.readTextFile(new URL("../../docs/schema_changes.md", import.meta.url));
  const block = /<!-- ddl-trigger-sql -->\n+```sql\n([\s\S]*?)\n```/.exec(doc);
  assert.ok(block, "the marked SQL block");
  assert.equal(block[1], DDL_TRIGGER_SQL.trim());
});

Deno.test("the config refuses a per-table schema-change topic and a trigger install without it", () => {
  const text = `[source]
database = "app"
user = "app"
tables = ["public.t"]
[source.schema_changes]
enabled = true
topic = "ddl.{table}"
install_trigger = true
[kafka]
brokers = ["127.0.0.1:9092"]
[[targets]]
name = "t"
tables = ["public.t"]
`;
  assert.throws(() => parseConfig(text, { origin: "test.toml", env: {} }), (error) => {
    assert.ok(error instanceof ConfigError);
    assert.match(
      error.message,
      /source\.schema_changes\.topic: expected a topic without \{schema\}/,
    );
    assert.match(
      error.message,
      /source\.schema_changes\.install_trigger: expected false because via is "relation"/,
    );
    return true;
  });
  const valid = parseConfig(
    text.replace(`topic = "ddl.{table}"`, `topic = "ddl.{source}"\nvia = "trigger"`),
    { origin: "test.toml", env: {} },
  );
  assert.deepEqual(valid.sources[0].schemaChanges, {
    enabled: true,
    via: "trigger",
    topic: "ddl.default",
    installTrigger: true,
  });
});

Deno.test("Router.schemaChange() sends a table some target takes, tracked in its transaction", () => {
  const targets = parseConfig(
    `[source]\ndatabase = "app"\nuser = "app"\ntables = ["public.t"]\n` +
      `[kafka]\nbrokers = ["127.0.0.1:9092"]\n[[targets]]\nname = "t"\ntables = ["public.t*"]\n`,
    { origin: "test.toml", env: {} },
  ).targets;
  const sink = new MemorySink();
  const checkpoint = new Checkpoint();
  const account = new InflightBudget({ maxMessages: 10, maxBytes: 1 << 20 }).account("default");
  const router = new Router({
    source: "default",
    metrics: new Metrics(),
    hand: handInto(checkpoint, account, sink),
    schemaChangeTopic: "ddl.default",
  }, targets);
  const tx = checkpoint.begin(POSITION.xid);
  const change = (table: string) =>
    ddlSchemaChange(
      new TextEncoder().encode(JSON.stringify({ schema: "public", table })),
      POSITION,
    );
  router.schemaChange(change("t2"), tx);
  router.schemaChange(change("other"), tx);
  assert.equal(sink.sent.length, 1, "no target takes public.other");
  const [message] = sink.sent;
  assert.equal(message.topic, "ddl.default");
  assert.equal(message.origin.target, "schema_changes");
  assert.equal(message.headers["pg2kafka.op"], "schema_change");
  assert.equal(message.headers["pg2kafka.xid"], "742");
  assert.equal(tx.trackedMessages, 1, "the transaction waits for the schema change's ack");

  const silent = new Router({
    source: "default",
    metrics: new Metrics(),
    hand: handInto(checkpoint, account, sink),
  }, targets);
  silent.schemaChange(change("t2"), tx);
  assert.equal(sink.sent.length, 1, "no schema-change topic, nothing sent");
});
