/**
 * The zod schema of the TOML config: every key, its type, its default and
 * its unit, with unknown keys rejected at every level. Cross-entry rules
 * (unique names, source references, filters, files) live in `checks.ts`.
 *
 * The leaf validators are in `leaves.ts`.
 *
 * @module
 */
import { z } from "zod";
import { CHANGE_OPS, type ChangeOp } from "../model.ts";
import {
  duration,
  hostPort,
  identifier,
  integer,
  MAX_PORT,
  name,
  nonEmptyString,
  numberBetween,
  optionalSize,
  publicationTables,
  refinementIssue,
  size,
  slotName,
  tableLeaf,
  topicName,
  topicTemplate,
  whenValid,
} from "./leaves.ts";
import { readTableName, readTablePattern, type TableName } from "./tables.ts";
import { columnRuleSchema } from "./column_rules.ts";
import { checkTopicRules } from "./topic_rules.ts";

/** The name of the source a single `[source]` table defines, when it has none. */
export const DEFAULT_SOURCE_NAME = "default";

/** Defaults of a source's server and slot, shared with the cross-entry checks. */
export const DEFAULT_PG_HOST = "127.0.0.1";
export const DEFAULT_PG_PORT = 5_432;
export const DEFAULT_SLOT = "pg2kafka";
const DEFAULT_BACKOFF_MULTIPLIER = 2;
const DEFAULT_JITTER = 0.2;

/** Rows fetched per cursor round trip while snapshotting: memory per table read. */
const DEFAULT_SNAPSHOT_FETCH_ROWS = 2_000;

/** `heartbeat_table = ""`: heartbeats are logical decoding messages, not table updates. */
export const NO_HEARTBEAT_TABLE: TableName = Object.freeze({ schema: "", table: "" });

/** An exact table name, or `""` for none ({@linkcode NO_HEARTBEAT_TABLE}). */
const optionalTableName = () =>
  tableLeaf(
    `a table name such as "public.pg2kafka_heartbeat", or "" for none`,
    (text) => text === "" ? { ok: true, value: NO_HEARTBEAT_TABLE } : readTableName(text),
  );

/** A backoff table with the given default delays. */
function backoff(initial: string, max: string) {
  return z.strictObject({
    initial_backoff: duration().prefault(initial),
    max_backoff: duration().prefault(max),
    multiplier: numberBetween(1, Number.MAX_VALUE, "a number of at least 1")
      .prefault(DEFAULT_BACKOFF_MULTIPLIER),
    jitter: numberBetween(0, 1, "a number from 0 to 1").prefault(DEFAULT_JITTER),
  }).superRefine((value, context) => {
    if (value.initial_backoff > value.max_backoff) {
      const message = "expected a duration no shorter than initial_backoff";
      context.issues.push(refinementIssue(["max_backoff"], message));
    }
  }, whenValid("initial_backoff", "max_backoff")).prefault({});
}

/** Placeholders that differ between the changes of one transaction. */
const PER_CHANGE_PLACEHOLDER = /\{(?:schema|table|op)\}/;

/** The schema-change topic of a source that names none. */
export const DEFAULT_SCHEMA_CHANGE_TOPIC = "pg2kafka.{source}.schema_changes";

/** A source's `[sources.schema_changes]` table. */
const schemaChangesSchema = z.strictObject({
  enabled: z.boolean().prefault(false),
  via: z.enum(["relation", "trigger"]).prefault("relation"),
  topic: topicTemplate().prefault(DEFAULT_SCHEMA_CHANGE_TOPIC),
  install_trigger: z.boolean().prefault(false),
}).superRefine((changes, context) => {
  const perChange = PER_CHANGE_PLACEHOLDER.exec(changes.topic);
  if (perChange !== null) {
    const message = `expected a topic without {schema}, {table} or {op} (schema changes of ` +
      `all tables share one topic, keyed by table), found ${perChange[0]}`;
    context.issues.push(refinementIssue(["topic"], message));
  }
  if (changes.install_trigger && changes.via !== "trigger") {
    const message = `expected false because via is "${changes.via}" (the trigger serves ` +
      `via = "trigger"), found true`;
    context.issues.push(refinementIssue(["install_trigger"], message));
  }
}, whenValid("topic", "via", "install_trigger")).prefault({});

