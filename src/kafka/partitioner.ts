/**
 * kafkajs's default partitioner, as the Java client partitions: a keyed
 * message goes to murmur2(UTF-8 key) mod the topic's partition count, one
 * without a key round-robin over the partitions that have a leader.
 * kafkajs computes murmur2 with 64-bit Long objects and encodes every key
 * into a new Buffer: 5% of the connector's CPU (docs/benchmarks.md). This
 * computes the same hash in 32-bit integer arithmetic, as Java does; the
 * partition of every key must stay what kafkajs chose (a row's changes keep
 * one partition across an upgrade), which tests/unit/partitioner_test.ts
 * checks against kafkajs.
 *
 * @module
 */
import type { ICustomPartitioner, PartitionerArgs } from "kafkajs";

const SEED = 0x9747b28c;
const M = 0x5bd1e995;
const R = 24;
const FINAL_SHIFT_1 = 13;
const FINAL_SHIFT_2 = 15;
const POSITIVE = 0x7fffffff;
/** UTF-8 takes at most three bytes per UTF-16 code unit. */
const MAX_BYTES_PER_UNIT = 3;

const utf8 = new TextEncoder();
/** Reused for the UTF-8 bytes of text keys: partitioning runs synchronously. */
let scratch = new Uint8Array(256);

/**
 * The Java client's murmur2 of `data[0, length)`, as a signed 32-bit integer.
 *
 * @example
 * ```ts ignore
 * murmur2(new TextEncoder().encode("21"), 2); // -973932308
 * ```
 */
export function murmur2(data: Uint8Array, length: number): number {
  let h = SEED ^ length;
  const whole = length & ~3;
  for (let i = 0; i < whole; i += 4) {
    let k = data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24);
    k = Math.imul(k, M);
    k ^= k >>> R;
    k = Math.imul(k, M);
    h = Math.imul(h, M) ^ k;
  }
  switch (length & 3) {
    case 3:
      h ^= data[whole + 2] << 16;
    // falls through
    case 2:
      h ^= data[whole + 1] << 8;
    // falls through
    case 1:
      h ^= data[whole];
      h = Math.imul(h, M);
  }
  h ^= h >>> FINAL_SHIFT_1;
  h = Math.imul(h, M);
  h ^= h >>> FINAL_SHIFT_2;
  return h | 0;
}

/** murmur2 of a key as kafkajs hashes it: a Buffer's bytes, else the UTF-8 of its text. */
function hashKey(key: Uint8Array | string): number {
  if (typeof key !== "string") return murmur2(key, key.length);
  if (scratch.length < key.length * MAX_BYTES_PER_UNIT) {
    scratch = new Uint8Array(key.length * MAX_BYTES_PER_UNIT);
  }
  return murmur2(scratch, utf8.encodeInto(key, scratch).written);
}

/**
 * Creates a partitioner for kafkajs's `createPartitioner` that picks the
 * partition kafkajs's `Partitioners.DefaultPartitioner` picks, and writes its
 * choice into the message: kafkajs asks again on every retry, and a keyless
 * message sent round-robin to another partition than its first attempt
 * would put the idempotent producer's per-partition sequence numbers out of
 * step with the broker (the sink keeps one record per message across its
 * attempts, so the choice holds).
 */
export const createPartitioner: ICustomPartitioner = () => {
  /** Round-robin counters of keyless messages per topic, from a random start as kafkajs's. */
  const counters = new Map<string, number>();
  const choose = ({ topic, partitionMetadata, message }: PartitionerArgs): number => {
    const key = message.key;
    if (key !== null && key !== undefined) {
      return (hashKey(key) & POSITIVE) % partitionMetadata.length;
    }
    const next = (counters.get(topic) ?? crypto.getRandomValues(new Uint32Array(1))[0]) + 1;
    counters.set(topic, next);
    const available = partitionMetadata.filter((partition) => partition.leader >= 0);
    if (available.length > 0) return available[(next & POSITIVE) % available.length].partitionId;
    return (next & POSITIVE) % partitionMetadata.length;
  };
  return (args: PartitionerArgs) => {
    const { message } = args;
    if (message.partition !== null && message.partition !== undefined) return message.partition;
    return message.partition = choose(args);
  };
};
