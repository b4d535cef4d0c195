/**
 * Proves at start that pg2kafka's kafkajs patches (record encoder, CRC-32C,
 * in-place encoder) are what kafkajs's produce requests use: it encodes one
 * produce request through kafkajs's own produce module, exactly as a broker
 * connection would, and checks that the replacements served it. A patch that
 * silently failed to install would otherwise only show as lost speed.
 *
 * @module
 */
import { createRequire } from "node:module";
import Encoder from "kafkajs/src/protocol/encoder.js";
import { PATCH_USE } from "./kafkajs_modules.ts";

/** Which encoder serves kafkajs's produce requests. */
export type EncoderName = "pg2kafka" | "kafkajs";

/** What the proof found. */
export interface PatchProof {
  /** `pg2kafka` when every patch served the probe request, else `kafkajs`. */
  encoder: EncoderName;
  /** The patches that did not serve it, empty when all did. */
  inactive: string[];
}

const PRODUCE_MODULE = "kafkajs/src/protocol/requests/produce/index.js";
/** The produce request version kafkajs 2.2.4 uses against Kafka 2.1 and later. */
const PRODUCE_VERSION = 7;

/**
 * Encodes one produce request of one record through kafkajs's produce module
 * and reports which patches served it.
 *
 * @param encoderPatched whether the in-place encoder methods were installed.
 */
export async function provePatches(
  encoderPatched: (prototype: Record<string, unknown>) => boolean,
): Promise<PatchProof> {
  const inactive: string[] = [];
  if (!encoderPatched(Encoder.prototype as unknown as Record<string, unknown>)) {
    inactive.push("encoder");
  }
  const require = createRequire(import.meta.url);
  const produce = require(PRODUCE_MODULE) as ProduceModule;
  const before = { ...PATCH_USE };
  const { request } = produce.protocol({ version: PRODUCE_VERSION })({
    acks: -1,
    timeout: 1,
    compression: 0,
    topicData: [{
      topic: "pg2kafka.probe",
      partitions: [{
        partition: 0,
        firstSequence: 0,
        messages: [{ key: "k", value: "v", headers: { h: "1" } }],
      }],
    }],
  });
  await request.encode();
  if (PATCH_USE.records === before.records) inactive.push("record encoder");
  if (PATCH_USE.checksums === before.checksums) inactive.push("CRC-32C");
  return { encoder: inactive.length === 0 ? "pg2kafka" : "kafkajs", inactive };
}

/** kafkajs's produce module: a request builder per protocol version. */
interface ProduceModule {
  protocol(version: { version: number }): (args: unknown) => {
    request: { encode(): Promise<unknown> };
  };
}