const sourceFields = {
  name: name(),
  host: nonEmptyString().prefault(DEFAULT_PG_HOST),
  port: integer(1, MAX_PORT).prefault(DEFAULT_PG_PORT),
  database: nonEmptyString(),
  user: nonEmptyString(),
  password: z.string().prefault(""),
  sslmode: z.enum(["disable", "require", "verify-full"]).prefault("disable"),
  ssl_ca_file: z.string().prefault(""),
  slot: slotName().prefault(DEFAULT_SLOT),
  create_slot: z.boolean().prefault(true),
  failover_slot: z.boolean().prefault(false),
  publication: identifier("a publication name").prefault("pg2kafka"),
  create_publication: z.boolean().prefault(true),
  alter_publication: z.boolean().prefault(false),
  tables: publicationTables().prefault([]),
  status_interval: duration().prefault("10s"),
  messages: z.boolean().prefault(false),
  big_numbers: z.enum(["string", "number"]).prefault("string"),
  json_values: z.enum(["parsed", "text"]).prefault("parsed"),
  connect_timeout: duration().prefault("10s"),
  reconnect: backoff("1s", "1m"),
  snapshot: z.enum(["initial", "never", "when_needed"]).prefault("initial"),
  snapshot_fetch_rows: integer(1).prefault(DEFAULT_SNAPSHOT_FETCH_ROWS),
  snapshot_progress_interval: duration().prefault("10s"),
  heartbeat_interval: duration(true).prefault("0s"),
  heartbeat_table: optionalTableName().prefault(""),
  standby_poll_interval: duration().prefault("1s"),
  transactional_id: z.string().prefault(""),
  schema_changes: schemaChangesSchema,
};

/** verify-full checks the server certificate, so it needs the CA to check it against. */
function checkSslCaFile(
  source: { sslmode: string; ssl_ca_file: string },
  context: z.RefinementCtx,
): void {
  if (source.sslmode === "verify-full" && source.ssl_ca_file === "") {
    const message = `expected a CA certificate file because sslmode is "verify-full", found none`;
    context.issues.push(refinementIssue(["ssl_ca_file"], message));
  }
}

/** A publication pg2kafka creates or completes needs to know its tables. */
function checkPublicationTables(
  source: { tables: "all" | TableName[]; create_publication: boolean; alter_publication: boolean },
  context: z.RefinementCtx,
): void {
  const managesPublication = source.create_publication || source.alter_publication;
  if (managesPublication && source.tables !== "all" && source.tables.length === 0) {
    const message = `expected the tables to publish (or ["*"]) because create_publication ` +
      `or alter_publication is true, found none`;
    context.issues.push(refinementIssue(["tables"], message));
  }
}

type SourceRuleFields =
  & Parameters<typeof checkSslCaFile>[0]
  & Parameters<typeof checkPublicationTables>[0];

function withSourceRules<T extends z.ZodType<SourceRuleFields>>(schema: T): T {
  return schema
    .superRefine(checkSslCaFile, whenValid("sslmode", "ssl_ca_file"))
    .superRefine(
      checkPublicationTables,
      whenValid("tables", "create_publication", "alter_publication"),
    );
}

/** One `[[sources]]` entry. */
export const sourceSchema = withSourceRules(z.strictObject(sourceFields));

/** The single `[source]` table, whose name defaults to "default". */
export const singleSourceSchema = withSourceRules(z.strictObject({
  ...sourceFields,
  name: name().prefault(DEFAULT_SOURCE_NAME),
}));

const DEFAULT_BATCH_MAX_MESSAGES = 1_000;
/** The compacted topic of the sources' progress records (src/progress/record.ts). */
export const DEFAULT_PROGRESS_TOPIC = "pg2kafka.progress";
/**
 * The topic of the progress records written inside Kafka transactions
 * (exactly-once delivery). Apart from `progress_topic` for now: its records
 * also say how much of a cut transaction is in Kafka.
 */
