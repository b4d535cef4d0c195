/**
 * The pipeline session: the one owner of the ack loop of one source's
 * replication session. The source hands it transactions in WAL order (begin,
 * changes, commit, keepalives); the session routes them, hands each message
 * to the sink with its settle callback, and when the sink settles it, counts
 * the outcome, releases the in-flight budget, settles the checkpoint and
 * reports the flush LSN (coalesced) for the source to confirm.
 *
 * The DESIGN invariants it enforces:
 * 1. the flush LSN moves only over transactions whose every message the sink
 *    settled (see `checkpoint.ts`);
 * 2. every change ends delivered, filtered or dead-lettered, each counted in
 *    `pg2kafka_changes_total` and dead letters logged at error;
 * 3. a keepalive with nothing pending confirms the server's WAL end;
 * 4. in-flight work is charged to the source's share of the budget, and
 *    {@linkcode PipelineSession.waiting} tells the source to stop reading
 *    while it is full or the sink refuses to try.
 *
 * @module
 */
import type { ChangeEvent } from "../model.ts";
import { formatLsn, type Lsn } from "../lsn.ts";
import type { Settlement, Sink } from "../sink.ts";
import { logger } from "../telemetry/log.ts";
import type { Metrics } from "../telemetry/metrics.ts";
import { Checkpoint, type TransactionHandle } from "./checkpoint.ts";
import type { InflightAccount } from "./inflight.ts";
import { messageSize, type OutgoingMessage } from "./message.ts";
import type { DeliveryFailure, RouteTarget } from "./route.ts";
import { Router } from "./router.ts";
import type { SpillSettings } from "./spill.ts";
import type { SchemaChange } from "./schema_change.ts";

/** What a source's sessions share: where messages go and what they are charged to. */
export interface PipelineContext {
  /** The source's name. */
  readonly source: string;
  /** The database the source replicates (`source.db` of Debezium envelopes). */
  readonly database?: string;
  /** The targets that take this source's changes. */
  readonly targets: readonly RouteTarget[];
  /** The topic of schema-change messages; none are sent when absent. */
  readonly schemaChangeTopic?: string;
  readonly sink: Sink<OutgoingMessage>;
  /** The source's in-flight account. */
  readonly account: InflightAccount;
  readonly metrics: Metrics;
  /** Where transaction targets spill held transactions (see `spill.ts`); never, when left out. */
  readonly spill?: SpillSettings;
}

/** What the session tells the source it serves. */
export interface SessionHooks {
  /** The flush LSN moved: confirm it to PostgreSQL (called at most every {@linkcode FLUSH_COALESCE_MS}). */
  onFlush(lsn: Lsn): void;
}

/** Delay that coalesces flush LSN advances into one status update. */
export const FLUSH_COALESCE_MS = 200;

const MICROS_PER_SECOND = 1_000_000;
const MICROS_PER_MS = 1000;

const log = logger("pipeline");

/** A counter of one target and outcome. */
interface Counter {
  inc(by?: number): void;
}

/** One replication session's routing, checkpoint and in-flight accounting. */
export class PipelineSession {
  readonly #context: PipelineContext;
  readonly #hooks: SessionHooks;
  readonly #router: Router;
  readonly #checkpoint: Checkpoint;
  /**
   * Each target's counter of each settled outcome, looked up once and created
   * on first use, so an outcome that never happened exports no zero series.
   */
  readonly #counters = new Map<string, Partial<Record<Settlement["outcome"], Counter>>>();
  readonly #settleMessage = (message: OutgoingMessage, settlement: Settlement) =>
    this.#settle(message, settlement);
  #flushTimer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;
  /** Newest commit time among settled messages, for the lag gauge. */
  #newestSettledCommit = 0n;
  /** Settlements so far, and what {@linkcode stalledForMs} last saw. */
  #settledCount = 0;
  #seenSettledCount = 0;
  #progressAtMs = Date.now();
  #readable: PromiseWithResolvers<void> | null = null;
  /** Wakes {@linkcode whenReadable} when the sink's health changes. */
  #sinkWake: (() => void) | null = null;
  #reportedFlush: Lsn;

