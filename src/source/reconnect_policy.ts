/**
 * What a source does after a session ends: reconnect after a growing
 * backoff, wait as a standby at a short fixed interval while another process
 * holds the slot, or stop for good when the slot is lost (project issue 14).
 *
 * The backoff starts over only after a session that was worth it: one that
 * confirmed to PostgreSQL a flush LSN further than any session before it
 * (what it merely reached in memory may never arrive), or that stayed up for
 * {@linkcode STABLE_SESSION_MS}. A session that starts and fails at once (a
 * publication dropped while its slot still reads older WAL, say) counts as
 * another failed attempt, so the delay grows instead of hammering the server
 * twice a second; so does one that only redelivers what earlier sessions
 * already reached before failing at the same place, and one that only sees
 * the empty transactions pgoutput sends for other tables' traffic.
 *
 * @module
 */
import { Backoff, type BackoffOptions } from "../backoff.ts";
import type { Lsn } from "../lsn.ts";
import { SlotBusyError, SlotLostError } from "./slot.ts";

/** A session up this long was a success, even without a transaction. */
export const STABLE_SESSION_MS = 60_000;

/**
 * PostgreSQL's refusal of START_REPLICATION on a slot another walsender
 * holds (the other process took it between the check and the start).
 */
const SLOT_ACTIVE = /replication slot "[^"]*" is active for PID (\d+)/;

/** The PID holding the slot when `error` says the slot is busy, else null. */
function activePidOf(error: unknown): number | null {
  if (error instanceof SlotBusyError) return error.activePid;
  const match = error instanceof Error ? SLOT_ACTIVE.exec(error.message) : null;
  return match === null ? null : Number(match[1]);
}

/** The walsender's answer while the slot reads WAL from before the publication existed. */
const PUBLICATION_MISSING = /publication "([^"]*)" does not exist/;

/**
 * The error that ended a session, with the cause and the way out added when
 * the message alone would leave the operator guessing.
 *
 * A publication dropped while its slot streams keeps failing after it is
 * recreated: the walsender looks the publication up as of the WAL it
 * decodes, where the new one does not exist yet, so every session fails
 * until the slot is replaced.
 */
export function explainSessionError(error: unknown, slot: string): string {
  const message = error instanceof Error ? error.message : String(error);
  const publication = PUBLICATION_MISSING.exec(message)?.[1];
  if (publication === undefined) return message;
  return `${message}. The slot reads WAL written before publication "${publication}" was ` +
    `(re)created, and PostgreSQL looks the publication up as of that WAL, so this repeats. ` +
    `Way out: stop pg2kafka, drop the slot (SELECT pg_drop_replication_slot('${slot}')), set ` +
    `snapshot = "when_needed" and start again: the slot is recreated with a snapshot`;
}

/** What to do after a session ended. */
export type NextStep =
  | { kind: "reconnect"; delayMs: number; attempt: number }
  | { kind: "standby"; delayMs: number; activePid: number }
  | { kind: "stop" };

/** The policy's settings. */
export interface ReconnectPolicySettings {
  reconnect: BackoffOptions;
  /** The fixed interval at which a standby checks whether the slot is free. */
  standbyPollIntervalMs: number;
}

/**
 * Chooses the step after each session.
 *
 * @example
 * ```ts
 * const policy = new ReconnectPolicy({ reconnect, standbyPollIntervalMs: 1_000 });
 * policy.sessionStarted(0x16b3748n);
 * policy.sessionEnded(0x16b3748n); // got no further
 * policy.next(new Error("connection reset")); // { kind: "reconnect", delayMs: …, attempt: 1 }
 * ```
 */
export class ReconnectPolicy {
  readonly #settings: ReconnectPolicySettings;
  readonly #backoff: Backoff;
  readonly #now: () => number;
  #startedAt: number | null = null;
  /** The furthest flush LSN any session reached (or started from). */
  #furthest: Lsn = 0n;

  /** Creates the policy; `now` is replaceable for tests. */
  constructor(settings: ReconnectPolicySettings, now: () => number = Date.now) {
    this.#settings = settings;
    this.#backoff = new Backoff(settings.reconnect);
    this.#now = now;
  }

  /** A session started streaming from `startLsn`. */
  sessionStarted(startLsn: Lsn): void {
    this.#startedAt = this.#now();
    if (startLsn > this.#furthest) this.#furthest = startLsn;
  }

  /**
   * A session ended (or failed before streaming); `reachedLsn` is the last
   * flush LSN it sent to PostgreSQL, or null when it sent none.
   */
  sessionEnded(reachedLsn: Lsn | null): void {
    const startedAt = this.#startedAt;
    this.#startedAt = null;
    const stable = startedAt !== null && this.#now() - startedAt >= STABLE_SESSION_MS;
    const progressed = startedAt !== null && reachedLsn !== null && reachedLsn > this.#furthest;
    if (progressed) this.#furthest = reachedLsn;
    if (progressed || stable) this.#backoff.reset();
  }

  /** The step after a session that ended with `error` (null: the server closed it). */
  next(error: unknown): NextStep {
    if (error instanceof SlotLostError) return { kind: "stop" };
    const activePid = activePidOf(error);
    if (activePid !== null) {
      // The slot is in use, so this is no failure of ours: the backoff keeps its place.
      return { kind: "standby", delayMs: this.#settings.standbyPollIntervalMs, activePid };
    }
    const delayMs = this.#backoff.next();
    return { kind: "reconnect", delayMs, attempt: this.#backoff.attempts };
  }
}
