import assert from "node:assert/strict";
import { type InflightAccount, InflightBudget } from "../../src/pipeline/inflight.ts";

const KIB = 1024;

/** Whether `promise` resolved once every pending microtask ran. */
async function hasResolved(promise: Promise<void>): Promise<boolean> {
  let resolved = false;
  promise.then(() => resolved = true);
  await new Promise((wake) => setTimeout(wake, 0));
  return resolved;
}

/** Acquires like a reader: one message at a time while the account is not full. */
function fill(account: InflightAccount, bytes: number, limit = Infinity): number {
  let admitted = 0;
  while (!account.full && admitted < limit) {
    account.acquire(bytes);
    admitted++;
  }
  return admitted;
}

Deno.test("InflightAccount.full is set at the message cap", () => {
  const budget = new InflightBudget({ maxMessages: 3, maxBytes: 1_000 * KIB });
  const source = budget.account("main");
  assert.equal(fill(source, 10), 3);
  assert.equal(source.messages, 3);
  assert.equal(budget.full, true);
  source.release(10);
  assert.equal(source.full, false);
  assert.equal(budget.full, false);
});

Deno.test("InflightAccount.full is set at the byte cap", () => {
  const budget = new InflightBudget({ maxMessages: 1_000, maxBytes: 10 * KIB });
  const source = budget.account("main");
  assert.equal(fill(source, 4 * KIB), 3, "the third message crosses the cap and is admitted");
  assert.equal(source.bytes, 12 * KIB);
  source.release(4 * KIB);
  assert.equal(source.full, false, "8 KiB is below the 10 KiB cap");
});

Deno.test("InflightAccount.acquire() admits a message larger than the byte cap when idle", () => {
  const budget = new InflightBudget({ maxMessages: 100, maxBytes: 10 * KIB });
  const source = budget.account("main");
  assert.equal(source.full, false);
  source.acquire(50 * KIB);
  assert.equal(source.bytes, 50 * KIB);
  assert.equal(source.full, true);
  source.release(50 * KIB);
  assert.equal(source.full, false);
  assert.equal(budget.bytes, 0);
});

Deno.test("InflightAccount.waitForRoom() resolves at once when there is room", async () => {
  const budget = new InflightBudget({ maxMessages: 2, maxBytes: KIB });
  const source = budget.account("main");
  assert.equal(await hasResolved(source.waitForRoom()), true);
  assert.equal(source.active, false, "waiting with room does not claim a share");
});

Deno.test("InflightAccount.waitForRoom() resolves once a release makes room", async () => {
  const budget = new InflightBudget({ maxMessages: 2, maxBytes: KIB });
  const source = budget.account("main");
  fill(source, 1);
  const first = source.waitForRoom();
  const second = source.waitForRoom();
  assert.equal(first, second, "concurrent waiters share one promise");
  assert.equal(await hasResolved(first), false);
  source.release(1);
  assert.equal(await hasResolved(first), true);
});

Deno.test("InflightAccount.waitForRoom() stays pending while bytes are at the cap", async () => {
  const budget = new InflightBudget({ maxMessages: 100, maxBytes: 2 * KIB });
  const source = budget.account("main");
  source.acquire(KIB);
  source.acquire(2 * KIB);
  const room = source.waitForRoom();
  source.release(KIB);
  assert.equal(await hasResolved(room), false, "2 KiB in flight is still at the cap");
  source.release(2 * KIB);
  assert.equal(await hasResolved(room), true);
});

Deno.test("InflightBudget lets a single source use the whole cap beside idle accounts", () => {
  const budget = new InflightBudget({ maxMessages: 10, maxBytes: 1_000 * KIB });
  budget.account("quiet");
  budget.account("also_quiet");
  const busy = budget.account("busy");
  assert.equal(fill(busy, 1), 10);
  assert.equal(budget.activeAccounts, 1);
});

Deno.test("InflightBudget.account() returns the same account for the same name", () => {
  const budget = new InflightBudget({ maxMessages: 10, maxBytes: KIB });
  const first = budget.account("orders");
  first.acquire(5);
  assert.equal(budget.account("orders"), first);
  assert.equal(budget.account("orders").messages, 1);
  assert.notEqual(budget.account("audit"), first);
});

