/**
 * The sink port: what the pipeline needs of whatever carries its messages
 * away (Kafka today; NATS or a webhook would implement the same interface).
 *
 * The contract in one sentence: every message handed to {@linkcode Sink.send}
 * or {@linkcode Sink.deadLetter} is settled exactly once, by calling the
 * `settle` callback it was handed with, after the destination durably took
 * it (in its own place or in the dead-letter place), and never before. A
 * sink retries what fails for as long as it runs; a message it cannot take
 * at all goes to the dead-letter place with the reason. The pipeline owns
 * what a settlement means (checkpoint, in-flight budget, counters); the sink
 * owns how delivery works (batching, ordering, retries, the dead-letter
 * place, its own health).
 *
 * @example
 * ```ts ignore
 * const sink: Sink<SinkMessage> = new KafkaSink(kafka, options, metrics);
 * await sink.start();
 * sink.send(message, (message, settlement) => console.log(message.topic, settlement.outcome));
 * await sink.drain();
 * await sink.stop();
 * ```
 *
 * @module
 */

/** A message for a sink: text key and value, text headers, and where it goes. */
export interface SinkMessage {
  /** Destination name (a topic, a subject, a URL path): the sink checks it is valid. */
  readonly topic: string;
  /** Key as text (JSON), or null for none: messages of one key keep their order. */
  readonly key: string | null;
  /** Value as text (JSON), or null for a tombstone. */
  readonly value: string | null;
  readonly headers: Record<string, string>;
  /** Approximate size in bytes (key + value + headers). */
  readonly size: number;
}

/** How a message ended: taken where it was meant to go, or in the dead-letter place. */
export type Settlement =
  | { readonly outcome: "delivered" }
  | { readonly outcome: "dead_lettered"; readonly reason: string; readonly error: string };

/** The one settlement of a delivered message, shared rather than allocated per message. */
export const DELIVERED: Settlement = Object.freeze({ outcome: "delivered" });

/**
 * Called once per message when the sink settled it. One function serves every
 * message (it receives the message back), so the hot path allocates nothing.
 */
export type Settle<M extends SinkMessage> = (message: M, settlement: Settlement) => void;

/** What a sink says of itself, for readiness, backpressure and liveness. */
export interface SinkHealth {
  /**
   * False while the sink refuses to try (a circuit breaker is open): the
   * pipeline stops reading until it accepts again.
   */
  readonly accepting: boolean;
  /** A short state word for /ready and logs (e.g. `closed`, `open`, `half_open`). */
  readonly state: string;
  /** Whether the state is the healthy one (for /ready). */
  readonly ok: boolean;
  /** The error that stopped the sink for good, or null while it runs. */
  readonly failure: Error | null;
}

/** The port every sink implements. */
export interface Sink<M extends SinkMessage = SinkMessage> {
  /** Connects (retrying until the destination answers) and starts delivering. */
  start(): Promise<void>;
  /** Queues `message`; `settle` is called once it was taken (or dead-lettered). Never blocks. */
  send(message: M, settle: Settle<M>): void;
  /** Queues `message` straight for the dead-letter place, with the reason in words. */
  deadLetter(message: M, reason: string, error: string, settle: Settle<M>): void;
  /** Resolves once everything queued so far is settled, or the sink failed. */
  drain(): Promise<void>;
  /**
   * Stops delivering and disconnects. Messages not settled by then are never
   * settled: the pipeline must not confirm them.
   */
  stop(): Promise<void>;
  /** The sink's current health. */
  health(): SinkHealth;
  /** Calls `listener` whenever {@linkcode health} changes. */
  onHealthChange(listener: (health: SinkHealth) => void): void;
}

/** Any character outside ASCII, whose UTF-8 form takes more than one byte. */
const NON_ASCII = /[\u0080-\uffff]/;

/** Approximate bytes of a string in UTF-8 without encoding it (exact for ASCII). */
export function approximateBytes(text: string | null): number {
  if (text === null) return 0;
  // Most messages are ASCII: the regular expression engine checks that about
  // three times faster than the loop below.
  if (!NON_ASCII.test(text)) return text.length;
  let bytes = text.length;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code >= 0x80) bytes += code >= 0x800 && (code < 0xd800 || code > 0xdfff) ? 2 : 1;
  }
  return bytes;
}

/** Sum of the approximate byte sizes of a message's parts. */
export function messageSize(
  key: string | null,
  value: string | null,
  headers: Record<string, string>,
): number {
  let size = approximateBytes(key) + approximateBytes(value);
  for (const name in headers) size += name.length + approximateBytes(headers[name]);
  return size;
}
