/**
 * Transaction-mode targets (`mode = "transaction"`): one Kafka message per
 * committed transaction, holding the transaction's events that pass the
 * target's tables, ops and `where`.
 *
 * Memory stays bounded by one part per target: events are encoded as they
 * arrive and appended to the current part; when the next event would push
 * the part past `max_message_bytes`, the part is sent and a new one begins.
 * Parts are numbered from 1 (`part`), and the final one carries
 * `"last": true` and the transaction's `event_count`. A transaction is never
 * dropped for its size; an event too large for a part of its own travels
 * alone, and the sink dead-letters it if Kafka's limit refuses it.
 *
 * The `where` of a transaction target is evaluated once per event, with the
 * event's fields (`op`, `schema`, `table`, `old`, `new`) and `tx.*`, the
 * summary of the whole transaction as the source received it (all its
 * published events, whichever target they match). `tx.*` is only known at
 * the commit, so a target whose `where` mentions `tx` holds the transaction's
 * matching events, encoded as JSON text, until the commit decides them:
 * in memory up to `transaction_buffer_bytes`, beyond that in a spill file
 * (`spill.ts`). A spilled transaction is decided at the commit a chunk at a
 * time, waiting for room in the in-flight budget between chunks, while the
 * session reads nothing more; its parts are the same, byte for byte, as
 * those of a transaction that did not spill. Targets that do not use `tx`
 * stream their parts and stay bounded.
 *
 * Every part is tracked in the source's checkpoint before the Commit, so the
 * slot never confirms a transaction before all its parts are acked. After a
 * crash the transaction is sent again from its first part: consumers keep
 * the latest complete run of parts per `(source, xid)` (the one that ends in
 * `last`).
 *
 * @module
 */
import { formatLsn, type Lsn, parseLsn } from "../lsn.ts";
import { logger } from "../telemetry/log.ts";
import type { ChangeEvent, Row } from "../model.ts";
import type { TransactionSummary } from "../filter/mod.ts";
// The filter module exposes no syntax-tree query; the tree tells whether a
// `where` needs the whole transaction before any event can be decided.
import type { Node } from "../filter/ast.ts";
import { parse } from "../filter/parser.ts";
import type { TransactionHandle } from "./checkpoint.ts";
import {
  encodeKey,
  encodeTransactionEvent,
  encodeTransactionPart,
  keyRow,
  type TransactionPartFields,
} from "./encode.ts";
import { approximateBytes, HEADER, type MessageOrigin, messageSize } from "./message.ts";
import type { DeliveryFailure, FilterInput, Hand, RouteContext, RouteTarget } from "./route.ts";
import { HeldEvents, type SpillSettings } from "./spill.ts";
import { ColumnPolicy, type TablePolicy } from "./columns.ts";

/** Header names a transaction message carries besides {@linkcode HEADER}'s. */
export const TRANSACTION_HEADER = {
  part: "pg2kafka.part",
  last: "pg2kafka.last",
} as const;

const log = logger("transaction");

/** Held events of a target that never spills (no spill settings given): memory only. */
const NEVER_SPILL: SpillSettings = { limitBytes: Infinity, dir: "" };

/** The widest LSN text, `FFFFFFFF/FFFFFFFF`, for the worst-case envelope size. */
const WIDEST_LSN = (1n << 64n) - 1n;

/**
 * Whether the filter expression `source` mentions `tx.*` (a parse error is
 * the config loader's to report: such a filter never reaches a target).
 *
 * @example
 * ```ts
 * usesTransactionFields("tx.size > 10 && table == 'orders'"); // true
 * usesTransactionFields("new.tx > 10"); // false: a column named tx
 * ```
 */
export function usesTransactionFields(source: string): boolean {
  return mentionsTransaction(parse(source));
}

