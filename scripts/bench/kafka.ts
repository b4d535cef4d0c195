/**
 * Kafka for the bench: the bench topic (timestamps are the broker's
 * LogAppendTime, so a message's timestamp is when the broker appended it,
 * on the broker's clock), end offsets to detect completion, and reading
 * messages back for their timestamps and commit times.
 *
 * @module
 */
import { type Admin, Kafka, logLevel } from "kafkajs";
import { routeProcessWarnings } from "../../src/kafka/client.ts";

/** Partitions of the bench topic, as pg2kafka's default `topic_partitions`. */
export const BENCH_TOPIC_PARTITIONS = 3;
const OFFSET_POLL_MS = 50;
const CONSUMER_MAX_WAIT_MS = 100;
const READ_TIMEOUT_MS = 300_000;

/** A message read back: where it is, when the broker appended it and its value. */
export interface ReadBack {
  readonly partition: number;
  readonly offset: number;
  /** The broker's append time, in milliseconds since the Unix epoch. */
  readonly appendedAt: number;
  readonly value: string | null;
}

/** A kafkajs client for the bench, quiet (kafkajs's negative-timer warning dropped too). */
export function benchKafka(broker: string): Kafka {
  routeProcessWarnings((warning) => console.warn(`${warning.name}: ${warning.message}`));
  return new Kafka({ clientId: "pg2kafka-bench", brokers: [broker], logLevel: logLevel.NOTHING });
}

/** Creates `topic` with the broker's append time as message timestamp. */
export async function createBenchTopic(admin: Admin, topic: string): Promise<void> {
  await admin.createTopics({
    waitForLeaders: true,
    topics: [{
      topic,
      numPartitions: BENCH_TOPIC_PARTITIONS,
      replicationFactor: 1,
      configEntries: [{ name: "message.timestamp.type", value: "LogAppendTime" }],
    }],
  });
}

/** Messages in `topic` (sum over partitions of high watermark minus low). */
export async function messageCount(admin: Admin, topic: string): Promise<number> {
  const offsets = await admin.fetchTopicOffsets(topic);
  return offsets.reduce((sum, p) => sum + Number(p.high) - Number(p.low), 0);
}

/**
 * Polls the topic's end offsets until it holds `expected` messages.
 *
 * @throws {Error} when `failed()` reports a reason (the connector died) or after `timeoutMs`.
 */
export async function waitForMessages(
  admin: Admin,
  topic: string,
  expected: number,
  timeoutMs: number,
  failed: () => string | null,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  let count = 0;
  while ((count = await messageCount(admin, topic)) < expected) {
    const reason = failed();
    if (reason !== null) {
      throw new Error(`${reason} with ${count} of ${expected} messages in ${topic}`);
    }
    if (performance.now() > deadline) {
      throw new Error(`Only ${count} of ${expected} messages reached ${topic} in ${timeoutMs} ms`);
    }
    await new Promise((resolve) => setTimeout(resolve, OFFSET_POLL_MS));
  }
}

/**
 * Reads each partition of `topic` from `from(partition)` up to its current
 * end, calling `onMessage` for each message in offset order per partition.
 */
export async function readTopic(
  kafka: Kafka,
  topic: string,
  from: (partition: number, low: number, high: number) => number,
  onMessage: (message: ReadBack) => void,
): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  const offsets = await admin.fetchTopicOffsets(topic).finally(() => admin.disconnect());
  const pending = new Map<number, { start: number; end: number }>();
  for (const p of offsets) {
    const [low, high] = [Number(p.low), Number(p.high)];
    if (high <= low) continue;
    const start = Math.max(low, from(p.partition, low, high));
    if (start < high) pending.set(p.partition, { start, end: high });
  }
  if (pending.size === 0) return;
  const consumer = kafka.consumer({
    groupId: `pg2kafka-bench-${crypto.randomUUID()}`,
    maxWaitTimeInMs: CONSUMER_MAX_WAIT_MS,
  });
  const done = Promise.withResolvers<void>();
  const timer = setTimeout(
    () => done.reject(new Error(`Reading ${topic} back took over ${READ_TIMEOUT_MS} ms`)),
    READ_TIMEOUT_MS,
  );
  // A partition can end with a commit marker, which no batch delivers.
  consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
    const range = pending.get(payload.partition);
    if (range !== undefined && Number(payload.lastOffset) >= range.end - 1) {
      pending.delete(payload.partition);
    }
    if (pending.size === 0) done.resolve();
  });
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({
      eachBatchAutoResolve: true,
      eachBatch: ({ batch }) => {
        const range = pending.get(batch.partition);
        if (range === undefined) return Promise.resolve();
        for (const message of batch.messages) {
          const offset = Number(message.offset);
          if (offset < range.start || offset >= range.end) continue;
          onMessage({
            partition: batch.partition,
            offset,
            appendedAt: Number(message.timestamp),
            value: message.value?.toString() ?? null,
          });
          if (offset >= range.end - 1) pending.delete(batch.partition);
        }
        if (pending.size === 0) done.resolve();
        return Promise.resolve();
      },
    });
    for (const [partition, { start }] of pending) {
      consumer.seek({ topic, partition, offset: String(start) });
    }
    await done.promise;
  } finally {
    clearTimeout(timer);
    await consumer.disconnect();
  }
}

/**
 * Offsets read back from each partition's end to find its last message: a
 * transactional producer's commit markers take offsets of their own.
 */
const LAST_MESSAGE_WINDOW = 64;

/** The last message of each non-empty partition of `topic`. */
export async function lastMessages(kafka: Kafka, topic: string): Promise<ReadBack[]> {
  const last = new Map<number, ReadBack>();
  await readTopic(kafka, topic, (_partition, _low, high) => high - LAST_MESSAGE_WINDOW, (m) => {
    const seen = last.get(m.partition);
    if (seen === undefined || m.offset > seen.offset) last.set(m.partition, m);
  });
  return [...last.values()];
}
