/**
 * The Kafka sink, pg2kafka's implementation of the {@linkcode Sink} port:
 * batches messages, produces them with the idempotent kafkajs producer
 * (acks=all), retries transient failures without a time limit behind a
 * circuit breaker, and sends poison messages (too large, invalid topic name,
 * rejected record) to the dead-letter topic.
 *
 * One batch is in flight at a time and a failed batch is retried before any
 * later one, so one key's messages reach their partition in commit order
 * (DESIGN invariant 5). Each message's partition is fixed the first time it
 * is sent (keyless ones too), so every retry carries the same records to the
 * same partitions and the idempotent producer's sequence numbers stay in step
 * with the broker. Should they fall out of step all the same (a sequence or
 * producer-fencing error), the sink starts a producer with a new identity and
 * sends the unacknowledged batch again: duplicates are possible, loss is not.
 * A message is settled, through the callback it was sent with, only after
 * Kafka acked it in its topic or in the dead-letter topic (invariants 1, 2).
 * An error that only a programming mistake throws stops the sink: it is a
 * bug, not Kafka being down, and retrying it would wedge the pipeline.
 *
 * @module
 */
import type { Admin, Kafka, Message, Producer, ProducerConfig, TopicMessages } from "kafkajs";
import { Backoff, type BackoffOptions } from "../backoff.ts";
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
import {
  brokerReleaseLine,
  formatApisInUse,
  negotiateApiVersions,
  producerApis,
  readBrokerApiVersions,
  UnsupportedBrokerError,
} from "./api_versions.ts";
import { CircuitBreaker, type CircuitState } from "./circuit_breaker.ts";
import {
  classifyError,
  describeError,
  isTimeout,
  isTooLarge,
  type KafkaErrorKind,
} from "./errors.ts";
import { createPartitioner } from "./partitioner.ts";
import { isValidTopic } from "./topics.ts";

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

/** The dead-letter topic itself refused a message, or the sink hit a bug: the pipeline must stop. */
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
/**
 * Produce requests that may time out in a row before the sink drops its
 * connections: kafkajs keeps a connection whose requests time out, and one
 * that died without a reset (a half-open TCP connection) would fail every
 * request forever.
 */
const TIMEOUTS_BEFORE_RECONNECT = 2;
const MS_PER_SECOND = 1000;
/** How long {@linkcode KafkaSink.stop} waits for the request in flight before disconnecting. */
const STOP_WAIT_MS = 1000;

/** Why a message goes to the dead-letter topic, and whether its value still travels with it. */
interface DeadLetter {
  reason: string;
  error: string;
  /** Send key and headers only: the value is what Kafka refused. */
  omitValue: boolean;
}

/** A message waiting for Kafka, with the reason when it goes to the dead-letter topic. */
interface Pending<M extends SinkMessage> {
  readonly message: M;
  readonly settle: Settle<M>;
  deadLetter: DeadLetter | null;
  /**
   * The kafkajs record, built once and sent as is by every attempt: the
   * partitioner writes its choice into it on the first attempt, so a retry
   * goes where the first attempt went. Rebuilt when the message is diverted.
   */
  record: Message | null;
}

/**
 * Produces messages to Kafka. `send` never blocks: the caller bounds what it
 * sends with its in-flight budget.
 */
export class KafkaSink<M extends SinkMessage = SinkMessage> implements Sink<M> {
  readonly #kafka: Kafka;
  #producer: Producer;
  readonly #admin: Admin;
  /** Topics known to exist (created or seen). */
  readonly #knownTopics = new Set<string>();
  readonly #options: SinkOptions;
  readonly #metrics: Metrics;
  readonly #breaker: CircuitBreaker;
  readonly #backoff: Backoff;
  /** Aborts the waits of the send loop when the sink stops. */
  readonly #stopSignal = new AbortController();
  #queue: Pending<M>[] = [];
  #wake: PromiseWithResolvers<void> | null = null;
  #drained: PromiseWithResolvers<void> | null = null;
  #running: Promise<void> | null = null;
  #delivering = false;
  #failure: Error | null = null;
  #healthListeners: ((health: SinkHealth) => void)[] = [];
  #failureListeners: ((error: Error) => void)[] = [];
  /** Producer identities used so far: 1 plus each renewal. */
  #producerGeneration = 1;
  /** Produce requests timed out in a row. */
  #timeouts = 0;

