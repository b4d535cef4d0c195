import assert from "node:assert/strict";
import type { Kafka } from "kafkajs";
import { KafkaProbe } from "../../src/ops/kafka_probe.ts";

const INTERVAL_MS = 20;
const TIMEOUT_MS = 50;

/** How the fake cluster answers a metadata request. */
type Answer = "ok" | "refused" | "silent";

/** A kafkajs client whose admin answers as `cluster.answer` says. */
function fakeKafka(cluster: { answer: Answer; admins: number; disconnects: number }): Kafka {
  const respond = () => {
    if (cluster.answer === "ok") return Promise.resolve();
    if (cluster.answer === "refused") {
      return Promise.reject(new Error("Connection error: connect ECONNREFUSED"));
    }
    return new Promise<void>(() => {});
  };
  return {
    admin: () => {
      cluster.admins++;
      return {
        connect: respond,
        describeCluster: respond,
        disconnect: () => {
          cluster.disconnects++;
          return Promise.resolve();
        },
      };
    },
  } as unknown as Kafka;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits until `probe.reachable` is `expected`, or fails. */
async function until(probe: KafkaProbe, expected: boolean): Promise<void> {
  const deadline = Date.now() + 2000;
  while (probe.reachable !== expected) {
    assert.ok(Date.now() < deadline, `the probe never became ${expected ? "" : "un"}reachable`);
    await sleep(INTERVAL_MS / 2);
  }
}

function probeOf(cluster: { answer: Answer; admins: number; disconnects: number }) {
  const results: boolean[] = [];
  const probe = new KafkaProbe(fakeKafka(cluster), {
    brokers: ["broker:9092"],
    intervalMs: INTERVAL_MS,
    timeoutMs: TIMEOUT_MS,
    onResult: (reachable) => results.push(reachable),
  });
  return { probe, results };
}

Deno.test("KafkaProbe reports a refusing cluster unreachable and recovers with a fresh client", async () => {
  const cluster = { answer: "ok" as Answer, admins: 0, disconnects: 0 };
  const { probe, results } = probeOf(cluster);
  assert.equal(probe.error, "not probed yet");
  probe.start();
  try {
    await until(probe, true);
    cluster.answer = "refused";
    await until(probe, false);
    assert.equal(probe.error, "Connection error: connect ECONNREFUSED");
    cluster.answer = "ok";
    await until(probe, true);
    assert.equal(probe.error, null);
    assert.ok(cluster.admins >= 2, "a failed client is replaced");
    assert.deepEqual([results[0], results.includes(false), results.at(-1)], [true, true, true]);
  } finally {
    await probe.stop();
  }
});

Deno.test("KafkaProbe reports a cluster that never answers after the timeout", async () => {
  const cluster = { answer: "silent" as Answer, admins: 0, disconnects: 0 };
  const { probe } = probeOf(cluster);
  probe.start();
  try {
    await sleep(TIMEOUT_MS * 3);
    assert.equal(probe.reachable, false);
    assert.equal(probe.error, `no answer within ${TIMEOUT_MS} ms`);
    // Still one request in flight, not a pile of them.
    assert.equal(cluster.admins, 1);
  } finally {
    await probe.stop();
  }
  assert.equal(cluster.disconnects, 1, "stop() disconnects the pending client");
});
