/**
 * The replication stream's CopyData framing, fed through a fake CopyBoth
 * duplex: XLogData and keepalives reach the handler in order, status updates
 * carry the flush LSN, and a bad frame (or a payload the handler rejects)
 * ends the stream with a typed error instead of hanging or being skipped.
 */
import assert from "node:assert/strict";
import { ProtocolError } from "../../src/source/errors.ts";
import { decodePgOutput } from "../../src/source/pgoutput.ts";
import {
  nowPostgresMicros,
  ReplicationFrameError,
  ReplicationStream,
  type StreamHandler,
} from "../../src/source/stream.ts";
import { scenario } from "../fixtures/pgoutput/fixtures.ts";
import { fakeWalsender, keepalive, xlogData } from "../fixtures/walsender.ts";

/** How long a test waits for the stream to end before calling it a hang. */
const HANG_MS = 2_000;
const STATUS_UPDATE_BYTES = 34;
const MICROS_PER_SECOND = 1_000_000n;

interface Received {
  kind: "xlog" | "keepalive";
  lsn: bigint;
  detail: string;
}

/** A handler that decodes every payload, as the source does, and records what it saw. */
function recordingHandler(received: Received[]): StreamHandler {
  return {
    onXLogData(walStart, _walEnd, payload) {
      received.push({ kind: "xlog", lsn: walStart, detail: decodePgOutput(payload).tag });
    },
    onKeepalive(walEnd, replyRequested) {
      received.push({ kind: "keepalive", lsn: walEnd, detail: String(replyRequested) });
    },
  };
}

async function endOf(stream: ReplicationStream): Promise<Error | null> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error("the stream did not end")), HANG_MS);
  });
  try {
    return await Promise.race([stream.closed, hang]);
  } finally {
    clearTimeout(timer);
  }
}

const [begin, relation, insert, commit] = scenario("replica_identity_default");

Deno.test("ReplicationStream hands XLogData and keepalives to the handler in order", async () => {
  const { duplex } = fakeWalsender();
  const received: Received[] = [];
  const stream = new ReplicationStream(duplex, recordingHandler(received));
  duplex.push(xlogData(0x100n, 0x200n, begin.bytes));
  duplex.push(keepalive(0x210n, false));
  duplex.push(xlogData(0x100n, 0x200n, relation.bytes));
  duplex.push(xlogData(0x100n, 0x200n, insert.bytes));
  duplex.push(xlogData(0x220n, 0x220n, commit.bytes));
  duplex.push(keepalive(0x300n, true));
  duplex.push(null);
  assert.equal(await endOf(stream), null);
  assert.deepEqual(received, [
    { kind: "xlog", lsn: 0x100n, detail: "begin" },
    { kind: "keepalive", lsn: 0x210n, detail: "false" },
    { kind: "xlog", lsn: 0x100n, detail: "relation" },
    { kind: "xlog", lsn: 0x100n, detail: "insert" },
    { kind: "xlog", lsn: 0x220n, detail: "commit" },
    { kind: "keepalive", lsn: 0x300n, detail: "true" },
  ]);
  assert.equal(stream.lastReceived, 0x300n);
});

Deno.test("ReplicationStream.sendStatus() writes received, flushed and applied positions", async () => {
  const { duplex, written } = fakeWalsender();
  const received: Received[] = [];
  const stream = new ReplicationStream(duplex, recordingHandler(received));
  duplex.push(keepalive(0x5000n, false));
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.equal(received.length, 1, "the keepalive was read");
  stream.sendStatus(0x4000n);
  assert.equal(written.length, 1);
  const frame = written[0];
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  assert.equal(frame.byteLength, STATUS_UPDATE_BYTES);
  assert.equal(String.fromCharCode(frame[0]), "r");
  assert.equal(view.getBigUint64(1), 0x5000n, "written: everything received");
  assert.equal(view.getBigUint64(9), 0x4000n, "flushed: what Kafka acked");
  assert.equal(view.getBigUint64(17), 0x4000n, "applied: the same");
  const sentAt = view.getBigUint64(25);
  assert.ok(nowPostgresMicros() - sentAt < MICROS_PER_SECOND, `clock field ${sentAt} is not now`);
  assert.equal(frame[33], 0, "no reply requested");
});

