import assert from "node:assert/strict";
import { isValidTopic } from "../../src/kafka/topics.ts";

Deno.test("isValidTopic() applies Kafka's rule for topic names", () => {
  assert.equal(isValidTopic("cdc.order_lines"), true);
  assert.equal(isValidTopic("cdc.Order Lines"), false);
  assert.equal(isValidTopic("."), false);
  assert.equal(isValidTopic(".."), false);
  assert.equal(isValidTopic("x".repeat(249)), true);
  assert.equal(isValidTopic("x".repeat(250)), false);
});
