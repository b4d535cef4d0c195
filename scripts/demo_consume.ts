/**
 * Prints the messages of the demo's changes, for scripts/demo.sh: those of
 * some topics whose source position (the `pg2kafka.lsn` header) is at or
 * after the WAL position where the demo started changing rows. Earlier runs'
 * messages, and their redeliveries, stay in the topics and out of the output.
 *
 * Usage: `deno run --allow-all scripts/demo_consume.ts BROKER SINCE_LSN COUNT TOPIC…`
 *
 * Exits 0 after printing COUNT such messages, 1 when they do not all arrive in time.
 *
 * @module
 */
import { Kafka, logLevel } from "kafkajs";
import { routeProcessWarnings } from "../src/kafka/client.ts";
import { type Lsn, parseLsn } from "../src/lsn.ts";
import { HEADER } from "../src/pipeline/message.ts";

routeProcessWarnings((warning) => console.warn(`${warning.name}: ${warning.message}`));

const TIMEOUT_MS = 60_000;
const POLL_MS = 250;

/** A message of the demo, as printed. */
export interface DemoMessage {
  topic: string;
  partition: number;
  lsn: Lsn;
  key: string | null;
  value: string | null;
}

/** The message's source LSN, or null when it carries none (not pg2kafka's). */
export function messageLsn(headers: Record<string, unknown> | undefined): Lsn | null {
  const header = headers?.[HEADER.lsn];
  if (header === undefined || header === null) return null;
  return parseLsn(String(header));
}

/** Waits until the connector has created every topic: a consumer cannot subscribe before. */
async function waitForTopics(kafka: Kafka, topics: string[], deadline: number): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    while (Date.now() < deadline) {
      const existing = new Set(await admin.listTopics());
      if (topics.every((topic) => existing.has(topic))) return;
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
    throw new Error(`The topics ${topics.join(", ")} did not appear within ${TIMEOUT_MS} ms`);
  } finally {
    await admin.disconnect();
  }
}

/**
 * Reads `topics` from the beginning and returns, in source order, up to
 * `count` messages from `since` on, once all arrived or the time is up.
 */
export async function demoMessages(
  broker: string,
  since: Lsn,
  count: number,
  topics: string[],
): Promise<DemoMessage[]> {
  const deadline = Date.now() + TIMEOUT_MS;
  const kafka = new Kafka({
    clientId: "pg2kafka-demo",
    brokers: [broker],
    logLevel: logLevel.NOTHING,
  });
  await waitForTopics(kafka, topics, deadline);
  const consumer = kafka.consumer({ groupId: `pg2kafka-demo-${crypto.randomUUID()}` });
  const found: DemoMessage[] = [];
  const done = Promise.withResolvers<void>();
  await consumer.connect();
  try {
    await consumer.subscribe({ topics, fromBeginning: true });
    await consumer.run({
      eachMessage: ({ topic, partition, message }) => {
        const lsn = messageLsn(message.headers);
        if (lsn === null || lsn < since) return Promise.resolve();
        const key = message.key?.toString() ?? null;
        const value = message.value?.toString() ?? null;
        found.push({ topic, partition, lsn, key, value });
        if (found.length >= count) done.resolve();
        return Promise.resolve();
      },
    });
    const timer = setTimeout(() => done.resolve(), Math.max(0, deadline - Date.now()));
    await done.promise;
    clearTimeout(timer);
  } finally {
    await consumer.disconnect();
  }
  return found.sort((a, b) => (a.lsn < b.lsn ? -1 : a.lsn > b.lsn ? 1 : 0));
}

if (import.meta.main) {
  const [broker, since, count, ...topics] = Deno.args;
  const expected = Number(count);
  const messages = await demoMessages(broker, parseLsn(since), expected, topics);
  for (const { topic, partition, key, value } of messages) {
    console.log(`${topic} [partition ${partition}] key=${key}`);
    console.log(`  ${value ?? "null"}`);
  }
  console.log(`${messages.length} of ${expected} message(s) received`);
  Deno.exit(messages.length >= expected ? 0 : 1);
}
