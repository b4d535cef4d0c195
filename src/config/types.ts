/**
 * The typed config the rest of pg2kafka reads: camelCase, durations in
 * milliseconds, sizes in bytes, defaults applied, tables parsed, filters and
 * topic templates compiled.
 *
 * @module
 */
import type { CompiledFilter } from "../filter/mod.ts";
import type { ChangeOp } from "../model.ts";
import type { TableName } from "./tables.ts";
import type { TopicRenderer } from "./topics.ts";

export type { TableName } from "./tables.ts";

/** Exponential backoff settings; the shape `Backoff` in `src/backoff.ts` takes. */
export interface BackoffConfig {
  /** First delay, in milliseconds. */
  initialMs: number;
  /** Upper bound of any delay, in milliseconds (at least `initialMs`). */
  maxMs: number;
  /** Growth factor per attempt, at least 1. */
  multiplier: number;
  /** Spread of each delay as a fraction in [0, 1]: 0.2 means ±20%. */
  jitter: number;
}

/** A PostgreSQL source: one replication connection, slot and publication. */
export interface SourceConfig {
  /** Unique name, used in metrics labels and the `{source}` topic placeholder. */
  name: string;
  host: string;
  port: number;
  database: string;
  user: string;
  /** `null` when not configured (trust, peer or certificate authentication). */
  password: string | null;
  sslMode: "disable" | "require" | "verify-full";
  /** Absolute path of the CA certificate file, or `null`. */
  sslCaFile: string | null;
  /** Replication slot name (validated: `[a-z0-9_]{1,63}`). */
  slot: string;
  /** Create the slot when it does not exist. */
  createSlot: boolean;
  /** Create (or turn) the slot into a failover slot, kept on standbys (PostgreSQL 17+). */
  failoverSlot: boolean;
  /** Publication name (validated identifier). */
  publication: string;
  /** Create the publication when it does not exist. */
  createPublication: boolean;
  /** Add configured tables missing from an existing publication. */
  alterPublication: boolean;
  /** The tables the publication must cover, or `"all"` for FOR ALL TABLES. */
  tables: "all" | readonly TableName[];
  /** Period of standby status updates, in milliseconds. */
  statusIntervalMs: number;
  /** Also decode `pg_logical_emit_message` messages (PostgreSQL 14+). */
  messages: boolean;
  /** How int8 and numeric values are emitted. */
  bigNumbers: "string" | "number";
  /** How json and jsonb values are emitted: parsed, or as their JSON text. */
  jsonValues: "parsed" | "text";
  /** Connection timeout, in milliseconds. */
  connectTimeoutMs: number;
  /** Backoff between reconnection attempts. */
  reconnect: BackoffConfig;
  /**
   * How often a standby (its slot held by another process) checks whether
   * the slot is free, in milliseconds: a fixed interval, not the backoff.
   */
  standbyPollIntervalMs: number;
  /**
   * Whether to read the published tables' existing rows before streaming:
   * when the slot is created (`initial`), also when it was lost
   * (`when_needed`), or not at all (`never`). See `src/source/snapshot.ts`.
   */
  snapshot: "initial" | "never" | "when_needed";
  /** Rows fetched per cursor round trip while snapshotting. */
  snapshotFetchRows: number;
  /** How often a snapshot's table read logs its progress. */
  snapshotProgressIntervalMs: number;
  /** Period of heartbeats that make WAL visible to the slot, in milliseconds; 0 for none. */
  heartbeatIntervalMs: number;
  /** The table a heartbeat upserts, or `null` to emit a logical decoding message instead. */
  heartbeatTable: TableName | null;
  /** The Kafka transactional id of the source (exactly-once delivery). */
  transactionalId: string;
  /** Schema-change messages (see `src/pipeline/schema_change.ts`). */
  schemaChanges: SchemaChangesConfig;
}

/** Whether and how a source reports schema changes. */
export interface SchemaChangesConfig {
  enabled: boolean;
  /** From pg2kafka's DDL event trigger, or from Relation messages whose columns changed. */
  via: "relation" | "trigger";
  /** The topic, with `{source}` rendered. */
  topic: string;
  /** Install the event trigger at start (needs a superuser). */
  installTrigger: boolean;
}

