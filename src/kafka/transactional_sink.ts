/**
 * The exactly-once Kafka sink of one source: its messages go out inside
 * Kafka transactions, each of which also writes the source's progress record
 * (see `progress.ts`). A message is settled (its PostgreSQL transaction's
 * checkpoint told, so the slot can be confirmed) only once its Kafka
 * transaction committed.
 *
 * A Kafka transaction ends only at a {@linkcode StreamPosition} the pipeline
 * marked (after all messages of a change), and commits when it holds
 * `max_messages` or `max_bytes`, when it has been open `max_duration`, or as
 * soon as nothing more waits to be sent. The in-flight budget bounds it too:
 * a full budget stops reading, the queue empties and the transaction commits.
 *
 * Failures: a transactional id taken over by another process (the producer
 * is fenced) stops the sink for good, so the process exits without
 * committing again. Any other failure recreates the producer (which aborts
 * the open transaction, or completes a commit the broker had received), reads
 * the progress record back to learn whether the last commit went through, and
 * sends the transaction again if it did not. A message the broker refuses
 * (poison) is found by sending each message alone in a transaction that is
 * aborted, and goes to the dead-letter topic inside the next transaction.
 *
 * @module
 */
import type { Kafka, Message, Producer, TopicMessages, Transaction } from "kafkajs";
import { Backoff } from "../backoff.ts";
import type { TransactionsConfig } from "../config/mod.ts";
import { formatLsn } from "../lsn.ts";
import {
  type ResumePoint,
  resumePointAt,
  sameResumePoint,
  type StreamPosition,
} from "../progress.ts";
import {
  DELIVERED,
  messageSize,
  type Settle,
  type Sink,
  type SinkHealth,
  type SinkMessage,
} from "../sink.ts";
import { logger } from "../telemetry/log.ts";
import { CIRCUIT_STATE_VALUE, type Metrics } from "../telemetry/metrics.ts";
import { CircuitBreaker, type CircuitState } from "./circuit_breaker.ts";
import { classifyError, describeError, isTooLarge } from "./errors.ts";
import { createPartitioner } from "./partitioner.ts";
import type { ProgressRecord, ProgressTopic } from "./progress_topic.ts";
import { DEAD_LETTER_HEADER, DeadLetterError, type SinkOptions } from "./sink.ts";
import { isValidTopic } from "./topics.ts";

const log = logger("kafka");

/** kafkajs retries a little on its own; beyond that this sink recovers. */
const KAFKAJS_RETRY = { retries: 2, initialRetryTime: 100, maxRetryTime: 1000 };
const GZIP = 1; // kafkajs CompressionTypes.GZIP
const MS_PER_SECOND = 1000;
/** Broker errors that mean another producer took the transactional id over. */
const FENCED_ERRORS = new Set(["INVALID_PRODUCER_EPOCH", "PRODUCER_FENCED"]);

/** Settings of a {@linkcode TransactionalSink}. */
export interface TransactionalSinkOptions extends SinkOptions {
  source: string;
  slot: string;
  database: string;
  transactionalId: string;
  transactions: TransactionsConfig;
}

/** The producer was fenced: another process owns the source now. */
export class FencedError extends Error {
  /** Creates the error for `source`. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "FencedError";
  }
}

interface DeadLetter {
  reason: string;
  error: string;
  omitValue: boolean;
}

interface Pending<M extends SinkMessage> {
  readonly message: M;
  readonly settle: Settle<M>;
  deadLetter: DeadLetter | null;
}

/** The Kafka transaction being filled. */
interface OpenTransaction<M extends SinkMessage> {
  readonly pending: Pending<M>[];
  /** How many of `pending` went to the broker in the current kafkajs transaction. */
  sent: number;
  bytes: number;
  readonly openedAt: number;
  /**
   * Where Kafka will hold the source once this transaction commits: the
   * resume point of its latest mark (null before its first). It can commit
   * only right after a mark.
   */
  point: ResumePoint | null;
  /** Messages taken since the latest mark (the rest of a change). */
  uncovered: number;
}

/** The exactly-once sink of one source. */
export class TransactionalKafkaSink<M extends SinkMessage = SinkMessage> implements Sink<M> {
  readonly #kafka: Kafka;
  readonly #options: TransactionalSinkOptions;
  readonly #metrics: Metrics;
  readonly #progress: ProgressTopic;
  readonly #breaker: CircuitBreaker;
  readonly #backoff: Backoff;
  readonly #knownTopics = new Set<string>();
  #producer: Producer | null = null;
  #kafkaTxn: Transaction | null = null;
  /** Messages and marks in stream order, not yet in a transaction. */
  #queue: (Pending<M> | StreamPosition)[] = [];
  #open: OpenTransaction<M> | null = null;
  /** Where the last committed transaction left Kafka. */
  /**
   * Where Kafka holds the source up to: the last committed transaction, moved
   * on by transactions with nothing to write (all their changes filtered, or
   * their last messages committed before their Commit came). Each progress
   * record is built from it, so a record of a cut transaction names the last
   * whole one before it.
   */
  #committed: ResumePoint = { lsn: 0n, partial: null };
  /** The point of the last progress record written (or read at the claim). */
  #written: ResumePoint = { lsn: 0n, partial: null };
  #claimed = false;
  #wake: PromiseWithResolvers<void> | null = null;
  #drained: PromiseWithResolvers<void> | null = null;
  #running: Promise<void> | null = null;
  #stopping = false;
  #failure: Error | null = null;
  #healthListeners: ((health: SinkHealth) => void)[] = [];
  #failureListeners: ((error: Error) => void)[] = [];

