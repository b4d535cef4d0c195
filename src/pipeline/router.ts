/**
 * Routes each change of one source to its targets: table and operation
 * match, the `where` filter, topic and key, encoding, then the sink. Every
 * change ends counted for every matching target: filtered here, or delivered
 * or dead-lettered by the sink (DESIGN invariant 2).
 *
 * @module
 */
import type { ChangeEvent, ChangeOp } from "../model.ts";
import type { KafkaSink } from "../kafka/sink.ts";
import type { Metrics } from "../ops/metrics.ts";
import { logger } from "../ops/log.ts";
import { formatLsn } from "../lsn.ts";
import type { Checkpoint, TransactionHandle } from "./checkpoint.ts";
import type { InflightAccount } from "./inflight.ts";
import { encodeKey, encodeValue, keyRow } from "./encode.ts";
import { HEADER, type MessageOrigin, messageSize, type OutgoingMessage } from "./message.ts";

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
}

/** The per-source state the router reports outcomes to. */
export interface RouteContext {
  readonly source: string;
  readonly checkpoint: Checkpoint;
  readonly account: InflightAccount;
  readonly sink: KafkaSink;
  readonly metrics: Metrics;
}

const log = logger("router");

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

/** Routes the changes of one source. */
export class Router {
  readonly #context: RouteContext;
  readonly #targets: readonly RouteTarget[];
  /** Targets matching each `schema.table`, computed once per table. */
  readonly #byTable = new Map<string, readonly RouteTarget[]>();
  /** Reused for every filter evaluation: filters run synchronously. */
  readonly #filterInput: FilterInput = { op: "", schema: "", table: "", old: null, new: null };

  /** Creates the router of `context.source` over the targets that take its changes. */
  constructor(context: RouteContext, targets: readonly RouteTarget[]) {
    this.#context = context;
    this.#targets = targets;
  }

  /**
   * Called when a relation's shape becomes known: reports once the filter
   * columns that this table does not have.
   */
  describeRelation(schema: string, table: string, columns: readonly string[]): void {
    for (const target of this.#targetsFor(schema, table)) {
      const unknown = target.filter?.unknownColumns(columns) ?? [];
      if (unknown.length === 0) continue;
      log.error(
        "Target {target} filter references unknown column(s) {columns} of {table}; " +
          "they evaluate as null",
        { target: target.name, columns: unknown.join(", "), table: `${schema}.${table}` },
      );
    }
  }

  /** Routes one change of transaction `tx`. */
  route(event: ChangeEvent, tx: TransactionHandle): void {
    const targets = this.#targetsFor(event.schema, event.table);
    if (targets.length === 0) return;
    for (const target of targets) {
      if (!target.ops.has(event.op)) continue;
      const verdict = this.#filter(target, event);
      if (verdict === false) {
        this.#context.metrics.changes.labels(this.#context.source, target.name, "filtered").inc();
        continue;
      }
      this.#emit(target, event, this.#origin(event, tx, target.name), verdict);
    }
  }

  /**
   * Sends a change whose values could not be converted to the dead-letter
   * topic, once per target that takes its table and operation, so it is
   * neither dropped nor retried forever (DESIGN invariant 2). `event` holds
   * each value as the text PostgreSQL sent; filters are not applied (they
   * need converted values) and the message has no key.
   */
  deadLetterUndecodable(event: ChangeEvent, error: string, tx: TransactionHandle): void {
    for (const target of this.#targetsFor(event.schema, event.table)) {
      if (!target.ops.has(event.op)) continue;
      const origin = this.#origin(event, tx, target.name);
      const topic = target.topicFor(this.#context.source, event.schema, event.table, event.op);
      const value = encodeValue(event, this.#context.source);
      const headers = this.#headers(event, origin);
      this.#hand({ topic, key: null, value, headers, origin }, { reason: "undecodable", error });
    }
  }

  /** True to send, false when filtered out, or the error message when the filter failed. */
  #filter(target: RouteTarget, event: ChangeEvent): boolean | string {
    if (target.filter === null) return true;
    const input = this.#filterInput;
    input.op = event.op;
    input.schema = event.schema;
    input.table = event.table;
    input.old = event.before;
    input.new = event.after;
    try {
      return target.filter.evaluate(input);
    } catch (error) {
      return error instanceof Error ? error.message : String(error);
    }
  }

  #emit(
    target: RouteTarget,
    event: ChangeEvent,
    origin: MessageOrigin,
    verdict: true | string,
  ): void {
    const topic = target.topicFor(this.#context.source, event.schema, event.table, event.op);
    const keyColumns = target.keyColumns.length > 0 ? target.keyColumns : event.keyColumns;
    const headers = this.#headers(event, origin);
    let key: string | null = null;
    let value: string | null;
    let failure: { reason: string; error: string } | null = null;
    if (typeof verdict === "string") failure = { reason: "filter_failed", error: verdict };
    else if (!isValidTopic(topic)) {
      failure = {
        reason: "invalid_topic",
        error: `Kafka does not accept the topic name "${topic}"`,
      };
    }
    try {
      key = encodeKey(keyColumns, keyRow(event));
      value = encodeValue(event, this.#context.source);
    } catch (error) {
      failure = { reason: "unencodable", error: String(error) };
      value = null;
    }
    this.#hand({ topic, key, value, headers, origin }, failure);
    if (target.tombstones && event.op === "delete" && failure === null) {
      this.#hand({ topic, key, value: null, headers, origin }, null);
    }
  }

  #hand(
    parts: Omit<OutgoingMessage, "size">,
    failure: { reason: string; error: string } | null,
  ): void {
    const message: OutgoingMessage = {
      ...parts,
      size: messageSize(parts.key, parts.value, parts.headers),
    };
    const { checkpoint, account, sink } = this.#context;
    checkpoint.track(message.origin.tx);
    account.acquire(message.size);
    if (failure === null) {
      sink.send(message);
    } else {
      log.warn("Change at {lsn} for target {target} goes to the dead-letter topic: {error}", {
        lsn: formatLsn(message.origin.lsn),
        target: message.origin.target,
        error: failure.error,
      });
      sink.deadLetter(message, failure.reason, failure.error);
    }
  }

  #headers(event: ChangeEvent, origin: MessageOrigin): Record<string, string> {
    return {
      [HEADER.lsn]: formatLsn(event.lsn),
      [HEADER.commitLsn]: formatLsn(event.commitLsn),
      [HEADER.xid]: String(event.xid),
      [HEADER.table]: origin.table,
      [HEADER.op]: event.op,
      [HEADER.source]: origin.source,
    };
  }

  #origin(event: ChangeEvent, tx: TransactionHandle, target: string): MessageOrigin {
    const { source, checkpoint, account } = this.#context;
    return {
      source,
      target,
      checkpoint,
      tx,
      account,
      lsn: event.lsn,
      xid: event.xid,
      table: `${event.schema}.${event.table}`,
      commitTimeMicros: event.commitTimeMicros,
    };
  }

  #targetsFor(schema: string, table: string): readonly RouteTarget[] {
    const name = `${schema}.${table}`;
    let targets = this.#byTable.get(name);
    if (targets === undefined) {
      targets = this.#targets.filter((target) => target.matchesTable(schema, table));
      this.#byTable.set(name, targets);
    }
    return targets;
  }
}
