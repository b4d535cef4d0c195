/**
 * Exponential backoff with jitter and no attempt limit, for Kafka produce
 * retries and PostgreSQL reconnects (DESIGN invariant 6: transient errors
 * retry without a time limit).
 *
 * @module
 */

/** Tuning of a {@linkcode Backoff}. */
export interface BackoffOptions {
  /** Base delay of the first retry, in milliseconds. */
  initialMs: number;
  /** Upper bound of any delay, in milliseconds. */
  maxMs: number;
  /** Growth factor of the base delay per attempt (at least 1). */
  multiplier: number;
  /** Spread of each delay around its base, as a fraction in [0, 1]: 0.2 means ±20%. */
  jitter: number;
}

/** Defaults: 100 ms, doubling, capped at 30 s, ±20% jitter. */
export const DEFAULT_BACKOFF_OPTIONS: Readonly<BackoffOptions> = Object.freeze({
  initialMs: 100,
  maxMs: 30_000,
  multiplier: 2,
  jitter: 0.2,
});

/**
 * Computes successive retry delays: attempt n waits
 * `min(maxMs, initialMs * multiplier^n)` spread by ±`jitter`, clamped to
 * [0, maxMs] and rounded to whole milliseconds.
 *
 * @example
 * ```ts
 * import { Backoff } from "./backoff.ts";
 *
 * const backoff = new Backoff({ initialMs: 100, maxMs: 5_000, multiplier: 2, jitter: 0 });
 * backoff.next(); // 100
 * backoff.next(); // 200
 * backoff.reset(); // after a success
 * backoff.next(); // 100
 * ```
 */
export class Backoff {
  readonly #options: Readonly<BackoffOptions>;
  readonly #random: () => number;
  #baseMs: number;
  #attempts = 0;

  /**
   * @param options delays and jitter; omitted fields take {@linkcode DEFAULT_BACKOFF_OPTIONS}.
   * @param random source of uniform numbers in [0, 1), injectable for tests.
   * @throws {RangeError} when an option is out of range.
   */
  constructor(options: Partial<BackoffOptions> = {}, random: () => number = Math.random) {
    this.#options = validate({ ...DEFAULT_BACKOFF_OPTIONS, ...options });
    this.#random = random;
    this.#baseMs = this.#options.initialMs;
  }

  /** Delays handed out since construction or the last {@linkcode Backoff.reset}. */
  get attempts(): number {
    return this.#attempts;
  }

  /** Returns the delay before the next attempt, in milliseconds, and moves on. */
  next(): number {
    const { maxMs, multiplier, jitter } = this.#options;
    const spread = jitter * (2 * this.#random() - 1);
    const delay = Math.min(maxMs, Math.max(0, Math.round(this.#baseMs * (1 + spread))));
    // Growing only up to the cap keeps the base finite however long the outage.
    this.#baseMs = Math.min(maxMs, this.#baseMs * multiplier);
    this.#attempts++;
    return delay;
  }

  /** Starts over from the initial delay, after a success. */
  reset(): void {
    this.#baseMs = this.#options.initialMs;
    this.#attempts = 0;
  }
}

function validate(options: BackoffOptions): BackoffOptions {
  const { initialMs, maxMs, multiplier, jitter } = options;
  if (!(Number.isFinite(initialMs) && initialMs >= 0)) {
    throw new RangeError(`Backoff initialMs must be a finite number >= 0, got ${initialMs}`);
  }
  if (!(Number.isFinite(maxMs) && maxMs >= initialMs)) {
    throw new RangeError(`Backoff maxMs must be a finite number >= initialMs, got ${maxMs}`);
  }
  if (!(Number.isFinite(multiplier) && multiplier >= 1)) {
    throw new RangeError(`Backoff multiplier must be a finite number >= 1, got ${multiplier}`);
  }
  if (!(jitter >= 0 && jitter <= 1)) {
    throw new RangeError(`Backoff jitter must be a fraction between 0 and 1, got ${jitter}`);
  }
  return options;
}
