/**
 * Turns the validated TOML shape into the typed {@linkcode Config}:
 * camelCase names, defaults that depend on other keys, absolute file paths,
 * compiled matchers and topic renderers.
 *
 * @module
 */
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { CompiledFilter } from "../filter/mod.ts";
import { CHANGE_OPS, type ChangeOp } from "../model.ts";
import { resolveConfigPath } from "./checks.ts";
import {
  debeziumSchema,
  DEFAULT_CHANGE_TOPIC,
  DEFAULT_TRANSACTION_TOPIC,
  defaultTransactionalId,
  NO_HEARTBEAT_TABLE,
  type ValidatedConfig,
} from "./schema.ts";
import { compileTableMatcher } from "./tables.ts";
import { compileTopicTemplate } from "./topics.ts";
import { resolveColumnRule } from "./column_rules.ts";
import type {
  BackoffConfig,
  Config,
  DebeziumOptions,
  KafkaConfig,
  SourceConfig,
  TargetConfig,
} from "./types.ts";

type Validated = ValidatedConfig;
type ValidatedSource = NonNullable<Validated["sources"]>[number];
type ValidatedTarget = NonNullable<Validated["targets"]>[number];
type ValidatedBackoff = ValidatedSource["reconnect"];

/**
 * Builds the typed config. The document passed every check, so `sources`
 * (or `source`) and `targets` are present.
 *
 * @param filters the compiled `where` of each target, by index.
 * @param baseDir the directory relative file paths are resolved against.
 */
export function resolveConfig(
  validated: Validated,
  filters: readonly (CompiledFilter | null)[],
  baseDir: string,
): Config {
  const sources = validated.source === undefined
    ? (validated.sources ?? []).map((source) => resolveSource(source, baseDir))
    : [resolveSource(validated.source, baseDir)];
  const kafka = resolveKafka(validated.kafka, baseDir);
  const sourceNames = sources.map(({ name }) => name);
  const targets = (validated.targets ?? []).map((target, index) =>
    resolveTarget(target, filters[index] ?? null, sourceNames, kafka.maxMessageBytes)
  );
  return {
    sources,
    kafka,
    limits: {
      maxInflightMessages: validated.limits.max_inflight_messages,
      maxInflightBytes: validated.limits.max_inflight_bytes,
      maxQueryConnections: validated.limits.max_query_connections,
      queryIdleTimeoutMs: validated.limits.query_idle_timeout,
      transactionBufferBytes: validated.limits.transaction_buffer_bytes,
      spillDir: resolveSpillDir(validated.limits.spill_dir, baseDir),
      stuckAfterMs: validated.limits.stuck_after,
    },
    targets,
    http: {
      enabled: validated.http.enabled,
      listen: { hostname: validated.http.listen.host, port: validated.http.listen.port },
      token: emptyToNull(validated.http.token),
    },
    log: { level: validated.log.level, format: validated.log.format },
    shutdown: { gracePeriodMs: validated.shutdown.grace_period },
    health: {
      maxRetainedWalBytes: validated.health.max_retained_wal,
      maxLagMs: validated.health.max_lag,
    },
  };
}

function resolveSource(source: ValidatedSource, baseDir: string): SourceConfig {
  return {
    name: source.name,
    host: source.host,
    port: source.port,
    database: source.database,
    user: source.user,
    password: emptyToNull(source.password),
    sslMode: source.sslmode,
    sslCaFile: optionalPath(baseDir, source.ssl_ca_file),
    slot: source.slot,
    createSlot: source.create_slot,
    failoverSlot: source.failover_slot,
    publication: source.publication,
    createPublication: source.create_publication,
    alterPublication: source.alter_publication,
    tables: source.tables,
    statusIntervalMs: source.status_interval,
    messages: source.messages,
    bigNumbers: source.big_numbers,
    jsonValues: source.json_values,
    connectTimeoutMs: source.connect_timeout,
    reconnect: resolveBackoff(source.reconnect),
    standbyPollIntervalMs: source.standby_poll_interval,
    snapshot: source.snapshot,
    snapshotFetchRows: source.snapshot_fetch_rows,
    snapshotProgressIntervalMs: source.snapshot_progress_interval,
    heartbeatIntervalMs: source.heartbeat_interval,
    heartbeatTable: source.heartbeat_table === NO_HEARTBEAT_TABLE ? null : source.heartbeat_table,
    transactionalId: source.transactional_id || defaultTransactionalId(source.name),
    schemaChanges: {
      enabled: source.schema_changes.enabled,
      via: source.schema_changes.via,
      topic: compileTopicTemplate(source.schema_changes.topic)(source.name, "", "", "insert"),
      installTrigger: source.schema_changes.install_trigger,
    },
  };
}

