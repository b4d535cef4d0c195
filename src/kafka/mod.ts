/**
 * The Kafka adapter: the kafkajs client with pg2kafka's patches, and the sink
 * that batches, produces, retries and dead-letters messages.
 *
 * @example
 * ```ts ignore
 * import { createKafka, KafkaSink } from "./kafka/mod.ts";
 * ```
 *
 * @module
 */
export { createKafka, proveEncoder } from "./client.ts";
export type { EncoderName, PatchProof } from "./kafkajs_proof.ts";
export { KafkaProgressStore, type KafkaProgressStoreOptions } from "./progress_store.ts";
export { DEAD_LETTER_HEADER, DeadLetterError, KafkaSink } from "./sink.ts";
export type { SinkOptions } from "./sink.ts";
export type { CircuitState } from "./circuit_breaker.ts";
