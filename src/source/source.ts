/**
 * One source: a replication slot streamed into the router, with its own
 * checkpoint and flush LSN, reconnecting with backoff on its own when the
 * connection goes away (DESIGN invariants 3, 4, 7; project issue 10).
 *
 * A session is one replication connection. Each session starts from the
 * slot's confirmed flush LSN with a fresh checkpoint and relation cache, so
 * whatever was in flight when a connection dropped is sent again: duplicates
 * are possible, loss is not.
 *
 * @module
 */
import { formatLsn, type Lsn } from "../lsn.ts";
import type { Sql } from "postgres";
import type { Metrics } from "../ops/metrics.ts";
import { logger } from "../ops/log.ts";
import { Backoff, type BackoffOptions } from "../kafka/backoff.ts";
import type { KafkaSink } from "../kafka/sink.ts";
import { Checkpoint, type TransactionHandle } from "../pipeline/checkpoint.ts";
import type { InflightAccount } from "../pipeline/inflight.ts";
import { Router, type RouteTarget } from "../pipeline/router.ts";
import { ChangeDecoder } from "./changes.ts";
import {
  type ConnectionSettings,
  openQueryConnection,
  openReplicationConnection,
} from "./connect.ts";
import { decodePgOutput } from "./pgoutput.ts";
import { preparePublication, prepareSlot, type SlotSetup } from "./slot.ts";
import { type ReplicationStream, startReplication } from "./stream.ts";
import type { ValueOptions } from "./values.ts";

/** Everything a source needs from its config. */
export interface SourceSettings {
  name: string;
  connection: ConnectionSettings;
  setup: SlotSetup;
  statusIntervalMs: number;
  messages: boolean;
  values: ValueOptions;
  reconnect: BackoffOptions;
}

/** Shared parts of the pipeline a source feeds. */
export interface SourceDependencies {
  sink: KafkaSink;
  account: InflightAccount;
  metrics: Metrics;
  targets: readonly RouteTarget[];
}

/** Where a source stands, for /ready and `health`. */
export type SourceStatus = "starting" | "streaming" | "paused" | "reconnecting" | "stopped";

const log = logger("source");

/** Streams one replication slot into the router until stopped. */
export class Source {
  readonly #settings: SourceSettings;
  readonly #deps: SourceDependencies;
  readonly #backoff: Backoff;
  #status: SourceStatus = "starting";
  #lastError: string | null = null;
  #session: Session | null = null;
  #stopping = false;
  #wakeUp: (() => void) | null = null;

  /** Creates the source; {@linkcode run} starts it. */
  constructor(settings: SourceSettings, deps: SourceDependencies) {
    this.#settings = settings;
    this.#deps = deps;
    this.#backoff = new Backoff(settings.reconnect);
    deps.sink.onCircuitChange((state) => this.#session?.setCircuitOpen(state === "open"));
  }

  /** The source's name. */
  get name(): string {
    return this.#settings.name;
  }

  /** Where the source stands. */
  get status(): SourceStatus {
    return this.#status;
  }

  /** The last error that ended a session, if the source is not streaming. */
  get lastError(): string | null {
    return this.#status === "streaming" ? null : this.#lastError;
  }

  /** The flush LSN last computed for the current session. */
  get flushLsn(): Lsn {
    return this.#session?.checkpoint.flushLsn ?? 0n;
  }

  /** Runs sessions until {@linkcode stop}, reconnecting with backoff. */
  async run(): Promise<void> {
    while (!this.#stopping) {
      try {
        await this.#runSession();
        if (this.#stopping) break;
        this.#lastError = "the server ended the replication stream";
      } catch (error) {
        if (this.#stopping) break;
        this.#lastError = error instanceof Error ? error.message : String(error);
      }
      this.#status = "reconnecting";
      this.#deps.metrics.reconnects.labels(this.name).inc();
      const delayMs = this.#backoff.next();
      log.error("Source {source} lost its stream, reconnecting in {delayMs} ms: {error}", {
        source: this.name,
        slot: this.#settings.setup.slot,
        attempt: this.#backoff.attempts,
        delayMs,
        error: this.#lastError,
      });
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delayMs);
        this.#wakeUp = () => (clearTimeout(timer), resolve());
      });
      this.#wakeUp = null;
    }
    this.#status = "stopped";
  }

  /**
   * Stops reading, waits up to `graceMs` for in-flight messages to be acked,
   * sends the final flush LSN and closes the connections.
   */
  async stop(graceMs: number): Promise<void> {
    this.#stopping = true;
    this.#wakeUp?.();
    await this.#session?.close(graceMs);
  }

  async #runSession(): Promise<void> {
    const { connection, setup } = this.#settings;
    const sql = openQueryConnection(connection);
    const replication = openReplicationConnection(connection);
    try {
      await preparePublication(sql, setup);
      const slot = await prepareSlot(sql, replication, setup);
      if (slot.created) {
        log.info("Created replication slot {slot} at {lsn}", {
          source: this.name,
          slot: setup.slot,
          lsn: formatLsn(slot.confirmedFlushLsn),
        });
      }
      const session = new Session(this.#settings, this.#deps, replication);
      this.#session = session;
      await session.start(slot.confirmedFlushLsn);
      this.#status = "streaming";
      this.#backoff.reset();
      log.info("Source {source} streaming slot {slot} from {lsn}", {
        source: this.name,
        slot: setup.slot,
        lsn: formatLsn(slot.confirmedFlushLsn),
      });
      const error = await session.closed;
      if (error) throw error;
    } finally {
      this.#session = null;
      await replication.end({ timeout: 1 }).catch(() => {});
      await sql.end({ timeout: 1 }).catch(() => {});
    }
  }
}

/** Delay that coalesces flush LSN advances into one status update. */
const STATUS_COALESCE_MS = 200;

