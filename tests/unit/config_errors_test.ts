import assert from "node:assert/strict";
import { ConfigError, parseConfig } from "../../src/config/mod.ts";

/** Extra lines for each section of a minimal valid config. */
interface Parts {
  source?: string;
  kafka?: string;
  target?: string;
  rest?: string;
}

/** A minimal valid config, with extra lines in its sections. */
function config(parts: Parts = {}): string {
  return [
    "[[sources]]",
    'name = "main"',
    'database = "app"',
    'user = "app"',
    'tables = ["public.orders"]',
    parts.source ?? "",
    "[kafka]",
    'brokers = ["127.0.0.1:9092"]',
    parts.kafka ?? "",
    "[[targets]]",
    'name = "orders"',
    'tables = ["public.orders"]',
    parts.target ?? "",
    parts.rest ?? "",
  ].join("\n");
}

/** The ConfigError `parse` throws; fails the test when it throws nothing or something else. */
function configErrorOf(parse: () => unknown): ConfigError {
  try {
    parse();
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  assert.fail("expected a ConfigError");
}

interface BadConfig {
  name: string;
  text: string;
  env?: Record<string, string>;
  /** The issue lines after the "Invalid config in test.toml:" heading, without indentation. */
  issues: string[];
}

const SECOND_TARGET = '[[targets]]\nname = "second"\ntables = ["public.*"]';

const BAD_CONFIGS: BadConfig[] = [
  {
    name: "a misspelt key, with the likely meant one",
    text: config({ kafka: '[kafka.retry]\nmax_backof = "1m"' }),
    issues: ["kafka.retry.max_backof: unknown key, did you mean max_backoff?"],
  },
  {
    name: "an unknown table, with the allowed keys",
    text: config({ rest: "[metrics]\nport = 9100" }),
    issues: [
      "metrics: unknown key, expected one of: source, sources, kafka, limits, targets, http, log, shutdown, health",
    ],
  },
  {
    name: "a wrong type",
    text: config({ source: "host = 5" }),
    issues: ["sources[0].host: expected a string, found 5"],
  },
  {
    name: "a wrong type in the second target",
    text: config({ rest: `${SECOND_TARGET}\ntopic = 42` }),
    issues: [
      "targets[1].topic: expected a topic template with only the placeholders {source}, {schema}, {table}, {op}, found 42",
    ],
  },
  {
    name: "a missing required key",
    text: config().replace('database = "app"\n', ""),
    issues: ["sources[0].database: expected a string, found no value (the key is required)"],
  },
  {
    name: "a duration without a unit",
    text: config({ kafka: "linger = 5" }),
    issues: [
      'kafka.linger: expected a duration such as "500ms", "10s" or "1m30s", found 5 (a plain number is ambiguous: add a unit)',
    ],
  },
  {
    name: "a duration with an unknown unit",
    text: config({ source: 'status_interval = "10sec"' }),
    issues: [
      'sources[0].status_interval: expected a duration such as "500ms", "10s" or "1m30s", found "10sec" (unknown unit "sec"; use ms, s, m or h)',
    ],
  },
  {
    name: "a size with a miscased unit",
    text: config({ kafka: 'batch_max_bytes = "1mb"' }),
    issues: [
      'kafka.batch_max_bytes: expected a size such as "512B", "64KiB" or "1MiB", found "1mb" (unknown unit "mb"; use B, kB, MB, GB, KiB, MiB or GiB)',
    ],
  },
  {
    name: "a size without a unit",
    text: config({ rest: "[limits]\nmax_inflight_bytes = 1024" }),
    issues: [
      'limits.max_inflight_bytes: expected a size such as "512B", "64KiB" or "1MiB", found 1024 (a plain number is ambiguous: add a unit)',
    ],
  },
  {
    name: "a missing environment variable, without the value of the variable beside it",
    text: config({ source: 'password = "${PG_USER_SECRET}:${PG_PASSWORD}"' }),
    env: { PG_USER_SECRET: "s3cret-user" },
    issues: ["sources[0].password: environment variable PG_PASSWORD is not set"],
  },
  {
    name: "an invalid interpolated value, named by its variable rather than shown",
    text: config({ source: 'slot = "${SLOT}"' }),
    env: { SLOT: "s3cret Slot" },
    issues: [
      "sources[0].slot: expected a slot name (lowercase letters, digits and _, at most 63 characters), found a value from ${SLOT}",
    ],
  },
  {
    name: "an unterminated variable reference",
    text: config({ source: 'password = "${PG_PASSWORD"' }),
    issues: ['sources[0].password: unterminated "${" (write "$${" for a literal "${")'],
  },
  {
    name: "invalid slot, publication and table names",
    text: config({
      source: 'slot = "Demo-Slot"\npublication = "1pub"',
      target: 'key_columns = [""]',
      rest: `${SECOND_TARGET.replace('"public.*"', '"public.order-items"')}`,
    }),
    issues: [
      'sources[0].publication: expected a publication name (a letter or _, then letters, digits, _ or $, at most 63 characters), found "1pub"',
      'sources[0].slot: expected a slot name (lowercase letters, digits and _, at most 63 characters), found "Demo-Slot"',
      'targets[0].key_columns[0]: expected a non-empty string, found ""',
      'targets[1].tables[0]: expected a table pattern such as "public.orders" or "sales.*", found "public.order-items" (the table name "order-items" is not valid: use a letter or _, then letters, digits, _ or $, at most 63 characters)',
    ],
  },
  {
    name: "duplicate source and target names",
    text: config({
      rest: '[[sources]]\nname = "main"\ndatabase = "b"\nuser = "b"\ntables = ["*"]\n' +
        SECOND_TARGET.replace('"second"', '"orders"'),
    }),
    issues: [
      'sources[1].name: expected a source name not used before, found "main" (also sources[0].name)',
      'sources[1].slot: expected a slot no other source uses on the same server, found "pg2kafka" (also sources[0].slot)',
      'targets[1].name: expected a target name not used before, found "orders" (also targets[0].name)',
    ],
  },
  {
    name: "a target naming an unknown source",
    text: config({ target: 'sources = ["main", "mian"]' }),
    issues: ['targets[0].sources[1]: expected the name of a source ("main"), found "mian"'],
  },
  {
    name: "an unknown topic placeholder",
    text: config({ target: 'topic = "cdc.{schema}.{tabel}"' }),
    issues: [
      'targets[0].topic: expected a topic template with only the placeholders {source}, {schema}, {table}, {op}, found "cdc.{schema}.{tabel}" (unknown placeholder {tabel})',
    ],
  },
  {
    name: "a filter syntax error, with a caret under the column",
    text: config({ target: 'where = "new.amount > > 5"' }),
    issues: [
      'targets[0].where: Unexpected token ">" at column 14:\n      new.amount > > 5\n                   ^',
    ],
  },
  {
    name: "a transaction-only filter field in change mode",
    text: config({ target: 'where = "tx.size > 1"' }),
    issues: [
      'targets[0].where: "tx.size" is only available in transaction mode at column 1:\n      tx.size > 1\n      ^',
    ],
  },
  {
    name: "an interpolated filter with an error, without quoting it",
    text: config({ target: 'where = "${FILTER}"' }),
    env: { FILTER: "new.card == 'secret-card' &&" },
    issues: [
      "targets[0].where: expected a valid filter expression, found a value from ${FILTER} with an error at line 1, column 29",
    ],
  },
  {
    name: "a Debezium target in transaction mode, and tombstones there",
    text: config({ target: 'format = "debezium"\nmode = "transaction"\ntombstones = true' }),
    issues: [
      'targets[0].mode: expected "change" because format is "debezium" (Debezium envelopes carry one row each), found "transaction"',
      'targets[0].tombstones: expected false because mode is "transaction" (tombstones follow single-row deletes), found true',
    ],
  },
  {
    name: "verify-full without a CA file, and a CA file that does not exist",
    text: config({
      source: 'sslmode = "verify-full"',
      kafka: '[kafka.tls]\nenabled = true\nca_file = "no/such/ca.pem"',
    }),
    issues: [
      'kafka.tls.ca_file: expected an existing file, found "no/such/ca.pem" (no such file)',
      'sources[0].ssl_ca_file: expected a CA certificate file because sslmode is "verify-full", found none',
    ],
  },
  {
    name: "SASL without a password, empty brokers and a bad listen address",
    text: config({ rest: '[http]\nlisten = "9187"' })
      .replace('brokers = ["127.0.0.1:9092"]', 'brokers = []\n[kafka.sasl]\nusername = "u"'),
    issues: [
      'http.listen: expected "host:port" such as "127.0.0.1:9187", found "9187"',
      "kafka.brokers: expected at least 1 entry, found an empty array",
      "kafka.sasl.password: expected a string, found no value (the key is required)",
    ],
  },
  {
    name: "a backoff whose maximum is below its initial delay",
    text: config({ source: '[sources.reconnect]\ninitial_backoff = "1m"\nmax_backoff = "10s"' }),
    issues: [
      "sources[0].reconnect.max_backoff: expected a duration no shorter than initial_backoff",
    ],
  },
  {
    name: "all tables combined with names, and no tables for a created publication",
    text: config({ rest: '[[sources]]\nname = "b"\ndatabase = "b"\nuser = "b"\nslot = "b"' })
      .replace('tables = ["public.orders"]', 'tables = ["*", "public.orders"]'),
    issues: [
      'sources[0].tables: expected "*" (FOR ALL TABLES) alone, found it combined with table names',
      'sources[1].tables: expected the tables to publish (or ["*"]) because create_publication or alter_publication is true, found none',
    ],
  },
  {
    name: "an in-flight byte cap smaller than the largest message",
    text: config({
      target: 'max_message_bytes = "2MiB"',
      rest: '[limits]\nmax_inflight_bytes = "1MiB"',
    }),
    issues: [
      "limits.max_inflight_bytes: expected a size no smaller than the largest max_message_bytes, so that the largest message fits",
    ],
  },
  {
    name: "both [source] and [[sources]], and no targets",
    text: '[source]\ndatabase = "a"\nuser = "a"\ntables = ["*"]\n' +
      '[[sources]]\nname = "b"\ndatabase = "b"\nuser = "b"\nslot = "b"\ntables = ["*"]\n' +
      '[kafka]\nbrokers = ["k:9092"]\n',
    issues: [
      "source: expected either one [source] table or [[sources]] tables, found both",
      "targets: expected at least one [[targets]] table, found none",
    ],
  },
  {
    name: "[sources] written with single brackets",
    text: '[sources]\nname = "a"\n[kafka]\nbrokers = ["k:9092"]\n' +
      '[[targets]]\nname = "t"\ntables = ["*"]\n',
    issues: [
      "sources: expected an array, found a table (write [[sources]], with double brackets, for each entry)",
    ],
  },
  {
    name: "a TOML syntax error, by line and column",
    text: config({ kafka: 'linger = "5ms' }),
    issues: ["invalid TOML at line 9, column 14: control characters are not allowed in strings"],
  },
  {
    name: "several errors at once, in path order",
    text: config({
      source: "port = 70000",
      kafka: 'compression = "zstd"',
      target: 'ops = ["insert", "upsert"]\nmode = "batch"',
      rest: '[log]\nlevel = "verbose"\n[shutdown]\ngrace_period = "soon"',
    }),
    issues: [
      'kafka.compression: expected one of "none", "gzip", found "zstd"',
      'log.level: expected one of "trace", "debug", "info", "warning", "error", "fatal", found "verbose"',
      'shutdown.grace_period: expected a duration such as "500ms", "10s" or "1m30s", found "soon" (expected a number at character 1)',
      "sources[0].port: expected an integer from 1 to 65535, found 70000",
      'targets[0].mode: expected one of "change", "transaction", found "batch"',
      'targets[0].ops[1]: expected one of "insert", "update", "delete", "truncate", "snapshot", found "upsert"',
    ],
  },
];

for (const bad of BAD_CONFIGS) {
  Deno.test(`parseConfig() reports ${bad.name}`, () => {
    const error = configErrorOf(() =>
      parseConfig(bad.text, { origin: "test.toml", env: bad.env ?? {} })
    );
    const expected = ["Invalid config in test.toml:", ...bad.issues.map((line) => `  ${line}`)];
    assert.equal(error.message, expected.join("\n"));
    assert.equal(error.issues.length, bad.issues.length);
    for (const secret of Object.values(bad.env ?? {})) {
      assert(!error.message.includes(secret), `the message shows the secret ${secret}`);
    }
  });
}

Deno.test("ConfigError.issues carry each path and message separately", () => {
  const text = config({ target: "tombstones = 1", rest: `${SECOND_TARGET}\ntopic = 42` });
  const error = configErrorOf(() => parseConfig(text, { origin: "test.toml", env: {} }));
  assert.deepEqual(error.issues.map(({ path }) => path), [
    "targets[0].tombstones",
    "targets[1].topic",
  ]);
  assert.equal(error.issues[0].message, "expected true or false, found 1");
});
