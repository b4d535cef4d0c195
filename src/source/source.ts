/**
 * One source: a replication slot streamed into the router, with its own
 * checkpoint and flush LSN, reconnecting with backoff on its own when the
 * connection goes away (DESIGN invariants 3, 4, 7; project issue 10).
 *
 * A session is one replication connection. Each session starts from the
 * slot's confirmed flush LSN with a fresh checkpoint and relation cache, so
 * whatever was in flight when a connection dropped is sent again: duplicates
 * are possible, loss is not. Every session end is logged with its cause and
 * the attempt number before the next try, after an exponential backoff with
 * jitter; a failed start-up check (slot busy, publication missing, …) is
 * retried the same way, so a connector waiting for its slot takes over once
 * the other process lets go.
 *
 * Tables whose replica identity gives no stable key (FULL, or no key column)
 * are keyed by their primary key: the session loads the primary keys of the
 * published tables before streaming, and when a Relation message announces
 * such a table it does not know (created or altered since), it stops
 * reading, looks the key up, then goes on with the frames it held, in order.
 *
 * A value that does not convert (`ValueConversionError`) does not end the
 * session: its change goes to the dead-letter topic of every target that takes
 * it, with each value as the text PostgreSQL sent. A protocol error ends the
 * session (the reconnect loop logs it and starts again from the slot).
 *
 * @module
 */
import { formatLsn, type Lsn } from "../lsn.ts";
import type { Metrics } from "../telemetry/metrics.ts";
import { logger } from "../telemetry/log.ts";
import type { BackoffOptions } from "../backoff.ts";
import {
  type InflightAccount,
  type OutgoingMessage,
  type PipelineContext,
  PipelineSession,
  type RouteTarget,
  type SpillSettings,
  type TransactionHandle,
} from "../pipeline/mod.ts";
import type { Sink } from "../sink.ts";
import { type BackendFactory, postgresBackend, type SessionBackend } from "./backend.ts";
import { ChangeDecoder } from "./changes.ts";
import { type ConnectionSettings, describeStreamError } from "./connect.ts";
import type { QueryPool } from "./connections.ts";
import { ValueConversionError } from "./errors.ts";
import { needsPrimaryKey, type PrimaryKeys, primaryKeyUnknown } from "./keys.ts";
import {
  decodePgOutput,
  type DeleteMessage,
  type InsertMessage,
  type PgOutputMessage,
  type RelationMessage,
  type UpdateMessage,
} from "./pgoutput.ts";
import type { ProgressStore } from "../progress/mod.ts";
import type { SlotSetup } from "./slot.ts";
import { SlotGuard } from "./slot_guard.ts";
import { ProgressRecorder } from "./progress_recorder.ts";
import { explainSessionError, type NextStep, ReconnectPolicy } from "./reconnect_policy.ts";
import { Heartbeat, type HeartbeatSettings } from "./heartbeat.ts";
import { type BeforeStreaming, type SnapshotSettings, snapshotStep } from "./snapshot.ts";
import type { ReplicationStream } from "./stream.ts";
import type { ValueOptions } from "./values.ts";
import { SchemaChangeTap } from "./schema_change_tap.ts";
import type { SchemaChangeSettings } from "./backend.ts";

/** Everything a source needs from its config. */
export interface SourceSettings {
  name: string;
  connection: ConnectionSettings;
  setup: SlotSetup;
  statusIntervalMs: number;
  messages: boolean;
  values: ValueOptions;
  reconnect: BackoffOptions;
  /** How often a standby checks whether its slot is free (default 1 s). */
  standbyPollIntervalMs?: number;
  /** The initial snapshot (see snapshot.ts); none when left out. */
  snapshot?: SnapshotSettings;
  /** Heartbeats (see heartbeat.ts); none when left out. */
  heartbeat?: HeartbeatSettings;
  /** The ordinary-query pool of the source's server (see connections.ts). */
  queries?: QueryPool;
  /** Where transaction targets spill held transactions (see pipeline/spill.ts). */
  spill?: SpillSettings;
  /** Schema-change messages (see schema_change_tap.ts); none when left out. */
  schemaChanges?: SchemaChangeSettings;
}