Deno.test("InflightBudget splits the cap between two busy sources", () => {
  const budget = new InflightBudget({ maxMessages: 10, maxBytes: 1_000 * KIB });
  const first = budget.account("first");
  const second = budget.account("second");
  first.acquire(1); // both active before either fills up
  second.acquire(1);
  assert.equal(fill(first, 1), 4);
  assert.equal(fill(second, 1), 4);
  assert.equal(first.messages, 5);
  assert.equal(second.messages, 5);
});

Deno.test("InflightBudget does not let a source that filled it starve another", async () => {
  const maxMessages = 10;
  const budget = new InflightBudget({ maxMessages, maxBytes: 1_000 * KIB });
  const hog = budget.account("hog");
  const late = budget.account("late");
  const hogInFlight = fill(hog, 1);
  assert.equal(hogInFlight, maxMessages);

  assert.equal(late.full, true);
  const room = late.waitForRoom();
  assert.equal(hog.full, true, "the hog is held back as soon as another source waits");

  // Acks of the hog's messages arrive one at a time; after each, the hog's reader
  // grabs whatever it may before the late one runs.
  let acks = 0;
  while (late.messages < maxMessages / 2 && acks < maxMessages * 2) {
    hog.release(1);
    acks++;
    fill(hog, 1);
    fill(late, 1);
    assert.ok(budget.messages <= maxMessages, "the total cap holds");
  }
  assert.equal(await hasResolved(room), true);
  assert.equal(acks, maxMessages / 2, "every freed slot went to the late source up to its share");
  assert.equal(hog.messages, maxMessages / 2);

  // Steady state: each ack refills the account that was acked.
  hog.release(1);
  fill(late, 1);
  fill(hog, 1);
  assert.deepEqual([hog.messages, late.messages], [5, 5]);
});

Deno.test("InflightBudget keeps byte shares fair between large and small messages", () => {
  const maxBytes = 100 * KIB;
  const budget = new InflightBudget({ maxMessages: 10_000, maxBytes });
  const large = budget.account("large");
  const small = budget.account("small");
  fill(large, 10 * KIB);
  assert.equal(large.bytes, maxBytes);
  small.waitForRoom();
  let rounds = 0;
  while (small.bytes < maxBytes / 2 && rounds < 1_000) {
    large.release(10 * KIB);
    fill(large, 10 * KIB);
    fill(small, KIB);
    rounds++;
  }
  assert.equal(small.bytes, maxBytes / 2);
  assert.equal(large.bytes, maxBytes / 2);
  assert.ok(budget.bytes <= maxBytes);
});

Deno.test("InflightBudget hands the whole cap back when the other source goes quiet", () => {
  const budget = new InflightBudget({ maxMessages: 10, maxBytes: 1_000 * KIB });
  const first = budget.account("first");
  const second = budget.account("second");
  first.acquire(1);
  second.acquire(1);
  fill(first, 1);
  assert.equal(first.messages, 5);
  second.release(1);
  assert.equal(second.active, false);
  assert.equal(fill(first, 1), 5, "alone again, the first source may use the whole cap");
});

Deno.test("InflightBudget frees the share of a source that waited, then drained", () => {
  const budget = new InflightBudget({ maxMessages: 10, maxBytes: 1_000 * KIB });
  const busy = budget.account("busy");
  const brief = budget.account("brief");
  fill(busy, 1);
  brief.waitForRoom();
  busy.release(1);
  brief.acquire(1);
  brief.release(1);
  assert.equal(brief.active, false);
  assert.equal(fill(busy, 1), 1, "the busy source may take the whole cap again");
  assert.equal(busy.messages, 10);
});

Deno.test("InflightBudget frees the share of a source that waited after its last change once it relinquishes", async () => {
  const budget = new InflightBudget({ maxMessages: 10, maxBytes: 1_000 * KIB });
  const busy = budget.account("busy");
  const brief = budget.account("brief");
  fill(busy, 1);
  // The brief source's only change is admitted, then it finds the budget full.
  brief.acquire(1);
  const room = brief.waitForRoom();
  busy.release(1);
  busy.release(1);
  assert.equal(await hasResolved(room), true);
  brief.release(1);
  assert.equal(brief.active, true, "woken, it keeps its share until it acquires or relinquishes");
  while (busy.messages > 0) busy.release(1);
  assert.equal(fill(busy, 1), 5, "held to its share while the brief source looks active");
  const wait = busy.waitForRoom();
  brief.relinquish();
  assert.equal(brief.active, false);
  assert.equal(await hasResolved(wait), true, "the busy source is woken at once");
  assert.equal(fill(busy, 1), 5, "and may take the whole cap again");
  assert.equal(busy.messages, 10);
});

