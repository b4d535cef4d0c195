/**
 * A Kafka message on its way from the router to the sink, with the position
 * it came from so its acknowledgement settles the right transaction.
 *
 * @module
 */
import type { Lsn } from "../lsn.ts";
import type { Checkpoint, TransactionHandle } from "./checkpoint.ts";
import type { InflightAccount } from "./inflight.ts";

/** Where a message came from and whom its outcome must be reported to. */
export interface MessageOrigin {
  /** Source (replication slot) name. */
  readonly source: string;
  /** Target name. */
  readonly target: string;
  /** The checkpoint of the source, settled when the message is acked. */
  readonly checkpoint: Checkpoint;
  readonly tx: TransactionHandle;
  /** The source's in-flight account, released when the message is settled. */
  readonly account: InflightAccount;
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

/** A message ready for Kafka. */
export interface OutgoingMessage {
  readonly topic: string;
  /** Key bytes as text (JSON), or null for no key. */
  readonly key: string | null;
  /** Value as text (JSON), or null for a tombstone. */
  readonly value: string | null;
  readonly headers: Record<string, string>;
  /** Approximate size on the wire in bytes (key + value + headers). */
  readonly size: number;
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