  /** Starts a session at `initialLsn`, the slot's confirmed flush LSN. */
  constructor(context: PipelineContext, initialLsn: Lsn, hooks: SessionHooks) {
    this.#context = context;
    this.#hooks = hooks;
    this.#reportedFlush = initialLsn;
    this.#checkpoint = new Checkpoint({ initialLsn, onAdvance: () => this.#scheduleFlush() });
    this.#router = new Router({
      source: context.source,
      metrics: context.metrics,
      database: context.database,
      hand: (parts, failure) => this.#hand(parts, failure),
      spill: context.spill,
      whenRoom: () => context.account.full ? context.account.waitForRoom() : null,
      schemaChangeTopic: context.schemaChangeTopic,
    }, context.targets);
    context.metrics.flushLsn.labels(context.source).set(Number(initialLsn));
  }

  /** The LSN that may be confirmed: every transaction up to it is settled. */
  get flushLsn(): Lsn {
    return this.#checkpoint.flushLsn;
  }

  /** Transactions begun and not yet settled (the open one included). */
  get pendingTransactions(): number {
    return this.#checkpoint.pendingTransactions;
  }

  /** Messages handed to the sink and not settled yet. */
  get pendingMessages(): number {
    return this.#checkpoint.pendingMessages;
  }

  /** Whether the source must stop reading: the budget is full or the sink refuses to try. */
  get waiting(): boolean {
    return this.#context.account.full || !this.#context.sink.health().accepting;
  }

  /**
   * Resolves once {@linkcode waiting} may have turned false: the budget has
   * room again or the sink's health changed. Check `waiting` again after.
   */
  whenReadable(): Promise<void> {
    if (!this.waiting) return Promise.resolve();
    if (this.#readable === null) {
      const readable = Promise.withResolvers<void>();
      this.#readable = readable;
      const wake = () => {
        if (this.#readable === readable) this.#readable = null;
        readable.resolve();
      };
      if (this.#context.account.full) this.#context.account.waitForRoom().then(wake);
      else this.#sinkWake = wake;
    }
    return this.#readable.promise;
  }

  /** Tell the session the sink's health changed (the source forwards the sink's event). */
  sinkHealthChanged(): void {
    const wake = this.#sinkWake;
    this.#sinkWake = null;
    wake?.();
  }

  /** Records a Begin and returns its transaction. */
  begin(xid: number): TransactionHandle {
    return this.#checkpoint.begin(xid);
  }

  /** Routes one change of the open transaction `tx` to every target that takes it. */
  route(event: ChangeEvent, tx: TransactionHandle): void {
    this.#router.route(event, tx);
  }

  /** A change whose values do not convert: dead-lettered as raw text for every target. */
  undecodable(event: ChangeEvent, error: string, tx: TransactionHandle): void {
    this.#router.deadLetterUndecodable(event, error, tx);
  }

  /** A schema change in the open transaction `tx`: sent to the schema-change topic, if any. */
  schemaChange(change: SchemaChange, tx: TransactionHandle): void {
    this.#router.schemaChange(change, tx);
  }

  /** A relation's columns became known: warns once of filter columns it lacks. */
  relation(schema: string, table: string, columns: readonly string[]): void {
    this.#router.describeRelation(schema, table, columns);
  }

  /**
   * Records the Commit of `tx` at `endLsn`, after its last change.
   *
   * @returns null when done, or the replay of a transaction a target spilled
   *   (see `transaction.ts`): hand over nothing more until it resolves. It
   *   rejects with `signal`'s reason when `signal` aborts; `tx` then never
   *   settles, and the next session reads it again.
   */
  commit(tx: TransactionHandle, endLsn: Lsn, signal?: AbortSignal): Promise<void> | null {
    const replay = this.#router.commit(tx, signal);
    if (replay === null) {
      this.#committed(tx, endLsn);
      return null;
    }
    return replay.then(() => this.#committed(tx, endLsn));
  }

  #committed(tx: TransactionHandle, endLsn: Lsn): void {
    this.#checkpoint.commit(tx, endLsn);
    this.#context.metrics.transactions.labels(this.#context.source).inc();
  }

  /**
   * A keepalive reported `walEnd` and every frame before it was handed over:
   * with nothing pending the flush LSN moves there (DESIGN invariant 3).
   */
  keepalive(walEnd: Lsn): void {
    this.#checkpoint.idle(walEnd);
    // The walsender caught up: a share of the budget kept since the last wait
    // for room would only hold the other sources back.
    this.#context.account.relinquish();
  }

  /** Resolves once every message of `tx` is settled, listening to the checkpoint. */
  whenSettled(tx: TransactionHandle): Promise<void> {
    return this.#checkpoint.whenSettled(tx);
  }

  /**
   * How long messages have waited without any settling, at `nowMs`; 0 while
   * nothing is pending or something settled since the last call. Call it
   * periodically: each call is one observation.
   */
  stalledForMs(nowMs: number): number {
    if (this.#settledCount !== this.#seenSettledCount || this.pendingMessages === 0) {
      this.#seenSettledCount = this.#settledCount;
      this.#progressAtMs = nowMs;
      return 0;
    }
    return nowMs - this.#progressAtMs;
  }

  /**
   * Ends the session: no more flush reports. Late settlements still release
   * the budget (the next session resends those messages from the slot).
   */
  close(): void {
    this.#closed = true;
    // Whatever a target still holds belongs to a transaction the next session reads again.
    this.#router.discard();
    clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
    this.sinkHealthChanged();
  }

  #hand(parts: Omit<OutgoingMessage, "size">, failure: DeliveryFailure | null): void {
    const message: OutgoingMessage = {
      ...parts,
      size: messageSize(parts.key, parts.value, parts.headers),
    };
    const { account, sink } = this.#context;
    this.#checkpoint.track(message.origin.tx);
    account.acquire(message.size);
    if (failure === null) {
      sink.send(message, this.#settleMessage);
      return;
    }
    log.warn("Change at {lsn} for target {target} goes to the dead-letter topic: {error}", {
      lsn: formatLsn(message.origin.lsn),
      source: message.origin.source,
      target: message.origin.target,
      topic: message.topic,
      table: message.origin.table,
      error: failure.error,
    });
    sink.deadLetter(message, failure.reason, failure.error, this.#settleMessage);
  }

  #settle(message: OutgoingMessage, settlement: Settlement): void {
    const origin = message.origin;
    this.#counterOf(origin.target, settlement.outcome).inc(origin.events ?? 1);
    if (settlement.outcome === "dead_lettered") {
      log.error("Dead-lettered a change ({reason}): {error}", {
        reason: settlement.reason,
        error: settlement.error,
        source: origin.source,
        target: origin.target,
        topic: message.topic,
        table: origin.table,
        lsn: formatLsn(origin.lsn),
        xid: origin.xid,
      });
    }
    this.#settledCount++;
    if (origin.commitTimeMicros > this.#newestSettledCommit) {
      this.#newestSettledCommit = origin.commitTimeMicros;
    }
    this.#context.account.release(message.size);
    this.#checkpoint.settle(origin.tx);
    this.#scheduleFlush();
  }

  #counterOf(target: string, outcome: Settlement["outcome"]): Counter {
    let counters = this.#counters.get(target);
    if (counters === undefined) this.#counters.set(target, counters = {});
    return counters[outcome] ??= this.#context.metrics.changes.labels(
      this.#context.source,
      target,
      outcome,
    );
  }

  /** Reports the flush LSN and this source's lag at most every {@linkcode FLUSH_COALESCE_MS}. */
  #scheduleFlush(): void {
    if (this.#closed) return;
    this.#flushTimer ??= setTimeout(() => {
      this.#flushTimer = undefined;
      this.#report();
    }, FLUSH_COALESCE_MS);
  }

  #report(): void {
    const { metrics, source } = this.#context;
    const flush = this.#checkpoint.flushLsn;
    metrics.flushLsn.labels(source).set(Number(flush));
    if (this.#newestSettledCommit > 0n) {
      const nowMicros = Date.now() * MICROS_PER_MS;
      const lag = (nowMicros - Number(this.#newestSettledCommit)) / MICROS_PER_SECOND;
      metrics.lagSeconds.labels(source).set(lag);
    }
    if (flush === this.#reportedFlush) return;
    this.#reportedFlush = flush;
    this.#hooks.onFlush(flush);
  }
}
