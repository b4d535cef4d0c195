/**
 * The progress record of exactly-once delivery: per source, how far its
 * changes are committed to Kafka, written inside every Kafka transaction of
 * that source to a compacted topic (key = source name), and read back with
 * `read_committed` when the source starts streaming.
 *
 * The value is JSON:
 *
 * ```json
 * {"source":"orders","slot":"pg2kafka","database":"shop","lsn":"0/1A2B3C8",
 *  "partial":{"commit_lsn":"0/1A2C000","changes":5000,"change_lsn":"0/1A2BF00"},
 *  "written_at":"2026-11-30T02:00:00.000Z"}
 * ```
 *
 * `lsn` is the commit end LSN of the last PostgreSQL transaction fully in
 * Kafka. `partial` (or null) describes the PostgreSQL transaction that was cut
 * across several Kafka transactions: its commit LSN (Begin's final LSN), how
 * many of its changes are in Kafka and the LSN of the last of them.
 *
 * @module
 */
import type { Admin, Kafka, Message } from "kafkajs";
import { formatLsn, parseLsn } from "../lsn.ts";
import type { ResumePoint } from "../progress.ts";

/** One source's progress, as stored in the progress topic. */
export interface ProgressRecord {
  readonly source: string;
  readonly slot: string;
  readonly database: string;
  /** Where the source's changes are committed to Kafka up to. */
  readonly point: ResumePoint;
  /** When the record was written (ISO-8601); informative. */
  readonly writtenAt: string;
}

/** The record as the progress message value. */
export function encodeProgress(record: ProgressRecord): string {
  const { partial } = record.point;
  return JSON.stringify({
    source: record.source,
    slot: record.slot,
    database: record.database,
    lsn: formatLsn(record.point.lsn),
    partial: partial === null ? null : {
      commit_lsn: formatLsn(partial.commitLsn),
      changes: partial.changes,
      change_lsn: formatLsn(partial.changeLsn),
    },
    written_at: record.writtenAt,
  });
}

/**
 * Parses a progress message value.
 *
 * @throws {Error} naming the field when the value is not a progress record.
 */
export function decodeProgress(value: string): ProgressRecord {
  const json = JSON.parse(value);
  const text = (name: string, from: Record<string, unknown> = json): string => {
    const field = from?.[name];
    if (typeof field !== "string") {
      throw new Error(`Progress record has no text field "${name}": ${value}`);
    }
    return field;
  };
  const partial = json.partial;
  let parsedPartial: ResumePoint["partial"] = null;
  if (partial !== null && partial !== undefined) {
    if (!Number.isSafeInteger(partial.changes) || partial.changes < 0) {
      throw new Error(`Progress record has no count "partial.changes": ${value}`);
    }
    parsedPartial = {
      commitLsn: parseLsn(text("commit_lsn", partial)),
      changes: partial.changes,
      changeLsn: parseLsn(text("change_lsn", partial)),
    };
  }
  return {
    source: text("source"),
    slot: text("slot"),
    database: text("database"),
    point: { lsn: parseLsn(text("lsn")), partial: parsedPartial },
    writtenAt: text("written_at"),
  };
}

/** Settings of a {@linkcode ProgressTopic}. */
export interface ProgressTopicOptions {
  topic: string;
  /** Replication factor when pg2kafka creates the topic. */
  replicationFactor: number;
}

/** The compacted topic of progress records. */
export class ProgressTopic {
  readonly #kafka: Kafka;
  readonly #options: ProgressTopicOptions;

  /** Reaches the topic through `kafka`. */
  constructor(kafka: Kafka, options: ProgressTopicOptions) {
    this.#kafka = kafka;
    this.#options = options;
  }

  /** The topic's name. */
  get topic(): string {
    return this.#options.topic;
  }

  /** The Kafka message that stores `record` (to send inside a Kafka transaction). */
  message(record: ProgressRecord): Message {
    return { key: record.source, value: encodeProgress(record) };
  }

  /**
   * Creates the topic, compacted and with one partition, unless it exists.
   * One partition keeps each read short and ordered.
   */
  async ensure(): Promise<void> {
    await this.#withAdmin(async (admin) => {
      const existing = await admin.listTopics();
      if (existing.includes(this.#options.topic)) return;
      await admin.createTopics({
        waitForLeaders: true,
        topics: [{
          topic: this.#options.topic,
          numPartitions: 1,
          replicationFactor: this.#options.replicationFactor,
          configEntries: [{ name: "cleanup.policy", value: "compact" }],
        }],
      });
    });
  }

  /**
   * Reads the newest committed record of `source` (`read_committed`), or null
   * when it has none. Waits while another producer's transaction holds the
   * topic's last stable offset back.
   */
  async read(source: string): Promise<ProgressRecord | null> {
    const ends = await this.#withAdmin((admin) => admin.fetchTopicOffsets(this.#options.topic));
    const targets = new Map(ends.map(({ partition, high }) => [partition, BigInt(high)]));
    for (const [partition, high] of targets) if (high === 0n) targets.delete(partition);
    if (targets.size === 0) return null;
    const consumer = this.#kafka.consumer({
      groupId: `pg2kafka.progress-reader.${source}.${crypto.randomUUID()}`,
      readUncommitted: false,
    });
    let newest: ProgressRecord | null = null;
    const done = Promise.withResolvers<void>();
    consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
      const high = targets.get(payload.partition);
      if (high !== undefined && BigInt(payload.lastOffset) >= high - 1n) {
        targets.delete(payload.partition);
      }
      if (targets.size === 0) done.resolve();
    });
    consumer.on(consumer.events.CRASH, ({ payload }) => done.reject(payload.error));
    try {
      await consumer.connect();
      await consumer.subscribe({ topic: this.#options.topic, fromBeginning: true });
      await consumer.run({
        autoCommit: false,
        eachMessage: ({ message }) => {
          if (message.key?.toString() === source && message.value !== null) {
            newest = decodeProgress(message.value.toString());
          }
          return Promise.resolve();
        },
      });
      await done.promise;
    } finally {
      await consumer.disconnect().catch(() => {});
    }
    return newest;
  }

  async #withAdmin<T>(action: (admin: Admin) => Promise<T>): Promise<T> {
    const admin = this.#kafka.admin();
    await admin.connect();
    try {
      return await action(admin);
    } finally {
      await admin.disconnect().catch(() => {});
    }
  }
}