function mentionsTransaction(node: Node): boolean {
  switch (node.kind) {
    case "literal":
      return false;
    case "path":
      return node.root === "tx";
    case "list":
      return node.items.some(mentionsTransaction);
    case "call":
      return node.args.some(mentionsTransaction);
    case "not":
      return mentionsTransaction(node.operand);
    case "logical":
    case "comparison":
      return mentionsTransaction(node.left) || mentionsTransaction(node.right);
  }
}

/** Collects `tx.tables`, `tx.size` and `tx.ops` of the open transaction. */
export class TransactionSummaryBuilder {
  #tables = new Set<string>();
  #ops = new Set<string>();
  #size = 0;

  /** Counts one event of the open transaction. */
  add(event: ChangeEvent): void {
    this.#tables.add(`${event.schema}.${event.table}`);
    this.#ops.add(event.op);
    this.#size++;
  }

  /** The summary of the transaction so far; starts the next one empty. */
  take(): TransactionSummary {
    const summary = { tables: [...this.#tables], size: this.#size, ops: [...this.#ops] };
    this.#tables = new Set();
    this.#ops = new Set();
    this.#size = 0;
    return summary;
  }
}

/** What every message of one transaction shares. */
interface TransactionFacts {
  readonly tx: TransactionHandle;
  readonly xid: number;
  readonly commitLsn: Lsn;
  readonly commitTimeMicros: bigint;
}

/** The position and table of one event, for its dead-letter message. */
interface EventFacts {
  readonly op: string;
  readonly schema: string;
  readonly table: string;
  readonly lsn: Lsn;
}

/** An event as encoded in a transaction message, read back to be decided at the commit. */
interface EncodedEvent {
  op: string;
  schema: string;
  table: string;
  key: Row | null;
  before: Row | null;
  after: Row | null;
  lsn: string;
  unchanged?: readonly string[];
}

/** Where a part stands in its transaction. */
interface PartNumbering {
  readonly part: number;
  readonly last: boolean;
  readonly eventCount: number | null;
}

/** Sends one part: its numbering, its encoded events and the LSN of the first one. */
type ShipPart = (numbering: PartNumbering, events: readonly string[], firstLsn: Lsn) => void;

/** Builds the numbered parts of one transaction of one target. */
class TransactionParts {
  readonly facts: TransactionFacts;
  readonly #capacity: number;
  readonly #ship: ShipPart;
  #events: string[] = [];
  #bytes = 0;
  #firstLsn: Lsn = 0n;
  #part = 0;
  #total = 0;

  constructor(facts: TransactionFacts, capacity: number, ship: ShipPart) {
    this.facts = facts;
    this.#capacity = capacity;
    this.#ship = ship;
  }

  /** Adds an encoded event, first sending the current part if the event would overflow it. */
  append(json: string, lsn: Lsn): void {
    const bytes = approximateBytes(json);
    if (this.#events.length > 0 && this.#bytes + 1 + bytes > this.#capacity) this.#send(false);
    if (this.#events.length === 0) this.#firstLsn = lsn;
    else this.#bytes++; // the comma before the event
    this.#bytes += bytes;
    this.#events.push(json);
  }

  /** Sends the final part; nothing when no event was appended at all. */
  finish(): void {
    if (this.#events.length > 0) this.#send(true);
  }

  #send(last: boolean): void {
    this.#part++;
    this.#total += this.#events.length;
    const numbering = { part: this.#part, last, eventCount: last ? this.#total : null };
    this.#ship(numbering, this.#events, this.#firstLsn);
    this.#events = [];
    this.#bytes = 0;
  }
}

/**
 * One transaction-mode target of one source. The router hands it the events
 * that match the target's tables and ops, then calls
 * {@linkcode TransactionTarget.commit} at the transaction's Commit, before the
 * checkpoint's commit.
 */
export class TransactionTarget {
  /** Whether the `where` uses `tx.*`, so events wait for the commit to be decided. */
  readonly holdsUntilCommit: boolean;
  readonly #target: RouteTarget;
  readonly #context: RouteContext;
  readonly #hand: Hand;
  readonly #topic: string;
  readonly #key: string;
  readonly #capacity: number;
  readonly #filtered: { inc(): void };
  readonly #input: FilterInput = { op: "", schema: "", table: "", old: null, new: null };
  #parts: TransactionParts | null = null;
  /** Events waiting for the commit, when the `where` uses `tx.*`. */
  readonly #held: HeldEvents | null;
  readonly #spilledBytes: { inc(bytes: number): void };
  /** The target's column rules, for events held until the commit. */
  readonly #columns: ColumnPolicy | null;

  /**
   * @param target the target; its topic must not depend on the table or op
   * (the config rejects `{schema}`, `{table}` and `{op}` in transaction mode).
   */
  constructor(
    target: RouteTarget,
    context: RouteContext,
    hand: Hand,
  ) {
    this.#target = target;
    this.#context = context;
    this.#hand = hand;
    this.holdsUntilCommit = target.filter !== null && usesTransactionFields(target.filter.source);
    // Only {source} varies: the other arguments cannot show in the topic.
    this.#topic = target.topicFor(context.source, "", "", "insert");
    // One key per source: its transactions share a partition, in commit order.
    this.#key = JSON.stringify({ source: context.source });
    this.#capacity = (target.maxMessageBytes ?? Infinity) - this.#envelopeBytes();
    this.#filtered = context.metrics.changes.labels(context.source, target.name, "filtered");
    this.#held = this.holdsUntilCommit
      ? new HeldEvents(context.spill ?? NEVER_SPILL, context.source, target.name)
      : null;
    this.#spilledBytes = context.metrics.transactionSpilledBytes.labels(
      context.source,
      target.name,
    );
    this.#columns = this.holdsUntilCommit ? ColumnPolicy.of(target.columnRules) : null;
  }

  /**
   * Takes an event of the open transaction `tx` that matches the target's
   * tables and ops; `policy` is the target's column rules for its table.
   * The `where` sees the event as the database sent it, the message the
   * event with the rules applied.
   */
  add(event: ChangeEvent, tx: TransactionHandle, policy: TablePolicy | null = null): void {
    this.#parts ??= this.#newParts(tx, event);
    const keyColumns = this.#target.keyColumns.length > 0
      ? this.#target.keyColumns
      : event.keyColumns;
    const parts = this.#parts;
    // Held events stay as the database sent them until the commit decides them.
    const encodedPolicy = this.holdsUntilCommit ? null : policy;
    let json: string;
    try {
      json = encodeTransactionEvent(event, keyColumns, encodedPolicy);
    } catch (error) {
      const failure = { reason: "unencodable", error: String(error) };
      return this.#deadLetter(parts, event, null, safeKey(keyColumns, event, policy), failure);
    }
    if (this.#held !== null) return this.#hold(this.#held, json, event.xid);
    const verdict = this.#verdict(event.op, event.schema, event.table, event.before, event.after);
    this.#take(parts, verdict, json, event, () => safeKey(keyColumns, event, policy));
  }

  /**
   * Ends the transaction `tx` at its Commit: decides held events with the
   * transaction's `summary` and sends the final part. Call it before the
   * checkpoint's commit: it may still track messages of `tx`.
   *
   * @returns null when done, or the replay of a spilled transaction: read
   *   nothing more of the source and commit `tx` in the checkpoint only once
   *   it resolves. It rejects with `signal`'s reason when `signal` aborts.
   */
  commit(
    tx: TransactionHandle,
    summary: TransactionSummary | null,
    signal?: AbortSignal,
  ): Promise<void> | null {
    const parts = this.#parts;
    this.#parts = null;
    if (parts === null) return null;
    if (parts.facts.tx !== tx) {
      throw new Error(
        `Target ${this.#target.name} cannot commit transaction ${tx.xid}: ` +
          `its events belong to transaction ${parts.facts.xid}`,
      );
    }
    const held = this.#held;
    if (held?.spilled) return this.#replay(held, parts, summary ?? undefined, signal);
    if (held !== null) this.#decideHeld(parts, held.takeInMemory(), summary ?? undefined);
    parts.finish();
    return null;
  }

  /** Drops held events and removes their spill file: the session that read them ended. */
  discard(): void {
    this.#parts = null;
    this.#held?.discard();
  }

  #hold(held: HeldEvents, json: string, xid: number): void {
    const spilled = held.spilled;
    try {
      held.push(json, xid);
      if (!spilled && held.spilled) {
        log.info(
          "Transaction {xid} of target {target} outgrew {limitBytes} bytes: spilling to {dir}",
          {
            source: this.#context.source,
            target: this.#target.name,
            xid,
            limitBytes: this.#context.spill?.limitBytes,
            dir: this.#context.spill?.dir,
          },
        );
      }
    } catch (error) {
      throw new Error(
        `Target ${this.#target.name} cannot spill transaction ${xid} to ` +
          `${this.#context.spill?.dir}: ${error instanceof Error ? error.message : error}`,
        { cause: error },
      );
    }
  }

  /** Decides a spilled transaction's events a chunk at a time, within the in-flight budget. */
  async #replay(
    held: HeldEvents,
    parts: TransactionParts,
    summary: TransactionSummary | undefined,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    const bytes = held.spilledBytes;
    for await (const events of held.drain()) {
      signal?.throwIfAborted();
      this.#decideHeld(parts, events, summary);
      const room = this.#context.whenRoom?.() ?? null;
      if (room !== null) await untilAborted(room, signal);
    }
    signal?.throwIfAborted();
    parts.finish();
    this.#spilledBytes.inc(bytes);
  }

  #decideHeld(
    parts: TransactionParts,
    held: string[],
    summary: TransactionSummary | undefined,
  ): void {
    for (let i = 0; i < held.length; i++) {
      const json = held[i];
      // Let each event go once it is in a part: the transaction is not held twice.
      held[i] = "";
      const event = JSON.parse(json) as EncodedEvent;
      const { op, schema, table, before, after } = event;
      const verdict = this.#verdict(op, schema, table, before, after, summary);
      const facts = { op, schema, table, lsn: parseLsn(event.lsn) };
      const shown = this.#applyRules(event);
      const key = () => shown.key === null ? null : JSON.stringify(shown.key);
      this.#take(parts, verdict, shown === event ? json : JSON.stringify(shown), facts, key);
    }
  }

  /** A held event with the target's column rules applied (itself when none cover its table). */
  #applyRules(event: EncodedEvent): EncodedEvent {
    const policy = this.#columns?.forTable(event.schema, event.table) ?? null;
    if (policy === null) return event;
    const shown: EncodedEvent = {
      ...event,
      key: policy.row(event.key),
      before: policy.row(event.before),
      after: policy.row(event.after),
    };
    if (event.unchanged !== undefined) shown.unchanged = policy.names(event.unchanged);
    return shown;
  }

  /** Appends an event the filter kept, counts one it dropped, dead-letters one it failed on. */
  #take(
    parts: TransactionParts,
    verdict: boolean | string,
    json: string,
    event: EventFacts,
    key: () => string | null,
  ): void {
    if (verdict === true) return parts.append(json, event.lsn);
    if (verdict === false) return this.#filtered.inc();
    this.#deadLetter(parts, event, json, key(), { reason: "filter_failed", error: verdict });
  }

