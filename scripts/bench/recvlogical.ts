/**
 * The source's own limit: PostgreSQL's `pg_recvlogical` reading the same
 * backlog with the same pgoutput options into /dev/null, up to the same end
 * position. Nothing can stream a slot faster than its walsender decodes it,
 * so the connector's rate divided by this one is how close it comes.
 *
 * @module
 */
import { formatLsn } from "../../src/lsn.ts";
import type { StackEndpoints } from "./stack.ts";
import { type ProcessUsage, sampleOnceFound } from "./proc.ts";

const BINARY = "pg_recvlogical";
const RUN_TIMEOUT_MS = 600_000;

/** What pg_recvlogical needs to read a slot. */
export interface RecvlogicalRun {
  readonly stack: StackEndpoints;
  readonly serverMajor: number;
  readonly slot: string;
  readonly publication: string;
  /** Stop once the stream reaches this position. */
  readonly endLsn: bigint;
  /** Finds the walsender serving the slot, to sample its CPU time. */
  readonly walsender: () => Promise<number | null>;
}

/** How the run went. */
export interface RecvlogicalResult {
  /** Wall time from spawn to exit, in milliseconds. */
  readonly elapsedMs: number;
  /** CPU time of the walsender that decoded the backlog, if it could be read. */
  readonly walsender: ProcessUsage | null;
}

/** The path of pg_recvlogical of the server's major version, else the one on PATH. */
export async function recvlogicalPath(serverMajor: number): Promise<string> {
  const matching = `/usr/lib/postgresql/${serverMajor}/bin/${BINARY}`;
  try {
    await Deno.stat(matching);
    return matching;
  } catch {
    return BINARY;
  }
}

/** The command line of a pg_recvlogical run to /dev/null, with pgoutput protocol 1. */
export function recvlogicalArgs(run: Omit<RecvlogicalRun, "walsender" | "serverMajor">): string[] {
  const { stack } = run;
  return [
    `--host=${stack.pgHost}`,
    `--port=${stack.pgPort}`,
    `--username=${stack.pgUser}`,
    `--dbname=${stack.pgDatabase}`,
    `--slot=${run.slot}`,
    "--start",
    `--endpos=${formatLsn(run.endLsn)}`,
    "--no-loop",
    "--no-password",
    // 0 disables fsync of the output file: /dev/null needs none.
    "--fsync-interval=0",
    "--option=proto_version=1",
    `--option=publication_names=${run.publication}`,
    "--file=/dev/null",
  ];
}

/**
 * Runs pg_recvlogical until it reaches the end position.
 *
 * @throws {Error} when it fails or runs past the timeout.
 */
export async function runRecvlogical(run: RecvlogicalRun): Promise<RecvlogicalResult> {
  const started = performance.now();
  const child = new Deno.Command(await recvlogicalPath(run.serverMajor), {
    args: recvlogicalArgs(run),
    env: { PGPASSWORD: run.stack.pgPassword },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), RUN_TIMEOUT_MS);
  const sampler = sampleOnceFound(run.walsender, child.status);
  const output = await child.output().finally(() => clearTimeout(timer));
  const elapsedMs = performance.now() - started;
  if (!output.success) {
    const stderr = new TextDecoder().decode(output.stderr).trim();
    throw new Error(`pg_recvlogical exited with code ${output.code}: ${stderr}`);
  }
  return { elapsedMs, walsender: await sampler };
}
