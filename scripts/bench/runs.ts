/**
 * The measured runs of the bench. Each run gets its own table, publication,
 * slot(s) and topic, so runs never see each other's changes, and removes them
 * afterwards.
 *
 * - backlog: the slot holds N changes when the connector starts; time from
 *   spawning the connector to the broker appending the last message.
 * - recvlogical: the same backlog read by pg_recvlogical (the source's limit).
 * - live: the connector streams while the workload writes as fast as it can.
 * - latency: a fixed offered rate; commit time to broker append time.
 * - huge: one transaction of many rows (memory stays bounded).
 *
 * @module
 */
import type { Admin, Kafka } from "kafkajs";
import type { Sql } from "postgres";
import { benchConfig } from "./config.ts";
import { BenchConnector } from "./connector.ts";
import { createBenchTopic, lastMessages, readTopic, waitForMessages } from "./kafka.ts";
import type { BenchOptions } from "./options.ts";
import {
  activePid,
  createPublication,
  createSlot,
  dropSlotsAndPublication,
  type SlotActivation,
  waitForActive,
  waitForConfirmed,
  walInsertLsn,
} from "./postgres.ts";
import { type ProcessUsage, sampleUntil } from "./proc.ts";
import { runRecvlogical } from "./recvlogical.ts";
import type { StackEndpoints } from "./stack.ts";
import { type LatencySummary, perSecond, summarizeLatencies } from "./stats.ts";
import { Workload, writeOneTransaction, type WriteResult } from "./workload.ts";
import { commitLsnOf, commitTimeOf } from "./message_fields.ts";

const MS_PER_SECOND = 1_000;
/** Slowest rate a run is given time for before it is declared stuck. */
const SLOWEST_EXPECTED_RATE = 500;
const MIN_RUN_TIMEOUT_MS = 120_000;
const CONFIRM_TIMEOUT_MS = 30_000;
/** Start-up of the connector: Deno, the config, Kafka and PostgreSQL connections. */
const STREAMING_TIMEOUT_MS = 60_000;

/** Shared handles of a bench session. */
export interface RunContext {
  readonly stack: StackEndpoints;
  readonly sql: Sql;
  readonly kafka: Kafka;
  readonly admin: Admin;
  readonly options: BenchOptions;
  readonly serverMajor: number;
}

/** What a connector run measured. */
export interface ConnectorRun {
  /** Row changes written, and messages expected in Kafka. */
  readonly changes: number;
  /** From the start of the clock (see each run) to the last broker append, ms. */
  readonly elapsedMs: number;
  readonly changesPerSecond: number;
  /** From the connector's slot becoming active (its stream started) to the last append, ms. */
  readonly streamingMs: number;
  /** Changes per second over {@linkcode streamingMs}. */
  readonly streamingChangesPerSecond: number;
  /** Peak RSS and CPU time of the connector process. */
  readonly connector: ProcessUsage | null;
  /** CPU time of the walsender that served the connector. */
  readonly walsender: ProcessUsage | null;
  readonly exitCode: number;
}

/** A backlog or huge run. */
export type BacklogRun = ConnectorRun;

/** A live run: the writer's own rate too. */
export interface LiveRun extends ConnectorRun {
  /** Changes per second the workload committed at. */
  readonly writerChangesPerSecond: number;
  /** From the last commit to the last append, ms. */
  readonly tailMs: number;
}

/** A latency run. */
export interface LatencyRun extends ConnectorRun {
  readonly offeredPerSecond: number;
  /** Changes per second actually committed by the paced writer. */
  readonly committedPerSecond: number;
  /** Commit to broker append, ms, for changes committed after the warm-up. */
  readonly latencyMs: LatencySummary;
  readonly warmupSeconds: number;
}

/** The pg_recvlogical baseline. */
export interface RecvlogicalBaseline {
  readonly changes: number;
  readonly elapsedMs: number;
  readonly changesPerSecond: number;
  readonly walsender: ProcessUsage | null;
}

/** Results of a backlog session: the connector and/or the baseline on the same WAL. */
export interface BacklogSession {
  readonly backlog: BacklogRun | null;
  readonly recvlogical: RecvlogicalBaseline | null;
}

