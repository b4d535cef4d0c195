import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { type PartitionerArgs, Partitioners, type PartitionMetadata } from "kafkajs";
import { createPartitioner, murmur2 } from "../../src/kafka/partitioner.ts";

/** Kafka's own test vectors (clients/src/test/java/org/apache/kafka/common/utils/UtilsTest.java). */
const JAVA_MURMUR2 = [
  ["21", -973932308],
  ["foobar", -790332482],
  ["a-little-bit-long-string", -985981536],
  ["a-little-bit-longer-string", -1486304829],
  ["lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971],
  ["abc", 479470107],
] as const;

Deno.test("murmur2() gives the Java client's hashes", () => {
  for (const [text, hash] of JAVA_MURMUR2) {
    const bytes = new TextEncoder().encode(text);
    assert.equal(murmur2(bytes, bytes.length), hash, text);
  }
});

function metadata(count: number, leaderless: number[] = []): PartitionMetadata[] {
  return Array.from({ length: count }, (_, partitionId) => ({
    partitionErrorCode: 0,
    partitionId,
    leader: leaderless.includes(partitionId) ? -1 : 0,
    replicas: [0],
    isr: [0],
  }));
}

/** Keys of every kind: pg2kafka's JSON keys, unicode, every length up to 40, Buffers. */
function keys(): (string | Buffer)[] {
  const all: (string | Buffer)[] = [
    "",
    '{"id":1}',
    '{"id":"é"}',
    "日本語のキー",
    "🎉",
    "\u0080",
    "a\u07ff",
  ];
  for (let i = 0; i < 2000; i++) all.push(`{"id":${i},"region":"r${i % 7}"}`);
  for (let length = 0; length <= 40; length++) {
    const bytes = crypto.getRandomValues(new Uint8Array(length));
    all.push(Buffer.from(bytes), String.fromCharCode(...bytes.map((b) => (b % 0x7f) + 1)));
  }
  return all;
}

Deno.test("createPartitioner() picks kafkajs's partition for every key and partition count", () => {
  const ours = createPartitioner();
  const theirs = Partitioners.DefaultPartitioner();
  for (const count of [1, 2, 3, 7, 12, 100]) {
    const partitionMetadata = metadata(count);
    for (const key of keys()) {
      const args: PartitionerArgs = {
        topic: "t",
        partitionMetadata,
        message: { key, value: null },
      };
      assert.equal(ours(args), theirs(args), `${count} partitions, key ${JSON.stringify(key)}`);
    }
  }
});

Deno.test("createPartitioner() keeps an explicit partition and spreads keyless messages over led partitions", () => {
  const partition = createPartitioner();
  const partitionMetadata = metadata(4, [1]);
  const message = (key: string | null, explicit?: number) => ({
    topic: "t",
    partitionMetadata,
    message: { key, value: "v", partition: explicit },
  });
  assert.equal(partition(message("k", 3)), 3);
  const keyless = Array.from({ length: 9 }, () => partition(message(null)));
  assert.deepEqual(new Set(keyless), new Set([0, 2, 3]), `${keyless}`);
  // Round robin: each of the three led partitions once in every three messages.
  assert.deepEqual(keyless.slice(0, 3).sort(), [0, 2, 3]);
  assert.deepEqual(keyless.slice(3, 6), keyless.slice(0, 3));
});

Deno.test("createPartitioner() writes its choice into the message, so a retry goes where the first attempt went", () => {
  const partition = createPartitioner();
  const keyless = { value: "v" } as PartitionerArgs["message"];
  const first = partition({ topic: "t", partitionMetadata: metadata(3), message: keyless });
  assert.equal(keyless.partition, first);
  // kafkajs asks again on each retry: a keyless message must not move round-robin.
  for (let retry = 0; retry < 5; retry++) {
    assert.equal(
      partition({ topic: "t", partitionMetadata: metadata(3), message: keyless }),
      first,
    );
  }
  const keyed = { key: "k", value: "v" } as PartitionerArgs["message"];
  const chosen = partition({ topic: "t", partitionMetadata: metadata(3), message: keyed });
  assert.equal(keyed.partition, chosen);
});