export const DEFAULT_TRANSACTIONAL_PROGRESS_TOPIC = "pg2kafka.progress.exactly_once";
const DEFAULT_TOPIC_PARTITIONS = 3;
const DEFAULT_FAILURE_THRESHOLD = 5;
/** Messages of one Kafka transaction (exactly-once delivery) by default. */
const DEFAULT_TRANSACTION_MAX_MESSAGES = 20_000;

/** The `[kafka]` table. */
export const kafkaSchema = z.strictObject({
  brokers: z.array(hostPort("127.0.0.1:9092")).min(1),
  client_id: nonEmptyString().prefault("pg2kafka"),
  compression: z.enum(["none", "gzip"]).prefault("none"),
  linger: duration(true).prefault("5ms"),
  batch_max_messages: integer(1).prefault(DEFAULT_BATCH_MAX_MESSAGES),
  batch_max_bytes: size().prefault("1MiB"),
  max_message_bytes: size().prefault("1MiB"),
  request_timeout: duration().prefault("30s"),
  dead_letter_topic: topicName().prefault("pg2kafka.dead_letter"),
  progress_topic: topicName().prefault(DEFAULT_PROGRESS_TOPIC),
  create_topics: z.boolean().prefault(true),
  topic_partitions: integer(1).prefault(DEFAULT_TOPIC_PARTITIONS),
  topic_replication_factor: integer(1).prefault(1),
  tls: z.strictObject({
    enabled: z.boolean().prefault(false),
    ca_file: z.string().prefault(""),
    reject_unauthorized: z.boolean().prefault(true),
  }).prefault({}),
  sasl: z.strictObject({
    mechanism: z.enum(["plain", "scram-sha-256", "scram-sha-512"]).prefault("plain"),
    username: nonEmptyString(),
    password: nonEmptyString(),
  }).optional(),
  retry: backoff("100ms", "30s"),
  circuit_breaker: z.strictObject({
    failure_threshold: integer(1).prefault(DEFAULT_FAILURE_THRESHOLD),
    open_duration: duration().prefault("10s"),
  }).prefault({}),
  delivery: z.enum(["at_least_once", "exactly_once"]).prefault("at_least_once"),
  transactions: z.strictObject({
    progress_topic: topicName().prefault(DEFAULT_TRANSACTIONAL_PROGRESS_TOPIC),
    max_messages: integer(1).prefault(DEFAULT_TRANSACTION_MAX_MESSAGES),
    max_bytes: size().prefault("16MiB"),
    max_duration: duration().prefault("1s"),
    timeout: duration().prefault("60s"),
  }).superRefine((value, context) => {
    if (value.max_duration > value.timeout) {
      const message = "expected a duration no longer than timeout, which aborts a Kafka " +
        "transaction open that long";
      context.issues.push(refinementIssue(["max_duration"], message));
    }
  }, whenValid("max_duration", "timeout")).prefault({}),
});

/**
 * Produce batches' worth of messages in flight by default: enough to keep
 * Kafka busy while acks come back; more only holds memory
 * (docs/benchmarks.md, "Memory").
 */
const DEFAULT_BATCHES_IN_FLIGHT = 5;
const DEFAULT_MAX_INFLIGHT_MESSAGES = DEFAULT_BATCHES_IN_FLIGHT * DEFAULT_BATCH_MAX_MESSAGES;

/** Ordinary connections per server and credentials, beside one per source (replication). */
const DEFAULT_MAX_QUERY_CONNECTIONS = 2;

/** The `[limits]` table. */
export const limitsSchema = z.strictObject({
  max_inflight_messages: integer(1).prefault(DEFAULT_MAX_INFLIGHT_MESSAGES),
  max_inflight_bytes: size().prefault("64MiB"),
  max_query_connections: integer(1).prefault(DEFAULT_MAX_QUERY_CONNECTIONS),
  query_idle_timeout: duration().prefault("30s"),
  transaction_buffer_bytes: size().prefault("16MiB"),
  spill_dir: z.string().prefault(""),
  stuck_after: duration().prefault("5m"),
}).prefault({});

/** Java's BigDecimal scale bound, far beyond any currency's minor units. */
const MAX_MONEY_FRACTION_DIGITS = 2_147_483_647;

/** The topic of a change-mode target that names none. */
export const DEFAULT_CHANGE_TOPIC = "pg2kafka.{schema}.{table}";
/** The topic of a transaction-mode target that names none. */
export const DEFAULT_TRANSACTION_TOPIC = "pg2kafka.{source}.transactions";