  /** Creates the sink; {@linkcode start}, then {@linkcode claim} before sending. */
  constructor(
    kafka: Kafka,
    progress: ProgressTopic,
    options: TransactionalSinkOptions,
    metrics: Metrics,
  ) {
    this.#kafka = kafka;
    this.#progress = progress;
    this.#options = options;
    this.#metrics = metrics;
    this.#backoff = new Backoff(options.retry);
    this.#breaker = new CircuitBreaker({
      ...options.circuitBreaker,
      onStateChange: (to, from) => this.#onCircuit(to, from),
    });
  }

  /** The circuit breaker's state: anything but closed means Kafka is failing. */
  get circuitState(): CircuitState {
    return this.#breaker.state;
  }

  /** The fatal error that stopped the sink (fenced, dead-letter topic refused), if any. */
  get failure(): Error | null {
    return this.#failure;
  }

  /** Where the last committed Kafka transaction left the source. */
  get committed(): ResumePoint {
    return this.#committed;
  }

  /** The circuit state, and the failure that stopped the sink if any. */
  health(): SinkHealth {
    const state = this.#breaker.state;
    return { accepting: state !== "open", state, ok: state === "closed", failure: this.#failure };
  }

  /** Calls `listener` on every circuit state change and when the sink stops for good. */
  onHealthChange(listener: (health: SinkHealth) => void): void {
    this.#healthListeners.push(listener);
  }

  /** Calls `listener` once if the sink stops for good. */
  onFailure(listener: (error: Error) => void): void {
    this.#failureListeners.push(listener);
  }

  /** Creates the progress topic (retrying until Kafka answers) and starts the send loop. */
  async start(): Promise<void> {
    await this.#untilSuccess("create the progress topic", () => this.#progress.ensure());
    this.#running = this.#loop().catch((error) => this.#stopForGood(error));
  }

  /**
   * Takes the source over: initialises the transactional id (which fences a
   * previous owner and aborts its open transaction) and reads the progress
   * record. Waits until what earlier sessions handed is committed.
   */
  async claim(): Promise<ResumePoint> {
    await this.drain();
    if (this.#failure) throw this.#failure;
    await this.#untilSuccess("claim the transactional id", () => this.#recreateProducer());
    const read = await this.#untilSuccess("read the progress record", () => this.#readPoint());
    // Claimed again by this process (a new session after a reconnect) with
    // nothing written since by anyone: what it knows beyond the record holds.
    const known = this.#claimed && sameResumePoint(read, this.#written);
    if (!known) this.#committed = read;
    this.#written = read;
    this.#claimed = true;
    const point = this.#committed;
    this.#wakeLoop();
    log.info("Source {source} owns transactional id {id}; Kafka holds its changes up to {lsn}", {
      source: this.#options.source,
      id: this.#options.transactionalId,
      lsn: formatLsn(point.lsn),
      partial: point.partial === null
        ? "none"
        : `${point.partial.changes} change(s) of the transaction committing at ` +
          formatLsn(point.partial.commitLsn),
    });
    return point;
  }

  /** Queues a message for its topic; one Kafka refuses by name or size goes to the dead-letter topic. */
  send(message: M, settle: Settle<M>): void {
    this.#enqueue({ message, settle, deadLetter: this.#refusal(message) });
  }

  /** Queues a message straight for the dead-letter topic. */
  deadLetter(message: M, reason: string, error: string, settle: Settle<M>): void {
    this.#enqueue({ message, settle, deadLetter: { reason, error, omitValue: false } });
  }

  /** Marks where the messages handed so far end: a Kafka transaction may end here. */
  mark(position: StreamPosition): void {
    this.#enqueue(position);
  }

  /** Resolves when everything queued so far is committed (or the sink failed). */
  async drain(): Promise<void> {
    if (this.#idle() || this.#failure) return;
    this.#drained ??= Promise.withResolvers<void>();
    await this.#drained.promise;
  }

  /** Stops the loop (after the transaction in progress) and disconnects. */
  async stop(): Promise<void> {
    this.#stopping = true;
    this.#wakeLoop();
    await this.#running;
    await this.#producer?.disconnect().catch(() => {});
  }

  #idle(): boolean {
    return this.#queue.length === 0 && (this.#open === null || this.#open.pending.length === 0);
  }

  /** Why Kafka would refuse `message` before any attempt, or null. */
  #refusal(message: M): DeadLetter | null {
    if (!isValidTopic(message.topic)) {
      const error = `Kafka does not accept the topic name "${message.topic}"`;
      return { reason: "invalid_topic", error, omitValue: false };
    }
    if (message.size <= this.#options.maxMessageBytes) return null;
    return {
      reason: "too_large",
      error: `Message of ${message.size} bytes exceeds max_message_bytes ` +
        `(${this.#options.maxMessageBytes})`,
      omitValue: true,
    };
  }

  #enqueue(item: Pending<M> | StreamPosition): void {
    if (this.#failure) throw this.#failure;
    this.#queue.push(item);
    this.#wakeLoop();
  }

  #wakeLoop(): void {
    const wake = this.#wake;
    this.#wake = null;
    wake?.resolve();
  }

  async #loop(): Promise<void> {
    while (!this.#stopping) {
      if (!this.#claimed || this.#queue.length === 0) {
        if (this.#claimed && this.#commitDue(true)) {
          await this.#untilCommitted();
          continue;
        }
        if (this.#idle()) {
          this.#drained?.resolve();
          this.#drained = null;
        }
        this.#wake = Promise.withResolvers<void>();
        await this.#wake.promise;
        continue;
      }
      if (this.#open === null && this.#options.lingerMs > 0) {
        await sleep(this.#options.lingerMs);
      }
      this.#take();
      await this.#untilSent();
      if (this.#commitDue(this.#queue.length === 0)) await this.#untilCommitted();
    }
    // Stopping: commit what is complete; the rest is sent again after a restart.
    if (this.#claimed && this.#commitDue(true)) await this.#untilCommitted();
  }

  /** Moves up to a batch of messages (and the marks among them) into the open transaction. */
  #take(): void {
    const open = this.#open ??= {
      pending: [],
      sent: 0,
      bytes: 0,
      openedAt: performance.now(),
      point: null,
      uncovered: 0,
    };
    const { batchMaxMessages, batchMaxBytes } = this.#options;
    let count = 0;
    let bytes = 0;
    let taken = 0;
    while (taken < this.#queue.length && count < batchMaxMessages) {
      const item = this.#queue[taken];
      if ("message" in item) {
        if (count > 0 && bytes + item.message.size > batchMaxBytes) break;
        open.pending.push(item);
        open.bytes += item.message.size;
        open.uncovered++;
        bytes += item.message.size;
        count++;
      } else {
        // Each mark builds on the one before: a Commit followed by changes
        // of the next transaction keeps the Commit's end LSN as the base.
        open.point = resumePointAt(item, open.point ?? this.#committed);
        open.uncovered = 0;
      }
      taken++;
    }
    this.#queue = taken === this.#queue.length ? [] : this.#queue.slice(taken);
  }

  /** Whether the open transaction should commit now (`idle`: nothing more waits). */
  #commitDue(idle: boolean): boolean {
    const open = this.#open;
    if (open === null || open.point === null || open.uncovered > 0) return false;
    if (open.pending.length === 0) {
      // Nothing to write since the last commit: Kafka holds up to here already.
      this.#committed = open.point;
      this.#open = null;
      return false;
    }
    const { maxMessages, maxBytes, maxDurationMs } = this.#options.transactions;
    return idle || open.pending.length >= maxMessages || open.bytes >= maxBytes ||
      performance.now() - open.openedAt >= maxDurationMs;
  }

  /** Sends the open transaction's unsent messages, recovering until that works. */
  async #untilSent(): Promise<void> {
    while (true) {
      try {
        await this.#untilCircuitAllows();
        await this.#sendUnsent();
        this.#recordSuccess();
        return;
      } catch (error) {
        if (await this.#recoverFrom(error, null)) return;
      }
    }
  }

  /** Commits the open transaction with the progress record, recovering until that works. */
  async #untilCommitted(): Promise<void> {
    const open = this.#open!;
    const target = open.point!;
    while (true) {
      try {
        await this.#untilCircuitAllows();
        await this.#sendUnsent();
        const started = performance.now();
        const txn = await this.#transaction();
        await txn.send({ topic: this.#progress.topic, messages: [this.#record(target)], acks: -1 });
        await txn.commit();
        this.#kafkaTxn = null;
        this.#metrics.produceLatency.observe((performance.now() - started) / MS_PER_SECOND);
        this.#recordSuccess();
        break;
      } catch (error) {
        if (await this.#recoverFrom(error, target)) break;
      }
    }
    this.#committed = target;
    this.#written = target;
    this.#open = null;
    log.debug("Committed a Kafka transaction of {messages} messages, open {openMs} ms", {
      source: this.#options.source,
      messages: open.pending.length,
      openMs: Math.round(performance.now() - open.openedAt),
      lsn: formatLsn(target.lsn),
    });
    this.#metrics.kafkaTransactions.labels(this.#options.source, "committed").inc();
    this.#settle(open.pending);
  }

  async #sendUnsent(): Promise<void> {
    const open = this.#open!;
    if (open.sent === open.pending.length) return;
    const txn = await this.#transaction();
    await this.#ensureTopics(open.pending.slice(open.sent));
    const { batchMaxMessages } = this.#options;
    while (open.sent < open.pending.length) {
      const chunk = open.pending.slice(open.sent, open.sent + batchMaxMessages);
      await txn.sendBatch({
        topicMessages: this.#toTopicMessages(chunk),
        acks: -1,
        compression: this.#options.compression === "gzip" ? GZIP : undefined,
      });
      open.sent += chunk.length;
    }
  }

  async #transaction(): Promise<Transaction> {
    if (this.#kafkaTxn !== null) return this.#kafkaTxn;
    if (this.#producer === null) await this.#recreateProducer();
    this.#kafkaTxn = await this.#producer!.transaction();
    return this.#kafkaTxn;
  }

  /**
   * Handles a failed send or commit. Returns true when Kafka turns out to hold
   * `target` (the commit went through after all); else the open transaction
   * is to be sent again from its start.
   */
  async #recoverFrom(error: unknown, target: ResumePoint | null): Promise<boolean> {
    const failure = error instanceof Error ? error : new Error(String(error));
    if (isFenced(failure)) throw this.#fenced(failure);
    if (failure instanceof DeadLetterError || failure instanceof FencedError) throw failure;
    const kind = classifyError(failure);
    this.#metrics.kafkaErrors.labels(kind).inc();
    // Only a programming mistake throws these: retrying would loop on it.
    if (kind === "bug") throw failure;
    this.#breaker.recordFailure();
    const delayMs = this.#backoff.next();
    log.warn("Kafka transaction failed ({kind}), starting it again in {delayMs} ms: {error}", {
      kind,
      delayMs,
      error: failure.message,
      source: this.#options.source,
      messages: this.#open?.pending.length ?? 0,
      circuit: this.#breaker.state,
    });
    await sleep(delayMs);
    await this.#abortOrLearnFenced();
    this.#metrics.kafkaTransactions.labels(this.#options.source, "aborted").inc();
    // A new producer aborts the open transaction, or finishes a commit the
    // coordinator had received: afterwards the progress record tells which.
    await this.#untilSuccess("restart the transactional producer", () => this.#recreateProducer());
    const point = await this.#untilSuccess("read the progress record", () => this.#readPoint());
    if (target !== null && sameResumePoint(point, target)) return true;
    if (!sameResumePoint(point, this.#written)) {
      throw new FencedError(
        `The progress record of source ${this.#options.source} moved to ` +
          `${formatLsn(point.lsn)} without this process: another process owns the source`,
      );
    }
    if (kind === "poison") await this.#isolatePoison();
    this.#open!.sent = 0;
    return false;
  }

  /**
   * Aborts the open transaction with the current producer first: if another
   * process took the transactional id over meanwhile (this one was frozen,
   * say), the broker says so here, and this process stops instead of
   * fencing the new owner with a new producer.
   */
  async #abortOrLearnFenced(): Promise<void> {
    const txn = this.#kafkaTxn;
    this.#kafkaTxn = null;
    if (txn === null || !txn.isActive()) return;
    try {
      await txn.abort();
    } catch (error) {
      if (error instanceof Error && isFenced(error)) throw this.#fenced(error);
      // Unreachable or in an odd state: the new producer aborts it.
    }
  }

  /** Finds the messages the broker refuses by sending each alone in an aborted transaction. */
  async #isolatePoison(): Promise<void> {
    for (const pending of this.#open!.pending) {
      if (pending.deadLetter !== null && pending.deadLetter.omitValue) continue;
      const txn = await this.#producer!.transaction();
      try {
        await txn.sendBatch({ topicMessages: this.#toTopicMessages([pending]), acks: -1 });
        await txn.abort();
      } catch (error) {
        const failure = error instanceof Error ? error : new Error(String(error));
        if (isFenced(failure)) throw this.#fenced(failure);
        if (classifyError(failure) !== "poison") throw failure;
        this.#divert(pending, failure);
        await this.#recreateProducer();
      }
    }
  }

  /** Sends a refused message to the dead-letter topic instead (without its value if needed). */
  #divert(pending: Pending<M>, error: Error): void {
    const deadLetter = pending.deadLetter;
    if (deadLetter !== null) {
      if (deadLetter.omitValue) {
        throw new DeadLetterError(
          `The dead-letter topic "${this.#options.deadLetterTopic}" refused a message for ` +
            `"${pending.message.topic}": ${error.message}`,
          { cause: error },
        );
      }
      deadLetter.omitValue = true;
      return;
    }
    const tooLarge = isTooLarge(error);
    pending.deadLetter = {
      reason: tooLarge ? "too_large" : "rejected",
      error: describeError(error),
      omitValue: tooLarge,
    };
  }

  async #recreateProducer(): Promise<void> {
    this.#kafkaTxn = null;
    const old = this.#producer;
    this.#producer = null;
    await old?.disconnect().catch(() => {});
    const producer = this.#kafka.producer({
      transactionalId: this.#options.transactionalId,
      transactionTimeout: this.#options.transactions.timeoutMs,
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: true,
      createPartitioner,
      retry: KAFKAJS_RETRY,
    });
    try {
      await producer.connect();
      // kafkajs initialises the transactional id at the first transaction:
      // this is what fences a previous owner. The empty transaction costs
      // nothing on the broker.
      const txn = await producer.transaction();
      await txn.abort();
    } catch (error) {
      await producer.disconnect().catch(() => {});
      const failure = error instanceof Error ? error : new Error(String(error));
      if (isFenced(failure)) throw this.#fenced(failure);
      throw failure;
    }
    this.#producer = producer;
  }

  async #readPoint(): Promise<ResumePoint> {
    const { source, slot, database } = this.#options;
    const record = await this.#progress.read(source);
    if (record === null) return { lsn: 0n, partial: null };
    if (record.slot !== slot || record.database !== database) {
      log.warn(
        "The progress record of source {source} is for slot {recordSlot} of database " +
          "{recordDatabase}, not this source's: starting without it",
        { source, recordSlot: record.slot, recordDatabase: record.database },
      );
      return { lsn: 0n, partial: null };
    }
    return record.point;
  }

  #record(point: ResumePoint): Message {
    const { source, slot, database } = this.#options;
    const record: ProgressRecord = {
      source,
      slot,
      database,
      point,
      writtenAt: new Date().toISOString(),
    };
    return this.#progress.message(record);
  }

  #fenced(error: Error): FencedError {
    return new FencedError(
      `Another process took the transactional id "${this.#options.transactionalId}" of source ` +
        `${this.#options.source} over (or its transaction outlived kafka.transactions.timeout): ` +
        `this process stops without committing again. ${error.message}`,
      { cause: error },
    );
  }

  #stopForGood(error: Error): void {
    this.#failure = error;
    this.#drained?.resolve();
    log.fatal("Kafka sink of source {source} stopped: {error}", {
      source: this.#options.source,
      error: String(error),
    });
    // The producer must not commit anything more.
    this.#producer?.disconnect().catch(() => {});
    this.#producer = null;
    for (const listener of this.#healthListeners) listener(this.health());
    for (const listener of this.#failureListeners) listener(error);
  }

  #recordSuccess(): void {
    this.#breaker.recordSuccess();
    this.#backoff.reset();
  }

  async #ensureTopics(batch: Pending<M>[]): Promise<void> {
    const settings = this.#options.createTopics;
    if (settings === null) return;
    const missing = new Set<string>();
    for (const { message, deadLetter } of batch) {
      const topic = deadLetter ? this.#options.deadLetterTopic : message.topic;
      if (!this.#knownTopics.has(topic)) missing.add(topic);
    }
    if (missing.size === 0) return;
    const admin = this.#kafka.admin({ retry: KAFKAJS_RETRY });
    await admin.connect();
    try {
      await admin.createTopics({
        waitForLeaders: true,
        topics: [...missing].map((topic) => ({
          topic,
          numPartitions: settings.partitions,
          replicationFactor: settings.replicationFactor,
        })),
      });
    } finally {
      await admin.disconnect().catch(() => {});
    }
    for (const topic of missing) this.#knownTopics.add(topic);
  }

  async #untilCircuitAllows(): Promise<void> {
    while (!this.#breaker.allowRequest()) {
      await sleep(Math.max(1, this.#breaker.remainingOpenMs));
    }
  }

  #toTopicMessages(batch: Pending<M>[]): TopicMessages[] {
    const byTopic = new Map<string, Message[]>();
    for (const pending of batch) {
      const topic = pending.deadLetter ? this.#options.deadLetterTopic : pending.message.topic;
      let messages = byTopic.get(topic);
      if (messages === undefined) byTopic.set(topic, messages = []);
      messages.push(
        pending.deadLetter ? this.#deadLetterMessage(pending) : {
          key: pending.message.key,
          value: pending.message.value,
          headers: pending.message.headers,
        },
      );
    }
    return Array.from(byTopic, ([topic, messages]) => ({ topic, messages }));
  }

  #deadLetterMessage({ message, deadLetter }: Pending<M>): Message {
    const headers: Record<string, string> = {
      ...message.headers,
      [DEAD_LETTER_HEADER.reason]: deadLetter!.reason,
      [DEAD_LETTER_HEADER.error]: deadLetter!.error,
      [DEAD_LETTER_HEADER.topic]: message.topic,
    };
    const omit = deadLetter!.omitValue ||
      messageSize(message.key, message.value, headers) > this.#options.maxMessageBytes;
    if (omit) headers[DEAD_LETTER_HEADER.valueOmitted] = "too_large";
    return { key: message.key, value: omit ? null : message.value, headers };
  }

  #settle(batch: Pending<M>[]): void {
    for (const { message, settle, deadLetter } of batch) {
      settle(
        message,
        deadLetter === null
          ? DELIVERED
          : { outcome: "dead_lettered", reason: deadLetter.reason, error: deadLetter.error },
      );
    }
  }

  async #untilSuccess<T>(what: string, action: () => Promise<T>): Promise<T> {
    while (true) {
      try {
        const result = await action();
        this.#backoff.reset();
        return result;
      } catch (error) {
        if (error instanceof FencedError || this.#stopping) throw error;
        const delayMs = this.#backoff.next();
        log.warn("Could not {what} for source {source}, retrying in {delayMs} ms: {error}", {
          what,
          source: this.#options.source,
          delayMs,
          error: String(error),
        });
        await sleep(delayMs);
      }
    }
  }

  #onCircuit(to: CircuitState, from: CircuitState): void {
    this.#metrics.circuitState.set(CIRCUIT_STATE_VALUE[to]);
    const level = to === "open" ? "error" : "info";
    log[level]("Kafka circuit {from} → {to}", { from, to, source: this.#options.source });
    const health = this.health();
    for (const listener of this.#healthListeners) listener(health);
  }
}

/** Whether a kafkajs error says the producer's epoch is no longer current. */
function isFenced(error: Error): boolean {
  const type = (error as { type?: string }).type;
  if (type !== undefined && FENCED_ERRORS.has(type)) return true;
  const cause = (error as { cause?: unknown }).cause;
  return cause instanceof Error && isFenced(cause);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
