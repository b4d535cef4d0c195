import assert from "node:assert/strict";
import { Checkpoint, type TransactionHandle } from "../../src/pipeline/checkpoint.ts";
import type { Lsn } from "../../src/lsn.ts";

/** A checkpoint that records every advance it reports. */
function recordingCheckpoint(initialLsn?: Lsn): { checkpoint: Checkpoint; advances: Lsn[] } {
  const advances: Lsn[] = [];
  const checkpoint = new Checkpoint({ initialLsn, onAdvance: (lsn) => advances.push(lsn) });
  return { checkpoint, advances };
}

/** Small deterministic PRNG (mulberry32), so a failing seed can be replayed. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

Deno.test("Checkpoint advances to each commit end LSN when acks arrive in order", () => {
  const { checkpoint, advances } = recordingCheckpoint();
  const first = checkpoint.begin(1);
  checkpoint.track(first, 2);
  checkpoint.commit(first, 100n);
  const second = checkpoint.begin(2);
  checkpoint.track(second);
  checkpoint.commit(second, 200n);

  checkpoint.settle(first);
  assert.equal(checkpoint.flushLsn, 0n);
  checkpoint.settle(first);
  assert.equal(checkpoint.flushLsn, 100n);
  checkpoint.settle(second);
  assert.equal(checkpoint.flushLsn, 200n);
  assert.deepEqual(advances, [100n, 200n]);
  assert.equal(checkpoint.pendingTransactions, 0);
  assert.equal(checkpoint.pendingMessages, 0);
});

Deno.test("Checkpoint does not advance past an earlier unsettled transaction", () => {
  const { checkpoint, advances } = recordingCheckpoint();
  const first = checkpoint.begin(1);
  checkpoint.track(first, 2); // e.g. one message per target
  checkpoint.commit(first, 100n);
  const second = checkpoint.begin(2);
  checkpoint.track(second);
  checkpoint.commit(second, 200n);
  const third = checkpoint.begin(3);
  checkpoint.track(third);
  checkpoint.commit(third, 300n);

  checkpoint.settle(third);
  checkpoint.settle(second);
  checkpoint.settle(first); // the other target's partition is still behind
  assert.equal(checkpoint.flushLsn, 0n);
  assert.equal(checkpoint.pendingTransactions, 3);

  checkpoint.settle(first);
  assert.equal(checkpoint.flushLsn, 300n);
  assert.deepEqual(advances, [300n], "one advance for the three retired transactions");
});

Deno.test("Checkpoint stops at the first unsettled transaction and resumes later", () => {
  const { checkpoint, advances } = recordingCheckpoint();
  const handles = [1, 2, 3].map((xid) => {
    const tx = checkpoint.begin(xid);
    checkpoint.track(tx);
    checkpoint.commit(tx, BigInt(xid * 100));
    return tx;
  });
  checkpoint.settle(handles[0]);
  checkpoint.settle(handles[2]);
  assert.equal(checkpoint.flushLsn, 100n);
  assert.equal(checkpoint.pendingTransactions, 2);
  checkpoint.settle(handles[1]);
  assert.equal(checkpoint.flushLsn, 300n);
  assert.deepEqual(advances, [100n, 300n]);
});

Deno.test("Checkpoint settles a transaction whose events were all filtered out at commit", () => {
  const { checkpoint, advances } = recordingCheckpoint();
  const tx = checkpoint.begin(7);
  checkpoint.track(tx, 0); // the router routed events but every target filtered them
  assert.equal(checkpoint.flushLsn, 0n);
  checkpoint.commit(tx, 500n);
  assert.equal(checkpoint.flushLsn, 500n);
  assert.deepEqual(advances, [500n]);
});

Deno.test("Checkpoint settles an empty transaction at commit", () => {
  const { checkpoint } = recordingCheckpoint();
  checkpoint.commit(checkpoint.begin(7), 500n);
  assert.equal(checkpoint.flushLsn, 500n);
  assert.equal(checkpoint.pendingTransactions, 0);
});

Deno.test("Checkpoint lets a filtered-out transaction wait only for earlier ones", () => {
  const { checkpoint } = recordingCheckpoint();
  const first = checkpoint.begin(1);
  checkpoint.track(first);
  checkpoint.commit(first, 100n);
  checkpoint.commit(checkpoint.begin(2), 200n); // filtered out entirely
  assert.equal(checkpoint.flushLsn, 0n);
  checkpoint.settle(first);
  assert.equal(checkpoint.flushLsn, 200n);
});

Deno.test("Checkpoint is not held back by a target with nothing to do", () => {
  // Two targets: "orders" produced a message, "audit" filtered the event out.
  const { checkpoint } = recordingCheckpoint();
  const tx = checkpoint.begin(1);
  const targetsWithMessages = ["orders"];
  checkpoint.track(tx, targetsWithMessages.length);
  checkpoint.commit(tx, 100n);
  checkpoint.settle(tx);
  assert.equal(checkpoint.flushLsn, 100n);
});

Deno.test("Checkpoint accepts acks that arrive before the commit", () => {
  const { checkpoint } = recordingCheckpoint();
  const tx = checkpoint.begin(1);
  checkpoint.track(tx, 2);
  checkpoint.settle(tx, 2);
  assert.equal(checkpoint.flushLsn, 0n, "an open transaction may still produce messages");
  assert.equal(checkpoint.pendingTransactions, 1);
  checkpoint.commit(tx, 100n);
  assert.equal(checkpoint.flushLsn, 100n);
});

Deno.test("Checkpoint holds back transactions behind an open one", () => {
  const { checkpoint } = recordingCheckpoint();
  const open = checkpoint.begin(1);
  checkpoint.track(open);
  checkpoint.settle(open);
  assert.equal(checkpoint.flushLsn, 0n);
  checkpoint.commit(open, 100n);
  assert.equal(checkpoint.flushLsn, 100n);
});

Deno.test("Checkpoint counts pending transactions and messages", () => {
  const { checkpoint } = recordingCheckpoint();
  const first = checkpoint.begin(1);
  checkpoint.track(first, 3);
  checkpoint.commit(first, 100n);
  const second = checkpoint.begin(2);
  checkpoint.track(second, 2);
  assert.equal(checkpoint.pendingTransactions, 2);
  assert.equal(checkpoint.pendingMessages, 5);
  checkpoint.settle(second);
  checkpoint.settle(first, 3);
  assert.equal(checkpoint.pendingTransactions, 1);
  assert.equal(checkpoint.pendingMessages, 1);
});

Deno.test("Checkpoint.idle() advances to the WAL end when nothing is open or pending", () => {
  const { checkpoint, advances } = recordingCheckpoint(50n);
  assert.equal(checkpoint.idle(80n), true);
  assert.equal(checkpoint.flushLsn, 80n);
  assert.equal(checkpoint.idle(80n), false, "same WAL end is no advance");
  assert.equal(checkpoint.idle(60n), false, "an older WAL end never moves the LSN backwards");
  assert.equal(checkpoint.flushLsn, 80n);
  assert.deepEqual(advances, [80n]);
});

Deno.test("Checkpoint.idle() does nothing while a transaction is open", () => {
  const { checkpoint } = recordingCheckpoint();
  const tx = checkpoint.begin(1);
  assert.equal(checkpoint.idle(900n), false);
  assert.equal(checkpoint.flushLsn, 0n);
  checkpoint.commit(tx, 100n);
  assert.equal(checkpoint.flushLsn, 100n);
});

Deno.test("Checkpoint.idle() waits for a committed transaction to settle", () => {
  const { checkpoint } = recordingCheckpoint();
  const tx = checkpoint.begin(1);
  checkpoint.track(tx);
  checkpoint.commit(tx, 100n);
  assert.equal(checkpoint.idle(900n), false);
  assert.equal(checkpoint.flushLsn, 0n);
  checkpoint.settle(tx);
  assert.equal(checkpoint.flushLsn, 900n);
  assert.equal(checkpoint.idle(900n), false);
});

Deno.test("Checkpoint starts from initialLsn and never reports an older commit", () => {
  const { checkpoint, advances } = recordingCheckpoint(1000n);
  assert.equal(checkpoint.flushLsn, 1000n);
  checkpoint.commit(checkpoint.begin(1), 900n); // replayed after a restart
  assert.equal(checkpoint.flushLsn, 1000n);
  checkpoint.commit(checkpoint.begin(2), 1100n);
  assert.equal(checkpoint.flushLsn, 1100n);
  assert.deepEqual(advances, [1100n]);
});

Deno.test("Checkpoint refuses to settle more messages than were tracked", () => {
  const { checkpoint } = recordingCheckpoint();
  const tx = checkpoint.begin(1);
  checkpoint.track(tx);
  checkpoint.settle(tx);
  assert.throws(() => checkpoint.settle(tx), /settle 1 message\(s\) of transaction 1/);
  assert.equal(checkpoint.pendingMessages, 0);
});

Deno.test("Checkpoint refuses to settle a transaction already retired", () => {
  const { checkpoint } = recordingCheckpoint();
  const tx = checkpoint.begin(1);
  checkpoint.track(tx);
  checkpoint.commit(tx, 100n);
  checkpoint.settle(tx);
  assert.throws(() => checkpoint.settle(tx), /only 0 are unsettled/);
  assert.throws(() => checkpoint.track(tx), /already committed/);
});

Deno.test("Checkpoint refuses to track messages after the commit", () => {
  const { checkpoint } = recordingCheckpoint();
  const tx = checkpoint.begin(1);
  checkpoint.track(tx);
  checkpoint.commit(tx, 100n);
  assert.throws(() => checkpoint.track(tx), /transaction 1: it is already committed/);
  assert.equal(checkpoint.pendingMessages, 1);
});

Deno.test("Checkpoint refuses to commit a transaction twice", () => {
  const { checkpoint } = recordingCheckpoint();
  const tx = checkpoint.begin(1);
  checkpoint.track(tx);
  checkpoint.commit(tx, 100n);
  assert.throws(() => checkpoint.commit(tx, 200n), /commit transaction 1 twice/);
});

Deno.test("Checkpoint refuses a commit end LSN that goes backwards", () => {
  const { checkpoint } = recordingCheckpoint();
  checkpoint.commit(checkpoint.begin(1), 0x200n);
  const tx = checkpoint.begin(2);
  assert.throws(
    () => checkpoint.commit(tx, 0x100n),
    /commit transaction 2 at 0\/100: the previous commit already ended at 0\/200/,
  );
  assert.throws(() => checkpoint.commit(tx, 0x200n), /previous commit already ended/);
});

Deno.test("Checkpoint refuses to begin while a transaction is open", () => {
  const { checkpoint } = recordingCheckpoint();
  checkpoint.begin(1);
  assert.throws(() => checkpoint.begin(2), /begin transaction 2: transaction 1 is not committed/);
});

Deno.test("Checkpoint refuses handles of another checkpoint", () => {
  const { checkpoint } = recordingCheckpoint();
  const other = new Checkpoint();
  const foreign = other.begin(9);
  assert.throws(() => checkpoint.track(foreign), /another checkpoint/);
  const fake: TransactionHandle = {
    xid: 3,
    trackedMessages: 0,
    settledMessages: 0,
    endLsn: undefined,
  };
  assert.throws(() => checkpoint.commit(fake, 1n), /commit transaction 3/);
});

Deno.test("Checkpoint refuses negative and fractional message counts", () => {
  const { checkpoint } = recordingCheckpoint();
  const tx = checkpoint.begin(1);
  assert.throws(() => checkpoint.track(tx, -1), RangeError);
  assert.throws(() => checkpoint.track(tx, 1.5), RangeError);
  checkpoint.track(tx, 1);
  assert.throws(() => checkpoint.settle(tx, -1), RangeError);
  assert.equal(checkpoint.pendingMessages, 1);
});

/** The obvious quadratic definition of invariant 1, to check the real one against. */
class ReferenceCheckpoint {
  flushLsn: Lsn;
  readonly transactions: { tracked: number; settled: number; endLsn?: Lsn }[] = [];

