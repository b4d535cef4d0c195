import assert from "node:assert/strict";
import {
  explainSessionError,
  ReconnectPolicy,
  STABLE_SESSION_MS,
} from "../../src/source/reconnect_policy.ts";
import { SlotBusyError, SlotLostError } from "../../src/source/slot.ts";

const RECONNECT = { initialMs: 100, maxMs: 10_000, multiplier: 2, jitter: 0 };
const STANDBY_POLL_MS = 500;

function policyAt(clock: { now: number }): ReconnectPolicy {
  return new ReconnectPolicy(
    { reconnect: RECONNECT, standbyPollIntervalMs: STANDBY_POLL_MS },
    () => clock.now,
  );
}

Deno.test("ReconnectPolicy grows the delay over sessions that start and fail at once", () => {
  const clock = { now: 0 };
  const policy = policyAt(clock);
  const delays = [];
  for (let i = 0; i < 4; i++) {
    // Each session redelivers up to the same place, then fails there.
    policy.sessionStarted(1_000n);
    clock.now += 10;
    policy.sessionEnded(1_500n);
    const step = policy.next(new Error('publication "p" does not exist'));
    assert.equal(step.kind, "reconnect");
    if (step.kind === "reconnect") delays.push([step.attempt, step.delayMs]);
  }
  // Only the first got further than any session before it: the delay grows from there.
  assert.deepEqual(delays, [[1, 100], [2, 200], [3, 400], [4, 800]]);
});

Deno.test("ReconnectPolicy starts over after a session that got further or stayed up", () => {
  const clock = { now: 0 };
  const policy = policyAt(clock);
  policy.next(new Error("down"));
  policy.next(new Error("down"));
  policy.sessionStarted(1_000n);
  policy.sessionEnded(2_000n);
  assert.deepEqual(policy.next(new Error("down")), { kind: "reconnect", delayMs: 100, attempt: 1 });

  policy.next(new Error("down"));
  policy.sessionStarted(2_000n);
  clock.now += STABLE_SESSION_MS;
  policy.sessionEnded(2_000n);
  assert.deepEqual(policy.next(new Error("down")), { kind: "reconnect", delayMs: 100, attempt: 1 });

  // A start that failed before streaming got nowhere.
  policy.next(new Error("down"));
  policy.sessionEnded(null);
  assert.deepEqual(policy.next(new Error("down")), { kind: "reconnect", delayMs: 400, attempt: 3 });
});

Deno.test("ReconnectPolicy polls at the fixed standby interval while the slot is held", () => {
  const policy = policyAt({ now: 0 });
  for (let i = 0; i < 3; i++) {
    assert.deepEqual(policy.next(new SlotBusyError("busy", 4242)), {
      kind: "standby",
      delayMs: STANDBY_POLL_MS,
      activePid: 4242,
    });
  }
  // The server's own answer when the other process took the slot first.
  const refused = new Error('replication slot "s" is active for PID 77');
  assert.deepEqual(policy.next(refused), {
    kind: "standby",
    delayMs: STANDBY_POLL_MS,
    activePid: 77,
  });
});

Deno.test("ReconnectPolicy stops for good when the slot is lost", () => {
  assert.deepEqual(policyAt({ now: 0 }).next(new SlotLostError("gone")), { kind: "stop" });
});

Deno.test("explainSessionError() adds the cause and the way out to a missing publication", () => {
  const text = explainSessionError(
    new Error('publication "orders_pub" does not exist'),
    "orders_slot",
  );
  assert.match(
    text,
    /^publication "orders_pub" does not exist\. The slot reads WAL written before/,
  );
  assert.match(text, /SELECT pg_drop_replication_slot\('orders_slot'\)/);
  assert.match(text, /snapshot = "when_needed"/);
  assert.equal(explainSessionError(new Error("connection reset"), "s"), "connection reset");
});