  /** Creates the sink; call {@linkcode start} before sending. */
  constructor(kafka: Kafka, options: SinkOptions, metrics: Metrics) {
    this.#kafka = kafka;
    this.#options = options;
    this.#metrics = metrics;
    this.#producer = kafka.producer(PRODUCER_CONFIG);
    this.#admin = kafka.admin({ retry: KAFKAJS_RETRY });
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

  /** How many producer identities the sink used (more than 1 after a sequence error). */
  get producerGeneration(): number {
    return this.#producerGeneration;
  }

  /** The circuit state, and the failure that stopped the sink if any. */
  health(): SinkHealth {
    const state = this.#breaker.state;
    return { accepting: state !== "open", state, ok: state === "closed", failure: this.#failure };
  }

  /** Calls `listener` on every circuit state change. */
  onHealthChange(listener: (health: SinkHealth) => void): void {
    this.#healthListeners.push(listener);
  }

  /** Calls `listener` once if the sink stops for good (the dead-letter topic failed, or a bug). */
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
    this.#running = this.#loop().catch((error) => this.#fail(error));
  }

  /** Queues a message for its topic; one Kafka refuses by name or size goes to the dead-letter topic. */
  send(message: M, settle: Settle<M>): void {
    this.#enqueue({ message, settle, deadLetter: this.#refusal(message), record: null });
  }

  /** Queues a message straight for the dead-letter topic (unencodable, filter failed). */
  deadLetter(message: M, reason: string, error: string, settle: Settle<M>): void {
    this.#enqueue({
      message,
      settle,
      deadLetter: { reason, error, omitValue: false },
      record: null,
    });
  }

  /** Resolves when everything queued so far is acked (or the sink failed or stopped). */
  async drain(): Promise<void> {
    if ((this.#queue.length === 0 && !this.#delivering) || this.#failure) return;
    this.#drained ??= Promise.withResolvers<void>();
    await this.#drained.promise;
  }

  /**
   * Stops the loop and disconnects. A batch in flight gets up to a few seconds
   * to finish; whatever is not acked then is never settled.
   */
  async stop(): Promise<void> {
    this.#stopSignal.abort();
    this.#wake?.resolve();
    this.#drained?.resolve();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const gaveUp = new Promise<void>((resolve) => timer = setTimeout(resolve, STOP_WAIT_MS));
    await Promise.race([this.#running, gaveUp]);
    clearTimeout(timer);
    await this.#producer.disconnect().catch(() => {});
    if (this.#options.createTopics) await this.#admin.disconnect().catch(() => {});
  }

  get #stopping(): boolean {
    return this.#stopSignal.signal.aborted;
  }

  /** Why Kafka would refuse `message` before any attempt, or null. */
  #refusal(message: M): DeadLetter | null {
    if (!isValidTopic(message.topic)) {
      const error = `Kafka does not accept the topic name "${message.topic}"`;
      log.warn("A message for topic {topic} goes to the dead-letter topic: {error}", {
        topic: message.topic,
        error,
      });
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

  #enqueue(pending: Pending<M>): void {
    if (this.#failure) throw this.#failure;
    this.#queue.push(pending);
    if (this.#wake) {
      const wake = this.#wake;
      this.#wake = null;
      wake.resolve();
    }
  }

  #fail(error: Error): void {
    this.#failure = error;
    this.#drained?.resolve();
    log.fatal("Kafka sink stopped: {error}", { error: String(error) });
    for (const listener of this.#healthListeners) listener(this.health());
    for (const listener of this.#failureListeners) listener(error);
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
        await this.#sleep(this.#options.lingerMs);
      }
      const batch = this.#takeBatch();
      this.#delivering = true;
      await this.#deliver(batch);
      this.#delivering = false;
    }
  }

  #takeBatch(): Pending<M>[] {
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
  async #ensureTopics(batch: Pending<M>[]): Promise<void> {
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

  /**
   * Delivers a batch, retrying until Kafka acks it; on a poison error splits
   * it until the poison message is alone. Returns without settling when the
   * sink stops.
   */
  async #deliver(batch: Pending<M>[]): Promise<void> {
    while (!this.#stopping) {
      const error = await this.#attempt(batch);
      if (error === null) return this.#settle(batch);
      if (this.#stopping) return;
      const kind = classifyError(error);
      this.#metrics.kafkaErrors.labels(kind).inc();
      switch (kind) {
        case "bug":
          throw new DeadLetterError(`Bug in pg2kafka while producing: ${error.message}`, {
            cause: error,
          });
        case "poison": {
          if (batch.length === 1) return await this.#divert(batch[0], error);
          const middle = batch.length >> 1;
          await this.#deliver(batch.slice(0, middle));
          await this.#deliver(batch.slice(middle));
          return;
        }
        case "fenced":
          await this.#renewProducer("Kafka refused the producer's sequence", error, batch.length);
          break;
        case "transient":
          this.#timeouts = isTimeout(error) ? this.#timeouts + 1 : 0;
          if (this.#timeouts >= TIMEOUTS_BEFORE_RECONNECT) {
            this.#timeouts = 0;
            await this.#renewProducer("Produce requests keep timing out", error, batch.length);
          }
          await this.#retryLater(kind, error, batch);
      }
    }
  }

  /** One produce attempt; null on success, else the error. */
  async #attempt(batch: Pending<M>[]): Promise<Error | null> {
    await this.#untilCircuitAllows();
    if (this.#stopping) return new Error("The Kafka sink is stopping");
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
      this.#timeouts = 0;
      return null;
    } catch (error) {
      return error instanceof Error ? error : new Error(String(error));
    }
  }

  /**
   * Replaces the producer: new connections and a new identity whose sequences
   * start over. Used when the broker refused this producer's sequence numbers
   * or identity (sending the same batch again under it would fail forever),
   * and when requests keep timing out (the connection may be dead without a
   * reset). The unacknowledged batch is then sent again: what the broker
   * already wrote of it is duplicated, not lost.
   */
  async #renewProducer(why: string, error: Error, count: number): Promise<void> {
    this.#producerGeneration++;
    log.warn(
      "{why} ({error}); resending {count} unacknowledged message(s) with a new producer " +
        "(generation {generation})",
      { why, error: describeError(error), count, generation: this.#producerGeneration },
    );
    const old = this.#producer;
    await old.disconnect().catch(() => {});
    this.#producer = this.#kafka.producer(PRODUCER_CONFIG);
    await this.#untilSuccess("connect", () => this.#producer.connect());
  }

  async #retryLater(kind: KafkaErrorKind, error: Error, batch: Pending<M>[]): Promise<void> {
    this.#breaker.recordFailure();
    const delayMs = this.#backoff.next();
    log.warn("Produce failed ({kind}), retrying {count} messages in {delayMs} ms: {error}", {
      kind,
      count: batch.length,
      delayMs,
      error: error.message,
      topic: batch[0].message.topic,
      circuit: this.#breaker.state,
    });
    await this.#sleep(delayMs);
  }

  async #untilCircuitAllows(): Promise<void> {
    while (!this.#stopping && !this.#breaker.allowRequest()) {
      await this.#sleep(Math.max(1, this.#breaker.remainingOpenMs));
    }
  }

  /**
   * Sends a poison message to the dead-letter topic, retrying transient
   * errors. A dead letter the topic refuses is sent again without its value;
   * refused even so, the pipeline must stop.
   */
  async #divert(pending: Pending<M>, error: Error): Promise<void> {
    pending.record = null;
    const deadLetter = pending.deadLetter;
    if (deadLetter !== null && !deadLetter.omitValue) {
      deadLetter.omitValue = true;
      return await this.#deliver([pending]);
    }
    if (deadLetter !== null) {
      throw new DeadLetterError(
        `The dead-letter topic "${this.#options.deadLetterTopic}" refused a message for ` +
          `${pending.message.topic}: ${error.message}`,
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

  #toTopicMessages(batch: Pending<M>[]): TopicMessages[] {
    const byTopic = new Map<string, Message[]>();
    for (const pending of batch) {
      const topic = pending.deadLetter ? this.#options.deadLetterTopic : pending.message.topic;
      let messages = byTopic.get(topic);
      if (messages === undefined) byTopic.set(topic, messages = []);
      pending.record ??= pending.deadLetter ? this.#deadLetterMessage(pending) : {
        key: pending.message.key,
        value: pending.message.value,
        headers: pending.message.headers,
      };
      messages.push(pending.record);
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
    // A value too large for its topic is too large here too: park the
    // position and the key; the row can be read back from PostgreSQL.
    const omit = deadLetter!.omitValue ||
      messageSize(message.key, message.value, headers) > this.#options.maxMessageBytes;
    if (omit) headers[DEAD_LETTER_HEADER.valueOmitted] = "too_large";
    return { key: message.key, value: omit ? null : message.value, headers };
  }

  #settle(batch: Pending<M>[]): void {
    for (const pending of batch) {
      const { deadLetter } = pending;
      pending.settle(
        pending.message,
        deadLetter === null
          ? DELIVERED
          : { outcome: "dead_lettered", reason: deadLetter.reason, error: deadLetter.error },
      );
    }
  }

  /** Logs the broker's release line and the API versions in use; throws when one is missing. */
  async #checkBroker(): Promise<void> {
    const broker = await this.#untilSuccess(
      "ApiVersions",
      () => readBrokerApiVersions(this.#kafka),
    );
    if (broker === undefined) return; // stopping
    const apis = producerApis({ createTopics: this.#options.createTopics !== null });
    const { inUse, missing } = negotiateApiVersions(broker, apis);
    if (missing.length > 0) throw new UnsupportedBrokerError(missing);
    log.info("Kafka broker: {release}; API versions in use: {apis}", {
      release: brokerReleaseLine(broker),
      apis: formatApisInUse(inUse),
    });
  }

  /** Runs `action` until it succeeds (its result) or the sink stops (undefined). */
  async #untilSuccess<T>(what: string, action: () => Promise<T>): Promise<T | undefined> {
    while (!this.#stopping) {
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
        await this.#sleep(delayMs);
      }
    }
    return undefined;
  }

  #onCircuit(to: CircuitState, from: CircuitState): void {
    this.#metrics.circuitState.set(CIRCUIT_STATE_VALUE[to]);
    const level = to === "open" ? "error" : "info";
    log[level]("Kafka circuit {from} → {to}", { from, to });
    const health = this.health();
    for (const listener of this.#healthListeners) listener(health);
  }

  /** Waits `ms`, or less when the sink stops. */
  #sleep(ms: number): Promise<void> {
    const signal = this.#stopSignal.signal;
    if (signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener("abort", done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener("abort", done, { once: true });
    });
  }
}

/** The idempotent producer every generation of the sink uses. */
const PRODUCER_CONFIG: ProducerConfig = {
  idempotent: true,
  maxInFlightRequests: 1,
  allowAutoTopicCreation: true,
  // murmur2 on the key, as the Java client; the choice is written into the record.
  createPartitioner,
  retry: KAFKAJS_RETRY,
};