const tablePattern = tableLeaf(
  `a table pattern such as "public.orders" or "sales.*"`,
  readTablePattern,
);

/**
 * The `[targets.debezium]` table: Debezium's value settings under Debezium's
 * names in TOML spelling (`decimal.handling.mode` is `decimal_handling_mode`),
 * for `format = "debezium"`; `schemas` is `JsonConverter`'s `schemas.enable`.
 */
export const debeziumSchema = z.strictObject({
  decimal_handling_mode: z.enum(["precise", "double", "string"]).prefault("precise"),
  time_precision_mode: z.enum(["adaptive", "adaptive_time_microseconds", "connect"])
    .prefault("adaptive"),
  binary_handling_mode: z.enum(["bytes", "base64", "base64-url-safe", "hex"]).prefault("bytes"),
  interval_handling_mode: z.enum(["numeric", "string"]).prefault("numeric"),
  money_fraction_digits: integer(0, MAX_MONEY_FRACTION_DIGITS).prefault(2),
  unavailable_value_placeholder: z.string().prefault("__debezium_unavailable_value"),
  schemas: z.boolean().prefault(false),
});

/** One `[[targets]]` entry. */
export const targetSchema = z.strictObject({
  name: name(),
  sources: z.array(z.string()).prefault([]),
  tables: z.array(tablePattern).min(1),
  // Optional: the default depends on the format (Debezium skips truncates unless asked).
  ops: z.array(z.enum(CHANGE_OPS as [ChangeOp, ...ChangeOp[]])).min(1).optional(),
  // Optional: the default depends on the mode (see DEFAULT_CHANGE_TOPIC).
  topic: topicTemplate().optional(),
  key_columns: z.array(nonEmptyString()).prefault([]),
  format: z.enum(["json", "debezium"]).prefault("json"),
  mode: z.enum(["change", "transaction"]).prefault("change"),
  where: z.string().prefault(""),
  // Optional: the default depends on the format (Debezium's tombstones.on.delete is true).
  tombstones: z.boolean().optional(),
  max_message_bytes: optionalSize().prefault(""),
  debezium: debeziumSchema.optional(),
  column_rules: z.array(columnRuleSchema).prefault([]),
}).superRefine((target, context) => {
  if (target.debezium !== undefined && target.format !== "debezium") {
    const message = `expected no [targets.debezium] table because format is ` +
      `"${target.format}" (its settings apply to format = "debezium" only)`;
    context.issues.push(refinementIssue(["debezium"], message));
  }
  if (target.mode !== "transaction") return;
  if (target.format === "debezium") {
    const message = `expected "change" because format is "debezium" (Debezium envelopes ` +
      `carry one row each), found "transaction"`;
    context.issues.push(refinementIssue(["mode"], message));
  }
  if (target.tombstones) {
    const message = `expected false because mode is "transaction" (tombstones follow ` +
      `single-row deletes), found true`;
    context.issues.push(refinementIssue(["tombstones"], message));
  }
  const perChange = PER_CHANGE_PLACEHOLDER.exec(target.topic ?? "");
  if (perChange !== null) {
    // Names the placeholder only: the template may come from a secret variable.
    const message = `expected a topic without {schema}, {table} or {op} because mode is ` +
      `"transaction" (one message holds changes of many tables), found ${perChange[0]}`;
    context.issues.push(refinementIssue(["topic"], message));
  }
}, whenValid("mode", "format", "tombstones", "topic", "debezium"));

const DEFAULT_HTTP_LISTEN = "127.0.0.1:9187";

/** The `[http]` table. */
export const httpSchema = z.strictObject({
  enabled: z.boolean().prefault(true),
  // Port 0 asks the system for a free port (useful in tests).
  listen: hostPort(DEFAULT_HTTP_LISTEN, 0).prefault(DEFAULT_HTTP_LISTEN),
  token: z.string().prefault(""),
}).prefault({});

/** Log levels, as LogTape names them. */
export const LOG_LEVELS = ["trace", "debug", "info", "warning", "error", "fatal"] as const;

