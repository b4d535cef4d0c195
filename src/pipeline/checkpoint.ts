/**
 * The delivery checkpoint of one source (replication slot): it decides which
 * LSN may be reported to PostgreSQL as flushed.
 *
 * The flush LSN is the commit end LSN of the newest transaction T such that T
 * and every transaction received before it are settled (DESIGN invariant 1).
 * A transaction is settled once it is committed and every message produced
 * for it, across all targets, was acked by Kafka (or dead-lettered and acked
 * there). Events that filters drop produce no message, so they never hold the
 * LSN back.
 *
 * Lifecycle of a transaction, as the pipeline drives it:
 *
 * 1. {@linkcode Checkpoint.begin} when the Begin message is read;
 * 2. {@linkcode Checkpoint.track} for messages handed to the sink, and
 *    {@linkcode Checkpoint.settle} as their acks arrive (acks may come before
 *    the commit);
 * 3. {@linkcode Checkpoint.commit} once the Commit message is read and every
 *    event of the transaction was routed. After that, tracking more messages
 *    is an error: the transaction may already be settled and reported.
 *
 * Transactions must begin in commit order (pgoutput without streaming). Only
 * one transaction may be open (begun, not committed) at a time.
 *
 * @module
 */
import { formatLsn, type Lsn } from "../lsn.ts";

/** What a {@linkcode Checkpoint} reports about one transaction. */
export interface TransactionHandle {
  /** The transaction id from the Begin message. */
  readonly xid: number;
  /** Messages handed to the sink so far. */
  readonly trackedMessages: number;
  /** Messages acked so far. */
  readonly settledMessages: number;
  /** The commit end LSN, or `undefined` while the transaction is open. */
  readonly endLsn: Lsn | undefined;
}

/** Options of a {@linkcode Checkpoint}. */
export interface CheckpointOptions {
  /** The flush LSN to start from, usually the slot's confirmed flush LSN. Defaults to `0n`. */
  initialLsn?: Lsn;
  /** Called once each time the flush LSN moves forward, with the new value. */
  onAdvance?: (lsn: Lsn) => void;
}

/** The per-transaction record; also a link of the checkpoint's FIFO. */
class TransactionRecord implements TransactionHandle {
  trackedMessages = 0;
  settledMessages = 0;
  endLsn: Lsn | undefined = undefined;
  next: TransactionRecord | undefined = undefined;
  /** Set once the transaction left the FIFO: it and all before it are settled. */
  retired = false;
  /** Resolved when retired, for those who wait on it (the snapshot). */
  waiter: PromiseWithResolvers<void> | undefined = undefined;

  constructor(readonly owner: Checkpoint, readonly xid: number) {}

  get settled(): boolean {
    return this.endLsn !== undefined && this.settledMessages === this.trackedMessages;
  }
}

/**
 * Tracks in-flight transactions of one source and computes its flush LSN.
 *
 * Every operation is O(1), amortised over the transactions it retires; no
 * allocation happens per message.
 *
 * @example
 * ```ts
 * import { Checkpoint } from "./checkpoint.ts";
 *
 * const checkpoint = new Checkpoint({ onAdvance: (lsn) => console.log(lsn) });
 * const tx = checkpoint.begin(731);
 * checkpoint.track(tx, 2); // two messages produced
 * checkpoint.commit(tx, 0x16B3748n);
 * checkpoint.settle(tx, 2); // both acked: logs 23803720n
 * ```
 */
export class Checkpoint {
  #flushLsn: Lsn;
  #onAdvance: ((lsn: Lsn) => void) | undefined;
  /** Oldest transaction not yet retired (the FIFO head). */
  #head: TransactionRecord | undefined = undefined;
  /** Newest transaction received (the FIFO tail). */
  #tail: TransactionRecord | undefined = undefined;
  #open: TransactionRecord | undefined = undefined;
  /** Newest keepalive WAL end seen while transactions were pending, applied once they settle. */
  #idleCandidate: Lsn = 0n;
  #lastEndLsn: Lsn | undefined = undefined;
  #pendingTransactions = 0;
  #pendingMessages = 0;

  /** Creates a checkpoint starting at `options.initialLsn` (default `0n`). */
  constructor(options: CheckpointOptions = {}) {
    this.#flushLsn = options.initialLsn ?? 0n;
    this.#onAdvance = options.onAdvance;
  }

  /** The LSN that may be reported to PostgreSQL as flushed. Never decreases. */
  get flushLsn(): Lsn {
    return this.#flushLsn;
  }

  /** Transactions begun but not yet settled (open ones included). */
  get pendingTransactions(): number {
    return this.#pendingTransactions;
  }

  /** Messages tracked but not yet settled, over all pending transactions. */
  get pendingMessages(): number {
    return this.#pendingMessages;
  }

