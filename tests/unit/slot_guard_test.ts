import assert from "node:assert/strict";
import type { ProgressRecord, ProgressStore } from "../../src/progress/mod.ts";
import { SlotGuard } from "../../src/source/slot_guard.ts";
import { SlotLostError, SourceSetupError } from "../../src/source/slot.ts";
import type { SnapshotMode } from "../../src/source/snapshot.ts";

const RECORD: ProgressRecord = {
  source: "main",
  slot: "orders_slot",
  database: "app",
  systemIdentifier: "7301234567890123456",
  lsn: 0x16b3748n,
  writtenAt: "2026-11-30T01:02:03.456Z",
};

/** A store holding `record`, or failing every read when given an error. */
function storeOf(record: ProgressRecord | null | Error): ProgressStore {
  return {
    read: () => record instanceof Error ? Promise.reject(record) : Promise.resolve(record),
    write: () => Promise.resolve(),
  };
}

function guard(mode: SnapshotMode, store: ProgressStore | null): SlotGuard {
  return new SlotGuard({ source: "main", slot: "orders_slot", snapshotMode: mode, store });
}

Deno.test("SlotGuard lets a source without a record create its slot", async () => {
  await guard("never", storeOf(null)).checkMissingSlot();
  await guard("never", null).checkMissingSlot();
});

Deno.test("SlotGuard refuses a slot the progress record says was streamed from", async () => {
  for (const mode of ["never", "initial"] as const) {
    await assert.rejects(
      () => guard(mode, storeOf(RECORD)).checkMissingSlot(),
      (error: Error) => {
        assert.ok(error instanceof SlotLostError);
        assert.match(error.message, /Replication slot "orders_slot" of source main vanished/);
        assert.match(error.message, /up to 0\/16B3748 \(database app, server 7301234567890123456/);
        assert.match(error.message, /set snapshot = "when_needed" and restart/);
        return true;
      },
    );
  }
});

Deno.test("SlotGuard refuses a slot this process streamed from, without asking the store", async () => {
  const slotGuard = guard("never", storeOf(new Error("must not be read")));
  slotGuard.markStreamed();
  await assert.rejects(() => slotGuard.checkMissingSlot(), /since pg2kafka started/);
});

Deno.test('SlotGuard lets "when_needed" recreate the slot (with its snapshot)', async () => {
  await guard("when_needed", storeOf(RECORD)).checkMissingSlot();
});

Deno.test("SlotGuard treats a record of another slot name as a renamed, new slot", async () => {
  await guard("never", storeOf({ ...RECORD, slot: "old_slot" })).checkMissingSlot();
});

Deno.test("SlotGuard does not guess when the record cannot be read", async () => {
  await assert.rejects(
    () => guard("never", storeOf(new Error("broker down"))).checkMissingSlot(),
    (error: Error) => {
      assert.ok(error instanceof SourceSetupError && !(error instanceof SlotLostError));
      assert.match(error.message, /cannot be read \(broker down\): not creating the slot/);
      return true;
    },
  );
});
