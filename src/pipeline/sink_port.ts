/**
 * What the pipeline needs of a sink: send a message, park one in the
 * dead-letter topic, wait until everything sent is settled, and report when
 * the destination fails. The Kafka sinks implement it.
 *
 * @module
 */
import type { OutgoingMessage } from "./message.ts";
import type { ResumePoint, StreamPosition } from "./exactly_once.ts";

/** The circuit breaker's state in front of the destination. */
export type SinkCircuitState = "closed" | "open" | "half_open";

/** Where the pipeline hands its messages. */
export interface Sink {
  /** Queues a message; its settlement is reported through its origin. */
  send(message: OutgoingMessage): void;
  /** Queues a message for the dead-letter topic with the reason. */
  deadLetter(message: OutgoingMessage, reason: string, error: string): void;
  /** Resolves when everything queued so far is settled (or the sink failed). */
  drain(): Promise<void>;
  /** Anything but closed means the destination is failing. */
  readonly circuitState: SinkCircuitState;
  /** Calls `listener` on every circuit state change. */
  onCircuitChange(listener: (state: SinkCircuitState) => void): void;
  /**
   * Exactly-once sinks only: the messages handed so far end at `position`, a
   * point where a Kafka transaction may end.
   */
  mark?(position: StreamPosition): void;
  /**
   * Exactly-once sinks only: takes the source over (fencing any other
   * process with the same transactional id) and returns how far its changes
   * are committed to Kafka. Called when a session owns the slot, before it
   * routes anything.
   */
  claim?(): Promise<ResumePoint>;
}