  /**
   * Records a Begin message and returns the handle of the new transaction.
   *
   * @throws {Error} when another transaction is still open.
   */
  begin(xid: number): TransactionHandle {
    if (this.#open) {
      throw new Error(
        `Checkpoint cannot begin transaction ${xid}: ` +
          `transaction ${this.#open.xid} is not committed yet`,
      );
    }
    const record = new TransactionRecord(this, xid);
    if (this.#tail) this.#tail.next = record;
    else this.#head = record;
    this.#tail = record;
    this.#open = record;
    this.#pendingTransactions++;
    return record;
  }

  /**
   * Records `messages` (default 1) handed to the sink for `tx`.
   *
   * @throws {Error} when `tx` is already committed or belongs to another checkpoint.
   * @throws {RangeError} when `messages` is not a non-negative integer.
   */
  track(tx: TransactionHandle, messages = 1): void {
    const record = this.#record(tx, "track messages for");
    checkCount(messages, "track");
    if (record.endLsn !== undefined) {
      throw new Error(
        `Checkpoint cannot track messages for transaction ${record.xid}: it is already committed`,
      );
    }
    record.trackedMessages += messages;
    this.#pendingMessages += messages;
  }

  /**
   * Records `messages` (default 1) of `tx` as acked by Kafka, directly or via
   * the dead-letter topic. May advance the flush LSN.
   *
   * @throws {Error} when more messages would be settled than were tracked.
   * @throws {RangeError} when `messages` is not a non-negative integer.
   */
  settle(tx: TransactionHandle, messages = 1): void {
    const record = this.#record(tx, "settle messages of");
    checkCount(messages, "settle");
    if (record.settledMessages + messages > record.trackedMessages) {
      throw new Error(
        `Checkpoint cannot settle ${messages} message(s) of transaction ${record.xid}: ` +
          `only ${record.trackedMessages - record.settledMessages} are unsettled`,
      );
    }
    record.settledMessages += messages;
    this.#pendingMessages -= messages;
    if (record === this.#head && record.settled) this.#retireSettled();
  }

  /**
   * Records the Commit of `tx`, ending at `endLsn`, once every event of it was
   * routed. May advance the flush LSN (a transaction with nothing tracked is
   * settled at once).
   *
   * An `endLsn` at or below the current flush LSN (a transaction replayed
   * after a restart) is accepted but never moves the flush LSN backwards.
   *
   * @throws {Error} when `tx` is already committed, or `endLsn` is not beyond
   * the previous commit's end LSN.
   */
  commit(tx: TransactionHandle, endLsn: Lsn): void {
    const record = this.#record(tx, "commit");
    if (record.endLsn !== undefined) {
      throw new Error(`Checkpoint cannot commit transaction ${record.xid} twice`);
    }
    if (this.#lastEndLsn !== undefined && endLsn <= this.#lastEndLsn) {
      throw new Error(
        `Checkpoint cannot commit transaction ${record.xid} at ${formatLsn(endLsn)}: ` +
          `the previous commit already ended at ${formatLsn(this.#lastEndLsn)}`,
      );
    }
    record.endLsn = endLsn;
    this.#lastEndLsn = endLsn;
    this.#open = undefined;
    if (record === this.#head && record.settled) this.#retireSettled();
  }

  /**
   * Records a keepalive reporting `walEnd`: when no transaction is open or
   * pending, the flush LSN advances to `walEnd` (DESIGN invariant 3). While
   * transactions are pending, `walEnd` is remembered and applied once they
   * have all settled: the server may send no further keepalive once it
   * believes this client caught up, and the slot must not stay behind WAL
   * that carried nothing for it. A keepalive while a transaction is open is
   * ignored. Call it only once every message received
   * before the keepalive was handed to {@linkcode Checkpoint.begin}.
   *
   * @returns whether the flush LSN advanced.
   */
  idle(walEnd: Lsn): boolean {
    if (walEnd <= this.#flushLsn) return false;
    if (this.#head !== undefined) {
      // Mid-transaction the keepalive says nothing about what follows it.
      if (this.#open === undefined && walEnd > this.#idleCandidate) this.#idleCandidate = walEnd;
      return false;
    }
    this.#advanceTo(walEnd);
    return true;
  }

  /**
   * Resolves once `tx` and every transaction before it are settled (the flush
   * LSN reached its commit). Nothing polls: the checkpoint resolves it when it
   * retires the transaction.
   *
   * @throws {Error} when `tx` belongs to another checkpoint.
   */
  whenSettled(tx: TransactionHandle): Promise<void> {
    const record = this.#record(tx, "wait for");
    if (record.retired) return Promise.resolve();
    record.waiter ??= Promise.withResolvers<void>();
    return record.waiter.promise;
  }

  #record(tx: TransactionHandle, action: string): TransactionRecord {
    if (!(tx instanceof TransactionRecord) || tx.owner !== this) {
      throw new Error(
        `Checkpoint cannot ${action} transaction ${tx.xid}: ` +
          "its handle comes from another checkpoint",
      );
    }
    return tx;
  }

  /** Pops settled transactions off the FIFO head and reports the newest one. */
  #retireSettled(): void {
    let newestEnd: Lsn | undefined;
    let head = this.#head;
    while (head !== undefined && head.settled) {
      newestEnd = head.endLsn;
      head.retired = true;
      head.waiter?.resolve();
      const next = head.next;
      head.next = undefined;
      head = next;
      this.#pendingTransactions--;
    }
    this.#head = head;
    if (head === undefined) {
      this.#tail = undefined;
      // Everything received is settled: a keepalive seen meanwhile now applies.
      if (newestEnd === undefined || this.#idleCandidate > newestEnd) {
        newestEnd = this.#idleCandidate;
      }
      this.#idleCandidate = 0n;
    }
    if (newestEnd !== undefined && newestEnd > this.#flushLsn) this.#advanceTo(newestEnd);
  }

  #advanceTo(lsn: Lsn): void {
    this.#flushLsn = lsn;
    this.#onAdvance?.(lsn);
  }
}

function checkCount(messages: number, action: string): void {
  if (!Number.isSafeInteger(messages) || messages < 0) {
    throw new RangeError(
      `Checkpoint cannot ${action} ${messages} message(s): expected a non-negative integer`,
    );
  }
}
