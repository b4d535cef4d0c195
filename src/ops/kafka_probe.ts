/**
 * Whether Kafka answers, for `/ready`: a metadata request every few seconds
 * on an admin client of its own. The producer alone cannot tell: with no
 * change to send it never notices that the brokers went away.
 *
 * @module
 */
import type { Admin, Kafka } from "kafkajs";
import { logger } from "../telemetry/log.ts";

/** Timing of a {@linkcode KafkaProbe}. */
export interface KafkaProbeOptions {
  /** The bootstrap brokers, named in log lines. */
  brokers: readonly string[];
  /** Pause between two probes, in milliseconds. */
  intervalMs: number;
  /** A probe without an answer within this time counts as failed, in milliseconds. */
  timeoutMs: number;
  /** Called with each outcome (e.g. to set a gauge). */
  onResult?: (reachable: boolean) => void;
}

const log = logger("kafka", "probe");
/** One attempt per probe: the probe itself repeats. */
const NO_RETRY = { retries: 0 };

/** Probes the Kafka cluster periodically; {@linkcode reachable} holds the last outcome. */
export class KafkaProbe {
  readonly #kafka: Kafka;
  readonly #options: KafkaProbeOptions;
  #admin: Admin | null = null;
  #reachable = false;
  #error: string | null = null;
  #probed = false;
  #inFlight: Promise<void> | null = null;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #stopped = false;

  /** Creates the probe; {@linkcode start} runs it. */
  constructor(kafka: Kafka, options: KafkaProbeOptions) {
    this.#kafka = kafka;
    this.#options = options;
  }

  /** Whether the last probe got an answer. */
  get reachable(): boolean {
    return this.#reachable;
  }

  /** Why the last probe failed, or null. */
  get error(): string | null {
    return this.#probed ? this.#error : "not probed yet";
  }

  /** Probes now, then every `intervalMs` until {@linkcode stop}. */
  start(): void {
    this.#stopped = false;
    void this.#tick();
  }

  /**
   * Stops probing and disconnects, without waiting for a probe still in
   * flight (kafkajs may retry a dead broker for a while): it disconnects itself.
   */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#disconnect();
  }

  async #tick(): Promise<void> {
    const noAnswer = () => new Error(`no answer within ${this.#options.timeoutMs} ms`);
    if (this.#inFlight === null) {
      // Never rejects, so no promise derived from it can go unhandled.
      const outcome = this.#probe().then(() => null, toError);
      this.#inFlight = outcome.then(() => {
        this.#inFlight = null;
      });
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<Error>((resolve) => {
        timer = setTimeout(() => resolve(noAnswer()), this.#options.timeoutMs);
      });
      this.#record(await Promise.race([outcome, timeout]));
      clearTimeout(timer);
    } else {
      // The previous probe is still waiting for the cluster: that is an answer too.
      this.#record(noAnswer());
    }
    if (!this.#stopped) this.#timer = setTimeout(() => this.#tick(), this.#options.intervalMs);
  }

  async #probe(): Promise<void> {
    const fresh = this.#admin === null;
    const admin = this.#admin ?? this.#kafka.admin({ retry: NO_RETRY });
    // Kept before connecting, so that stop() can disconnect a pending attempt.
    this.#admin = admin;
    try {
      if (fresh) await admin.connect();
      await admin.describeCluster();
    } catch (error) {
      // A fresh client next time: kafkajs may keep a broken connection around.
      await this.#disconnect();
      throw error;
    } finally {
      if (this.#stopped) await this.#disconnect();
    }
  }

  async #disconnect(): Promise<void> {
    const admin = this.#admin;
    this.#admin = null;
    await admin?.disconnect().catch(() => {});
  }

  #record(error: Error | null): void {
    const reachable = error === null;
    const changed = !this.#probed || reachable !== this.#reachable;
    this.#probed = true;
    this.#reachable = reachable;
    this.#error = error?.message ?? null;
    this.#options.onResult?.(reachable);
    if (!changed || this.#stopped) return;
    const brokers = this.#options.brokers.join(",");
    if (reachable) log.info("Kafka is reachable at {brokers}", { brokers });
    else log.warn("Kafka is unreachable at {brokers}: {error}", { brokers, error: this.#error });
  }
}

function toError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