  /** True to keep, false to drop, or the error message when the filter failed. */
  #verdict(
    op: string,
    schema: string,
    table: string,
    before: Row | null,
    after: Row | null,
    tx?: TransactionSummary,
  ): boolean | string {
    const filter = this.#target.filter;
    if (filter === null) return true;
    const input = this.#input;
    input.op = op;
    input.schema = schema;
    input.table = table;
    input.old = before;
    input.new = after;
    input.tx = tx;
    try {
      return filter.evaluate(input);
    } catch (error) {
      return error instanceof Error ? error.message : String(error);
    }
  }

  #newParts(tx: TransactionHandle, event: ChangeEvent): TransactionParts {
    const facts: TransactionFacts = {
      tx,
      xid: event.xid,
      commitLsn: event.commitLsn,
      commitTimeMicros: event.commitTimeMicros,
    };
    return new TransactionParts(facts, this.#capacity, (numbering, events, firstLsn) => {
      const fields = { ...facts, ...numbering, source: this.#context.source };
      const value = encodeTransactionPart(fields, events);
      this.#hand({
        topic: this.#topic,
        key: this.#key,
        value,
        headers: this.#partHeaders(fields, firstLsn),
        origin: this.#origin(facts, firstLsn, "*", events.length),
      }, null);
    });
  }

  /** Sends one event alone to the dead-letter topic, in the transaction event form. */
  #deadLetter(
    parts: TransactionParts,
    event: EventFacts,
    value: string | null,
    key: string | null,
    failure: DeliveryFailure,
  ): void {
    const facts = parts.facts;
    const table = `${event.schema}.${event.table}`;
    this.#hand({
      topic: this.#topic,
      key,
      value,
      headers: {
        [HEADER.lsn]: formatLsn(event.lsn),
        [HEADER.commitLsn]: formatLsn(facts.commitLsn),
        [HEADER.xid]: String(facts.xid),
        [HEADER.table]: table,
        [HEADER.op]: event.op,
        [HEADER.source]: this.#context.source,
      },
      origin: this.#origin(facts, event.lsn, table, 1),
    }, failure);
  }

  #partHeaders(fields: TransactionPartFields, firstLsn: Lsn): Record<string, string> {
    return {
      [HEADER.lsn]: formatLsn(firstLsn),
      [HEADER.commitLsn]: formatLsn(fields.commitLsn),
      [HEADER.xid]: String(fields.xid),
      [HEADER.source]: this.#context.source,
      [TRANSACTION_HEADER.part]: String(fields.part),
      [TRANSACTION_HEADER.last]: String(fields.last),
    };
  }

  #origin(facts: TransactionFacts, lsn: Lsn, table: string, events: number): MessageOrigin {
    return {
      source: this.#context.source,
      target: this.#target.name,
      tx: facts.tx,
      lsn,
      xid: facts.xid,
      table,
      commitTimeMicros: facts.commitTimeMicros,
      events,
    };
  }

  /** Bytes of a part without its events, at the widest its numbers and LSNs can print. */
  #envelopeBytes(): number {
    const widest: TransactionPartFields = {
      source: this.#context.source,
      xid: Number.MAX_SAFE_INTEGER,
      commitLsn: WIDEST_LSN,
      commitTimeMicros: 0n,
      part: Number.MAX_SAFE_INTEGER,
      last: false,
      eventCount: Number.MAX_SAFE_INTEGER,
    };
    const value = encodeTransactionPart(widest, []);
    return messageSize(this.#key, value, this.#partHeaders(widest, WIDEST_LSN));
  }
}

/** Waits for `work`, or rejects with `signal`'s reason once it aborts. */
function untilAborted(work: Promise<void>, signal: AbortSignal | undefined): Promise<void> {
  if (signal === undefined) return work;
  signal.throwIfAborted();
  return new Promise((resolve, reject) => {
    const abort = () => reject(signal.reason);
    signal.addEventListener("abort", abort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener("abort", abort));
  });
}

/** The key of an event, or null when the key itself cannot be encoded. */
function safeKey(
  keyColumns: readonly string[],
  event: ChangeEvent,
  policy: TablePolicy | null,
): string | null {
  try {
    return policy === null
      ? encodeKey(keyColumns, keyRow(event))
      : policy.key(keyColumns, keyRow(event));
  } catch {
    return null;
  }
}