/** Shared parts of the pipeline a source feeds. */
export interface SourceDependencies {
  sink: Sink<OutgoingMessage>;
  account: InflightAccount;
  metrics: Metrics;
  targets: readonly RouteTarget[];
  /** Where the source's progress record lives (see slot_guard.ts); none when left out. */
  progress?: ProgressStore;
}

/** Where a source stands, for /ready and `health`. */
export type SourceStatus =
  | "starting"
  | "streaming"
  | "paused"
  | "reconnecting"
  /** Another process holds the slot: this one takes over when it is free. */
  | "standby"
  /** Stopped for good: the slot it streamed from is lost (see slot_guard.ts). */
  | "failed"
  | "stopped";

/** How often a standby checks its slot when the settings name no interval. */
const DEFAULT_STANDBY_POLL_MS = 1_000;

const log = logger("source");

/** Streams one replication slot into the router until stopped. */
export class Source {
  readonly #settings: SourceSettings;
  readonly #deps: SourceDependencies;
  readonly #openBackend: BackendFactory;
  readonly #policy: ReconnectPolicy;
  readonly #guard: SlotGuard;
  readonly #recorder: ProgressRecorder | null;
  /** When the source became a standby, while it is one. */
  #standbySince: number | null = null;
  readonly #pipeline: PipelineContext;
  #status: SourceStatus = "starting";
  #lastError: string | null = null;
  #session: Session | null = null;
  /** The flush LSN the last session reached, reported while reconnecting. */
  #lastFlushLsn: Lsn = 0n;
  #stopping = false;
  #wakeUp: (() => void) | null = null;

