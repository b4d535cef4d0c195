import assert from "node:assert/strict";
import { parseConfig } from "../../src/config/mod.ts";
import {
  BENCH_HASH_SECRET,
  BENCH_HASH_SECRET_VARIABLE,
  benchConfig,
  parseOverride,
} from "../../scripts/bench/config.ts";
import type { StackEndpoints } from "../../scripts/bench/stack.ts";

const STACK: StackEndpoints = {
  pgHost: "127.0.0.1",
  pgPort: 54389,
  pgDatabase: "app",
  pgUser: "pg2kafka",
  pgPassword: "local",
  kafkaBroker: "127.0.0.1:19692",
};
const NAMES = {
  slot: "bench_backlog_1_c",
  publication: "bench_backlog_1",
  table: "bench_backlog_1",
  topic: "pg2kafka_bench.bench_backlog_1",
};
const ENV = { PG2KAFKA_PG_PASSWORD: "local" };

Deno.test("benchConfig() writes a config pg2kafka accepts, with its own slot, table and topic", () => {
  const config = parseConfig(benchConfig(STACK, NAMES), { origin: "bench", env: ENV });
  const [source] = config.sources;
  assert.equal(source.port, 54389);
  assert.equal(source.slot, "bench_backlog_1_c");
  assert.equal(source.createSlot, false);
  assert.equal(
    config.targets[0].topicFor("bench", "public", "bench_backlog_1", "insert"),
    NAMES.topic,
  );
  assert.equal(config.http.enabled, false);
});

Deno.test("benchConfig() keeps pg2kafka's defaults for batching and in-flight limits", () => {
  const bench = parseConfig(benchConfig(STACK, NAMES), { origin: "bench", env: ENV });
  const minimal = parseConfig(
    `[source]\ndatabase = "app"\nuser = "u"\ntables = ["public.t"]\n` +
      `[kafka]\nbrokers = ["127.0.0.1:9092"]\n[[targets]]\nname = "t"\ntables = ["public.t"]\n`,
    { origin: "minimal", env: {} },
  );
  assert.deepEqual(bench.limits, minimal.limits);
  assert.equal(bench.kafka.lingerMs, minimal.kafka.lingerMs);
  assert.equal(bench.kafka.batchMaxMessages, minimal.kafka.batchMaxMessages);
});

Deno.test("benchConfig() applies overrides to existing tables and adds new ones", () => {
  const text = benchConfig(STACK, NAMES, [
    parseOverride("kafka.linger=0ms"),
    parseOverride("limits.max_inflight_messages=5000"),
    parseOverride("kafka.retry.initial_backoff=50ms"),
  ]);
  const config = parseConfig(text, { origin: "bench", env: ENV });
  assert.equal(config.kafka.lingerMs, 0);
  assert.equal(config.limits.maxInflightMessages, 5_000);
  assert.equal(config.kafka.retry.initialMs, 50);
  assert.equal(text.match(/^\[kafka\]$/gm)?.length, 1);
});

Deno.test("parseOverride() keeps TOML numbers, booleans, arrays and strings, and quotes the rest", () => {
  assert.equal(parseOverride("limits.max_inflight_messages=5_000").value, "5_000");
  assert.equal(parseOverride("http.enabled=true").value, "true");
  assert.equal(parseOverride('targets.ops=["insert"]').value, '["insert"]');
  assert.equal(parseOverride('kafka.compression="gzip"').value, '"gzip"');
  assert.equal(parseOverride("kafka.compression=gzip").value, '"gzip"');
});

Deno.test("parseOverride() refuses text without a table, a key or a value", () => {
  for (const text of ["linger=0ms", "kafka.=1", "kafka.linger", "=1"]) {
    assert.throws(() => parseOverride(text), /table\.key=value/, text);
  }
});

Deno.test("benchConfig() with column rules gives the bench target hash, mask and truncate", () => {
  const env = { ...ENV, [BENCH_HASH_SECRET_VARIABLE]: BENCH_HASH_SECRET };
  const config = parseConfig(benchConfig(STACK, NAMES, [], true), { origin: "bench", env });
  const rules = config.targets[0].columnRules;
  assert.deepEqual(rules.map((rule) => [rule.columns, rule.action.kind]), [
    [["status"], "hash"],
    [["amount"], "mask"],
    [["payload"], "truncate"],
  ]);
  const plain = parseConfig(benchConfig(STACK, NAMES), { origin: "bench", env: ENV });
  assert.deepEqual(plain.targets[0].columnRules, []);
});
