/**
 * The replication connection: `START_REPLICATION … LOGICAL` over postgres.js,
 * the CopyBoth framing of XLogData (`w`) and keepalive (`k`) messages, and
 * standby status updates (`r`) carrying the flush LSN.
 *
 * Reading pauses by pausing the postgres.js duplex stream: its buffer fills,
 * postgres.js pauses the socket and TCP pushes back on the walsender, while
 * status updates keep being written (DESIGN invariant 4).
 *
 * @module
 */
import type { Duplex } from "node:stream";
import type { Sql } from "postgres";
import { formatLsn, type Lsn } from "../lsn.ts";

/** Microseconds between the Unix epoch and PostgreSQL's epoch (2000-01-01). */
export const POSTGRES_EPOCH_OFFSET_MICROS = 946_684_800_000_000n;
const MICROS_PER_MS = 1000n;

const XLOG_DATA = 0x77; // 'w'
const KEEPALIVE = 0x6b; // 'k'
const STANDBY_STATUS_UPDATE = 0x72; // 'r'
const XLOG_DATA_HEADER_BYTES = 25;
const KEEPALIVE_BYTES = 18;
const KEEPALIVE_REPLY_OFFSET = 17;
const STATUS_UPDATE_BYTES = 34;
/** How long the server may take to acknowledge the end of the stream. */
const END_TIMEOUT_MS = 5_000;

/** What the stream hands to its consumer, synchronously and in WAL order. */
export interface StreamHandler {
  /** One XLogData message: `payload` is a pgoutput message (valid only during the call). */
  onXLogData(walStart: Lsn, walEnd: Lsn, payload: Uint8Array): void;
  /** A keepalive: the server has sent everything up to `walEnd`; answer at once when asked. */
  onKeepalive(walEnd: Lsn, replyRequested: boolean): void;
}

/** Options of {@linkcode startReplication}. */
export interface StartReplicationOptions {
  /** A postgres.js instance opened with `connection: { replication: "database" }`. */
  sql: Sql;
  slot: string;
  publication: string;
  /** Position to resume from; `0n` lets the server use the slot's confirmed LSN. */
  startLsn: Lsn;
  /** Also decode `pg_logical_emit_message` messages (PG14+). */
  messages: boolean;
  handler: StreamHandler;
}

/** Raised for a CopyData frame that is not a valid replication message. */
export class ReplicationFrameError extends Error {
  /** The frame kind, e.g. `"XLogData"`. */
  readonly frameKind: string;
  /** Byte offset in the frame where the problem lies. */
  readonly offset: number;

  /** Creates the error for a frame of the given kind and length. */
  constructor(kind: string, length: number, detail: string, offset: number) {
    super(`Malformed ${kind} frame of ${length} bytes on the replication stream: ${detail}`);
    this.name = "ReplicationFrameError";
    this.frameKind = kind;
    this.offset = offset;
  }
}

/**
 * Quotes an identifier for a replication command (names are validated by the
 * config too; quoting makes any name safe).
 *
 * @example
 * ```ts
 * quoteIdentifier('my"slot'); // "\"my\"\"slot\""
 * ```
 */
