/**
 * The vocabulary the router, the transaction targets and the session share:
 * what a target is, what its filter sees, where outcomes are reported, and
 * why a message goes to the dead-letter topic.
 *
 * @module
 */
import type { ChangeOp } from "../model.ts";
import type { TransactionSummary } from "../filter/mod.ts";
import type { KafkaSink } from "../kafka/sink.ts";
import type { Metrics } from "../telemetry/metrics.ts";
import type { Checkpoint } from "./checkpoint.ts";
import type { InflightAccount } from "./inflight.ts";
import type { OutgoingMessage } from "./message.ts";

/** A filter as the router uses it (see src/filter). */
export interface RouteFilter {
  readonly source: string;
  evaluate(input: FilterInput): boolean;
  unknownColumns(columns: readonly string[]): string[];
}

/** What a filter sees of a change. */
export interface FilterInput {
  op: string;
  schema: string;
  table: string;
  old: Record<string, unknown> | null;
  new: Record<string, unknown> | null;
  /** The whole transaction, for transaction-mode filters that use `tx.*`. */
  tx?: TransactionSummary;
}

/** A target as the router runs it, built from its config. */
export interface RouteTarget {
  readonly name: string;
  matchesTable(schema: string, table: string): boolean;
  readonly ops: ReadonlySet<ChangeOp>;
  topicFor(source: string, schema: string, table: string, op: ChangeOp): string;
  /** Columns to key by instead of the replica identity; empty for none. */
  readonly keyColumns: readonly string[];
  readonly filter: RouteFilter | null;
  /** Send a null-value message after each delete (log compaction). */
  readonly tombstones: boolean;
  /** One message per change (the default) or per transaction. */
  readonly mode?: "change" | "transaction";
  /** Size limit of one transaction message part, in bytes (transaction mode). */
  readonly maxMessageBytes?: number;
  /** The message value: pg2kafka's contract (the default) or Debezium's envelope. */
  readonly format?: "json" | "debezium";
}

/** The per-source state the router reports outcomes to. */
export interface RouteContext {
  readonly source: string;
  readonly checkpoint: Checkpoint;
  readonly account: InflightAccount;
  readonly sink: KafkaSink;
  readonly metrics: Metrics;
  /** The database the source replicates (`source.db` of Debezium envelopes). */
  readonly database?: string;
}

/** Why a message goes to the dead-letter topic. */
export interface DeliveryFailure {
  /** Short machine-readable reason, e.g. `filter_failed`. */
  readonly reason: string;
  /** What went wrong, in words. */
  readonly error: string;
}

/** Hands a message to the sink, or to the dead-letter topic when `failure` is set. */
export type Hand = (
  message: Omit<OutgoingMessage, "size">,
  failure: DeliveryFailure | null,
) => void;

/** Kafka's rule for topic names: legal characters and length. */
const TOPIC_NAME = /^[a-zA-Z0-9._-]{1,249}$/;

/**
 * Whether Kafka accepts `topic` as a topic name.
 *
 * @example
 * ```ts
 * isValidTopic("pg2kafka.public.orders"); // true
 * isValidTopic("pg2kafka.public.Order Lines"); // false
 * ```
 */
export function isValidTopic(topic: string): boolean {
  return TOPIC_NAME.test(topic) && topic !== "." && topic !== "..";
}

/** The dead-letter reason for a topic Kafka would refuse, or null for a valid one. */
export function topicFailure(topic: string): DeliveryFailure | null {
  if (isValidTopic(topic)) return null;
  return { reason: "invalid_topic", error: `Kafka does not accept the topic name "${topic}"` };
}
