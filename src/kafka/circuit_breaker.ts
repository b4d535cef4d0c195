/**
 * A circuit breaker for the Kafka sink (DESIGN invariant 6): after enough
 * consecutive failures it stops hammering a dead cluster, then lets a single
 * probe through to find out whether the cluster is back.
 *
 * ```
 * closed ──failureThreshold consecutive failures──► open
 * open ──openDurationMs elapsed, allowRequest()──► half_open (one probe admitted)
 * half_open ──success──► closed
 * half_open ──failure──► open (timer restarts)
 * ```
 *
 * @module
 */

/** Where a {@linkcode CircuitBreaker} stands. */
export type CircuitState = "closed" | "open" | "half_open";

/** Tuning and hooks of a {@linkcode CircuitBreaker}. */
export interface CircuitBreakerOptions {
  /** Consecutive failures that open the circuit (at least 1). */
  failureThreshold: number;
  /** How long the circuit stays open before a probe is allowed, in milliseconds. */
  openDurationMs: number;
  /** Called on every transition (for metrics, /ready and pausing the reader). */
  onStateChange?: (to: CircuitState, from: CircuitState) => void;
  /** Current time in milliseconds; defaults to `Date.now`, injectable for tests. */
  now?: () => number;
}

/**
 * Tracks request outcomes and decides whether a request may be sent.
 *
 * Outcomes reported while the circuit is open come from requests admitted
 * before it opened; they are ignored, so a late failure does not extend the
 * open period and a late success does not skip the probe. While half-open,
 * the first outcome reported decides the state.
 *
 * @example
 * ```ts
 * import { CircuitBreaker } from "./circuit_breaker.ts";
 *
 * const breaker = new CircuitBreaker({ failureThreshold: 3, openDurationMs: 10_000 });
 * if (breaker.allowRequest()) {
 *   // send, then report the outcome:
 *   breaker.recordSuccess();
 * } else {
 *   // wait breaker.remainingOpenMs before asking again
 * }
 * ```
 */
export class CircuitBreaker {
  readonly #failureThreshold: number;
  readonly #openDurationMs: number;
  readonly #onStateChange: ((to: CircuitState, from: CircuitState) => void) | undefined;
  readonly #now: () => number;
  #state: CircuitState = "closed";
  #consecutiveFailures = 0;
  #openedAt = 0;
  #probeInFlight = false;

  /** @throws {RangeError} when an option is out of range. */
  constructor(options: CircuitBreakerOptions) {
    const { failureThreshold, openDurationMs } = options;
    if (!(Number.isSafeInteger(failureThreshold) && failureThreshold >= 1)) {
      throw new RangeError(
        `Circuit breaker failureThreshold must be an integer >= 1, got ${failureThreshold}`,
      );
    }
    if (!(Number.isFinite(openDurationMs) && openDurationMs >= 0)) {
      throw new RangeError(
        `Circuit breaker openDurationMs must be a finite number >= 0, got ${openDurationMs}`,
      );
    }
    this.#failureThreshold = failureThreshold;
    this.#openDurationMs = openDurationMs;
    this.#onStateChange = options.onStateChange;
    this.#now = options.now ?? Date.now;
  }

  /** The current state. An open circuit turns half-open on the next {@linkcode allowRequest}. */
  get state(): CircuitState {
    return this.#state;
  }

  /** Failures reported in a row since the last success. */
  get consecutiveFailures(): number {
    return this.#consecutiveFailures;
  }

  /** Milliseconds until an open circuit admits a probe; 0 when not open or already due. */
  get remainingOpenMs(): number {
    if (this.#state !== "open") return 0;
    return Math.max(0, this.#openedAt + this.#openDurationMs - this.#now());
  }

  /**
   * Whether a request may be sent now. Always true when closed. When open, false
   * until `openDurationMs` elapsed; then the circuit turns half-open and this
   * call admits the one probe. While half-open, false until the probe's outcome.
   */
  allowRequest(): boolean {
    switch (this.#state) {
      case "closed":
        return true;
      case "open":
        if (this.remainingOpenMs > 0) return false;
        this.#transition("half_open");
        this.#probeInFlight = true;
        return true;
      case "half_open":
        if (this.#probeInFlight) return false;
        this.#probeInFlight = true;
        return true;
    }
  }

  /** Reports a successful request: resets the failure count and closes a half-open circuit. */
  recordSuccess(): void {
    if (this.#state === "open") return;
    this.#consecutiveFailures = 0;
    if (this.#state === "half_open") this.#transition("closed");
  }

  /** Reports a failed request: may open the circuit, and re-opens a half-open one. */
  recordFailure(): void {
    if (this.#state === "open") return;
    this.#consecutiveFailures++;
    if (this.#state === "half_open" || this.#consecutiveFailures >= this.#failureThreshold) {
      this.#openedAt = this.#now();
      this.#transition("open");
    }
  }

  #transition(to: CircuitState): void {
    const from = this.#state;
    this.#state = to;
    this.#probeInFlight = false;
    this.#onStateChange?.(to, from);
  }
}