  /**
   * Creates the source; {@linkcode run} starts it.
   *
   * @param openBackend Opens the database side of each session (tests pass a fake).
   */
  constructor(
    settings: SourceSettings,
    deps: SourceDependencies,
    openBackend: BackendFactory = postgresBackend,
  ) {
    this.#settings = settings;
    this.#deps = deps;
    this.#openBackend = openBackend;
    this.#policy = new ReconnectPolicy({
      reconnect: settings.reconnect,
      standbyPollIntervalMs: settings.standbyPollIntervalMs ?? DEFAULT_STANDBY_POLL_MS,
    });
    const { slot } = settings.setup;
    this.#guard = new SlotGuard({
      source: settings.name,
      slot,
      snapshotMode: settings.snapshot?.mode ?? "never",
      store: deps.progress ?? null,
    });
    this.#recorder = deps.progress === undefined ? null : new ProgressRecorder(deps.progress, {
      source: settings.name,
      slot,
      database: settings.connection.database,
      intervalMs: settings.statusIntervalMs,
    });
    this.#pipeline = {
      source: settings.name,
      database: settings.connection.database,
      targets: deps.targets,
      spill: settings.spill,
      schemaChangeTopic: settings.schemaChanges?.topic,
      sink: deps.sink,
      account: deps.account,
      metrics: deps.metrics,
    };
    deps.sink.onHealthChange(() => this.#session?.sinkHealthChanged());
  }

  /** The source's name. */
  get name(): string {
    return this.#settings.name;
  }

  /**
   * Where the source stands: `paused` while it streams but waits for Kafka
   * (the circuit is open or its in-flight budget is full).
   */
  get status(): SourceStatus {
    if (this.#status === "streaming" && this.#session?.waitingForKafka) return "paused";
    return this.#status;
  }

  /** The last error that ended a session, if the source is not streaming. */
  get lastError(): string | null {
    return this.#status === "streaming" ? null : this.#lastError;
  }

  /**
   * The flush LSN of the current session, or where the last one stopped while
   * the source reconnects (0 before any session streamed).
   */
  get flushLsn(): Lsn {
    return this.#session?.pipeline?.flushLsn ?? this.#lastFlushLsn;
  }

  /**
   * How long this source's messages have waited without any settling, as
   * of `nowMs` (0 while nothing waits or something settled since the last
   * call). Call it periodically: each call is one observation.
   */
  stalledForMs(nowMs: number): number {
    return this.#session?.pipeline?.stalledForMs(nowMs) ?? 0;
  }

  /** Messages of the current session handed to the sink and not settled yet. */
  get pendingMessages(): number {
    return this.#session?.pipeline?.pendingMessages ?? 0;
  }

  /**
   * Runs sessions until {@linkcode stop}: reconnecting with backoff, polling
   * as a standby while another process holds the slot, and ending with status
   * `failed` when the slot is lost (see reconnect_policy.ts).
   */
  async run(): Promise<void> {
    while (!this.#stopping) {
      let error: unknown = null;
      try {
        await this.#runSession();
        if (this.#stopping) break;
        const { host, port } = this.#settings.connection;
        this.#lastError = `Replication connection to ${host}:${port} closed by the server`;
      } catch (caught) {
        if (this.#stopping) break;
        error = caught;
        this.#lastError = explainSessionError(caught, this.#settings.setup.slot);
      }
      const step = this.#policy.next(error);
      if (step.kind === "stop") {
        this.#status = "failed";
        log.fatal("Source {source} stopped: {error}", {
          source: this.name,
          slot: this.#settings.setup.slot,
          error: this.#lastError,
        });
        return;
      }
      this.#logNextStep(step);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, step.delayMs);
        this.#wakeUp = () => (clearTimeout(timer), resolve());
      });
      this.#wakeUp = null;
    }
    this.#status = "stopped";
  }

  /** Logs the step after a session and moves the status to match. */
  #logNextStep(step: Exclude<NextStep, { kind: "stop" }>): void {
    const context = { source: this.name, slot: this.#settings.setup.slot, error: this.#lastError };
    if (step.kind === "standby") {
      // Logged once on entering standby, not at every poll.
      if (this.#status !== "standby") {
        this.#standbySince = Date.now();
        log.info(
          "Source {source} is a standby: slot {slot} is held by PID {activePid}; checking " +
            "every {delayMs} ms",
          { ...context, activePid: step.activePid, delayMs: step.delayMs },
        );
      }
      this.#status = "standby";
      return;
    }
    const lostStream = this.#status === "streaming";
    this.#status = "reconnecting";
    this.#standbySince = null;
    this.#deps.metrics.reconnects.labels(this.name).inc();
    const message = lostStream
      ? "Source {source} lost its stream, reconnecting in {delayMs} ms: {error}"
      : "Source {source} could not start streaming, retrying in {delayMs} ms: {error}";
    log.error(message, { ...context, attempt: step.attempt, delayMs: step.delayMs });
  }

  /**
   * Stops reading, waits up to `graceMs` for in-flight messages to be acked,
   * sends the final flush LSN and closes the connections.
   *
   * @returns whether everything in flight was acked within the grace period.
   */
  async stop(graceMs: number): Promise<boolean> {
    this.#stopping = true;
    this.#wakeUp?.();
    const drained = await this.#session?.close(graceMs) ?? true;
    await this.#recorder?.stop();
    return drained;
  }

  async #runSession(): Promise<void> {
    const { setup } = this.#settings;
    const backend = this.#openBackend({
      ...this.#settings,
      onMissingSlot: () => this.#guard.checkMissingSlot(),
    });
    let heartbeat: Heartbeat | null = null;
    try {
      const slot = await backend.prepare();
      if (slot.created) {
        log.info("Created replication slot {slot} at {lsn}", {
          source: this.name,
          slot: setup.slot,
          lsn: formatLsn(slot.confirmedFlushLsn),
        });
      }
      if (this.#stopping) return;
      const session = new Session(this.#settings, this.#pipeline, backend, (lsn) => {
        this.#recorder?.confirmed(lsn);
      });
      this.#session = session;
      await session.start(slot.confirmedFlushLsn, snapshotStep(this.#settings, this.#deps, slot));
      heartbeat = Heartbeat.start(this.#settings);
      this.#markStreaming(slot.confirmedFlushLsn, slot.systemIdentifier ?? "");
      const error = await session.closed;
      if (error) throw error;
    } finally {
      const pipeline = this.#session?.pipeline;
      this.#policy.sessionEnded(this.#session?.sentFlushLsn ?? null);
      if (pipeline) this.#lastFlushLsn = pipeline.flushLsn;
      this.#session = null;
      await heartbeat?.stop();
      await backend.close();
    }
  }

  /** A session streams: noted by the guard, the progress record and the logs. */
  #markStreaming(lsn: Lsn, systemIdentifier: string): void {
    const context = { source: this.name, slot: this.#settings.setup.slot, lsn: formatLsn(lsn) };
    if (this.#standbySince !== null) {
      log.info("Source {source} took over slot {slot} after {standbyMs} ms as a standby", {
        ...context,
        standbyMs: Date.now() - this.#standbySince,
      });
      this.#standbySince = null;
    }
    this.#status = "streaming";
    this.#guard.markStreamed();
    this.#recorder?.started(systemIdentifier, lsn);
    this.#policy.sessionStarted(lsn);
    log.info("Source {source} streaming slot {slot} from {lsn}", context);
  }
}

/** An XLogData frame held back while a primary key is looked up. */
interface HeldFrame {
  readonly walStart: Lsn;
  /** A copy: the stream's buffer is only valid during its callback. */
  readonly payload: Uint8Array;
}

type RowMessage = InsertMessage | UpdateMessage | DeleteMessage;

function isRowMessage(message: PgOutputMessage): message is RowMessage {
  return message.tag === "insert" || message.tag === "update" || message.tag === "delete";
}

/** One replication connection's worth of streaming. */
class Session {
  readonly #settings: SourceSettings;
  readonly #context: PipelineContext;
  readonly #backend: SessionBackend;
  readonly #decoder: ChangeDecoder;
  #primaryKeys: PrimaryKeys = new Map();
  /** The owner of this session's ack loop; set by {@linkcode start}. */
  pipeline: PipelineSession | null = null;
  #stream: ReplicationStream | null = null;
  #tx: TransactionHandle | null = null;
  #statusTimer: ReturnType<typeof setInterval> | undefined;
  #waitingForRoom = false;
  /**
   * Frames received (or re-queued) while a primary-key lookup or the replay
   * of a spilled transaction runs, in WAL order.
   */
  readonly #held: HeldFrame[] = [];
  /** Set while frames are held (see {@linkcode #held}). */
  #holding = false;
  /** The relation whose primary key was just looked up: its Relation goes through as is. */
  #lookedUp: number | null = null;
  /** Aborts the work before streaming (the snapshot) when the source stops. */
  readonly #stopSignal = new AbortController();
  /** Set once the stream ended: late acks schedule no status update. */
  #ended = false;
  /** Told each flush LSN sent to PostgreSQL (the progress record follows it). */
  readonly #onConfirmed: (lsn: Lsn) => void;
  /** The last flush LSN sent to PostgreSQL, or null before the first status update. */
  sentFlushLsn: Lsn | null = null;
  readonly #schemaChanges: SchemaChangeTap | null;

  constructor(
    settings: SourceSettings,
    context: PipelineContext,
    backend: SessionBackend,
    onConfirmed: (lsn: Lsn) => void = () => {},
  ) {
    this.#settings = settings;
    this.#context = context;
    this.#backend = backend;
    this.#onConfirmed = onConfirmed;
    this.#decoder = new ChangeDecoder(settings.values, (id) => this.#primaryKeys.get(id));
    const via = settings.schemaChanges?.via;
    this.#schemaChanges = via === undefined ? null : new SchemaChangeTap(via, this.#decoder);
  }

  /** Whether reading waits for Kafka to ack or to come back. */
  get waitingForKafka(): boolean {
    return this.pipeline?.waiting ?? false;
  }

  /** Resolves when the stream ends, with the error that ended it. */
  get closed(): Promise<Error | null> {
    const connection = this.#settings.connection;
    return this.#stream!.closed.then((error) => error && describeStreamError(error, connection));
  }

  /** Starts streaming from `confirmedLsn`, after `beforeStreaming` (the snapshot) if given. */
  async start(confirmedLsn: Lsn, beforeStreaming?: BeforeStreaming): Promise<void> {
    const pipeline = new PipelineSession(this.#context, confirmedLsn, {
      onFlush: () => this.#sendStatus(),
    });
    this.pipeline = pipeline;
    this.#primaryKeys = await this.#backend.publishedPrimaryKeys();
    await beforeStreaming?.(pipeline, this.#stopSignal.signal);
    // Stopped during the work above: close() had no stream to end, so start none.
    this.#stopSignal.signal.throwIfAborted();
    const stream = await this.#backend.startReplication(confirmedLsn, {
      onXLogData: (walStart, _walEnd, payload) => this.#onXLogData(walStart, payload),
      onKeepalive: (walEnd, replyRequested) => this.#onKeepalive(walEnd, replyRequested),
    });
    if (this.#stopSignal.signal.aborted) {
      // Stopped while the stream was starting: nothing was read from it yet.
      await stream.end();
      this.#stopSignal.signal.throwIfAborted();
    }
    this.#stream = stream;
    this.#statusTimer = setInterval(() => this.#sendStatus(), this.#settings.statusIntervalMs);
    this.#stream.closed.then(() => {
      this.#stopTimers();
      // A spilled transaction still replaying is read again by the next session.
      this.#stopSignal.abort(new Error(`Stream of source ${this.#settings.name} ended`));
    });
    this.#applyBackpressure();
  }

  /** The sink's health changed: reading may pause or resume (DESIGN invariant 6). */
  sinkHealthChanged(): void {
    this.pipeline?.sinkHealthChanged();
    this.#applyBackpressure();
  }

  /**
   * Stops reading, waits up to `graceMs` for what is in flight, confirms the
   * flush LSN reached and ends the stream. Returns whether all was acked.
   */
  async close(graceMs: number): Promise<boolean> {
    this.#stopSignal.abort(new Error(`Source ${this.#settings.name} is stopping`));
    const stream = this.#stream;
    const pipeline = this.pipeline;
    if (stream === null || pipeline === null) return true;
    stream.pause();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const drained = await Promise.race([
      this.#context.sink.drain().then(() => pipeline.pendingMessages === 0),
      new Promise<false>((resolve) => timer = setTimeout(() => resolve(false), graceMs)),
    ]);
    clearTimeout(timer);
    if (!drained) {
      log.error(
        "Shutdown grace period ended with {pending} message(s) unacknowledged; " +
          "confirming only what Kafka acked, the rest is sent again on restart",
        { source: this.#settings.name, pending: pipeline.pendingMessages },
      );
    }
    this.#sendStatus();
    this.#stopTimers();
    await stream.end();
    log.info("Source {source} stopped at flush LSN {lsn}", {
      source: this.#settings.name,
      lsn: formatLsn(pipeline.flushLsn),
    });
    return drained;
  }

  #stopTimers(): void {
    this.#ended = true;
    clearInterval(this.#statusTimer);
    this.pipeline?.close();
  }

  #onXLogData(walStart: Lsn, payload: Uint8Array): void {
    if (this.#holding) {
      this.#held.push({ walStart, payload: payload.slice() });
      return;
    }
    this.#process(walStart, payload);
  }

  #process(walStart: Lsn, payload: Uint8Array): void {
    const message = decodePgOutput(payload);
    if (message.tag === "relation" && this.#needsLookUp(message)) {
      this.#lookUpPrimaryKey(message.relationId, { walStart, payload: payload.slice() });
      return;
    }
    let events;
    this.#schemaChanges?.before(message);
    try {
      events = this.#decoder.apply(message, walStart);
    } catch (error) {
      if (!(error instanceof ValueConversionError) || !isRowMessage(message)) throw error;
      this.#deadLetterUndecodable(message, walStart, error);
      return;
    }
    const schemaChange = this.#schemaChanges?.after(message, walStart) ?? null;
    if (schemaChange !== null) {
      this.pipeline!.schemaChange(schemaChange, this.#currentTx("Schema change"));
      this.#applyBackpressure();
    }
    switch (message.tag) {
      case "begin":
        this.#tx = this.pipeline!.begin(message.xid);
        return;
      case "commit": {
        const tx = this.#currentTx("Commit");
        this.#tx = null;
        const replay = this.pipeline!.commit(tx, message.endLsn, this.#stopSignal.signal);
        if (replay !== null) this.#holdUntil(replay);
        return;
      }
      case "relation": {
        const relation = this.#decoder.relations.require(message.relationId, "Relation");
        const columns = relation.columns.map((column) => column.name);
        this.pipeline!.relation(relation.schema, relation.table, columns);
        return;
      }
    }
    if (events.length === 0) return;
    const tx = this.#currentTx(message.tag);
    const pipeline = this.pipeline!;
    for (const event of events) pipeline.route(event, tx);
    this.#applyBackpressure();
  }

  /** Whether a Relation needs its primary key looked up before it is applied. */
  #needsLookUp(message: RelationMessage): boolean {
    // The Relation replayed right after its lookup goes through whatever was found.
    const justLookedUp = this.#lookedUp === message.relationId;
    this.#lookedUp = null;
    return !justLookedUp && needsPrimaryKey(message) &&
      primaryKeyUnknown(this.#primaryKeys, message);
  }

  /**
   * Holds `frame` (a Relation message) and everything after it until the
   * relation's primary key is known, then replays them in order.
   */
  #lookUpPrimaryKey(relationId: number, frame: HeldFrame): void {
    this.#held.unshift(frame);
    this.#holdUntil(
      this.#backend.primaryKeys([relationId]).then((keys) => {
        for (const [id, columns] of keys) this.#primaryKeys.set(id, columns);
        this.#lookedUp = relationId;
      }),
    );
  }

  /**
   * Holds the frames that arrive until `work` is done, then processes them in
   * order. Reading stops meanwhile, so few frames pile up.
   */
  #holdUntil(work: Promise<void>): void {
    this.#holding = true;
    this.#stream?.pause();
    work.then(() => {
      if (this.#ended) return; // the next session starts over from the slot
      this.#holding = false;
      this.#replayHeld();
    }).catch((error) => {
      // Aborted because the source stops or the stream ended: nothing failed.
      if (!this.#stopSignal.signal.aborted) this.#fail(error);
    });
  }

  #replayHeld(): void {
    try {
      while (!this.#holding && this.#held.length > 0) {
        const frame = this.#held.shift()!;
        this.#process(frame.walStart, frame.payload);
      }
    } catch (error) {
      this.#fail(error);
      return;
    }
    this.#applyBackpressure();
  }

  #fail(error: unknown): void {
    this.#stream?.fail(error instanceof Error ? error : new Error(String(error)));
  }

  /** A change with a value that does not convert goes to the dead-letter topic as raw text. */
  #deadLetterUndecodable(message: RowMessage, walStart: Lsn, error: ValueConversionError): void {
    const event = this.#decoder.rawChange(message, walStart);
    this.pipeline!.undecodable(event, error.message, this.#currentTx(message.tag));
    this.#applyBackpressure();
  }

  #currentTx(what: string): TransactionHandle {
    if (this.#tx === null) throw new Error(`Protocol error: ${what} outside a transaction`);
    return this.#tx;
  }

  #onKeepalive(walEnd: Lsn, replyRequested: boolean): void {
    // Held frames are received but not yet in the checkpoint: nothing is idle then.
    if (!this.#holding) this.pipeline!.keepalive(walEnd);
    if (replyRequested) this.#sendStatus();
  }

  /**
   * Pauses reading while the pipeline waits (in-flight budget full, or the
   * sink refuses to try) or a primary key is being looked up; resumes
   * otherwise. Status updates keep going out meanwhile (DESIGN invariant 4).
   */
  #applyBackpressure(): void {
    const stream = this.#stream;
    const pipeline = this.pipeline;
    if (stream === null || pipeline === null) return;
    const waiting = pipeline.waiting;
    if (waiting || this.#holding) {
      if (!stream.paused) stream.pause();
      if (waiting && !this.#waitingForRoom) {
        this.#waitingForRoom = true;
        pipeline.whenReadable().then(() => {
          this.#waitingForRoom = false;
          if (!this.#ended) this.#applyBackpressure();
        });
      }
    } else if (stream.paused) {
      stream.resume();
    }
  }

  #sendStatus(): void {
    const stream = this.#stream;
    const pipeline = this.pipeline;
    if (stream === null || pipeline === null) return;
    const flush = pipeline.flushLsn;
    stream.sendStatus(flush);
    this.sentFlushLsn = flush;
    this.#onConfirmed(flush);
    const lag = stream.lastReceived > flush ? stream.lastReceived - flush : 0n;
    this.#context.metrics.lagBytes.labels(this.#settings.name).set(Number(lag));
  }
}