interface Fixture {
  readonly table: string;
  readonly publication: string;
  readonly connectorSlot: string;
  readonly recvlogicalSlot: string | null;
  readonly topic: string;
  readonly workload: Workload;
}

function runTimeoutMs(changes: number): number {
  return Math.max(MIN_RUN_TIMEOUT_MS, (changes / SLOWEST_EXPECTED_RATE) * MS_PER_SECOND);
}

async function prepare(
  context: RunContext,
  kind: string,
  plannedChanges: number,
  withRecvlogical: boolean,
): Promise<Fixture> {
  const { sql, admin, options } = context;
  const id = crypto.randomUUID().replaceAll("-", "").slice(0, 8);
  const table = `bench_${kind}_${id}`;
  const workload = await Workload.create(sql, {
    table,
    width: options.width,
    txSize: options.txSize,
    mix: options.mix,
    plannedChanges,
  });
  await createPublication(sql, table, table);
  const fixture = {
    table,
    publication: table,
    connectorSlot: `${table}_c`,
    recvlogicalSlot: withRecvlogical ? `${table}_r` : null,
    topic: `pg2kafka_bench.${table}`,
    workload,
  };
  await createSlot(sql, fixture.connectorSlot);
  if (fixture.recvlogicalSlot) await createSlot(sql, fixture.recvlogicalSlot);
  await createBenchTopic(admin, fixture.topic);
  return fixture;
}

async function cleanUp(context: RunContext, fixture: Fixture): Promise<void> {
  const { sql, admin } = context;
  const slots = [fixture.connectorSlot, fixture.recvlogicalSlot].filter((s) => s !== null);
  await dropSlotsAndPublication(sql, slots, fixture.publication);
  await sql.unsafe(`DROP TABLE IF EXISTS "${fixture.table}"`);
  await sql.unsafe(`DROP PROCEDURE IF EXISTS "${fixture.table}_write"`);
  await admin.deleteTopics({ topics: [fixture.topic] }).catch(() => {});
}

/** A connector process and the walsender serving it. */
interface Running {
  readonly connector: BenchConnector;
  /** When the connector's slot became active: its stream started. */
  readonly active: Promise<SlotActivation>;
  /** Resolve once the connector stopped, to stop sampling its walsender. */
  readonly stopped: PromiseWithResolvers<void>;
  readonly walsender: Promise<ProcessUsage | null>;
}

function startConnector(context: RunContext, fixture: Fixture, profileDir?: string): Running {
  const config = benchConfig(
    context.stack,
    {
      slot: fixture.connectorSlot,
      publication: fixture.publication,
      table: fixture.table,
      topic: fixture.topic,
    },
    context.options.set,
    context.options.columnRules,
  );
  const connector = BenchConnector.start(
    context.options.entry,
    config,
    context.stack.pgPassword,
    profileDir,
  );
  const active = waitForActive(
    context.sql,
    fixture.connectorSlot,
    STREAMING_TIMEOUT_MS,
    () => connector.failure(),
  );
  active.catch(() => {});
  const stopped = Promise.withResolvers<void>();
  const walsender = active.then((a) => sampleUntil(a.walsenderPid, stopped.promise), () => null);
  return { connector, active, stopped, walsender };
}

/**
 * Runs `body` with a connector started on the fixture's slot; whatever
 * happens, the connector is stopped, and a failure carries its last output.
 */
async function withConnector<T>(
  context: RunContext,
  fixture: Fixture,
  body: (running: Running) => Promise<T>,
  profileDir?: string,
): Promise<T> {
  const running = startConnector(context, fixture, profileDir);
  try {
    return await body(running);
  } catch (error) {
    await running.connector.stop().catch(() => {});
    running.stopped.resolve();
    const output = running.connector.output;
    throw new Error(`${(error as Error).message}\n--- connector output ---\n${output}`);
  }
}

interface Delivered {
  /** The broker's append time of the newest message. */
  readonly lastAppendAt: number;
  /** When the connector's stream started. */
  readonly streamingAt: number;
  readonly connector: ProcessUsage | null;
  readonly walsender: ProcessUsage | null;
  readonly exitCode: number;
}

/**
 * Waits until every change is in Kafka and the slot confirmed the last
 * transaction (nothing is acknowledged that Kafka does not have), then stops
 * the connector and reads its resource use.
 */
