import assert from "node:assert/strict";
import type { ProgressRecord, ProgressStore } from "../../src/progress/mod.ts";
import { ProgressRecorder } from "../../src/source/progress_recorder.ts";

const INTERVAL_MS = 50;

function recordingStore(fail = false): ProgressStore & { written: ProgressRecord[] } {
  const written: ProgressRecord[] = [];
  return {
    written,
    read: () => Promise.resolve(null),
    write: (record) => {
      if (fail) return Promise.reject(new Error("broker down"));
      written.push(record);
      return Promise.resolve();
    },
  };
}

function recorder(store: ProgressStore): ProgressRecorder {
  return new ProgressRecorder(store, {
    source: "main",
    slot: "orders_slot",
    database: "app",
    intervalMs: INTERVAL_MS,
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

Deno.test("ProgressRecorder writes at once when streaming starts, then coalesces confirms", async () => {
  const store = recordingStore();
  const progress = recorder(store);
  progress.started("7301234567890123456", 100n);
  await sleep(0);
  assert.equal(store.written.length, 1);
  assert.deepEqual(
    { ...store.written[0], writtenAt: "" },
    {
      source: "main",
      slot: "orders_slot",
      database: "app",
      systemIdentifier: "7301234567890123456",
      lsn: 100n,
      writtenAt: "",
    },
  );
  for (let lsn = 101n; lsn <= 200n; lsn++) progress.confirmed(lsn);
  progress.confirmed(150n); // never backwards
  await sleep(INTERVAL_MS * 3);
  assert.deepEqual(store.written.map((record) => record.lsn), [100n, 200n]);
  await progress.stop();
  assert.equal(store.written.length, 2, "stop() rewrote an unchanged position");
});

Deno.test("ProgressRecorder.stop() writes the position still pending", async () => {
  const store = recordingStore();
  const progress = recorder(store);
  progress.started("", 100n);
  progress.confirmed(300n);
  await progress.stop();
  assert.deepEqual(store.written.map((record) => record.lsn), [100n, 300n]);
});

Deno.test("ProgressRecorder survives a store that refuses writes", async () => {
  const progress = recorder(recordingStore(true));
  progress.started("", 100n);
  progress.confirmed(200n);
  await progress.stop(); // logged, not thrown
});

Deno.test("ProgressRecorder.stop() does not wait past its timeout for a hanging store", async () => {
  const hanging: ProgressStore = {
    read: () => Promise.resolve(null),
    write: () => new Promise(() => {}),
  };
  const progress = recorder(hanging);
  progress.started("", 100n);
  const started = performance.now();
  await progress.stop(INTERVAL_MS);
  assert.ok(performance.now() - started < INTERVAL_MS * 20);
});
