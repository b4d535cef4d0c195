import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { createRequire } from "node:module";
import { crc32c } from "../../src/kafka/crc32c.ts";

/** kafkajs's own CRC-32C, loaded afresh: this process may have replaced the cached one. */
function kafkajsCrc32c(): (bytes: Buffer) => number {
  const require = createRequire(import.meta.url);
  const path = require.resolve("kafkajs/src/protocol/recordBatch/crc32C/crc32C.js");
  const cached = require.cache[path];
  delete require.cache[path];
  try {
    return require(path);
  } finally {
    if (cached) require.cache[path] = cached;
  }
}

Deno.test("crc32c() gives the CRC-32C check value and kafkajs's checksum at every length", () => {
  assert.equal(crc32c(new TextEncoder().encode("123456789")), 0xe3069283);
  assert.equal(crc32c(new Uint8Array(0)), 0);
  const theirs = kafkajsCrc32c();
  for (let length = 0; length <= 70; length++) {
    const bytes = crypto.getRandomValues(new Uint8Array(length));
    assert.equal(crc32c(bytes), theirs(Buffer.from(bytes)), `${length} bytes`);
  }
  const large = crypto.getRandomValues(new Uint8Array(65_536));
  assert.equal(crc32c(large), theirs(Buffer.from(large)));
  assert.equal(crc32c(large.subarray(3, 60_001)), theirs(Buffer.from(large.subarray(3, 60_001))));
});
