import assert from "node:assert/strict";
import {
  decodeProgressRecord,
  encodeProgressRecord,
  type ProgressRecord,
} from "../../src/progress/mod.ts";

const RECORD: ProgressRecord = {
  source: "main",
  slot: "pg2kafka",
  database: "app",
  systemIdentifier: "7301234567890123456",
  lsn: 0x1_6b3748n,
  writtenAt: "2026-11-30T01:02:03.456Z",
};

Deno.test("encodeProgressRecord() keys by source and writes the documented JSON", () => {
  const { key, value } = encodeProgressRecord(RECORD);
  assert.equal(key, "main");
  assert.deepEqual(JSON.parse(value), {
    source: "main",
    slot: "pg2kafka",
    database: "app",
    system_identifier: "7301234567890123456",
    lsn: "0/16B3748",
    written_at: "2026-11-30T01:02:03.456Z",
  });
});

Deno.test("decodeProgressRecord() reads back what encodeProgressRecord() wrote", () => {
  assert.deepEqual(decodeProgressRecord(encodeProgressRecord(RECORD).value), RECORD);
});

Deno.test("decodeProgressRecord() names the field that is missing or not JSON", () => {
  assert.throws(() => decodeProgressRecord("{"), /Progress record is not JSON/);
  const { slot: _slot, ...rest } = JSON.parse(encodeProgressRecord(RECORD).value);
  assert.throws(() => decodeProgressRecord(JSON.stringify(rest)), /no string field "slot"/);
  assert.throws(() => decodeProgressRecord("null"), /no string field "source"/);
});