/** SASL credentials for the Kafka connection. */
export interface SaslConfig {
  mechanism: "plain" | "scram-sha-256" | "scram-sha-512";
  username: string;
  password: string;
}

/** The Kafka cluster and producer settings. */
export interface KafkaConfig {
  /** Bootstrap brokers as `host:port`, at least one. */
  brokers: readonly string[];
  clientId: string;
  compression: "none" | "gzip";
  /** How long a batch may wait for more messages, in milliseconds (0 allowed). */
  lingerMs: number;
  batchMaxMessages: number;
  batchMaxBytes: number;
  /** Messages larger than this are dead-lettered (or split, in transaction mode). */
  maxMessageBytes: number;
  requestTimeoutMs: number;
  deadLetterTopic: string;
  /** The compacted topic of the sources' progress records. */
  progressTopic: string;
  /** Create missing topics (else rely on broker auto-creation). */
  createTopics: boolean;
  /** Partitions of topics pg2kafka creates. */
  topicPartitions: number;
  /** Replication factor of topics pg2kafka creates. */
  topicReplicationFactor: number;
  tls: {
    enabled: boolean;
    /** Absolute path of the CA certificate file, or `null` for the system CAs. */
    caFile: string | null;
    rejectUnauthorized: boolean;
  };
  /** `null` when the cluster needs no SASL authentication. */
  sasl: SaslConfig | null;
  /** Backoff between produce retries. */
  retry: BackoffConfig;
  circuitBreaker: {
    /** Consecutive failed produce attempts before the breaker opens. */
    failureThreshold: number;
    /** How long the breaker stays open before a half-open probe, in milliseconds. */
    openDurationMs: number;
  };
  /** `exactly_once`: Kafka transactions carrying each source's progress record. */
  delivery: "at_least_once" | "exactly_once";
  /** Bounds of the Kafka transactions of exactly-once delivery. */
  transactions: TransactionsConfig;
}

/** Bounds of one Kafka transaction and where progress records go (exactly-once delivery). */
export interface TransactionsConfig {
  /** Compacted topic holding each source's progress record. */
  progressTopic: string;
  /** A Kafka transaction commits once it holds this many messages... */
  maxMessages: number;
  /** ...or this many bytes... */
  maxBytes: number;
  /** ...or once it has been open this long, in milliseconds. */
  maxDurationMs: number;
  /** The broker aborts a transaction open longer than this, in milliseconds. */
  timeoutMs: number;
}

/** Caps on work in flight (DESIGN invariant 4). */
export interface LimitsConfig {
  maxInflightMessages: number;
  maxInflightBytes: number;
  /** Ordinary connections open at once per server and credentials (checks, lookups, heartbeats). */
  maxQueryConnections: number;
  /** An ordinary connection unused this long closes, in milliseconds. */
  queryIdleTimeoutMs: number;
  /** Bytes of a held transaction (transaction targets using `tx.*`) kept in memory before spilling. */
  transactionBufferBytes: number;
  /** Folder of the spill files (absolute). */
  spillDir: string;
  /**
   * How long messages may wait in flight with none settled before the
   * connector counts as stuck (/health fails), in milliseconds.
   */
  stuckAfterMs: number;
}

/**
 * What a column rule does to the values (and names) of the columns it
 * matches: see `src/pipeline/columns.ts`.
 */
export type ColumnAction =
  | { kind: "drop" }
  | { kind: "mask"; with: string }
  | { kind: "hash"; secret: string; encoding: "hex" | "base64" }
  | { kind: "truncate"; length: number; unit: "chars" | "bytes" }
  | { kind: "rename"; to: string };

/** One `[[targets.column_rules]]` entry: which columns of which tables, and what to do. */
export interface ColumnRule {
  /** Table patterns the rule applies to (every table of the target by default). */
  tables: readonly TableName[];
  /** Whether a table matches `tables`; precompiled. */
  matchesTable(schema: string, table: string): boolean;
  /** Column name patterns as configured (`*` and `?` globs allowed). */
  columns: readonly string[];
  /** Whether a column name matches `columns`; precompiled. */
  matchesColumn(column: string): boolean;
  action: ColumnAction;
}

