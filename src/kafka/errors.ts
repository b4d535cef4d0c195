/**
 * Sorts produce errors into what to do about them: retry (transient),
 * dead-letter (poison: the message itself can never be accepted), start over
 * with a new producer identity (fenced: the broker no longer accepts this
 * producer's sequence numbers), or stop (a bug: pg2kafka's own code threw).
 *
 * @module
 */

/** What a produce error means for the message. */
export type KafkaErrorKind = "poison" | "transient" | "fenced" | "bug";

/**
 * Broker error codes that say the idempotent producer's sequence or identity
 * is out of step with the broker. Sending the same batch again under the same
 * identity fails the same way forever; a new producer id starts the sequence
 * over (accepting duplicates of what was written but not acknowledged).
 */
const FENCED_TYPES = new Set([
  "OUT_OF_ORDER_SEQUENCE_NUMBER",
  "INVALID_PRODUCER_EPOCH",
  "UNKNOWN_PRODUCER_ID",
  "INVALID_PRODUCER_ID_MAPPING",
]);

/** JavaScript errors that only a programming mistake throws, never the network. */
const BUG_NAMES = new Set(["TypeError", "RangeError", "ReferenceError", "SyntaxError"]);

/** Broker error codes that reject the message itself, never the cluster's state. */
const POISON_TYPES = new Set([
  "MESSAGE_TOO_LARGE",
  "RECORD_LIST_TOO_LARGE",
  "INVALID_TOPIC_EXCEPTION",
  "INVALID_RECORD",
  "CORRUPT_MESSAGE",
]);

/** Poison codes that mean the message's size, not its content. */
const TOO_LARGE_TYPES = new Set(["MESSAGE_TOO_LARGE", "RECORD_LIST_TOO_LARGE"]);

const MAX_CAUSE_DEPTH = 8;

/** Every error nested in `error` (kafkajs wraps causes in several ways). */
function* nested(error: unknown, depth = 0): Generator<Record<string, unknown>> {
  if (depth > MAX_CAUSE_DEPTH || typeof error !== "object" || error === null) return;
  const record = error as Record<string, unknown>;
  yield record;
  yield* nested(record.cause, depth + 1);
  yield* nested(record.originalError, depth + 1);
  if (Array.isArray(record.errors)) {
    for (const inner of record.errors) yield* nested(inner, depth + 1);
  }
}

/**
 * Classifies a kafkajs error.
 *
 * @example
 * ```ts
 * classifyError({ type: "MESSAGE_TOO_LARGE" }); // "poison"
 * classifyError({ type: "OUT_OF_ORDER_SEQUENCE_NUMBER" }); // "fenced"
 * classifyError(new TypeError("x is undefined")); // "bug"
 * classifyError(new Error("Connection timeout")); // "transient"
 * ```
 */
export function classifyError(error: unknown): KafkaErrorKind {
  for (const record of nested(error)) {
    if (typeof record.name === "string" && BUG_NAMES.has(record.name)) return "bug";
    if (typeof record.type !== "string") continue;
    if (POISON_TYPES.has(record.type)) return "poison";
    if (FENCED_TYPES.has(record.type)) return "fenced";
  }
  return "transient";
}

/**
 * Whether a produce request timed out: the broker may have written it, and
 * kafkajs keeps the connection, which may be dead without a reset.
 */
export function isTimeout(error: unknown): boolean {
  for (const record of nested(error)) {
    if (record.name === "KafkaJSRequestTimeoutError") return true;
  }
  return false;
}

/** Whether a kafkajs error says the message was too large for the broker. */
export function isTooLarge(error: unknown): boolean {
  for (const record of nested(error)) {
    if (typeof record.type === "string" && TOO_LARGE_TYPES.has(record.type)) return true;
  }
  return false;
}

/**
 * The error's message, prefixed with the broker's error code when there is one.
 *
 * @example
 * ```ts
 * describeError(Object.assign(new Error("Too big"), { type: "MESSAGE_TOO_LARGE" }));
 * // "MESSAGE_TOO_LARGE: Too big"
 * ```
 */
export function describeError(error: Error): string {
  for (const record of nested(error)) {
    if (typeof record.type === "string") return `${record.type}: ${record.message}`;
  }
  return error.message;
}
