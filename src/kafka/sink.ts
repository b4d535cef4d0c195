/**
 * The Kafka sink: batches messages, produces them with the idempotent kafkajs
 * producer (acks=all), retries transient failures without a time limit behind
 * a circuit breaker, and sends poison messages to the dead-letter topic.
 *
 * One batch is in flight at a time and a failed batch is retried before any
 * later one, so one key's messages reach their partition in commit order
 * (DESIGN invariant 5). A message is settled (its transaction's checkpoint
 * told, its in-flight budget released) only after Kafka acked it, in its topic
 * or in the dead-letter topic (invariants 1 and 2).
 *
 * @module
 */
import type { Admin, Kafka, Message, Producer, TopicMessages } from "kafkajs";
import type { OutgoingMessage } from "../pipeline/message.ts";
import { messageSize } from "../pipeline/message.ts";
import { formatLsn } from "../lsn.ts";
import type { ChangeOutcome, Metrics } from "../ops/metrics.ts";
import { CIRCUIT_STATE_VALUE } from "../ops/metrics.ts";
import { logger } from "../ops/log.ts";
import { Backoff, type BackoffOptions } from "./backoff.ts";
import { createPartitioner } from "./partitioner.ts";
import {
  brokerReleaseLine,
  formatApisInUse,
  negotiateApiVersions,
  producerApis,
  readBrokerApiVersions,
  UnsupportedBrokerError,
} from "./api_versions.ts";
import { CircuitBreaker, type CircuitState } from "./circuit_breaker.ts";
import { classifyError, describeError, isTooLarge, type KafkaErrorKind } from "./errors.ts";

/** Tuning of a {@linkcode KafkaSink}. */
export interface SinkOptions {
  lingerMs: number;
  batchMaxMessages: number;
  batchMaxBytes: number;
  /** Larger messages go to the dead-letter topic without being tried. */
  maxMessageBytes: number;
  deadLetterTopic: string;
  compression: "none" | "gzip";
  retry: BackoffOptions;
  circuitBreaker: { failureThreshold: number; openDurationMs: number };
  /** Create missing topics with these settings (else rely on broker auto-creation). */
  createTopics: { partitions: number; replicationFactor: number } | null;
}

/** Header names added to a dead-lettered message. */
export const DEAD_LETTER_HEADER = {
  reason: "pg2kafka.dlq.reason",
  error: "pg2kafka.dlq.error",
  topic: "pg2kafka.dlq.original_topic",
  valueOmitted: "pg2kafka.dlq.value_omitted",
} as const;

/** The dead-letter topic itself refused a message: the pipeline must stop. */
export class DeadLetterError extends Error {
  /** Creates the error for the message at `lsn` that could not be parked. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "DeadLetterError";
  }
}

const log = logger("kafka");
/**
 * kafkajs retries a little on its own; beyond that this sink's backoff and
 * circuit breaker take over, without a time limit.
 */
const KAFKAJS_RETRY = { retries: 2, initialRetryTime: 100, maxRetryTime: 1000 };
const GZIP = 1; // kafkajs CompressionTypes.GZIP
const MS_PER_SECOND = 1000;
const MICROS_PER_SECOND = 1_000_000;

/** Why a message goes to the dead-letter topic, and whether its value still travels with it. */
interface DeadLetter {
  reason: string;
  error: string;
  /** Send key and headers only: the value is what Kafka refused. */
  omitValue: boolean;
}

/** A message waiting for Kafka, with the reason when it goes to the dead-letter topic. */
interface Pending {
  message: OutgoingMessage;
  deadLetter: DeadLetter | null;
}

/**
 * Produces {@linkcode OutgoingMessage}s to Kafka. `send` never blocks: the
 * caller bounds what it sends with its in-flight account.
 */
export class KafkaSink {
  readonly #producer: Producer;
  readonly #admin: Admin;
  /** Topics known to exist (created or seen). */
  readonly #knownTopics = new Set<string>();
  readonly #kafka: Kafka;
  readonly #options: SinkOptions;
  readonly #metrics: Metrics;
  readonly #breaker: CircuitBreaker;
  readonly #backoff: Backoff;
  #queue: Pending[] = [];
  #wake: PromiseWithResolvers<void> | null = null;
  #drained: PromiseWithResolvers<void> | null = null;
  #running: Promise<void> | null = null;
  #stopping = false;
  #delivering = false;
  #failure: Error | null = null;
  #stateListeners: ((state: CircuitState) => void)[] = [];
  #failureListeners: ((error: Error) => void)[] = [];

