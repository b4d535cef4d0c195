import assert from "node:assert/strict";
import { classifyError, describeError, isTooLarge } from "../../src/kafka/errors.ts";

function kafkaError(type: string, message: string): Error {
  return Object.assign(new Error(message), { type });
}

Deno.test("classifyError() marks only message-level broker rejections as poison", () => {
  assert.equal(classifyError(kafkaError("MESSAGE_TOO_LARGE", "too big")), "poison");
  assert.equal(classifyError(kafkaError("INVALID_TOPIC_EXCEPTION", "bad topic")), "poison");
  assert.equal(classifyError(kafkaError("RECORD_LIST_TOO_LARGE", "batch")), "poison");
  assert.equal(classifyError(kafkaError("NOT_LEADER_FOR_PARTITION", "moved")), "transient");
  assert.equal(classifyError(new Error("Connection error: connect ECONNREFUSED")), "transient");
  assert.equal(classifyError("not an error"), "transient");
});

Deno.test("classifyError() finds a poison code wrapped by kafkajs", () => {
  const retriesExceeded = Object.assign(new Error("retries exceeded"), {
    originalError: kafkaError("MESSAGE_TOO_LARGE", "too big"),
  });
  const aggregate = Object.assign(new Error("several"), {
    errors: [new Error("timeout"), { cause: kafkaError("INVALID_TOPIC_EXCEPTION", "bad") }],
  });
  assert.equal(classifyError(retriesExceeded), "poison");
  assert.equal(classifyError(aggregate), "poison");
});

Deno.test("classifyError() stops at a cyclic cause chain", () => {
  const error: Error & { cause?: unknown } = new Error("loop");
  error.cause = error;
  assert.equal(classifyError(error), "transient");
});

Deno.test("isTooLarge() tells size rejections from other poison", () => {
  assert.equal(isTooLarge(kafkaError("MESSAGE_TOO_LARGE", "too big")), true);
  assert.equal(isTooLarge(kafkaError("INVALID_TOPIC_EXCEPTION", "bad topic")), false);
});

Deno.test("describeError() prefixes the broker's error code", () => {
  assert.equal(
    describeError(kafkaError("MESSAGE_TOO_LARGE", "Too big")),
    "MESSAGE_TOO_LARGE: Too big",
  );
  assert.equal(describeError(new Error("plain")), "plain");
});

Deno.test("classifyError() tells sequence and fencing errors, and pg2kafka's own bugs, from transient ones", () => {
  assert.equal(classifyError(kafkaError("OUT_OF_ORDER_SEQUENCE_NUMBER", "seq")), "fenced");
  assert.equal(classifyError(kafkaError("INVALID_PRODUCER_EPOCH", "epoch")), "fenced");
  assert.equal(classifyError(kafkaError("UNKNOWN_PRODUCER_ID", "pid")), "fenced");
  const wrapped = Object.assign(new Error("retries exceeded"), {
    originalError: kafkaError("OUT_OF_ORDER_SEQUENCE_NUMBER", "seq"),
  });
  assert.equal(classifyError(wrapped), "fenced");
  assert.equal(classifyError(new TypeError("Cannot read properties of undefined")), "bug");
  const bugInsideKafkajs = Object.assign(new Error("KafkaJSNonRetriableError"), {
    cause: new RangeError("offset out of range"),
  });
  assert.equal(classifyError(bugInsideKafkajs), "bug");
  assert.equal(classifyError(kafkaError("NOT_LEADER_OR_FOLLOWER", "moved")), "transient");
});
