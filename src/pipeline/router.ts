/**
 * Routes each change of one source to its targets: table and operation
 * match, the `where` filter, topic and key, encoding, then the sink. Every
 * change of a target's tables ends counted for that target: filtered here
 * (by its ops or its `where`), or delivered or dead-lettered by the sink
 * (DESIGN invariant 2).
 *
 * Transaction-mode targets get their events through a
 * {@linkcode TransactionTarget} (see `transaction.ts`), and the router's
 * {@linkcode Router.commit} at each Commit.
 *
 * @module
 */
import type { ChangeEvent } from "../model.ts";
import { logger } from "../telemetry/log.ts";
import type { TransactionHandle } from "./checkpoint.ts";
import { encodeKey, encodeValue, type EventText, EventTextFormatter, keyRow } from "./encode.ts";
import { DebeziumEncoder, DEFAULT_DEBEZIUM_OPTIONS } from "./debezium.ts";
import { HEADER, type MessageOrigin } from "./message.ts";
import type { DeliveryFailure, FilterInput, RouteContext, RouteTarget } from "./route.ts";
import { TransactionSummaryBuilder, TransactionTarget } from "./transaction.ts";
import { ColumnPolicy, type TablePolicy } from "./columns.ts";
import {
  encodeSchemaChange,
  SCHEMA_CHANGE_OP,
  type SchemaChange,
  schemaChangeKey,
} from "./schema_change.ts";

const log = logger("router");

/** What a message's origin is made of: a change's or a schema change's position and table. */
type OriginFacts = Pick<ChangeEvent, "schema" | "table" | "lsn" | "xid" | "commitTimeMicros">;

/** The `target` label under which schema-change messages are counted. */
export const SCHEMA_CHANGE_TARGET = "schema_changes";

/** The dead-letter error of an undecodable change whose table has column rules. */
const UNDECODABLE_WITHHELD = "A value did not convert; its text is withheld because column " +
  "rules cover the table (the message holds each value as PostgreSQL sent it, rules applied)";

/** How the router reaches one target matching a table. */
interface Route {
  readonly target: RouteTarget;
  /** The target's transaction state, or null for a change-mode target. */
  readonly transaction: TransactionTarget | null;
  /** The target's `filtered` counter. */
  readonly filtered: { inc(): void };
  /** The target's column rules, or null when it has none. */
  readonly columns: ColumnPolicy | null;
  /** The target's Debezium encoder, or null for the default format. */
  readonly debezium: DebeziumEncoder | null;
}

/** A route as it applies to one table: with the column rules of that table. */
interface TableRoute extends Route {
  /** The column rules covering the table, or null when none does. */
  readonly policy: TablePolicy | null;
}

/** Routes the changes of one source. */
export class Router {
  readonly #context: RouteContext;
  readonly #routes: readonly Route[];
  readonly #transactions: readonly TransactionTarget[];
  /** Set when a transaction target's `where` needs `tx.*`. */
  readonly #summary: TransactionSummaryBuilder | null;
  /** Routes matching each `schema.table`, computed once per table. */
  readonly #byTable = new Map<string, readonly TableRoute[]>();
  /** Reused for every filter evaluation: filters run synchronously. */
  readonly #filterInput: FilterInput = { op: "", schema: "", table: "", old: null, new: null };
  /** The transaction committed last: its end LSN starts Debezium's `source.sequence`. */
  #lastCommitted: TransactionHandle | null = null;
  /** Formats a transaction's commit LSN, xid and time once for all its messages. */
  readonly #text = new EventTextFormatter();
  /** Counts every change routed, once whatever the targets make of it. */
  readonly #read: { inc(): void };