  /** Creates the sink; call {@linkcode start} before sending. */
  constructor(kafka: Kafka, options: SinkOptions, metrics: Metrics) {
    this.#options = options;
    this.#metrics = metrics;
    this.#producer = kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: true,
      // murmur2 on the key, as the Java client: one row's changes share a partition.
      createPartitioner,
      retry: KAFKAJS_RETRY,
    });
    this.#admin = kafka.admin({ retry: KAFKAJS_RETRY });
    this.#kafka = kafka;
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

  /** Messages queued and not yet acked. */
  get queued(): number {
    return this.#queue.length;
  }

  /** The fatal error that stopped the sink, if any. */
  get failure(): Error | null {
    return this.#failure;
  }

  /** Calls `listener` on every circuit state change. */
  onCircuitChange(listener: (state: CircuitState) => void): void {
    this.#stateListeners.push(listener);
  }

  /** Calls `listener` once if the sink stops for good (the dead-letter topic failed). */
  onFailure(listener: (error: Error) => void): void {
    this.#failureListeners.push(listener);
  }

  /**
   * Connects the producer (retrying until Kafka answers), checks the broker
   * accepts the protocol versions pg2kafka speaks, and starts the send loop.
   *
   * @throws {UnsupportedBrokerError} when the broker lacks one of them.
   */
  async start(): Promise<void> {
    await this.#untilSuccess("connect", () => this.#producer.connect());
    await this.#checkBroker();
    if (this.#options.createTopics) {
      await this.#untilSuccess("admin connect", () => this.#admin.connect());
    }
    this.#running = this.#loop().catch((error) => {
      this.#failure = error;
      this.#drained?.resolve();
      log.fatal("Kafka sink stopped: {error}", { error: String(error) });
      for (const listener of this.#failureListeners) listener(error);
    });
  }

  /** Queues a message for its topic. */
  send(message: OutgoingMessage): void {
    const tooLarge = message.size > this.#options.maxMessageBytes;
    this.#enqueue({
      message,
      deadLetter: tooLarge
        ? {
          reason: "too_large",
          error: `Message of ${message.size} bytes exceeds max_message_bytes ` +
            `(${this.#options.maxMessageBytes})`,
          omitValue: true,
        }
        : null,
    });
  }

  /** Queues a message straight for the dead-letter topic (unencodable, filter failed). */
  deadLetter(message: OutgoingMessage, reason: string, error: string): void {
    this.#enqueue({ message, deadLetter: { reason, error, omitValue: false } });
  }

  /** Resolves when everything queued so far is acked (or the sink failed). */
  async drain(): Promise<void> {
    if ((this.#queue.length === 0 && !this.#delivering) || this.#failure) return;
    this.#drained ??= Promise.withResolvers<void>();
    await this.#drained.promise;
  }

  /** Stops the loop (after the batch in flight) and disconnects. */
  async stop(): Promise<void> {
    this.#stopping = true;
    this.#wake?.resolve();
    await this.#running;
    await this.#producer.disconnect().catch(() => {});
    if (this.#options.createTopics) await this.#admin.disconnect().catch(() => {});
  }

  #enqueue(pending: Pending): void {
    if (this.#failure) throw this.#failure;
    this.#queue.push(pending);
    if (this.#wake && this.#queue.length >= 1) {
      const wake = this.#wake;
      this.#wake = null;
      wake.resolve();
    }
  }

  async #loop(): Promise<void> {
    while (!this.#stopping) {
      if (this.#queue.length === 0) {
        this.#drained?.resolve();
        this.#drained = null;
        this.#wake = Promise.withResolvers<void>();
        await this.#wake.promise;
        continue;
      }
      if (this.#queue.length < this.#options.batchMaxMessages && this.#options.lingerMs > 0) {
        await sleep(this.#options.lingerMs);
      }
      const batch = this.#takeBatch();
      this.#delivering = true;
      await this.#deliver(batch);
      this.#delivering = false;
    }
  }

  #takeBatch(): Pending[] {
    const { batchMaxMessages, batchMaxBytes } = this.#options;
    let count = 0;
    let bytes = 0;
    while (count < this.#queue.length && count < batchMaxMessages) {
      bytes += this.#queue[count].message.size;
      if (count > 0 && bytes > batchMaxBytes) break;
      count++;
    }
    const batch = this.#queue.slice(0, count);
    this.#queue = this.#queue.slice(count);
    return batch;
  }

  /** Creates the batch's topics that do not exist yet. */
  async #ensureTopics(batch: Pending[]): Promise<void> {
    const settings = this.#options.createTopics;
    if (settings === null) return;
    const missing = new Set<string>();
    for (const { message, deadLetter } of batch) {
      const topic = deadLetter ? this.#options.deadLetterTopic : message.topic;
      if (!this.#knownTopics.has(topic)) missing.add(topic);
    }
    if (missing.size === 0) return;
    const topics = [...missing].map((topic) => ({
      topic,
      numPartitions: settings.partitions,
      replicationFactor: settings.replicationFactor,
    }));
    await this.#admin.createTopics({ topics, waitForLeaders: true });
    for (const topic of missing) this.#knownTopics.add(topic);
  }

  /** Delivers a batch; on a poison error splits it until the poison message is alone. */
  async #deliver(batch: Pending[]): Promise<void> {
    while (true) {
      const error = await this.#attempt(batch);
      if (error === null) return this.#settle(batch);
      const kind = classifyError(error);
      this.#metrics.kafkaErrors.labels(kind).inc();
      if (kind === "poison") {
        if (batch.length === 1) return await this.#divert(batch[0], error);
        const middle = batch.length >> 1;
        await this.#deliver(batch.slice(0, middle));
        await this.#deliver(batch.slice(middle));
        return;
      }
      await this.#retryLater(kind, error, batch);
    }
  }

  /** One produce attempt; null on success, else the error. */
  async #attempt(batch: Pending[]): Promise<Error | null> {
    await this.#untilCircuitAllows();
    const started = performance.now();
    try {
      await this.#ensureTopics(batch);
      await this.#producer.sendBatch({
        topicMessages: this.#toTopicMessages(batch),
        acks: -1,
        compression: this.#options.compression === "gzip" ? GZIP : undefined,
      });
      this.#metrics.produceLatency.observe((performance.now() - started) / MS_PER_SECOND);
      this.#breaker.recordSuccess();
      this.#backoff.reset();
      return null;
    } catch (error) {
      return error instanceof Error ? error : new Error(String(error));
    }
  }

  async #retryLater(kind: KafkaErrorKind, error: Error, batch: Pending[]): Promise<void> {
    this.#breaker.recordFailure();
    const delayMs = this.#backoff.next();
    const first = batch[0].message.origin;
    log.warn("Produce failed ({kind}), retrying {count} messages in {delayMs} ms: {error}", {
      kind,
      count: batch.length,
      delayMs,
      error: error.message,
      source: first.source,
      lsn: formatLsn(first.lsn),
      circuit: this.#breaker.state,
    });
    await sleep(delayMs);
  }

  async #untilCircuitAllows(): Promise<void> {
    while (!this.#breaker.allowRequest()) {
      await sleep(Math.max(1, this.#breaker.remainingOpenMs));
    }
  }

  /**
   * Sends a poison message to the dead-letter topic, retrying transient
   * errors. A dead letter the topic refuses is sent again without its value;
   * refused even so, the pipeline must stop.
   */
  async #divert(pending: Pending, error: Error): Promise<void> {
    const deadLetter = pending.deadLetter;
    if (deadLetter !== null && !deadLetter.omitValue) {
      deadLetter.omitValue = true;
      return await this.#deliver([pending]);
    }
    if (deadLetter !== null) {
      throw new DeadLetterError(
        `The dead-letter topic "${this.#options.deadLetterTopic}" refused the message at LSN ` +
          `${formatLsn(pending.message.origin.lsn)}: ${error.message}`,
        { cause: error },
      );
    }
    const tooLarge = isTooLarge(error);
    pending.deadLetter = {
      reason: tooLarge ? "too_large" : "rejected",
      error: describeError(error),
      omitValue: tooLarge,
    };
    await this.#deliver([pending]);
  }

  #toTopicMessages(batch: Pending[]): TopicMessages[] {
    const byTopic = new Map<string, Message[]>();
    for (const pending of batch) {
      const topic = pending.deadLetter ? this.#options.deadLetterTopic : pending.message.topic;
      let messages = byTopic.get(topic);
      if (messages === undefined) byTopic.set(topic, messages = []);
      messages.push(pending.deadLetter ? this.#deadLetterMessage(pending) : pending.message);
    }
    return Array.from(byTopic, ([topic, messages]) => ({ topic, messages }));
  }

  #deadLetterMessage({ message, deadLetter }: Pending): Message {
    const headers: Record<string, string> = {
      ...message.headers,
      [DEAD_LETTER_HEADER.reason]: deadLetter!.reason,
      [DEAD_LETTER_HEADER.error]: deadLetter!.error,
      [DEAD_LETTER_HEADER.topic]: message.topic,
    };
    // A value too large for its topic is too large here too: park the
    // position and the key; the row can be read back from PostgreSQL.
    const omit = deadLetter!.omitValue ||
      messageSize(message.key, message.value, headers) > this.#options.maxMessageBytes;
    if (omit) headers[DEAD_LETTER_HEADER.valueOmitted] = "too_large";
    return { key: message.key, value: omit ? null : message.value, headers };
  }

  #settle(batch: Pending[]): void {
    const nowMicros = Date.now() * 1000;
    let newestCommit = 0n;
    for (const { message, deadLetter } of batch) {
      const origin = message.origin;
      const outcome: ChangeOutcome = deadLetter ? "dead_lettered" : "delivered";
      this.#metrics.changes.labels(origin.source, origin.target, outcome).inc(origin.events ?? 1);
      if (deadLetter) {
        log.error("Dead-lettered a change ({reason}): {error}", {
          reason: deadLetter.reason,
          error: deadLetter.error,
          source: origin.source,
          target: origin.target,
          topic: message.topic,
          table: origin.table,
          lsn: formatLsn(origin.lsn),
          xid: origin.xid,
        });
      }
      origin.account.release(message.size);
      origin.checkpoint.settle(origin.tx);
      if (origin.commitTimeMicros > newestCommit) newestCommit = origin.commitTimeMicros;
    }
    const source = batch[0].message.origin.source;
    this.#metrics.lagSeconds.labels(source).set(
      (nowMicros - Number(newestCommit)) / MICROS_PER_SECOND,
    );
  }

  /** Logs the broker's release line and the API versions in use; throws when one is missing. */
  async #checkBroker(): Promise<void> {
    const broker = await this.#untilSuccess(
      "ApiVersions",
      () => readBrokerApiVersions(this.#kafka),
    );
    const apis = producerApis({ createTopics: this.#options.createTopics !== null });
    const { inUse, missing } = negotiateApiVersions(broker, apis);
    if (missing.length > 0) throw new UnsupportedBrokerError(missing);
    log.info("Kafka broker: {release}; API versions in use: {apis}", {
      release: brokerReleaseLine(broker),
      apis: formatApisInUse(inUse),
    });
  }

  async #untilSuccess<T>(what: string, action: () => Promise<T>): Promise<T> {
    while (true) {
      try {
        const result = await action();
        this.#backoff.reset();
        return result;
      } catch (error) {
        const delayMs = this.#backoff.next();
        log.warn("Kafka {what} failed, retrying in {delayMs} ms: {error}", {
          what,
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
    log[level]("Kafka circuit {from} → {to}", { from, to });
    for (const listener of this.#stateListeners) listener(to);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