export function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** Quotes a string literal for a replication command. */
export function quoteLiteral(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

/** Builds the `START_REPLICATION` command for a pgoutput slot. */
export function startReplicationCommand(
  slot: string,
  publication: string,
  startLsn: Lsn,
  messages: boolean,
): string {
  const options = [
    `proto_version '1'`,
    `publication_names ${quoteLiteral(quoteIdentifier(publication))}`,
  ];
  if (messages) options.push(`messages 'true'`);
  return `START_REPLICATION SLOT ${quoteIdentifier(slot)} LOGICAL ${formatLsn(startLsn)} (${
    options.join(", ")
  })`;
}

/**
 * A running logical replication stream. Created by {@linkcode startReplication}.
 */
export class ReplicationStream {
  #duplex: Duplex;
  #lastReceived: Lsn = 0n;
  #dropping = false;
  #closed: Promise<Error | null>;

  /** Wraps an open CopyBoth duplex and starts dispatching frames to `handler`. */
  constructor(duplex: Duplex, handler: StreamHandler) {
    this.#duplex = duplex;
    this.#closed = new Promise((resolve) => {
      duplex.once("error", (error: Error) => resolve(error));
      duplex.once("close", () => resolve(null));
      duplex.once("end", () => resolve(null));
    });
    duplex.on("data", (frame: Uint8Array) => {
      // An exception must end the stream, never escape into the event emitter.
      if (this.#dropping) return;
      try {
        this.#dispatch(frame, handler);
      } catch (error) {
        this.fail(error instanceof Error ? error : new Error(String(error)));
      }
    });
  }

  /** Highest WAL end position seen in any frame. */
  get lastReceived(): Lsn {
    return this.#lastReceived;
  }

  /** Resolves when the stream ends: with the error that ended it, or null. */
  get closed(): Promise<Error | null> {
    return this.#closed;
  }

  /** Ends the stream with `error` (what {@linkcode closed} resolves with). */
  fail(error: Error): void {
    this.#dropping = true;
    this.#duplex.destroy(error);
  }

  /** Stops reading from the socket (TCP backpressure); status updates still go out. */
  pause(): void {
    this.#duplex.pause();
  }

  /** Resumes reading. */
  resume(): void {
    this.#duplex.resume();
  }

  /** Whether reading is paused. */
  get paused(): boolean {
    return this.#duplex.isPaused();
  }

  /**
   * Sends a standby status update. `flushLsn` is what PostgreSQL may consider
   * durably processed (it becomes the slot's `confirmed_flush_lsn`).
   */
  sendStatus(flushLsn: Lsn, replyRequested = false): void {
    if (this.#duplex.destroyed || this.#duplex.writableEnded) return;
    const frame = new Uint8Array(STATUS_UPDATE_BYTES);
    const view = new DataView(frame.buffer);
    const written = this.#lastReceived > flushLsn ? this.#lastReceived : flushLsn;
    frame[0] = STANDBY_STATUS_UPDATE;
    view.setBigUint64(1, written);
    view.setBigUint64(9, flushLsn);
    view.setBigUint64(17, flushLsn);
    view.setBigUint64(25, nowPostgresMicros());
    frame[33] = replyRequested ? 1 : 0;
    this.#duplex.write(frame);
  }

  /**
   * Ends the CopyBoth exchange and closes the stream. Data still arriving is
   * dropped: the caller has sent its final status and stops here.
   */
  async end(): Promise<void> {
    const duplex = this.#duplex;
    if (!duplex.destroyed) {
      this.#dropping = true;
      duplex.resume(); // the stream only ends once its buffered data is read
      duplex.end();
    }
    const timer = setTimeout(() => duplex.destroy(), END_TIMEOUT_MS);
    await this.#closed;
    clearTimeout(timer);
  }

  #dispatch(frame: Uint8Array, handler: StreamHandler): void {
    const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
    const kind = frame[0];
    if (kind === XLOG_DATA) {
      if (frame.byteLength < XLOG_DATA_HEADER_BYTES) {
        throw truncated("XLogData", frame, XLOG_DATA_HEADER_BYTES);
      }
      const walStart = view.getBigUint64(1);
      const walEnd = view.getBigUint64(9);
      if (walEnd > this.#lastReceived) this.#lastReceived = walEnd;
      handler.onXLogData(walStart, walEnd, frame.subarray(XLOG_DATA_HEADER_BYTES));
    } else if (kind === KEEPALIVE) {
      if (frame.byteLength < KEEPALIVE_BYTES) throw truncated("keepalive", frame, KEEPALIVE_BYTES);
      const walEnd = view.getBigUint64(1);
      if (walEnd > this.#lastReceived) this.#lastReceived = walEnd;
      handler.onKeepalive(walEnd, frame[KEEPALIVE_REPLY_OFFSET] === 1);
    } else {
      const detail = kind === undefined
        ? "empty frame at offset 0"
        : `unknown message type 0x${kind.toString(16).padStart(2, "0")} at offset 0`;
      throw new ReplicationFrameError("CopyData", frame.byteLength, detail, 0);
    }
  }
}

function truncated(kind: string, frame: Uint8Array, needed: number): ReplicationFrameError {
  return new ReplicationFrameError(
    kind,
    frame.byteLength,
    `needed ${needed} bytes at offset 0, ${frame.byteLength} remain`,
    0,
  );
}

/** Now as microseconds since 2000-01-01, the clock field of status updates. */
export function nowPostgresMicros(): bigint {
  return BigInt(Date.now()) * MICROS_PER_MS - POSTGRES_EPOCH_OFFSET_MICROS;
}

/**
 * Issues `START_REPLICATION` and returns the running stream.
 *
 * @throws the server's error (slot missing, slot active elsewhere, …).
 */
export async function startReplication(
  options: StartReplicationOptions,
): Promise<ReplicationStream> {
  const command = startReplicationCommand(
    options.slot,
    options.publication,
    options.startLsn,
    options.messages,
  );
  const duplex = await options.sql.unsafe(command).simple().writable() as unknown as Duplex;
  return new ReplicationStream(duplex, options.handler);
}