  /** Creates the router of `context.source` over the targets that take its changes. */
  constructor(context: RouteContext, targets: readonly RouteTarget[]) {
    this.#context = context;
    const origin = { name: context.source, db: context.database ?? "" };
    this.#read = context.metrics.changesRead.labels(context.source);
    this.#routes = targets.map((target) => ({
      target,
      transaction: target.mode === "transaction"
        ? new TransactionTarget(target, context, context.hand)
        : null,
      filtered: context.metrics.changes.labels(context.source, target.name, "filtered"),
      columns: ColumnPolicy.of(target.columnRules),
      debezium: target.format === "debezium"
        ? new DebeziumEncoder(target.debezium ?? DEFAULT_DEBEZIUM_OPTIONS, origin)
        : null,
    }));
    this.#transactions = this.#routes.flatMap((route) => route.transaction ?? []);
    const needsSummary = this.#transactions.some((transaction) => transaction.holdsUntilCommit);
    this.#summary = needsSummary ? new TransactionSummaryBuilder() : null;
  }

  /**
   * Called when a relation's shape becomes known: reports once the filter
   * columns that this table does not have.
   */
  describeRelation(schema: string, table: string, columns: readonly string[]): void {
    for (const { target } of this.#routesFor(schema, table)) {
      const unknown = target.filter?.unknownColumns(columns) ?? [];
      if (unknown.length === 0) continue;
      log.error(
        "Target {target} filter references unknown column(s) {columns} of {table}; " +
          "they evaluate as null",
        {
          source: this.#context.source,
          target: target.name,
          columns: unknown.join(", "),
          table: `${schema}.${table}`,
        },
      );
    }
  }

  /** Routes one change of transaction `tx`. */
  route(event: ChangeEvent, tx: TransactionHandle): void {
    this.#read.inc();
    this.#summary?.add(event);
    for (const route of this.#routesFor(event.schema, event.table)) {
      const target = route.target;
      if (!target.ops.has(event.op)) {
        route.filtered.inc();
        continue;
      }
      if (route.transaction !== null) {
        route.transaction.add(event, tx, route.policy);
        continue;
      }
      const verdict = this.#filter(target, event);
      if (verdict === false) {
        route.filtered.inc();
        continue;
      }
      this.#emit(route, event, this.#origin(event, tx, target.name), verdict);
    }
  }

  /**
   * Ends transaction `tx` at its Commit: transaction-mode targets send their
   * final parts. Call it before `Checkpoint.commit`, which forbids tracking
   * more messages of `tx`.
   *
   * @returns null when done, or a promise when a target spilled the
   *   transaction and replays it (see `transaction.ts`): read nothing more
   *   and commit `tx` in the checkpoint once it resolves. `signal` aborts the
   *   replay.
   */
  commit(tx: TransactionHandle, signal?: AbortSignal): Promise<void> | null {
    const summary = this.#summary?.take() ?? null;
    this.#lastCommitted = tx;
    let replay: Promise<void> | null = null;
    for (const transaction of this.#transactions) {
      // One replay at a time: each waits for room in the same in-flight budget.
      replay = replay === null
        ? transaction.commit(tx, summary, signal)
        : replay.then(() => transaction.commit(tx, summary, signal) ?? undefined);
    }
    return replay;
  }

  /** Drops held transactions and their spill files: the session that read them ended. */
  discard(): void {
    for (const transaction of this.#transactions) transaction.discard();
  }

  /**
   * Sends a change whose values could not be converted to the dead-letter
   * topic, once per target that takes its table and operation, so it is
   * neither dropped nor retried forever (DESIGN invariant 2). `event` holds
   * each value as the text PostgreSQL sent; filters are not applied (they
   * need converted values) and the message has no key.
   */
  deadLetterUndecodable(event: ChangeEvent, error: string, tx: TransactionHandle): void {
    this.#read.inc();
    for (const { target, policy } of this.#routesFor(event.schema, event.table)) {
      if (!target.ops.has(event.op)) continue;
      const origin = this.#origin(event, tx, target.name);
      const topic = target.topicFor(this.#context.source, event.schema, event.table, event.op);
      const text = this.#text.format(event);
      const shown = policy === null ? event : policy.apply(event);
      const value = encodeValue(shown, this.#context.source, text);
      const headers = this.#headers(event.op, text, origin);
      this.#context.hand({ topic, key: null, value, headers, origin }, {
        reason: "undecodable",
        // The error quotes the value that did not convert, which a rule may be hiding.
        error: policy === null ? error : UNDECODABLE_WITHHELD,
      });
    }
  }

  /**
   * Sends a schema change of a table some target takes to the schema-change
   * topic, tracked in transaction `tx` like its row changes. Nothing is sent
   * when the source has no schema-change topic or no target takes the table.
   */
  schemaChange(change: SchemaChange, tx: TransactionHandle): void {
    const topic = this.#context.schemaChangeTopic;
    if (topic === undefined || this.#routesFor(change.schema, change.table).length === 0) return;
    const origin = this.#origin(change, tx, SCHEMA_CHANGE_TARGET);
    const headers = this.#headers(SCHEMA_CHANGE_OP, this.#text.format(change), origin);
    const key = schemaChangeKey(change);
    const value = encodeSchemaChange(change, origin.source);
    this.#context.hand({ topic, key, value, headers, origin }, null);
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

  #emit(route: TableRoute, event: ChangeEvent, origin: MessageOrigin, verdict: true | string) {
    const { target, debezium, policy } = route;
    const topic = target.topicFor(this.#context.source, event.schema, event.table, event.op);
    const keyColumns = target.keyColumns.length > 0 ? target.keyColumns : event.keyColumns;
    const text = this.#text.format(event);
    const headers = this.#headers(event.op, text, origin);
    if (debezium !== null) Object.assign(headers, debezium.headers);
    let key: string | null = null;
    let value: string | null;
    let failure: DeliveryFailure | null = null;
    if (typeof verdict === "string") failure = { reason: "filter_failed", error: verdict };
    try {
      if (debezium !== null) {
        key = event.op === "truncate" ? null : debezium.key(event, keyColumns, policy);
        value = debezium.value(event, this.#lastCommitted?.endLsn ?? null, policy);
      } else {
        const shown = policy === null ? event : policy.apply(event);
        key = policy === null
          ? encodeKey(keyColumns, keyRow(event))
          : policy.key(keyColumns, keyRow(event));
        value = encodeValue(shown, this.#context.source, text);
      }
    } catch (error) {
      failure = { reason: "unencodable", error: String(error) };
      value = null;
    }
    this.#context.hand({ topic, key, value, headers, origin }, failure);
    if (target.tombstones && event.op === "delete" && failure === null) {
      // The same change again, for compaction: not a second delivered change.
      this.#context.hand(
        { topic, key, value: null, headers, origin: { ...origin, events: 0 } },
        null,
      );
    }
  }

  #headers(op: string, text: EventText, origin: MessageOrigin): Record<string, string> {
    return {
      [HEADER.lsn]: text.lsn,
      [HEADER.commitLsn]: text.commitLsn,
      [HEADER.xid]: text.xid,
      [HEADER.table]: origin.table,
      [HEADER.op]: op,
      [HEADER.source]: origin.source,
    };
  }

  #origin(event: OriginFacts, tx: TransactionHandle, target: string): MessageOrigin {
    return {
      source: this.#context.source,
      target,
      tx,
      lsn: event.lsn,
      xid: event.xid,
      table: `${event.schema}.${event.table}`,
      commitTimeMicros: event.commitTimeMicros,
    };
  }

  #routesFor(schema: string, table: string): readonly TableRoute[] {
    const name = `${schema}.${table}`;
    let routes = this.#byTable.get(name);
    if (routes === undefined) {
      routes = this.#routes
        .filter(({ target }) => target.matchesTable(schema, table))
        .map((route) => ({ ...route, policy: route.columns?.forTable(schema, table) ?? null }));
      this.#byTable.set(name, routes);
    }
    return routes;
  }
}