/** A route: which changes go to which topics, in which shape. */
export interface TargetConfig {
  /** Unique name, used in metrics labels. */
  name: string;
  /** The sources this target reads (all sources when the config left it empty). */
  sources: readonly string[];
  /** The table patterns as configured (`*` and `?` globs allowed in both parts). */
  tables: readonly TableName[];
  /** Whether a table matches one of `tables`; precompiled, allocation-free. */
  matchesTable(schema: string, table: string): boolean;
  /** The operations this target receives. */
  ops: ReadonlySet<ChangeOp>;
  /** Topic template with `{source}`, `{schema}`, `{table}`, `{op}` placeholders. */
  topic: string;
  /** Renders `topic` for a change; precompiled. */
  topicFor: TopicRenderer;
  /** Columns used as the message key instead of the replica identity (empty: identity). */
  keyColumns: readonly string[];
  format: "json" | "debezium";
  /** Debezium's value settings (Debezium's defaults unless `[targets.debezium]` sets them). */
  debezium: DebeziumOptions;
  /** One message per change, or one per transaction. */
  mode: "change" | "transaction";
  /** The filter expression as written, or `null`. */
  where: string | null;
  /** The compiled `where`, or `null` when every change passes. */
  filter: CompiledFilter | null;
  /** Send a null-value message after each delete (change mode only). */
  tombstones: boolean;
  /** Size limit of one message, in bytes (defaults to `kafka.maxMessageBytes`). */
  maxMessageBytes: number;
  /** Column rules, applied in order (the first that matches a column wins). */
  columnRules: readonly ColumnRule[];
}

/** The HTTP endpoints (/health, /ready, /metrics). */
export interface HttpConfig {
  enabled: boolean;
  /** Where to listen; port 0 lets the system choose. */
  listen: { hostname: string; port: number };
  /** Bearer token required on everything but /health, or `null` for none. */
  token: string | null;
}

/** Logging. */
export interface LogConfig {
  level: "trace" | "debug" | "info" | "warning" | "error" | "fatal";
  /** `auto`: text on a terminal, JSON otherwise. */
  format: "auto" | "json" | "text";
}

/** Thresholds of the `pg2kafka health` command (its flags override them). */
export interface HealthConfig {
  /** A slot retaining more WAL than this is failing, in bytes. */
  maxRetainedWalBytes: number;
  /** A source lagging more than this is degraded, in milliseconds. */
  maxLagMs: number;
}

/** The whole resolved config. */
export interface Config {
  /** At least one source, with unique names. */
  sources: readonly SourceConfig[];
  kafka: KafkaConfig;
  limits: LimitsConfig;
  /** At least one target, with unique names. */
  targets: readonly TargetConfig[];
  http: HttpConfig;
  log: LogConfig;
  shutdown: {
    /** How long a clean shutdown may take to drain, in milliseconds. */
    gracePeriodMs: number;
  };
  health: HealthConfig;
}

/** Debezium's `decimal.handling.mode`. */
export type DecimalHandlingMode = "precise" | "double" | "string";
/** Debezium's `time.precision.mode`. */
export type TimePrecisionMode = "adaptive" | "adaptive_time_microseconds" | "connect";
/** Debezium's `binary.handling.mode`. */
export type BinaryHandlingMode = "bytes" | "base64" | "base64-url-safe" | "hex";
/** Debezium's `interval.handling.mode`. */
export type IntervalHandlingMode = "numeric" | "string";

/** The value settings of a `format = "debezium"` target, with Debezium's meanings. */
export interface DebeziumValueOptions {
  readonly decimalHandlingMode: DecimalHandlingMode;
  readonly timePrecisionMode: TimePrecisionMode;
  readonly binaryHandlingMode: BinaryHandlingMode;
  readonly intervalHandlingMode: IntervalHandlingMode;
  /** Scale of `money` values in `precise` mode. */
  readonly moneyFractionDigits: number;
  /** Written for an unchanged TOASTed value PostgreSQL did not send. */
  readonly unavailableValuePlaceholder: string;
}

/** The settings of a `format = "debezium"` target. */
export interface DebeziumOptions extends DebeziumValueOptions {
  /** Write `{"schema":…,"payload":…}` as `JsonConverter` does with `schemas.enable=true`. */
  readonly schemas: boolean;
}