function resolveKafka(kafka: Validated["kafka"], baseDir: string): KafkaConfig {
  return {
    brokers: kafka.brokers.map(({ text }) => text),
    clientId: kafka.client_id,
    compression: kafka.compression,
    lingerMs: kafka.linger,
    batchMaxMessages: kafka.batch_max_messages,
    batchMaxBytes: kafka.batch_max_bytes,
    maxMessageBytes: kafka.max_message_bytes,
    requestTimeoutMs: kafka.request_timeout,
    deadLetterTopic: kafka.dead_letter_topic,
    progressTopic: kafka.progress_topic,
    createTopics: kafka.create_topics,
    topicPartitions: kafka.topic_partitions,
    topicReplicationFactor: kafka.topic_replication_factor,
    tls: {
      enabled: kafka.tls.enabled,
      caFile: optionalPath(baseDir, kafka.tls.ca_file),
      rejectUnauthorized: kafka.tls.reject_unauthorized,
    },
    sasl: kafka.sasl === undefined ? null : { ...kafka.sasl },
    retry: resolveBackoff(kafka.retry),
    circuitBreaker: {
      failureThreshold: kafka.circuit_breaker.failure_threshold,
      openDurationMs: kafka.circuit_breaker.open_duration,
    },
    delivery: kafka.delivery,
    transactions: {
      progressTopic: kafka.transactions.progress_topic,
      maxMessages: kafka.transactions.max_messages,
      maxBytes: kafka.transactions.max_bytes,
      maxDurationMs: kafka.transactions.max_duration,
      timeoutMs: kafka.transactions.timeout,
    },
  };
}

function resolveTarget(
  target: ValidatedTarget,
  filter: CompiledFilter | null,
  allSources: readonly string[],
  defaultMaxMessageBytes: number,
): TargetConfig {
  const topic = target.topic ??
    (target.mode === "transaction" ? DEFAULT_TRANSACTION_TOPIC : DEFAULT_CHANGE_TOPIC);
  return {
    name: target.name,
    sources: target.sources.length === 0 ? allSources : [...new Set(target.sources)],
    tables: target.tables,
    matchesTable: compileTableMatcher(target.tables),
    ops: new Set(target.ops ?? defaultOps(target.format)),
    topic,
    topicFor: compileTopicTemplate(topic),
    keyColumns: target.key_columns,
    format: target.format,
    debezium: resolveDebezium(target.debezium),
    mode: target.mode,
    where: target.where.trim() === "" ? null : target.where,
    filter,
    tombstones: target.tombstones ?? target.format === "debezium",
    maxMessageBytes: target.max_message_bytes ?? defaultMaxMessageBytes,
    columnRules: target.column_rules.map(resolveColumnRule),
  };
}

/** Every operation; Debezium skips truncates unless asked (its `skipped.operations=t`). */
function defaultOps(format: ValidatedTarget["format"]): readonly ChangeOp[] {
  return format === "debezium" ? CHANGE_OPS.filter((op) => op !== "truncate") : CHANGE_OPS;
}

/** The target's Debezium settings; Debezium's defaults without a `[targets.debezium]` table. */
function resolveDebezium(given: ValidatedTarget["debezium"]): DebeziumOptions {
  const debezium = given ?? debeziumSchema.parse({});
  return {
    decimalHandlingMode: debezium.decimal_handling_mode,
    timePrecisionMode: debezium.time_precision_mode,
    binaryHandlingMode: debezium.binary_handling_mode,
    intervalHandlingMode: debezium.interval_handling_mode,
    moneyFractionDigits: debezium.money_fraction_digits,
    unavailableValuePlaceholder: debezium.unavailable_value_placeholder,
    schemas: debezium.schemas,
  };
}

function resolveBackoff(backoff: ValidatedBackoff): BackoffConfig {
  return {
    initialMs: backoff.initial_backoff,
    maxMs: backoff.max_backoff,
    multiplier: backoff.multiplier,
    jitter: backoff.jitter,
  };
}

function optionalPath(baseDir: string, path: string): string | null {
  return path === "" ? null : resolveConfigPath(baseDir, path);
}

function emptyToNull(text: string): string | null {
  return text === "" ? null : text;
}

/** The folder spill files go to when `spill_dir` is empty, under the system's temporary folder. */
export const DEFAULT_SPILL_SUBDIR = "pg2kafka-spill";

/** `spill_dir`, or `pg2kafka-spill` in the system's temporary folder when empty. */
function resolveSpillDir(spillDir: string, baseDir: string): string {
  return optionalPath(baseDir, spillDir) ?? join(tmpdir(), DEFAULT_SPILL_SUBDIR);
}
