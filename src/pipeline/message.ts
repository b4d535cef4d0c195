/**
 * A Kafka message on its way from the router to the sink, with the position
 * it came from so its acknowledgement settles the right transaction.
 *
 * @module
 */
import type { Lsn } from "../lsn.ts";
import type { SinkMessage } from "../sink.ts";

export { approximateBytes, messageSize } from "../sink.ts";
import type { TransactionHandle } from "./checkpoint.ts";

/** Where a message came from and whom its outcome must be reported to. */
export interface MessageOrigin {
  /** Source (replication slot) name. */
  readonly source: string;
  /** Target name. */
  readonly target: string;
  readonly tx: TransactionHandle;
  /** WAL position of the change (or of the commit, for transaction messages). */
  readonly lsn: Lsn;
  readonly xid: number;
  /** `schema.table`, or `*` for a transaction message. */
  readonly table: string;
  /** Commit time in microseconds since the Unix epoch (for the lag metric). */
  readonly commitTimeMicros: bigint;
  /**
   * Change events the message carries, counted as delivered or dead-lettered
   * once it is settled: 1 when absent, 0 for a tombstone, the number of events
   * of a transaction message (part).
   */
  readonly events?: number;
}

/** A message ready for the sink, with where it came from. */
export interface OutgoingMessage extends SinkMessage {
  readonly origin: MessageOrigin;
}

/** Header names every message carries. */
export const HEADER = {
  lsn: "pg2kafka.lsn",
  commitLsn: "pg2kafka.commit_lsn",
  xid: "pg2kafka.xid",
  table: "pg2kafka.table",
  op: "pg2kafka.op",
  source: "pg2kafka.source",
} as const;
