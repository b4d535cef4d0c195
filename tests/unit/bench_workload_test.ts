import assert from "node:assert/strict";
import {
  operationSequence,
  payloadOf,
  plannedDeletes,
  planTransactions,
} from "../../scripts/bench/workload.ts";

const MIX = { insert: 60, update: 30, delete: 10 };

function count<T>(values: readonly T[], value: T): number {
  return values.filter((v) => v === value).length;
}

Deno.test("operationSequence() holds each operation exactly its percentage of 100 slots", () => {
  const sequence = operationSequence(MIX);
  assert.equal(sequence.length, 100);
  assert.equal(count(sequence, "insert"), 60);
  assert.equal(count(sequence, "update"), 30);
  assert.equal(count(sequence, "delete"), 10);
});

Deno.test("operationSequence() spreads operations instead of running them in blocks", () => {
  const sequence = operationSequence(MIX);
  for (let start = 0; start + 10 <= 100; start += 10) {
    assert.equal(
      count(sequence.slice(start, start + 10), "delete"),
      1,
      `slots ${start}-${start + 9}`,
    );
  }
});

Deno.test("operationSequence() leaves out an operation at 0%", () => {
  assert.deepEqual(
    new Set(operationSequence({ insert: 100, update: 0, delete: 0 })),
    new Set(["insert"]),
  );
});

Deno.test("planTransactions() fills every transaction with txSize changes", () => {
  for (const txSize of [1, 3, 10, 64, 250]) {
    const plan = planTransactions(txSize, MIX);
    plan.inserts.forEach((inserts, tx) => {
      assert.equal(
        inserts + plan.updates[tx] + plan.deletes[tx],
        txSize,
        `tx ${tx} of size ${txSize}`,
      );
    });
  }
});

Deno.test("planTransactions() realises the mix exactly over one cycle", () => {
  for (const txSize of [1, 3, 10, 64]) {
    const plan = planTransactions(txSize, MIX);
    const sum = (values: readonly number[]) => values.reduce((a, b) => a + b, 0);
    const total = plan.inserts.length * txSize;
    assert.equal(sum(plan.inserts) * 100, total * 60, `inserts at size ${txSize}`);
    assert.equal(sum(plan.deletes) * 100, total * 10, `deletes at size ${txSize}`);
  }
});

Deno.test("planTransactions() of single-change transactions alternates operations", () => {
  const plan = planTransactions(1, { insert: 50, update: 50, delete: 0 });
  assert.equal(plan.inserts.length, 100);
  assert.deepEqual(plan.inserts.slice(0, 4), [1, 0, 1, 0]);
  assert.deepEqual(plan.updates.slice(0, 4), [0, 1, 0, 1]);
});

Deno.test("plannedDeletes() covers every delete the writes can make", () => {
  const changes = 100_000;
  assert.ok(plannedDeletes(changes, 10, MIX) >= changes * 0.1);
  assert.ok(plannedDeletes(7, 3, MIX) >= 1);
  assert.equal(plannedDeletes(changes, 10, { insert: 100, update: 0, delete: 0 }), 0);
});

Deno.test("payloadOf() is exactly width characters, without quotes", () => {
  assert.equal(payloadOf(0), "");
  assert.equal(payloadOf(1_000).length, 1_000);
  assert.match(payloadOf(300), /^[a-z0-9]+$/);
});
