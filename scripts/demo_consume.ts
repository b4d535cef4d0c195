/**
 * Prints the newest messages of some topics as they arrive, for the demo.
 *
 * Usage: `deno run --allow-all scripts/demo_consume.ts BROKER COUNT TOPIC…`
 *
 * @module
 */
import { Kafka, logLevel } from "kafkajs";
import { routeProcessWarnings } from "../src/kafka/client.ts";

routeProcessWarnings((warning) => console.warn(`${warning.name}: ${warning.message}`));

const TIMEOUT_MS = 30_000;

/** Prints `count` messages that arrive on `topics` after start-up, then resolves. */
export async function printNewMessages(broker: string, count: number, topics: string[]) {
  const kafka = new Kafka({
    clientId: "pg2kafka-demo",
    brokers: [broker],
    logLevel: logLevel.NOTHING,
  });
  const consumer = kafka.consumer({ groupId: `pg2kafka-demo-${crypto.randomUUID()}` });
  await consumer.connect();
  await consumer.subscribe({ topics, fromBeginning: true });
  let seen = 0;
  const done = Promise.withResolvers<void>();
  const since = Date.now() - TIMEOUT_MS;
  await consumer.run({
    eachMessage: ({ topic, partition, message }) => {
      if (Number(message.timestamp) < since) return Promise.resolve();
      console.log(`${topic} [partition ${partition}] key=${message.key}`);
      console.log(`  ${message.value?.toString() ?? "null"}`);
      if (++seen >= count) done.resolve();
      return Promise.resolve();
    },
  });
  const timer = setTimeout(() => done.resolve(), TIMEOUT_MS);
  await done.promise;
  clearTimeout(timer);
  await consumer.disconnect();
  return seen;
}

if (import.meta.main) {
  const [broker, count, ...topics] = Deno.args;
  const seen = await printNewMessages(broker, Number(count), topics);
  console.log(`${seen} message(s) received`);
  Deno.exit(seen >= Number(count) ? 0 : 1);
}
