/**
 * Waits until a Kafka broker answers a metadata request.
 *
 * Usage: `deno run --allow-net --allow-env --allow-read scripts/wait_kafka.ts HOST:PORT TIMEOUT_S`
 *
 * @module
 */
import { Kafka, logLevel } from "kafkajs";
import { routeProcessWarnings } from "../src/kafka/client.ts";

routeProcessWarnings((warning) => console.warn(`${warning.name}: ${warning.message}`));

const RETRY_DELAY_MS = 500;
const MS_PER_SECOND = 1000;

/** Resolves true once `broker` lists its topics, false when `timeoutMs` passes first. */
export async function waitForKafka(broker: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  const kafka = new Kafka({
    clientId: "pg2kafka-stack-probe",
    brokers: [broker],
    logLevel: logLevel.NOTHING,
    retry: { retries: 0 },
  });
  while (Date.now() < deadline) {
    const admin = kafka.admin();
    try {
      await admin.connect();
      await admin.listTopics();
      return true;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, RETRY_DELAY_MS));
    } finally {
      await admin.disconnect().catch(() => {});
    }
  }
  return false;
}

if (import.meta.main) {
  const [broker, timeoutSeconds] = Deno.args;
  const ready = await waitForKafka(broker, Number(timeoutSeconds) * MS_PER_SECOND);
  Deno.exit(ready ? 0 : 1);
}