async function awaitDelivery(
  context: RunContext,
  fixture: Fixture,
  running: Running,
  changes: number,
): Promise<Delivered> {
  const { connector } = running;
  await waitForMessages(
    context.admin,
    fixture.topic,
    changes,
    runTimeoutMs(changes),
    () => connector.failure(),
  );
  const last = await lastMessages(context.kafka, fixture.topic);
  const lastAppendAt = Math.max(...last.map((m) => m.appendedAt));
  const newestCommit = last.map((m) => commitLsnOf(m.value)).reduce((a, b) => (a > b ? a : b));
  // The flush LSN is a commit's end position, just past its commit LSN.
  await waitForConfirmed(context.sql, fixture.connectorSlot, newestCommit + 1n, CONFIRM_TIMEOUT_MS);
  const outcome = await connector.stop();
  running.stopped.resolve();
  return {
    lastAppendAt,
    streamingAt: (await running.active).at,
    connector: outcome.usage,
    walsender: await running.walsender,
    exitCode: outcome.exitCode,
  };
}

function connectorRun(changes: number, clockStart: number, delivered: Delivered): ConnectorRun {
  const elapsedMs = delivered.lastAppendAt - clockStart;
  const streamingMs = delivered.lastAppendAt - delivered.streamingAt;
  return {
    changes,
    elapsedMs,
    changesPerSecond: perSecond(changes, elapsedMs),
    streamingMs,
    streamingChangesPerSecond: perSecond(changes, streamingMs),
    connector: delivered.connector,
    walsender: delivered.walsender,
    exitCode: delivered.exitCode,
  };
}

/**
 * Writes the backlog into fresh slots, then reads it with pg_recvlogical
 * and/or the connector. The connector's clock starts when its process is
 * spawned: start-up (Deno, Kafka metadata) counts against it.
 */
export async function runBacklog(
  context: RunContext,
  parts: { connector: boolean; recvlogical: boolean },
  log: (line: string) => void,
): Promise<BacklogSession> {
  const { options } = context;
  const fixture = await prepare(context, "backlog", options.rows, parts.recvlogical);
  try {
    log(`backlog: writing ${options.rows} changes into slot(s) of ${fixture.table}`);
    const write = await fixture.workload.writeAll(options.rows);
    log(`backlog: wrote ${write.changes} changes at ${rate(write)} changes/s`);
    let recvlogical: RecvlogicalBaseline | null = null;
    if (fixture.recvlogicalSlot !== null) {
      recvlogical = await baseline(context, fixture, fixture.recvlogicalSlot, write.changes);
      log(`recvlogical: ${Math.round(recvlogical.changesPerSecond)} changes/s`);
    }
    let backlog: BacklogRun | null = null;
    if (parts.connector) {
      backlog = await withConnector(context, fixture, async (running) => {
        const delivered = await awaitDelivery(context, fixture, running, write.changes);
        return connectorRun(write.changes, running.connector.startedAt, delivered);
      });
      log(`backlog: ${Math.round(backlog.changesPerSecond)} changes/s`);
    }
    return { backlog, recvlogical };
  } finally {
    await cleanUp(context, fixture);
  }
}

async function baseline(
  context: RunContext,
  fixture: Fixture,
  slot: string,
  changes: number,
): Promise<RecvlogicalBaseline> {
  const endLsn = await walInsertLsn(context.sql);
  const result = await runRecvlogical({
    stack: context.stack,
    serverMajor: context.serverMajor,
    slot,
    publication: fixture.publication,
    endLsn,
    walsender: () => activePid(context.sql, slot),
  });
  return {
    changes,
    elapsedMs: result.elapsedMs,
    changesPerSecond: perSecond(changes, result.elapsedMs),
    walsender: result.walsender,
  };
}