/** One replication connection's worth of streaming. */
class Session {
  readonly #settings: SourceSettings;
  readonly #deps: SourceDependencies;
  readonly #replication: Sql;
  readonly #decoder: ChangeDecoder;
  #router!: Router;
  checkpoint!: Checkpoint;
  #stream: ReplicationStream | null = null;
  #tx: TransactionHandle | null = null;
  #statusTimer: ReturnType<typeof setInterval> | undefined;
  #coalesceTimer: ReturnType<typeof setTimeout> | undefined;
  #waitingForRoom = false;
  #circuitOpen = false;

  constructor(settings: SourceSettings, deps: SourceDependencies, replication: Sql) {
    this.#settings = settings;
    this.#deps = deps;
    this.#replication = replication;
    this.#decoder = new ChangeDecoder(settings.values);
  }

  /** Resolves when the stream ends, with the error that ended it. */
  get closed(): Promise<Error | null> {
    return this.#stream!.closed;
  }

  async start(confirmedLsn: Lsn): Promise<void> {
    const { name } = this.#settings;
    this.checkpoint = new Checkpoint({
      initialLsn: confirmedLsn,
      onAdvance: (lsn) => this.#reportFlush(lsn),
    });
    this.#router = new Router({
      source: name,
      checkpoint: this.checkpoint,
      account: this.#deps.account,
      sink: this.#deps.sink,
      metrics: this.#deps.metrics,
    }, this.#deps.targets);
    this.#stream = await startReplication({
      sql: this.#replication,
      slot: this.#settings.setup.slot,
      publication: this.#settings.setup.publication,
      startLsn: confirmedLsn,
      messages: this.#settings.messages,
      handler: {
        onXLogData: (walStart, _walEnd, payload) => this.#onData(walStart, payload),
        onKeepalive: (walEnd, replyRequested) => this.#onKeepalive(walEnd, replyRequested),
      },
    });
    this.#circuitOpen = this.#deps.sink.circuitState === "open";
    this.#statusTimer = setInterval(() => this.#sendStatus(), this.#settings.statusIntervalMs);
    this.#deps.metrics.flushLsn.labels(name).set(Number(confirmedLsn));
  }

  /** Pauses reading while Kafka's circuit is open (DESIGN invariant 6). */
  setCircuitOpen(open: boolean): void {
    this.#circuitOpen = open;
    this.#applyBackpressure();
  }

  async close(graceMs: number): Promise<void> {
    const stream = this.#stream;
    if (stream === null) return;
    stream.pause();
    const drained = await Promise.race([
      this.#deps.sink.drain().then(() => true),
      new Promise<false>((resolve) => setTimeout(() => resolve(false), graceMs)),
    ]);
    if (!drained) {
      log.warn("Shutdown grace period ended with messages in flight; they will be sent again", {
        source: this.#settings.name,
        pending: this.checkpoint.pendingMessages,
      });
    }
    this.#sendStatus();
    clearInterval(this.#statusTimer);
    clearTimeout(this.#coalesceTimer);
    await stream.end();
    log.info("Source {source} stopped at flush LSN {lsn}", {
      source: this.#settings.name,
      lsn: formatLsn(this.checkpoint.flushLsn),
    });
  }

  #onData(walStart: Lsn, payload: Uint8Array): void {
    const message = decodePgOutput(payload);
    const events = this.#decoder.apply(message, walStart);
    switch (message.tag) {
      case "begin":
        this.#tx = this.checkpoint.begin(message.xid);
        return;
      case "commit":
        this.checkpoint.commit(this.#currentTx("Commit"), message.endLsn);
        this.#tx = null;
        this.#deps.metrics.transactions.labels(this.#settings.name).inc();
        return;
      case "relation": {
        const relation = this.#decoder.relations.require(message.relationId, "Relation");
        const columns = relation.columns.map((column) => column.name);
        this.#router.describeRelation(relation.schema, relation.table, columns);
        return;
      }
    }
    if (events.length === 0) return;
    const tx = this.#currentTx(message.tag);
    for (const event of events) this.#router.route(event, tx);
    this.#applyBackpressure();
  }

  #currentTx(what: string): TransactionHandle {
    if (this.#tx === null) throw new Error(`Protocol error: ${what} outside a transaction`);
    return this.#tx;
  }

  #onKeepalive(walEnd: Lsn, replyRequested: boolean): void {
    this.checkpoint.idle(walEnd);
    if (replyRequested) this.#sendStatus();
  }

  /** Pauses reading while the in-flight budget is full or Kafka's circuit is open. */
  #applyBackpressure(): void {
    const stream = this.#stream;
    if (stream === null) return;
    const account = this.#deps.account;
    if (this.#circuitOpen || account.full) {
      if (!stream.paused) stream.pause();
      if (!this.#waitingForRoom && account.full) {
        this.#waitingForRoom = true;
        account.waitForRoom().then(() => {
          this.#waitingForRoom = false;
          this.#applyBackpressure();
        });
      }
    } else if (stream.paused) {
      stream.resume();
    }
  }

  #reportFlush(lsn: Lsn): void {
    this.#deps.metrics.flushLsn.labels(this.#settings.name).set(Number(lsn));
    this.#coalesceTimer ??= setTimeout(() => {
      this.#coalesceTimer = undefined;
      this.#sendStatus();
    }, STATUS_COALESCE_MS);
  }

  #sendStatus(): void {
    const stream = this.#stream;
    if (stream === null) return;
    const flush = this.checkpoint.flushLsn;
    stream.sendStatus(flush);
    const lag = stream.lastReceived > flush ? stream.lastReceived - flush : 0n;
    this.#deps.metrics.lagBytes.labels(this.#settings.name).set(Number(lag));
  }
}