Deno.test("ReplicationStream ends with a ReplicationFrameError on a truncated XLogData frame", async () => {
  const { duplex } = fakeWalsender();
  const received: Received[] = [];
  const stream = new ReplicationStream(duplex, recordingHandler(received));
  duplex.push(xlogData(0x100n, 0x200n, begin.bytes).subarray(0, 10));
  duplex.push(xlogData(0x100n, 0x200n, begin.bytes));
  const error = await endOf(stream);
  assert.ok(error instanceof ReplicationFrameError);
  assert.equal(
    error.message,
    "Malformed XLogData frame of 10 bytes on the replication stream: " +
      "needed 25 bytes at offset 0, 10 remain",
  );
  assert.equal(error.frameKind, "XLogData");
  assert.equal(error.offset, 0);
  assert.deepEqual(received, [], "nothing after the bad frame was handled");
});

Deno.test("ReplicationStream ends with a ReplicationFrameError on a truncated keepalive", async () => {
  const { duplex } = fakeWalsender();
  const stream = new ReplicationStream(duplex, recordingHandler([]));
  duplex.push(keepalive(0x100n, true).subarray(0, 17));
  const error = await endOf(stream);
  assert.ok(error instanceof ReplicationFrameError);
  assert.equal(
    error.message,
    "Malformed keepalive frame of 17 bytes on the replication stream: " +
      "needed 18 bytes at offset 0, 17 remain",
  );
});

Deno.test("ReplicationStream ends with a ReplicationFrameError on an unknown frame type", async () => {
  const { duplex } = fakeWalsender();
  const stream = new ReplicationStream(duplex, recordingHandler([]));
  duplex.push(new Uint8Array([0x71, 1, 2, 3]));
  const error = await endOf(stream);
  assert.ok(error instanceof ReplicationFrameError);
  assert.equal(
    error.message,
    "Malformed CopyData frame of 4 bytes on the replication stream: " +
      "unknown message type 0x71 at offset 0",
  );
});

Deno.test("ReplicationStream ends with the handler's ProtocolError and handles nothing after it", async () => {
  const { duplex } = fakeWalsender();
  const received: Received[] = [];
  const stream = new ReplicationStream(duplex, recordingHandler(received));
  const truncatedInsert = insert.bytes.subarray(0, insert.bytes.length - 2);
  duplex.push(xlogData(0x100n, 0x200n, begin.bytes));
  duplex.push(xlogData(0x100n, 0x200n, relation.bytes));
  duplex.push(xlogData(0x100n, 0x200n, truncatedInsert));
  duplex.push(xlogData(0x220n, 0x220n, commit.bytes));
  duplex.push(keepalive(0x300n, false));
  const error = await endOf(stream);
  assert.ok(error instanceof ProtocolError, String(error));
  assert.equal(error.messageKind, "Insert");
  assert.equal(typeof error.offset, "number");
  assert.match(
    error.message,
    /^Truncated Insert message: needed \d+ bytes at offset \d+, \d remain$/,
  );
  assert.deepEqual(received.map((r) => r.detail), ["begin", "relation"]);
});

Deno.test("ReplicationStream ends with a ProtocolError on garbled bytes of a valid frame", async () => {
  const { duplex } = fakeWalsender();
  const stream = new ReplicationStream(duplex, recordingHandler([]));
  const garbled = insert.bytes.slice();
  garbled[5] = 0x58; // the "N" before the new tuple
  duplex.push(xlogData(0x100n, 0x200n, garbled));
  const error = await endOf(stream);
  assert.ok(error instanceof ProtocolError, String(error));
  assert.equal(
    error.message,
    'Invalid Insert message: expected "N" but found "X" (0x58) at offset 5',
  );
  assert.equal(error.offset, 5);
});

Deno.test("ReplicationStream.fail() ends the stream with the given error", async () => {
  const { duplex } = fakeWalsender();
  const stream = new ReplicationStream(duplex, recordingHandler([]));
  const cause = new Error("primary-key lookup failed");
  stream.fail(cause);
  assert.equal(await endOf(stream), cause);
});
