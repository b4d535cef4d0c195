/**
 * Never replace a vanished slot without a word (project issue 14).
 *
 * A replication slot holds every change since its confirmed position. When
 * it is dropped, those changes are gone: creating a new slot at the current
 * WAL end would skip them, and consumers would never know. So before a source
 * creates a missing slot, the guard asks whether this source streamed from
 * that slot before: in this process (it streamed since pg2kafka started), or
 * according to its durable progress record (`src/progress/record.ts`). If it
 * did, the slot is recreated only under `snapshot = "when_needed"`, with a
 * snapshot so consumers converge; otherwise the guard refuses with a
 * {@linkcode SlotLostError} that says what happened and the way out.
 *
 * A record that cannot be read is an error (the source retries), never a
 * "no": a new slot created on a guess could skip changes for good. A missing
 * progress topic is a brand-new deployment. A record of another slot name
 * means the operator renamed the slot: a new slot, created the first time.
 *
 * @module
 */
import { formatLsn } from "../lsn.ts";
import { logger } from "../telemetry/log.ts";
import type { ProgressRecord, ProgressStore } from "../progress/mod.ts";
import { SlotLostError, SourceSetupError } from "./slot.ts";
import type { SnapshotMode } from "./snapshot.ts";

/** What the guard knows of its source. */
export interface SlotGuardSettings {
  source: string;
  slot: string;
  /** The source's snapshot mode: only `when_needed` may replace a vanished slot. */
  snapshotMode: SnapshotMode;
  /** Where the source's progress record lives; null when there is none (tests). */
  store: ProgressStore | null;
}

const log = logger("source");

/** Decides whether a missing slot may be created (see the module docs). */
export class SlotGuard {
  readonly #settings: SlotGuardSettings;
  /** Set once a session of this process streamed from the slot. */
  #streamedHere = false;

  /** Creates the guard of one source. */
  constructor(settings: SlotGuardSettings) {
    this.#settings = settings;
  }

  /** Notes that the source streams from its slot: from now on a vanished slot is a loss. */
  markStreamed(): void {
    this.#streamedHere = true;
  }

  /**
   * Runs before the missing slot is created: returns to allow it, throws to
   * refuse.
   *
   * @throws {SlotLostError} when the source streamed from the slot and the
   * snapshot mode is not `when_needed`.
   * @throws {SourceSetupError} when the progress record cannot be read.
   */
  async checkMissingSlot(): Promise<void> {
    const evidence = this.#streamedHere
      ? "this source streamed from it since pg2kafka started"
      : await this.#recordEvidence();
    if (evidence === null) return;
    const { source, slot, snapshotMode } = this.#settings;
    if (snapshotMode === "when_needed") {
      log.warn(
        "Replication slot {slot} of source {source} vanished ({evidence}); recreating it " +
          "with a snapshot (snapshot = when_needed): every row is sent again",
        { source, slot, evidence },
      );
      return;
    }
    throw new SlotLostError(
      `Replication slot "${slot}" of source ${source} vanished although ${evidence}: the ` +
        `changes it held are lost to pg2kafka, so it is not recreated silently. To start again ` +
        `with a snapshot (every row sent again), set snapshot = "when_needed" and restart; ` +
        `to accept the gap instead, give the source a new slot name`,
    );
  }

  /** Why the progress record says the source streamed from the slot, or null. */
  async #recordEvidence(): Promise<string | null> {
    const { source, slot, store } = this.#settings;
    if (store === null) return null;
    let record: ProgressRecord | null;
    try {
      record = await store.read(source);
    } catch (error) {
      throw new SourceSetupError(
        `Replication slot "${slot}" is missing and the progress record of source ${source} ` +
          `cannot be read (${error instanceof Error ? error.message : error}): not creating ` +
          `the slot until pg2kafka can tell whether this source streamed before`,
      );
    }
    if (record === null) return null;
    if (record.slot !== slot) {
      log.info(
        "Source {source} used slot {previous} before; slot {slot} is new and is created",
        { source, slot, previous: record.slot },
      );
      return null;
    }
    return `its progress record says it streamed from it up to ${formatLsn(record.lsn)} ` +
      `(database ${record.database}, server ${record.systemIdentifier || "unknown"}, ` +
      `written ${record.writtenAt})`;
  }
}
