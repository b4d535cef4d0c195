import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { freshKafkajsModule } from "../fixtures/kafkajs_module.ts";
import { crc32c } from "../../src/kafka/crc32c.ts";

Deno.test("crc32c() gives the CRC-32C check value and kafkajs's checksum at every length", () => {
  assert.equal(crc32c(new TextEncoder().encode("123456789")), 0xe3069283);
  assert.equal(crc32c(new Uint8Array(0)), 0);
  const theirs = freshKafkajsModule<(bytes: Buffer) => number>(
    "kafkajs/src/protocol/recordBatch/crc32C/crc32C.js",
  );
  for (let length = 0; length <= 70; length++) {
    const bytes = crypto.getRandomValues(new Uint8Array(length));
    assert.equal(crc32c(bytes), theirs(Buffer.from(bytes)), `${length} bytes`);
  }
  const large = crypto.getRandomValues(new Uint8Array(65_536));
  assert.equal(crc32c(large), theirs(Buffer.from(large)));
  assert.equal(crc32c(large.subarray(3, 60_001)), theirs(Buffer.from(large.subarray(3, 60_001))));
});