/** The `[log]` table. */
export const logSchema = z.strictObject({
  level: z.enum(LOG_LEVELS).prefault("info"),
  format: z.enum(["auto", "json", "text"]).prefault("auto"),
}).prefault({});

/** The `[health]` table: thresholds of the `pg2kafka health` command. */
export const healthSchema = z.strictObject({
  max_retained_wal: size().prefault("1GiB"),
  max_lag: duration().prefault("5m"),
}).prefault({});

/** The `[shutdown]` table. */
export const shutdownSchema = z.strictObject({
  grace_period: duration().prefault("30s"),
}).prefault({});

/**
 * The whole file. `source` and `sources` are both optional here: that
 * exactly one of them is given, and that there is at least one target, is
 * checked in `checks.ts` so those messages can name the TOML syntax.
 */
export const configSchema = z.strictObject({
  source: singleSourceSchema.optional(),
  sources: z.array(sourceSchema).optional(),
  kafka: kafkaSchema,
  limits: limitsSchema,
  targets: z.array(targetSchema).optional(),
  http: httpSchema,
  log: logSchema,
  shutdown: shutdownSchema,
  health: healthSchema,
}).superRefine(checkLargestMessageFits, whenValid("kafka", "limits", "targets"))
  .superRefine(
    (config, context) =>
      checkTopicRules({
        kafka: config.kafka,
        targets: (config.targets ?? []).map((target) => ({
          ...target,
          topic: target.topic ??
            (target.mode === "transaction" ? DEFAULT_TRANSACTION_TOPIC : DEFAULT_CHANGE_TOPIC),
        })),
      }, context),
    whenValid("kafka", "targets"),
  )
  .superRefine(checkExactlyOnce, whenValid("kafka", "targets", "sources"));

/**
 * The transactional id of a source that names none: stable across restarts
 * and shared by the active and standby processes of one config.
 */
export function defaultTransactionalId(source: string): string {
  return `pg2kafka.${source}`;
}

/**
 * Exactly-once delivery cuts a large PostgreSQL transaction across Kafka
 * transactions at change boundaries: a transaction-mode target's message
 * holds many changes and could not be cut, so the two do not combine. Two
 * sources with one transactional id would fence each other.
 */
function checkExactlyOnce(
  config: {
    kafka: { delivery: string };
    targets?: { mode: string }[];
    sources?: { name: string; transactional_id: string }[];
  },
  context: z.RefinementCtx,
): void {
  if (config.kafka.delivery !== "exactly_once") return;
  (config.targets ?? []).forEach((target, index) => {
    if (target.mode !== "transaction") return;
    const message = `expected mode "change" because kafka.delivery is "exactly_once" ` +
      '(a transaction message can outgrow one Kafka transaction), found "transaction"';
    context.issues.push(refinementIssue(["targets", index, "mode"], message));
  });
  const seen = new Set<string>();
  (config.sources ?? []).forEach((source, index) => {
    const id = source.transactional_id || defaultTransactionalId(source.name);
    if (seen.has(id)) {
      const message = `expected a transactional id no other source uses, found "${id}" twice`;
      context.issues.push(refinementIssue(["sources", index, "transactional_id"], message));
    }
    seen.add(id);
  });
}

/**
 * The in-flight byte cap must admit the largest message a target may
 * produce, or that message could never be sent.
 */
function checkLargestMessageFits(
  config: {
    kafka: { max_message_bytes: number };
    limits: { max_inflight_bytes: number };
    targets?: { max_message_bytes: number | null }[];
  },
  context: z.RefinementCtx,
): void {
  const targetSizes = (config.targets ?? []).map(({ max_message_bytes }) => max_message_bytes ?? 0);
  const largest = Math.max(config.kafka.max_message_bytes, ...targetSizes);
  if (config.limits.max_inflight_bytes < largest) {
    // Not quoting the sizes: one may come from an interpolated (secret) value.
    const message = "expected a size no smaller than the largest max_message_bytes, " +
      "so that the largest message fits";
    context.issues.push(refinementIssue(["limits", "max_inflight_bytes"], message));
  }
}

/** The validated file, still in TOML's shape (snake_case), with units resolved. */
export type ValidatedConfig = z.output<typeof configSchema>;
