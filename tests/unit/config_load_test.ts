import assert from "node:assert/strict";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError, loadConfig, parseConfig, secretsOf } from "../../src/config/mod.ts";

/** A source and Kafka, for configs that bring their own targets. */
const HEAD = `
[source]
database = "app"
user = "app"
tables = ["public.orders"]

[kafka]
brokers = ["127.0.0.1:9092"]
`;

const MINIMAL = `${HEAD}
[[targets]]
name = "orders"
tables = ["public.orders"]
`;

function parse(text: string, env: Record<string, string> = {}) {
  return parseConfig(text, { origin: "test.toml", env });
}

Deno.test("parseConfig() applies every default to a minimal config", () => {
  const config = parse(MINIMAL);
  const [source] = config.sources;
  assert.deepEqual(source, {
    name: "default",
    host: "127.0.0.1",
    port: 5432,
    database: "app",
    user: "app",
    password: null,
    sslMode: "disable",
    sslCaFile: null,
    slot: "pg2kafka",
    createSlot: true,
    failoverSlot: false,
    publication: "pg2kafka",
    createPublication: true,
    alterPublication: false,
    tables: [{ schema: "public", table: "orders" }],
    statusIntervalMs: 10_000,
    messages: false,
    bigNumbers: "string",
    jsonValues: "parsed",
    connectTimeoutMs: 10_000,
    reconnect: { initialMs: 1_000, maxMs: 60_000, multiplier: 2, jitter: 0.2 },
    standbyPollIntervalMs: 1_000,
    snapshot: "initial",
    snapshotFetchRows: 2_000,
    snapshotProgressIntervalMs: 10_000,
    heartbeatIntervalMs: 0,
    heartbeatTable: null,
    transactionalId: "pg2kafka.default",
    schemaChanges: {
      enabled: false,
      via: "relation",
      topic: "pg2kafka.default.schema_changes",
      installTrigger: false,
    },
  });
  assert.deepEqual(config.kafka, {
    brokers: ["127.0.0.1:9092"],
    clientId: "pg2kafka",
    compression: "none",
    lingerMs: 5,
    batchMaxMessages: 1_000,
    batchMaxBytes: 1_048_576,
    maxMessageBytes: 1_048_576,
    requestTimeoutMs: 30_000,
    deadLetterTopic: "pg2kafka.dead_letter",
    progressTopic: "pg2kafka.progress",
    createTopics: true,
    topicPartitions: 3,
    topicReplicationFactor: 1,
    tls: { enabled: false, caFile: null, rejectUnauthorized: true },
    sasl: null,
    retry: { initialMs: 100, maxMs: 30_000, multiplier: 2, jitter: 0.2 },
    circuitBreaker: { failureThreshold: 5, openDurationMs: 10_000 },
    delivery: "at_least_once",
    transactions: {
      progressTopic: "pg2kafka.progress.exactly_once",
      maxMessages: 20_000,
      maxBytes: 16_777_216,
      maxDurationMs: 1_000,
      timeoutMs: 60_000,
    },
  });
  assert.deepEqual(config.limits, {
    maxInflightMessages: 5_000,
    maxInflightBytes: 67_108_864,
    maxQueryConnections: 2,
    queryIdleTimeoutMs: 30_000,
    transactionBufferBytes: 16 * 1024 * 1024,
    spillDir: join(tmpdir(), "pg2kafka-spill"),
    stuckAfterMs: 300_000,
  });
  assert.deepEqual(config.http, {
    enabled: true,
    listen: { hostname: "127.0.0.1", port: 9187 },
    token: null,
  });
  assert.deepEqual(config.log, { level: "info", format: "auto" });
  assert.deepEqual(config.shutdown, { gracePeriodMs: 30_000 });
  const { matchesTable: _, topicFor: __, ...target } = config.targets[0];
  assert.deepEqual(target, {
    name: "orders",
    sources: ["default"],
    tables: [{ schema: "public", table: "orders" }],
    ops: new Set(["insert", "update", "delete", "truncate", "snapshot"]),
    topic: "pg2kafka.{schema}.{table}",
    keyColumns: [],
    format: "json",
    debezium: {
      decimalHandlingMode: "precise",
      timePrecisionMode: "adaptive",
      binaryHandlingMode: "bytes",
      intervalHandlingMode: "numeric",
      moneyFractionDigits: 2,
      unavailableValuePlaceholder: "__debezium_unavailable_value",
      schemas: false,
    },
    mode: "change",
    where: null,
    filter: null,
    tombstones: false,
    maxMessageBytes: 1_048_576,
    columnRules: [],
  });
});

