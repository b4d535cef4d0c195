/**
 * The {@linkcode ProgressStore} in a compacted Kafka topic, next to the data:
 * key = source name, value = the record's JSON (`src/progress/record.ts`).
 * Compaction keeps the newest record of each source, so the topic stays
 * small however often it is written.
 *
 * Reading takes a short-lived consumer (its own throw-away group, deleted
 * afterwards) that reads the topic from the beginning up to the end offsets
 * it found when it started, keeping the last value of the source's key.
 * A missing topic means no source ever wrote a record (a new deployment); any
 * other failure to read is an error, never an empty answer.
 *
 * @module
 */
import type { Admin, Consumer, Kafka, Producer } from "kafkajs";
import { logger } from "../telemetry/log.ts";
import { createPartitioner } from "./partitioner.ts";
import {
  decodeProgressRecord,
  encodeProgressRecord,
  type ProgressRecord,
  type ProgressStore,
} from "../progress/mod.ts";

/** Where and how the store keeps its records. */
export interface KafkaProgressStoreOptions {
  /** The compacted topic (created when missing). */
  topic: string;
  /** Replication factor of the topic when pg2kafka creates it. */
  replicationFactor: number;
  /** How long a read may take before it fails. */
  readTimeoutMs: number;
}

/** One partition: every key goes to it, so a reader needs just one. */
const PROGRESS_PARTITIONS = 1;
/** Kafka's answer when a topic to create exists already. */
const TOPIC_EXISTS = "TOPIC_ALREADY_EXISTS";

const log = logger("progress");

/**
 * Progress records in a compacted Kafka topic.
 *
 * @example
 * ```ts
 * const store = new KafkaProgressStore(createKafka(config.kafka), {
 *   topic: "pg2kafka.progress",
 *   replicationFactor: 3,
 *   readTimeoutMs: 30_000,
 * });
 * const record = await store.read("main"); // null for a source that never streamed
 * await store.stop();
 * ```
 */
export class KafkaProgressStore implements ProgressStore {
  readonly #kafka: Kafka;
  readonly #options: KafkaProgressStoreOptions;
  #producer: Promise<Producer> | null = null;
  #topicReady: Promise<void> | null = null;

  /** Creates the store; it connects on first use. */
  constructor(kafka: Kafka, options: KafkaProgressStoreOptions) {
    this.#kafka = kafka;
    this.#options = options;
  }

  /** The topic the records live in. */
  get topic(): string {
    return this.#options.topic;
  }

  /** Reads the newest record of `source` (see the module docs). */
  async read(source: string): Promise<ProgressRecord | null> {
    const { topic } = this.#options;
    const ends = await this.#withAdmin(async (admin) => {
      if (!(await admin.listTopics()).includes(topic)) return null;
      return await admin.fetchTopicOffsets(topic);
    });
    if (ends === null) {
      log.info("Progress topic {topic} does not exist yet: no source has a record", { topic });
      return null;
    }
    const pending = new Map<number, bigint>();
    for (const { partition, offset, low } of ends) {
      if (BigInt(offset) > BigInt(low)) pending.set(partition, BigInt(offset) - 1n);
    }
    if (pending.size === 0) return null;
    return await this.#readUpTo(source, pending);
  }

  /** Writes `record` (acks=all), creating the topic first when needed. */
  async write(record: ProgressRecord): Promise<void> {
    const producer = await this.#connectedProducer();
    const { key, value } = encodeProgressRecord(record);
    await producer.send({ topic: this.#options.topic, acks: -1, messages: [{ key, value }] });
  }

  /**
   * Creates the compacted topic unless it exists.
   *
   * @throws {Error} when the topic is missing and cannot be created.
   */
  ensureTopic(): Promise<void> {
    this.#topicReady ??= this.#withAdmin(async (admin) => {
      const { topic, replicationFactor } = this.#options;
      try {
        const created = await admin.createTopics({
          waitForLeaders: true,
          topics: [{
            topic,
            numPartitions: PROGRESS_PARTITIONS,
            replicationFactor,
            configEntries: [{ name: "cleanup.policy", value: "compact" }],
          }],
        });
        if (created) log.info("Created progress topic {topic}", { topic });
      } catch (error) {
        if (!String((error as { type?: string }).type ?? error).includes(TOPIC_EXISTS)) throw error;
      }
    }).catch((error) => {
      this.#topicReady = null; // try again on the next write
      throw error;
    });
    return this.#topicReady;
  }

  /** Disconnects the producer, if one was connected. */
  async stop(): Promise<void> {
    const producer = this.#producer;
    this.#producer = null;
    if (producer !== null) await (await producer.catch(() => null))?.disconnect().catch(() => {});
  }

  #connectedProducer(): Promise<Producer> {
    this.#producer ??= (async () => {
      await this.ensureTopic();
      const producer = this.#kafka.producer({ allowAutoTopicCreation: false, createPartitioner });
      await producer.connect();
      return producer;
    })().catch((error) => {
      this.#producer = null;
      throw error;
    });
    return this.#producer;
  }

  async #withAdmin<T>(work: (admin: Admin) => Promise<T>): Promise<T> {
    const admin = this.#kafka.admin();
    await admin.connect();
    try {
      return await work(admin);
    } finally {
      await admin.disconnect().catch(() => {});
    }
  }

  /** Consumes every partition up to `lastOffsets`, keeping the last value of `source`. */
  async #readUpTo(
    source: string,
    lastOffsets: Map<number, bigint>,
  ): Promise<ProgressRecord | null> {
    const { topic, readTimeoutMs } = this.#options;
    const groupId = `pg2kafka-progress-reader-${crypto.randomUUID()}`;
    const consumer: Consumer = this.#kafka.consumer({ groupId });
    let latest: string | null = null;
    const done = Promise.withResolvers<void>();
    const timer = setTimeout(
      () => done.reject(new Error(`Reading progress topic ${topic} took over ${readTimeoutMs} ms`)),
      readTimeoutMs,
    );
    try {
      // Batch ends, also of batches kafkajs filtered empty (transaction markers only).
      consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
        const last = lastOffsets.get(payload.partition);
        if (last !== undefined && BigInt(payload.lastOffset) >= last) {
          lastOffsets.delete(payload.partition);
        }
        if (lastOffsets.size === 0) done.resolve();
      });
      await consumer.connect();
      await consumer.subscribe({ topics: [topic], fromBeginning: true });
      await consumer.run({
        autoCommit: false,
        eachBatch: ({ batch }) => {
          for (const message of batch.messages) {
            if (message.key?.toString() === source) latest = message.value?.toString() ?? null;
          }
          return Promise.resolve();
        },
      });
      await done.promise;
    } finally {
      clearTimeout(timer);
      await consumer.disconnect().catch(() => {});
      await this.#withAdmin((admin) => admin.deleteGroups([groupId])).catch(() => {});
    }
    // A null value is a tombstone: the record was deleted on purpose.
    return latest === null ? null : decodeProgressRecord(latest);
  }
}
