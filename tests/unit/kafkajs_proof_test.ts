import assert from "node:assert/strict";
import { proveEncoder } from "../../src/kafka/client.ts";
import { PATCH_USE } from "../../src/kafka/kafkajs_modules.ts";
import { installRecordPatch } from "../../src/kafka/kafkajs_record.ts";

Deno.test("proveEncoder() proves under Deno's npm layout that kafkajs produces with pg2kafka's encoder", async () => {
  const before = { ...PATCH_USE };
  const proof = await proveEncoder();
  assert.deepEqual(proof, { encoder: "pg2kafka", inactive: [] });
  assert.ok(PATCH_USE.records > before.records, "the record encoder served the probe request");
  assert.ok(PATCH_USE.checksums > before.checksums, "the CRC-32C served the probe request");
});

Deno.test("the load-order guard refuses a patch once kafkajs loaded a versioned produce request", async () => {
  await proveEncoder(); // loads produce/v7/request.js, which keeps what it loaded
  assert.throws(
    () => installRecordPatch(),
    /kafkajs loaded .*kafkajs.2\.2\.4.src.protocol.requests.produce.v7.request\.js before/,
  );
});