Deno.test("parseConfig() resolves targets against several sources and kafka defaults", () => {
  const config = parse(`
[[sources]]
name = "main"
database = "app"
user = "app"
tables = ["*"]
[[sources]]
name = "replica"
port = 6432
database = "app"
user = "app"
create_publication = false
[kafka]
brokers = ["k1:9092", "[::1]:9093"]
max_message_bytes = "2MiB"
[[targets]]
name = "everything"
tables = ["*.*"]
[[targets]]
name = "replica_orders"
sources = ["replica"]
tables = ["orders", "sales.order_?"]
ops = ["insert", "delete"]
topic = "cdc.{source}.{op}.{schema}.{table}"
max_message_bytes = "100kB"
[http]
listen = "[::]:0"
`);
  assert.equal(config.sources[0].tables, "all");
  assert.deepEqual(config.sources[1].tables, []);
  assert.deepEqual(config.kafka.brokers, ["k1:9092", "[::1]:9093"]);
  assert.deepEqual(config.http.listen, { hostname: "::", port: 0 });
  const [everything, replicaOrders] = config.targets;
  assert.deepEqual(everything.sources, ["main", "replica"]);
  assert.equal(everything.maxMessageBytes, 2_097_152);
  assert.deepEqual(replicaOrders.sources, ["replica"]);
  assert.equal(replicaOrders.maxMessageBytes, 100_000);
  assert.deepEqual([...replicaOrders.ops], ["insert", "delete"]);
  assert.equal(
    replicaOrders.topicFor("replica", "sales", "order_1", "insert"),
    "cdc.replica.insert.sales.order_1",
  );
});

Deno.test("TargetConfig.matchesTable() applies globs per part and public for bare names", () => {
  const config = parse(
    `${HEAD}[[targets]]\nname = "t"\ntables = ["customers", "sales.order_?", "audit*.*$log"]\n`,
  );
  const { matchesTable } = config.targets[0];
  assert.equal(matchesTable("public", "customers"), true);
  assert.equal(matchesTable("sales", "customers"), false);
  assert.equal(matchesTable("sales", "order_1"), true);
  assert.equal(matchesTable("sales", "order_12"), false);
  assert.equal(matchesTable("audit_2024", "row$log"), true);
  assert.equal(matchesTable("audit_2024", "rowXlog"), false, "$ is literal, not a regex anchor");
  assert.equal(matchesTable("xaudit", "row$log"), false);
});

Deno.test("parseConfig() compiles each target's filter, in transaction mode when configured", () => {
  const config = parse(
    MINIMAL + `
where = "new.amount > 100"
[[targets]]
name = "big_transactions"
tables = ["public.*"]
mode = "transaction"
where = "tx.size > 2"
`,
  );
  const [change, transaction] = config.targets;
  const row = { op: "insert", schema: "public", table: "orders", old: null };
  assert.equal(change.where, "new.amount > 100");
  assert.equal(change.filter?.evaluate({ ...row, new: { amount: 150 } }), true);
  assert.equal(change.filter?.evaluate({ ...row, new: { amount: 50 } }), false);
  const tx = { tables: ["public.orders"], size: 3, ops: ["insert"] };
  assert.equal(transaction.filter?.evaluate({ ...row, new: {}, tx }), true);
});

