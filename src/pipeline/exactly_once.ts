/**
 * Positions of exactly-once delivery: where in the change stream a Kafka
 * transaction may end, and which replayed changes are already in Kafka.
 *
 * The slot replays from its confirmed flush LSN, which trails what Kafka
 * holds: the slot is confirmed only after a Kafka transaction commits, and a
 * crash can fall in between. The progress record written inside each Kafka
 * transaction says where Kafka stands (a {@linkcode ResumePoint}); a
 * {@linkcode ReplayGate} built from it lets through only the changes after
 * that point.
 *
 * Changes are placed as `src/progress.ts` describes.
 *
 * @module
 */
import type { Lsn } from "../lsn.ts";
import type { ResumePoint, StreamPosition } from "../progress.ts";

/**
 * Counts the changes of the current transaction and says which of them are
 * already in Kafka.
 *
 * @example
 * ```ts
 * import { ReplayGate } from "./exactly_once.ts";
 *
 * // Kafka holds everything up to commit end 0/200, and 2 changes of the
 * // transaction that commits at 0/300.
 * const gate = new ReplayGate({
 *   lsn: 0x200n,
 *   partial: { commitLsn: 0x300n, changes: 2, changeLsn: 0x280n },
 * });
 * gate.admit(0x100n, 0x90n); // false: a transaction committed before 0/200
 * gate.admit(0x300n, 0x210n); // false: change 1 of the partial one
 * gate.admit(0x300n, 0x280n); // false: change 2
 * gate.admit(0x300n, 0x290n); // true: change 3 is new
 * ```
 */
export class ReplayGate {
  #point: ResumePoint;
  #commitLsn: Lsn = -1n;
  #changes = 0;
  #changeLsn: Lsn = 0n;

  /** A gate that lets through what comes after `point` (everything for `lsn` 0 and no partial). */
  constructor(point: ResumePoint = { lsn: 0n, partial: null }) {
    this.#point = point;
  }

  /** Lets through only what comes after `point` from now on. */
  resumeAfter(point: ResumePoint): void {
    this.#point = point;
  }

  /**
   * Counts a change of the transaction committing at `commitLsn` and tells
   * whether it is to be sent (false: Kafka already has it).
   */
  admit(commitLsn: Lsn, changeLsn: Lsn): boolean {
    if (commitLsn !== this.#commitLsn) {
      this.#commitLsn = commitLsn;
      this.#changes = 0;
    }
    this.#changes++;
    this.#changeLsn = changeLsn;
    // Commit records do not overlap: a transaction committing before the
    // last one Kafka holds ended (commitLsn < its end LSN) is wholly there.
    if (commitLsn < this.#point.lsn) return false;
    const partial = this.#point.partial;
    return partial === null || partial.commitLsn !== commitLsn || this.#changes > partial.changes;
  }

  /**
   * Whether anything of the transaction committing at `commitLsn` may be
   * missing from Kafka (false: all of it is there). For messages outside
   * the change count, such as schema changes, which a replay may not repeat
   * one for one.
   */
  admitsTransaction(commitLsn: Lsn): boolean {
    return commitLsn >= this.#point.lsn;
  }

  /** The position right after the change last counted, within its transaction. */
  position(): StreamPosition {
    return {
      commitLsn: this.#commitLsn,
      changes: this.#changes,
      changeLsn: this.#changeLsn,
      endLsn: null,
    };
  }

  /**
   * The position at the end of the transaction whose Commit ends at `endLsn`
   * (a position with an end LSN stands for the whole transaction).
   */
  committed(endLsn: Lsn): StreamPosition {
    return {
      commitLsn: this.#commitLsn,
      changes: this.#changes,
      changeLsn: this.#changeLsn,
      endLsn,
    };
  }
}
