/**
 * Keeps a source's durable progress record (`src/progress/record.ts`) up to
 * date: written when a session starts streaming (so even a source that never
 * delivered a change is known to have used its slot), then after confirms,
 * coalesced to at most one write per interval, and once more on stop.
 * Writes go one at a time; a failed write is logged and the next confirm
 * tries again. The record only has to say "this slot was streamed from", so a
 * late record costs nothing but a less exact position in it.
 *
 * @module
 */
import type { Lsn } from "../lsn.ts";
import { logger } from "../telemetry/log.ts";
import type { ProgressStore } from "../progress/mod.ts";

/** Whose progress the recorder keeps. */
export interface ProgressRecorderSettings {
  source: string;
  slot: string;
  database: string;
  /** Least time between two writes, in milliseconds. */
  intervalMs: number;
}

const log = logger("progress");
/** How long {@linkcode ProgressRecorder.stop} waits for the last write. */
const STOP_TIMEOUT_MS = 2_000;

/**
 * Writes a source's progress record, coalesced.
 *
 * @example
 * ```ts
 * const recorder = new ProgressRecorder(store, {
 *   source: "main", slot: "pg2kafka", database: "app", intervalMs: 10_000,
 * });
 * recorder.started("7301234567890123456", 0x16b3748n);
 * recorder.confirmed(0x16b3800n); // written within 10 s
 * await recorder.stop(); // writes what is pending
 * ```
 */
export class ProgressRecorder {
  readonly #store: ProgressStore;
  readonly #settings: ProgressRecorderSettings;
  #systemIdentifier = "";
  /** The newest confirmed LSN, and the one last written. */
  #lsn: Lsn | null = null;
  #writtenLsn: Lsn | null = null;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #writing: Promise<void> = Promise.resolve();
  #failing = false;

  /** Creates the recorder of one source. */
  constructor(store: ProgressStore, settings: ProgressRecorderSettings) {
    this.#store = store;
    this.#settings = settings;
  }

  /** A session streams from `lsn` on the server `systemIdentifier`: written at once. */
  started(systemIdentifier: string, lsn: Lsn): void {
    this.#systemIdentifier = systemIdentifier;
    this.#lsn = lsn;
    this.#writtenLsn = null;
    this.#writeNow();
  }

  /** PostgreSQL was sent `lsn` as confirmed: written within the interval. */
  confirmed(lsn: Lsn): void {
    if (this.#lsn === null || lsn <= this.#lsn) return;
    this.#lsn = lsn;
    this.#timer ??= setTimeout(() => this.#writeNow(), this.#settings.intervalMs);
  }

  /**
   * Writes what is pending and waits up to `timeoutMs` for the writes in
   * flight: with Kafka down, shutdown does not wait for its retries (the
   * record only lags, which costs nothing but precision).
   */
  async stop(timeoutMs: number = STOP_TIMEOUT_MS): Promise<void> {
    if (this.#lsn !== this.#writtenLsn) this.#writeNow();
    clearTimeout(this.#timer);
    this.#timer = undefined;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = new Promise<boolean>((resolve) =>
      timer = setTimeout(resolve, timeoutMs, true)
    );
    const late = await Promise.race([this.#writing.then(() => false), timedOut]);
    clearTimeout(timer);
    if (late) {
      log.warn("The last progress record of source {source} was not written within {ms} ms", {
        source: this.#settings.source,
        ms: timeoutMs,
      });
    }
  }

  #writeNow(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const lsn = this.#lsn;
    if (lsn === null) return;
    const { source, slot, database } = this.#settings;
    const record = {
      source,
      slot,
      database,
      systemIdentifier: this.#systemIdentifier,
      lsn,
      writtenAt: new Date().toISOString(),
    };
    this.#writing = this.#writing.then(() => this.#store.write(record)).then(() => {
      this.#writtenLsn = lsn;
      if (this.#failing) log.info("Progress record of source {source} written again", { source });
      this.#failing = false;
    }, (error) => {
      if (!this.#failing) {
        log.warn(
          "Cannot write the progress record of source {source} (retried on the next confirm): " +
            "{error}",
          { source, error: String(error) },
        );
      }
      this.#failing = true;
    });
  }
}
