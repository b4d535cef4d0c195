import assert from "node:assert/strict";
import { CircuitBreaker, type CircuitState } from "../../src/kafka/circuit_breaker.ts";

const THRESHOLD = 3;
const OPEN_MS = 10_000;

/** A breaker on a manual clock that records its transitions as "from→to". */
function manualBreaker() {
  const clock = { now: 1_000_000 };
  const transitions: string[] = [];
  const breaker = new CircuitBreaker({
    failureThreshold: THRESHOLD,
    openDurationMs: OPEN_MS,
    now: () => clock.now,
    onStateChange: (to: CircuitState, from: CircuitState) => transitions.push(`${from}→${to}`),
  });
  return { breaker, clock, transitions };
}

function openIt(breaker: CircuitBreaker): void {
  for (let i = 0; i < THRESHOLD; i++) breaker.recordFailure();
}

Deno.test("CircuitBreaker starts closed and allows every request", () => {
  const { breaker, transitions } = manualBreaker();
  assert.equal(breaker.state, "closed");
  assert.equal(breaker.allowRequest(), true);
  assert.equal(breaker.allowRequest(), true);
  assert.equal(breaker.remainingOpenMs, 0);
  assert.deepEqual(transitions, []);
});

Deno.test("CircuitBreaker opens after failureThreshold consecutive failures", () => {
  const { breaker, transitions } = manualBreaker();
  breaker.recordFailure();
  breaker.recordFailure();
  assert.equal(breaker.state, "closed");
  breaker.recordFailure();
  assert.equal(breaker.state, "open");
  assert.equal(breaker.allowRequest(), false);
  assert.equal(breaker.remainingOpenMs, OPEN_MS);
  assert.deepEqual(transitions, ["closed→open"]);
});

Deno.test("CircuitBreaker stays closed when a success breaks the failure streak", () => {
  const { breaker } = manualBreaker();
  breaker.recordFailure();
  breaker.recordFailure();
  breaker.recordSuccess();
  assert.equal(breaker.consecutiveFailures, 0);
  breaker.recordFailure();
  breaker.recordFailure();
  assert.equal(breaker.state, "closed");
});

Deno.test("CircuitBreaker turns half-open after openDurationMs and admits exactly one probe", () => {
  const { breaker, clock, transitions } = manualBreaker();
  openIt(breaker);
  clock.now += OPEN_MS - 1;
  assert.equal(breaker.allowRequest(), false);
  assert.equal(breaker.remainingOpenMs, 1);
  clock.now += 1;
  assert.equal(breaker.remainingOpenMs, 0);
  assert.equal(breaker.allowRequest(), true, "the probe");
  assert.equal(breaker.state, "half_open");
  assert.equal(breaker.allowRequest(), false, "no second request while the probe is out");
  assert.equal(breaker.allowRequest(), false);
  assert.deepEqual(transitions, ["closed→open", "open→half_open"]);
});

Deno.test("CircuitBreaker closes when the probe succeeds", () => {
  const { breaker, clock, transitions } = manualBreaker();
  openIt(breaker);
  clock.now += OPEN_MS;
  breaker.allowRequest();
  breaker.recordSuccess();
  assert.equal(breaker.state, "closed");
  assert.equal(breaker.consecutiveFailures, 0);
  assert.equal(breaker.allowRequest(), true);
  assert.equal(breaker.allowRequest(), true);
  assert.deepEqual(transitions, ["closed→open", "open→half_open", "half_open→closed"]);
});

Deno.test("CircuitBreaker re-opens and restarts its timer when the probe fails", () => {
  const { breaker, clock, transitions } = manualBreaker();
  openIt(breaker);
  clock.now += OPEN_MS;
  breaker.allowRequest();
  clock.now += 500;
  breaker.recordFailure();
  assert.equal(breaker.state, "open");
  assert.equal(breaker.remainingOpenMs, OPEN_MS, "the open period counts from the probe failure");
  clock.now += OPEN_MS - 1;
  assert.equal(breaker.allowRequest(), false);
  clock.now += 1;
  assert.equal(breaker.allowRequest(), true);
  assert.deepEqual(transitions, [
    "closed→open",
    "open→half_open",
    "half_open→open",
    "open→half_open",
  ]);
});

Deno.test("CircuitBreaker ignores late outcomes of requests sent before it opened", () => {
  const { breaker, clock, transitions } = manualBreaker();
  openIt(breaker);
  clock.now += OPEN_MS / 2;
  breaker.recordFailure();
  assert.equal(breaker.remainingOpenMs, OPEN_MS / 2, "a late failure does not extend the period");
  breaker.recordSuccess();
  assert.equal(breaker.state, "open", "a late success does not skip the probe");
  assert.deepEqual(transitions, ["closed→open"]);
});

Deno.test("CircuitBreaker with a threshold of one opens on the first failure", () => {
  const breaker = new CircuitBreaker({ failureThreshold: 1, openDurationMs: 0, now: () => 0 });
  breaker.recordFailure();
  assert.equal(breaker.state, "open");
  assert.equal(breaker.allowRequest(), true, "a zero open period admits the probe at once");
  assert.equal(breaker.state, "half_open");
});

Deno.test("CircuitBreaker refuses options out of range", () => {
  assert.throws(
    () => new CircuitBreaker({ failureThreshold: 0, openDurationMs: 1 }),
    /failureThreshold must be an integer >= 1, got 0/,
  );
  assert.throws(
    () => new CircuitBreaker({ failureThreshold: 2.5, openDurationMs: 1 }),
    /failureThreshold must be an integer/,
  );
  assert.throws(
    () => new CircuitBreaker({ failureThreshold: 1, openDurationMs: -5 }),
    /openDurationMs must be a finite number >= 0, got -5/,
  );
});
