/**
 * The Kafka progress store (project issue 14) against the real broker: a
 * missing topic reads as "no record", records round-trip and the newest of a
 * source wins, the topic is created compacted, and an unreachable broker is an
 * error, never an empty answer.
 */
import assert from "node:assert/strict";
import { ConfigResourceTypes, Kafka, logLevel } from "kafkajs";
import { KafkaProgressStore } from "../../src/kafka/progress_store.ts";
import type { ProgressRecord } from "../../src/progress/mod.ts";
import { testKafka, uniqueName } from "./harness.ts";

const integration = { sanitizeOps: false, sanitizeResources: false };
const READ_TIMEOUT_MS = 30_000;

function record(source: string, lsn: bigint): ProgressRecord {
  return {
    source,
    slot: `${source}_slot`,
    database: "app",
    systemIdentifier: "7301234567890123456",
    lsn,
    writtenAt: new Date().toISOString(),
  };
}

function storeOn(topic: string, kafka: Kafka = testKafka()): KafkaProgressStore {
  return new KafkaProgressStore(kafka, {
    topic,
    replicationFactor: 1,
    readTimeoutMs: READ_TIMEOUT_MS,
  });
}

Deno.test(
  "KafkaProgressStore.read() finds no record while the topic does not exist",
  integration,
  async () => {
    const store = storeOn(uniqueName("tests.progress"));
    try {
      assert.equal(await store.read("main"), null);
    } finally {
      await store.stop();
    }
  },
);

Deno.test(
  "KafkaProgressStore keeps the newest record of each source in a compacted topic",
  integration,
  async () => {
    const topic = uniqueName("tests.progress");
    const store = storeOn(topic);
    try {
      await store.write(record("main", 100n));
      await store.write(record("other", 999n));
      const newest = record("main", 200n);
      await store.write(newest);
      assert.deepEqual(await store.read("main"), newest);
      assert.equal((await store.read("other"))?.lsn, 999n);
      assert.equal(await store.read("unknown"), null);

      const admin = testKafka().admin();
      await admin.connect();
      try {
        const { resources } = await admin.describeConfigs({
          includeSynonyms: false,
          resources: [{
            type: ConfigResourceTypes.TOPIC,
            name: topic,
            configNames: ["cleanup.policy"],
          }],
        });
        assert.equal(resources[0].configEntries[0].configValue, "compact");
        const [metadata] = (await admin.fetchTopicMetadata({ topics: [topic] })).topics;
        assert.equal(metadata.partitions.length, 1);
      } finally {
        await admin.disconnect();
      }
    } finally {
      await store.stop();
    }
  },
);

Deno.test("KafkaProgressStore.read() fails when Kafka cannot be reached", integration, async () => {
  const unreachable = new Kafka({
    clientId: "pg2kafka-tests",
    brokers: ["127.0.0.1:1"],
    logLevel: logLevel.NOTHING,
    retry: { retries: 0 },
    connectionTimeout: 500,
  });
  const store = storeOn(uniqueName("tests.progress"), unreachable);
  await assert.rejects(() => store.read("main"), /ECONNREFUSED|Connection/i);
  await store.stop();
});
