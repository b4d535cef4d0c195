import assert from "node:assert/strict";
import { Backoff, DEFAULT_BACKOFF_OPTIONS } from "../../src/backoff.ts";

/** A random source that always returns `value` (0 → lowest spread, just under 1 → highest). */
const fixed = (value: number) => () => value;
const MIDDLE = 0.5;
const LOWEST = 0;
const HIGHEST = 0.999_999_999;

Deno.test("Backoff.next() grows exponentially up to the cap without jitter", () => {
  const backoff = new Backoff({ initialMs: 100, maxMs: 1_000, multiplier: 2, jitter: 0 });
  const delays = Array.from({ length: 7 }, () => backoff.next());
  assert.deepEqual(delays, [100, 200, 400, 800, 1_000, 1_000, 1_000]);
  assert.equal(backoff.attempts, 7);
});

Deno.test("Backoff.next() keeps returning the cap after very many attempts", () => {
  const backoff = new Backoff({ initialMs: 1, maxMs: 60_000, multiplier: 10, jitter: 0 });
  for (let i = 0; i < 10_000; i++) backoff.next();
  assert.equal(backoff.next(), 60_000);
});

Deno.test("Backoff.next() spreads each delay by the jitter fraction", () => {
  const options = { initialMs: 1_000, maxMs: 10_000, multiplier: 2, jitter: 0.25 };
  assert.equal(new Backoff(options, fixed(LOWEST)).next(), 750);
  assert.equal(new Backoff(options, fixed(MIDDLE)).next(), 1_000);
  assert.equal(new Backoff(options, fixed(HIGHEST)).next(), 1_250);
});

Deno.test("Backoff.next() never exceeds the cap even with upward jitter", () => {
  const backoff = new Backoff(
    { initialMs: 800, maxMs: 1_000, multiplier: 2, jitter: 0.5 },
    fixed(HIGHEST),
  );
  assert.deepEqual([backoff.next(), backoff.next(), backoff.next()], [1_000, 1_000, 1_000]);
});

Deno.test("Backoff.next() never returns a negative delay with full jitter", () => {
  const backoff = new Backoff(
    { initialMs: 100, maxMs: 1_000, multiplier: 2, jitter: 1 },
    fixed(LOWEST),
  );
  for (let i = 0; i < 5; i++) assert.equal(backoff.next(), 0);
});

Deno.test("Backoff.next() stays within bounds for arbitrary random values", () => {
  const options = { initialMs: 50, maxMs: 2_000, multiplier: 3, jitter: 0.3 };
  let step = 0;
  const sweep = () => (step++ * 0.137) % 1; // covers [0, 1) without repeating a pattern
  const backoff = new Backoff(options, sweep);
  let base = options.initialMs;
  for (let i = 0; i < 200; i++) {
    const delay = backoff.next();
    assert.ok(delay >= Math.floor(base * 0.7) && delay <= Math.min(2_000, base * 1.3), `${delay}`);
    base = Math.min(options.maxMs, base * options.multiplier);
  }
});

Deno.test("Backoff.reset() starts over from the initial delay", () => {
  const backoff = new Backoff({ initialMs: 100, maxMs: 1_000, multiplier: 2, jitter: 0 });
  backoff.next();
  backoff.next();
  backoff.reset();
  assert.equal(backoff.attempts, 0);
  assert.equal(backoff.next(), 100);
});

Deno.test("Backoff uses the defaults for omitted options", () => {
  const backoff = new Backoff({}, fixed(MIDDLE));
  assert.equal(backoff.next(), DEFAULT_BACKOFF_OPTIONS.initialMs);
  assert.equal(
    backoff.next(),
    DEFAULT_BACKOFF_OPTIONS.initialMs * DEFAULT_BACKOFF_OPTIONS.multiplier,
  );
});

Deno.test("Backoff refuses options out of range", () => {
  assert.throws(() => new Backoff({ initialMs: -1 }), /initialMs must be a finite number >= 0/);
  assert.throws(() => new Backoff({ initialMs: 500, maxMs: 100 }), /maxMs must be .* >= initialMs/);
  assert.throws(() => new Backoff({ multiplier: 0.5 }), /multiplier must be .* >= 1, got 0.5/);
  assert.throws(() => new Backoff({ jitter: 1.5 }), /jitter must be a fraction/);
  assert.throws(() => new Backoff({ jitter: NaN }), /jitter must be a fraction/);
});