  constructor(initialLsn: Lsn) {
    this.flushLsn = initialLsn;
  }

  /** A keepalive's WAL end seen between transactions while some were pending. */
  candidate: Lsn = 0n;

  recompute(): void {
    for (const tx of this.transactions) {
      if (tx.endLsn === undefined || tx.settled < tx.tracked) break;
      if (tx.endLsn > this.flushLsn) this.flushLsn = tx.endLsn;
    }
    if (this.settledPrefix === this.transactions.length) {
      if (this.candidate > this.flushLsn) this.flushLsn = this.candidate;
      this.candidate = 0n;
    }
  }

  get settledPrefix(): number {
    const index = this.transactions.findIndex((tx) =>
      tx.endLsn === undefined || tx.settled < tx.tracked
    );
    return index === -1 ? this.transactions.length : index;
  }

  idle(walEnd: Lsn, transactionOpen: boolean): void {
    if (this.settledPrefix === this.transactions.length) {
      if (walEnd > this.flushLsn) this.flushLsn = walEnd;
    } else if (!transactionOpen && walEnd > this.candidate) {
      this.candidate = walEnd;
    }
  }
}

Deno.test("Checkpoint matches a naive reference over random interleavings", () => {
  const steps = 4000;
  for (const seed of [1, 2, 3, 42, 1234]) {
    const random = seededRandom(seed);
    const initialLsn = 1000n;
    const { checkpoint, advances } = recordingCheckpoint(initialLsn);
    const reference = new ReferenceCheckpoint(initialLsn);
    const handles: TransactionHandle[] = [];
    /** Unacked messages, as indexes into `handles`. */
    const unacked: number[] = [];
    let open: number | undefined;
    let lastEnd = initialLsn - 200n; // some commits replay below the initial LSN

    for (let step = 0; step < steps; step++) {
      const roll = random();
      if (open === undefined && roll < 0.15) {
        open = handles.length;
        handles.push(checkpoint.begin(open));
        reference.transactions.push({ tracked: 0, settled: 0 });
      } else if (open !== undefined && roll < 0.35) {
        const count = Math.floor(random() * 3); // zero when every target filtered the event
        checkpoint.track(handles[open], count);
        reference.transactions[open].tracked += count;
        for (let i = 0; i < count; i++) unacked.push(open);
      } else if (open !== undefined && roll < 0.45) {
        lastEnd += BigInt(1 + Math.floor(random() * 100));
        checkpoint.commit(handles[open], lastEnd);
        reference.transactions[open].endLsn = lastEnd;
        open = undefined;
      } else if (unacked.length > 0 && roll < 0.95) {
        const pick = Math.floor(random() * unacked.length);
        const index = unacked[pick];
        unacked[pick] = unacked[unacked.length - 1];
        unacked.pop();
        checkpoint.settle(handles[index]);
        reference.transactions[index].settled++;
      } else {
        const walEnd = lastEnd + BigInt(Math.floor(random() * 40) - 20);
        checkpoint.idle(walEnd);
        reference.idle(walEnd, open !== undefined);
      }
      reference.recompute();
      assert.equal(checkpoint.flushLsn, reference.flushLsn, `seed ${seed}, step ${step}`);
      assert.equal(
        checkpoint.pendingTransactions,
        reference.transactions.length - reference.settledPrefix,
        `seed ${seed}, step ${step}`,
      );
      assert.equal(checkpoint.pendingMessages, unacked.length, `seed ${seed}, step ${step}`);
    }
    assert.ok(advances.length > 10, `seed ${seed} exercised advances`);
    for (let i = 1; i < advances.length; i++) {
      assert.ok(advances[i] > advances[i - 1], `seed ${seed}: advances strictly increase`);
    }
    assert.equal(advances.at(-1), checkpoint.flushLsn);
  }
});