Deno.test("parseConfig() interpolates ${VAR} in every string, arrays included, and keeps $${ literal", () => {
  const config = parse(
    MINIMAL
      .replace('user = "app"', 'user = "${PG_USER}"\npassword = "pre-${PG_PASSWORD}-post"')
      .replace('brokers = ["127.0.0.1:9092"]', 'brokers = ["${KAFKA_HOST}:9092"]') +
      `where = "new.note == '$\${not_a_var}' && new.price == '$5'"\n`,
    { PG_USER: "alice", PG_PASSWORD: "hunter2", KAFKA_HOST: "kafka.internal" },
  );
  assert.equal(config.sources[0].user, "alice");
  assert.equal(config.sources[0].password, "pre-hunter2-post");
  assert.deepEqual(config.kafka.brokers, ["kafka.internal:9092"]);
  assert.equal(config.targets[0].where, "new.note == '${not_a_var}' && new.price == '$5'");
});

Deno.test("parseConfig() reads the process environment when no env map is given", () => {
  const variable = "PG2KAFKA_CONFIG_TEST_PASSWORD";
  Deno.env.set(variable, "from-the-environment");
  try {
    const text = MINIMAL.replace('user = "app"', `user = "app"\npassword = "\${${variable}}"`);
    const config = parseConfig(text, { origin: "test.toml" });
    assert.equal(config.sources[0].password, "from-the-environment");
  } finally {
    Deno.env.delete(variable);
  }
});

Deno.test("secretsOf() lists credentials and interpolated values, longest first, without empties", () => {
  const config = parse(
    MINIMAL
      .replace('user = "app"', 'user = "app"\npassword = "plain-pg-password"\nhost = "${PG_HOST}"')
      .replace(
        'brokers = ["127.0.0.1:9092"]',
        'brokers = ["127.0.0.1:9092"]\n[kafka.sasl]\nusername = "kafka-user"\n' +
          'password = "${KAFKA_PASSWORD}${EMPTY}"',
      ) + '[http]\ntoken = "tok-${TOKEN}"\n',
    { PG_HOST: "db.internal", KAFKA_PASSWORD: "kafka-secret", TOKEN: "abc", EMPTY: "" },
  );
  assert.deepEqual(secretsOf(config), [
    "plain-pg-password",
    "kafka-secret",
    "db.internal",
    "kafka-user",
    "tok-abc",
    "abc",
  ]);
});

Deno.test("secretsOf() falls back to the credential fields for a config not built by parseConfig", () => {
  const config = parse(
    MINIMAL.replace('user = "app"', 'user = "app"\npassword = "${PW}"\nhost = "${PG_HOST}"'),
    { PW: "hunter2", PG_HOST: "db.internal" },
  );
  assert.deepEqual(secretsOf(config), ["db.internal", "hunter2"]);
  const copy = structuredClone({ ...config, targets: [] });
  assert.deepEqual(secretsOf(copy), ["hunter2"]);
});

Deno.test("loadConfig() reads a file and resolves CA paths against its directory", async () => {
  const directory = await Deno.makeTempDir();
  try {
    await Deno.mkdir(join(directory, "certs"));
    await Deno.writeTextFile(join(directory, "certs", "ca.pem"), "-----BEGIN CERTIFICATE-----\n");
    const path = join(directory, "pg2kafka.toml");
    await Deno.writeTextFile(
      path,
      MINIMAL.replace(
        'user = "app"',
        'user = "app"\nsslmode = "verify-full"\nssl_ca_file = "certs/ca.pem"',
      ),
    );
    const config = await loadConfig(path, {});
    assert.equal(config.sources[0].sslCaFile, join(directory, "certs", "ca.pem"));
  } finally {
    await Deno.remove(directory, { recursive: true });
  }
});

Deno.test("loadConfig() reports a missing file as a ConfigError naming it", async () => {
  const directory = await Deno.makeTempDir();
  try {
    const path = join(directory, "missing.toml");
    await assert.rejects(loadConfig(path, {}), (error: unknown) => {
      assert(error instanceof ConfigError);
      assert.match(
        error.message,
        /^Invalid config in .*missing\.toml:\n {2}cannot read the file: /,
      );
      return true;
    });
  } finally {
    await Deno.remove(directory, { recursive: true });
  }
});