Deno.test("InflightAccount.relinquish() keeps the share of a source still waiting", async () => {
  const budget = new InflightBudget({ maxMessages: 4, maxBytes: 1_000 * KIB });
  const busy = budget.account("busy");
  const waiting = budget.account("waiting");
  fill(busy, 1);
  const room = waiting.waitForRoom();
  waiting.relinquish();
  assert.equal(waiting.active, true);
  busy.release(1);
  assert.equal(await hasResolved(room), true);
});

Deno.test("InflightBudget wakes a waiting source when another source releases", async () => {
  const budget = new InflightBudget({ maxMessages: 4, maxBytes: 1_000 * KIB });
  const first = budget.account("first");
  const second = budget.account("second");
  assert.equal(fill(second, 1), 4);
  const room = first.waitForRoom();
  assert.equal(await hasResolved(room), false);
  second.release(1);
  assert.equal(await hasResolved(room), true);
});

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

Deno.test("InflightBudget keeps its caps and serves every busy source over random acks", () => {
  const maxMessages = 30;
  const maxBytes = 64 * KIB;
  const largestMessage = 8 * KIB;
  for (const seed of [7, 99, 2024]) {
    const random = seededRandom(seed);
    const budget = new InflightBudget({ maxMessages, maxBytes });
    const accounts = ["a", "b", "c"].map((name) => budget.account(name));
    const inFlight: { account: InflightAccount; bytes: number }[] = [];
    const admittedSince = new Map(accounts.map((account) => [account, 0]));
    const longestWait = new Map(accounts.map((account) => [account, 0]));

    for (let step = 0; step < 5_000; step++) {
      // Each busy source tries to admit one message per step, in random order.
      for (const account of [...accounts].sort(() => random() - 0.5)) {
        if (account.full) {
          account.waitForRoom();
          const waited = admittedSince.get(account)! + 1;
          admittedSince.set(account, waited);
          longestWait.set(account, Math.max(longestWait.get(account)!, waited));
          continue;
        }
        const bytes = 1 + Math.floor(random() * largestMessage);
        account.acquire(bytes);
        inFlight.push({ account, bytes });
        admittedSince.set(account, 0);
      }
      assert.ok(budget.messages <= maxMessages, `seed ${seed}: message cap at step ${step}`);
      assert.ok(budget.bytes < maxBytes + largestMessage, `seed ${seed}: byte cap at step ${step}`);
      // Kafka acks a random in-flight message (acks across partitions come out of order).
      const pick = Math.floor(random() * inFlight.length);
      const { account, bytes } = inFlight[pick];
      inFlight[pick] = inFlight[inFlight.length - 1];
      inFlight.pop();
      account.release(bytes);
    }
    // No starvation: a busy source waits at most a bounded number of acks. The
    // bound is two budgets' worth of acks, since an over-share source drains
    // first; the exact wait depends on the random ack order.
    for (const account of accounts) {
      assert.ok(
        longestWait.get(account)! < 2 * maxMessages,
        `seed ${seed}: "${account.name}" waited ${longestWait.get(account)} steps at most`,
      );
    }
  }
});

Deno.test("InflightAccount.release() refuses more than the account holds", () => {
  const budget = new InflightBudget({ maxMessages: 10, maxBytes: KIB });
  const source = budget.account("main");
  assert.throws(() => source.release(1), /"main" cannot release a message of 1 bytes: it holds 0/);
  source.acquire(100);
  assert.throws(() => source.release(200), /holds 1 message\(s\) of 100 bytes/);
  assert.equal(budget.bytes, 100);
});

Deno.test("InflightAccount refuses negative or fractional sizes", () => {
  const source = new InflightBudget({ maxMessages: 10, maxBytes: KIB }).account("main");
  assert.throws(() => source.acquire(-1), RangeError);
  assert.throws(() => source.acquire(1.5), RangeError);
  assert.equal(source.messages, 0);
});

Deno.test("InflightBudget refuses limits that are not positive integers", () => {
  assert.throws(
    () => new InflightBudget({ maxMessages: 0, maxBytes: KIB }),
    /maxMessages must be a positive integer, got 0/,
  );
  assert.throws(
    () => new InflightBudget({ maxMessages: 1, maxBytes: Infinity }),
    /maxBytes must be a positive integer, got Infinity/,
  );
});