Deno.test("Checkpoint.idle() remembers a keepalive seen while pending and applies it once settled", () => {
  const advances: bigint[] = [];
  const checkpoint = new Checkpoint({ initialLsn: 100n, onAdvance: (lsn) => advances.push(lsn) });
  const tx = checkpoint.begin(1);
  checkpoint.track(tx);
  checkpoint.commit(tx, 200n);
  assert.equal(checkpoint.idle(300n), false);
  assert.equal(checkpoint.flushLsn, 100n);
  checkpoint.settle(tx);
  assert.equal(checkpoint.flushLsn, 300n);
  assert.deepEqual(advances, [300n]);
});

Deno.test("Checkpoint.idle() never applies a remembered keepalive past a later pending transaction", () => {
  const checkpoint = new Checkpoint({ initialLsn: 100n });
  const first = checkpoint.begin(1);
  checkpoint.track(first);
  checkpoint.commit(first, 200n);
  checkpoint.idle(250n);
  const second = checkpoint.begin(2);
  checkpoint.track(second);
  checkpoint.commit(second, 400n);
  checkpoint.settle(first);
  assert.equal(checkpoint.flushLsn, 200n, "the second transaction is still pending");
  checkpoint.settle(second);
  assert.equal(checkpoint.flushLsn, 400n);
});