/** The connector streams while the workload writes as fast as PostgreSQL commits. */
export async function runLive(context: RunContext, log: (line: string) => void): Promise<LiveRun> {
  const { options } = context;
  const fixture = await prepare(context, "live", options.rows, false);
  try {
    return await withConnector(context, fixture, async (running) => {
      await running.active;
      log(`live: connector streaming, writing ${options.rows} changes`);
      const write = await fixture.workload.writeAll(options.rows);
      const delivered = await awaitDelivery(context, fixture, running, write.changes);
      const run = connectorRun(write.changes, write.startedAt, delivered);
      log(`live: ${Math.round(run.changesPerSecond)} changes/s (writer ${rate(write)})`);
      return {
        ...run,
        writerChangesPerSecond: perSecond(write.changes, write.elapsedMs),
        tailMs: delivered.lastAppendAt - (write.startedAt + write.elapsedMs),
      };
    });
  } finally {
    await cleanUp(context, fixture);
  }
}

/**
 * Offers `options.rate` changes a second for `options.duration` seconds and
 * measures, per change, commit time (`commit_ts`) to the broker's append
 * time, leaving out changes committed in the first `options.warmup` seconds.
 */
export async function runLatency(
  context: RunContext,
  log: (line: string) => void,
): Promise<LatencyRun> {
  const { options } = context;
  const planned = options.rate * options.duration;
  const fixture = await prepare(context, "latency", planned, false);
  try {
    const { write, delivered } = await withConnector(context, fixture, async (running) => {
      await running.active;
      log(`latency: offering ${options.rate} changes/s for ${options.duration} s`);
      const write = await fixture.workload.writePaced(options.rate, options.duration);
      return { write, delivered: await awaitDelivery(context, fixture, running, write.changes) };
    });
    const warmupEnd = write.startedAt + options.warmup * MS_PER_SECOND;
    const latencies: number[] = [];
    await readTopic(context.kafka, fixture.topic, (_p, low) => low, (message) => {
      const committedAt = commitTimeOf(message.value);
      if (committedAt >= warmupEnd) latencies.push(message.appendedAt - committedAt);
    });
    const run = connectorRun(write.changes, write.startedAt, delivered);
    const latencyMs = summarizeLatencies(latencies);
    log(`latency: p50 ${latencyMs.p50.toFixed(1)} ms, p99 ${latencyMs.p99.toFixed(1)} ms`);
    return {
      ...run,
      offeredPerSecond: options.rate,
      committedPerSecond: perSecond(write.changes, write.elapsedMs),
      latencyMs,
      warmupSeconds: options.warmup,
    };
  } finally {
    await cleanUp(context, fixture);
  }
}

/** One transaction of `options.hugeRows` inserts, as a backlog. */
export async function runHuge(
  context: RunContext,
  log: (line: string) => void,
): Promise<BacklogRun> {
  const { options } = context;
  const fixture = await prepare(context, "huge", 0, false);
  try {
    log(`huge: writing one transaction of ${options.hugeRows} rows`);
    const write = await writeOneTransaction(
      context.sql,
      fixture.table,
      options.hugeRows,
      options.width,
    );
    const run = await withConnector(context, fixture, async (running) => {
      const delivered = await awaitDelivery(context, fixture, running, write.changes);
      return connectorRun(write.changes, running.connector.startedAt, delivered);
    });
    log(`huge: ${Math.round(run.changesPerSecond)} changes/s`);
    return run;
  } finally {
    await cleanUp(context, fixture);
  }
}

/**
 * A backlog run of the connector under V8's CPU profiler; returns the path of
 * the `.cpuprofile` it wrote. Its timing is not reported: profiling slows it.
 */
export async function runProfiled(
  context: RunContext,
  log: (line: string) => void,
): Promise<string> {
  const { options } = context;
  const fixture = await prepare(context, "profile", options.rows, false);
  const profileDir = await Deno.makeTempDir({ prefix: "pg2kafka-bench-profile-" });
  try {
    const write = await fixture.workload.writeAll(options.rows);
    log(`profile: connector under --cpu-prof on a backlog of ${write.changes} changes`);
    await withConnector(
      context,
      fixture,
      (running) => awaitDelivery(context, fixture, running, write.changes),
      profileDir,
    );
    for await (const entry of Deno.readDir(profileDir)) {
      if (entry.name.endsWith(".cpuprofile")) return `${profileDir}/${entry.name}`;
    }
    throw new Error(`The connector wrote no CPU profile into ${profileDir}`);
  } finally {
    await cleanUp(context, fixture);
  }
}

function rate(write: WriteResult): number {
  return Math.round(perSecond(write.changes, write.elapsedMs));
}
