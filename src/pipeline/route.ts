/**
 * The vocabulary the router, the transaction targets and the session share:
 * what a target is, what its filter sees, where outcomes are reported, and
 * why a message goes to the dead-letter topic.
 *
 * @module
 */
import type { ChangeOp } from "../model.ts";
import type { TransactionSummary } from "../filter/mod.ts";
import type { Metrics } from "../telemetry/metrics.ts";
import type { DebeziumOptions } from "./debezium.ts";
import type { SpillSettings } from "./spill.ts";
import type { OutgoingMessage } from "./message.ts";
import type { ColumnRule } from "../config/mod.ts";

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
  /** Debezium's value settings, for `format = "debezium"` (Debezium's defaults when absent). */
  readonly debezium?: DebeziumOptions;
  /** Column rules applied before encoding (see columns.ts); none when absent. */
  readonly columnRules?: readonly ColumnRule[];
}

/** What the router of one source works with. */
export interface RouteContext {
  readonly source: string;
  /** Counts filtered changes (the session counts the settled ones). */
  readonly metrics: Metrics;
  /** The database the source replicates (`source.db` of Debezium envelopes). */
  readonly database?: string;
  /** Hands each message on: tracked, charged and sent by the pipeline session. */
  readonly hand: Hand;
  /** Where transaction targets spill held transactions; never, when left out. */
  readonly spill?: SpillSettings;
  /**
   * Resolves once the in-flight budget has room again, or returns null when
   * it has room now: the replay of a spilled transaction waits on it between
   * chunks. Without it, a replay never waits.
   */
  readonly whenRoom?: () => Promise<void> | null;
  /** The topic of schema-change messages; none are sent when absent. */
  readonly schemaChangeTopic?: string;
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
