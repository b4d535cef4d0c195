/**
 * The connector: assembles and runs what a config describes: the Kafka sink, one
 * {@linkcode Source} per configured source, the in-flight budget, metrics and
 * HTTP, and the shutdown sequence (DESIGN invariant 8).
 *
 * @module
 */
import type { Config, LimitsConfig, SourceConfig, TargetConfig } from "./config/mod.ts";
import { secretsOf, topicWarnings } from "./config/mod.ts";
import {
  type CircuitState,
  createKafka,
  KafkaProgressStore,
  KafkaSink,
  ProgressTopic,
  proveEncoder,
  type SinkOptions,
  TransactionalKafkaSink,
} from "./kafka/mod.ts";
import { formatLsn } from "./lsn.ts";
import { createOpsHandler, type OpsEndpoints, type OpsServer, serveOps } from "./ops/http.ts";
import { KafkaProbe } from "./ops/kafka_probe.ts";
import { agedLagSeconds, logger, Metrics, redact, type Reported } from "./telemetry/mod.ts";
import {
  assessLiveness,
  assessReadiness,
  describeStuck,
  type LivenessReport,
  type ReadinessReport,
  type SourceSnapshot,
  type StuckSource,
} from "./ops/probes.ts";
import { retainedWalBytes, SlotMonitor } from "./ops/slot_monitor.ts";
import {
  buildStatus,
  ChangeRateHistory,
  readCounterTotals,
  type SourceInput,
  type StatusReport,
} from "./ops/status.ts";
import { VERSION } from "./version.ts";
import {
  type InflightAccount,
  InflightBudget,
  type OutgoingMessage,
  removeLeftovers,
} from "./pipeline/mod.ts";
import { connectionOf, ServerConnections, Source, type SourceSettings } from "./source/mod.ts";

const log = logger("app");

/** A Kafka sink as the connector runs it: started, stopped, watched. */
type RunningSink = KafkaSink<OutgoingMessage> | TransactionalKafkaSink<OutgoingMessage>;

/** Circuit states from best to worst, to report the worst of several sinks. */
const CIRCUIT_SEVERITY: readonly CircuitState[] = ["closed", "half_open", "open"];

/** A running connector: every source, the sink, the in-flight budget and the ops endpoints. */
export class Connector {
  readonly metrics = new Metrics();
  /**
   * One shared sink (at-least-once delivery), or one per source in the order
   * of `sources` (exactly-once: each source has its own transactional id).
   */
  readonly sinks: readonly RunningSink[];
  readonly sources: readonly Source[];
  readonly #config: Config;
  readonly #budget: InflightBudget;
  readonly #accounts = new Map<string, InflightAccount>();
  readonly #kafkaProbe: KafkaProbe;
  readonly #slotMonitor: SlotMonitor;
  /** The ordinary-query pools the sources share, one per server and credentials. */
  readonly #connections: ServerConnections;
  readonly #secrets: readonly string[];
  readonly #progress: KafkaProgressStore;
  /** Called once when every source stopped for good (their slots are lost). */
  readonly #allFailedListeners: (() => void)[] = [];
  #http: OpsServer | null = null;
  #runs: Promise<void>[] = [];
  #gauges: ReturnType<typeof setInterval> | undefined;
  #lastTickMs = Date.now();
  readonly #startedAt = new Date();
  readonly #rates = new ChangeRateHistory({
    intervalSeconds: RATE_INTERVAL_MS / 1000,
    points: RATE_POINTS,
  });
  #rateSampler: ReturnType<typeof setInterval> | undefined;
  #stopping = false;
  /** Sources whose run loop ended without being stopped (a bug): /health fails. */
  readonly #deadSources = new Set<string>();
  /** Sources whose messages have not settled for `[limits] stuck_after`, as of the last tick. */
  #stuck: StuckSource[] = [];

  /** Builds the connector of `config`; {@linkcode start} runs it. */
  constructor(config: Config) {
    this.#config = config;
    const { kafka, limits } = config;
    this.sinks = createSinks(config, this.metrics);
    this.#budget = new InflightBudget({
      maxMessages: limits.maxInflightMessages,
      maxBytes: limits.maxInflightBytes,
    });
    for (const { name } of config.sources) this.#accounts.set(name, this.#budget.account(name));
    this.#progress = new KafkaProgressStore(createKafka(kafka), {
      topic: kafka.progressTopic,
      replicationFactor: kafka.topicReplicationFactor,
      readTimeoutMs: kafka.requestTimeoutMs,
    });
    this.#connections = new ServerConnections({
      maxConnections: limits.maxQueryConnections,
      idleTimeoutMs: limits.queryIdleTimeoutMs,
    });
    this.sources = config.sources.map((source, index) =>
      new Source(sourceSettings(source, this.#connections, limits), {
        sink: this.sinks[index] ?? this.sinks[0],
        account: this.#accounts.get(source.name)!,
        metrics: this.metrics,
        targets: config.targets.filter((target) => targetReads(target, source.name)),
        progress: this.#progress,
      })
    );
    this.#secrets = secretsOf(config);
    this.#kafkaProbe = new KafkaProbe(createKafka(kafka), {
      brokers: kafka.brokers,
      intervalMs: KAFKA_PROBE_INTERVAL_MS,
      timeoutMs: KAFKA_PROBE_TIMEOUT_MS,
      onResult: (reachable) => this.metrics.kafkaReachable.set(reachable ? 1 : 0),
    });
    this.#slotMonitor = new SlotMonitor(
      config.sources.map((source) => ({
        source: source.name,
        slot: source.slot,
        connection: connectionOf(source),
      })),
      this.metrics,
      SLOT_POLL_INTERVAL_MS,
    );
    const names = config.sources.map(({ name }) => name);
    this.metrics.lagSeconds.refineWith(names, (name, reported) => this.#lagSeconds(name, reported));
    this.metrics.lagBytes.refineWith(names, (name, reported) => this.#lagBytes(name, reported));
  }

  /** Where the HTTP endpoints listen, or null when they are off or not started. */
  get httpUrl(): string | null {
    return this.#http?.url ?? null;
  }

  /**
   * Starts the HTTP endpoints and the probes (so /health answers while Kafka
   * is still out of reach), connects to Kafka, then starts every source.
   *
   * @throws {Error} when the HTTP address cannot be bound.
   */
  async start(): Promise<void> {
    for (const warning of topicWarnings(this.#config)) log.warn("Config: {warning}", { warning });
    if (this.#config.http.enabled) this.#startHttp();
    this.#gauges = setInterval(() => this.#updateGauges(), GAUGE_INTERVAL_MS);
    this.#sampleRates();
    this.#rateSampler = setInterval(() => this.#sampleRates(), RATE_INTERVAL_MS);
    this.#kafkaProbe.start();
    this.#slotMonitor.start();
    await this.#removeSpillLeftovers();
    const { encoder } = await proveEncoder();
    this.metrics.setEncoder(encoder);
    await Promise.all(this.sinks.map((sink) => sink.start()));
    this.#runs = this.sources.map((source) => this.#run(source));
    log.info("Connector started with {sources} source(s) and {targets} target(s)", {
      sources: this.sources.length,
      targets: this.#config.targets.length,
    });
  }

  /**
   * Stops reading, drains in-flight messages for up to the grace period, sends
   * each slot its final flush LSN (covering only what Kafka acked) and closes
   * every connection, abandoning the sink's retries.
   *
   * @returns whether everything in flight was acked within the grace period.
   */
  async stop(): Promise<boolean> {
    this.#stopping = true;
    const graceMs = this.#config.shutdown.gracePeriodMs;
    const drained = await Promise.all(this.sources.map((source) => source.stop(graceMs)));
    await Promise.all(this.#runs);
    clearInterval(this.#gauges);
    clearInterval(this.#rateSampler);
    // The grace period is spent: what remains is closing connections, which a
    // dead broker must not stretch (a probe or a produce may wait for its timeout).
    let timer: ReturnType<typeof setTimeout> | undefined;
    const closed = await Promise.race([
      Promise.all([
        ...this.sinks.map((sink) => sink.stop()),
        this.#kafkaProbe.stop(),
        this.#slotMonitor.stop(),
        this.#connections.close(),
        this.#progress.stop(),
        this.#http?.shutdown(),
      ]).then(() => true),
      new Promise<false>((resolve) => timer = setTimeout(() => resolve(false), CLOSE_WAIT_MS)),
    ]);
    clearTimeout(timer);
    if (!closed) {
      log.warn("Connections still closing after {ms} ms; exiting", { ms: CLOSE_WAIT_MS });
    }
    return drained.every(Boolean);
  }

  /**
   * Calls `listener` once when every source has stopped for good (status
   * `failed`: its slot is lost), so the process can exit with its own code.
   */
  onAllSourcesFailed(listener: () => void): void {
    this.#allFailedListeners.push(listener);
  }

  /** Removes the spill files a crashed run left (see pipeline/spill.ts). */
  async #removeSpillLeftovers(): Promise<void> {
    const dir = this.#config.limits.spillDir;
    for (const { name } of this.#config.sources) {
      const removed = await removeLeftovers(dir, name);
      if (removed > 0) {
        log.info("Removed {removed} spill file(s) a previous run of source {source} left", {
          source: name,
          removed,
          dir,
        });
      }
    }
  }

  /** What `/ready` reports: whether changes flow, and which check fails for which source. */
  readiness(): ReadinessReport {
    return assessReadiness({
      stopping: this.#stopping,
      sources: this.sources.map((source) => this.#snapshot(source)),
      kafka: { reachable: this.#kafkaProbe.reachable, error: this.#redact(this.#kafkaProbe.error) },
      circuit: this.#circuitState(),
      stuck: this.#stuck,
      sinkFailure: this.#redact(this.#sinkFailure()?.message ?? null),
    });
  }

  /** What `/health` reports: whether the process and its loops are alive. */
  liveness(): LivenessReport {
    return assessLiveness({
      tickAgeMs: Date.now() - this.#lastTickMs,
      deadSources: [...this.#deadSources],
      sinkFailed: this.#sinkFailure() !== null,
      stuck: this.#stuck,
    }, TICK_STALE_AFTER_MS);
  }

  /** Calls `listener` once if a sink stops for good (the process must exit). */
  onFailure(listener: (error: Error) => void): void {
    let called = false;
    for (const sink of this.sinks) {
      sink.onFailure((error) => {
        if (!called) listener(error);
        called = true;
      });
    }
  }

  #circuitState(): CircuitState {
    const severity = (state: CircuitState) => CIRCUIT_SEVERITY.indexOf(state);
    return this.sinks.map((sink) => sink.circuitState)
      .reduce((worst, state) => severity(state) > severity(worst) ? state : worst, "closed");
  }

  #sinkFailure(): Error | null {
    return this.sinks.find((sink) => sink.failure !== null)?.failure ?? null;
  }

  /** What `/api/v1/status` and the status page report. */
  async status(): Promise<StatusReport> {
    const totals = await readCounterTotals(this.metrics);
    const sources = this.sources.map((source): SourceInput => {
      const slot = this.#slotMonitor.state(source.name);
      const retained = slot === undefined ? null : retainedWalBytes(slot);
      const account = this.#accounts.get(source.name)!;
      const stuck = this.#stuck.find((entry) => entry.source === source.name);
      return {
        name: source.name,
        status: source.status,
        lastError: this.#redact(source.lastError),
        loopEnded: this.#deadSources.has(source.name),
        stuck: stuck === undefined ? null : describeStuck(stuck),
        slot: this.#config.sources.find(({ name }) => name === source.name)!.slot,
        confirmedLsn: formatLsn(source.flushLsn),
        retainedWalBytes: retained === null ? null : Number(retained),
        slotActive: slot?.active ?? null,
        lagBytes: this.metrics.lagBytes.current(source.name) ?? null,
        lagSeconds: this.metrics.lagSeconds.current(source.name) ?? null,
        inflight: { messages: account.messages, bytes: account.bytes },
        changeRate: this.#rates.series(source.name),
      };
    });
    return buildStatus({
      now: new Date(),
      version: VERSION,
      startedAt: this.#startedAt,
      stopping: this.#stopping,
      sinkFailure: this.#redact(this.#sinkFailure()?.message ?? null),
      inflightLimits: { maxMessages: this.#budget.maxMessages, maxBytes: this.#budget.maxBytes },
      sources,
      kafka: {
        reachable: this.#kafkaProbe.reachable,
        error: this.#redact(this.#kafkaProbe.error),
        circuit: this.#circuitState(),
        produceErrors: totals.produceErrors,
      },
      targets: this.#config.targets.map(({ name }) => name),
      outcomes: totals.outcomesByTarget,
    });
  }

  /** Records each source's change total for the changes-per-second chart. */
  #sampleRates(): void {
    readCounterTotals(this.metrics).then(({ changesBySource }) => {
      for (const { name } of this.sources) {
        changesBySource.set(name, changesBySource.get(name) ?? 0);
      }
      this.#rates.sample(changesBySource, Date.now());
    }).catch((error) =>
      log.error("Sampling change rates failed: {error}", { error: String(error) })
    );
  }

  #startHttp(): void {
    const endpoints: OpsEndpoints = {
      liveness: () => {
        const report = this.liveness();
        return { ok: report.alive, body: report };
      },
      readiness: () => {
        const report = this.readiness();
        return { ok: report.ready, body: report };
      },
      metrics: async () => {
        this.#refreshGauges();
        return { text: await this.metrics.render(), contentType: this.metrics.contentType };
      },
      status: () => this.status(),
    };
    const { listen, token } = this.#config.http;
    this.#http = serveOps(listen, createOpsHandler(endpoints, { token }));
    log.info("HTTP endpoints listening on {url}", {
      url: this.#http.url,
      authentication: token === null ? "none" : "bearer token",
    });
  }

  /** Runs a source, noting when its loop ends although nobody stopped it. */
  async #run(source: Source): Promise<void> {
    try {
      await source.run();
    } catch (error) {
      log.error("Source {source} loop failed: {error}", {
        source: source.name,
        error: String(error),
      });
    }
    if (this.#stopping) return;
    if (source.status !== "failed") {
      this.#deadSources.add(source.name);
    } else if (this.sources.every((candidate) => candidate.status === "failed")) {
      for (const listener of this.#allFailedListeners) listener();
    }
  }

  #snapshot(source: Source): SourceSnapshot {
    return {
      name: source.name,
      status: source.status,
      lastError: this.#redact(source.lastError),
      flushLsn: formatLsn(source.flushLsn),
      lagSeconds: this.metrics.lagSeconds.current(source.name) ?? null,
      lagBytes: this.metrics.lagBytes.current(source.name) ?? null,
    };
  }

  /**
   * Now minus the commit time of the newest delivered change, aged to the
   * present; 0 while the source streams with nothing in flight (caught up),
   * so an idle database does not look late.
   */
  #lagSeconds(name: string, reported: Reported | undefined): number | undefined {
    const source = this.sources.find((candidate) => candidate.name === name);
    const caughtUp = source?.status === "streaming" && this.#accounts.get(name)?.messages === 0;
    if (caughtUp) return 0;
    return reported === undefined ? undefined : agedLagSeconds(reported);
  }

  /**
   * The server's WAL end (polled from PostgreSQL) minus the flush LSN, or the
   * session's estimate (the WAL end it last received) when that is larger.
   */
  #lagBytes(name: string, reported: Reported | undefined): number | undefined {
    const slot = this.#slotMonitor.state(name);
    if (slot === undefined) return reported?.value;
    const source = this.sources.find((candidate) => candidate.name === name);
    const slotFlush = slot.confirmedFlushLsn ?? 0n;
    const flush = source !== undefined && source.flushLsn > slotFlush ? source.flushLsn : slotFlush;
    const fromServer = slot.walEnd > flush ? Number(slot.walEnd - flush) : 0;
    return Math.max(fromServer, reported?.value ?? 0);
  }

  #redact(text: string | null): string | null {
    return text === null ? null : redact(text, this.#secrets);
  }

  /** The periodic task: its tick is what /health checks. */
  #updateGauges(): void {
    this.#lastTickMs = Date.now();
    this.#refreshGauges();
    this.#checkStuck(this.#lastTickMs);
  }

  /** Notes the sources whose in-flight messages have not settled for `stuck_after`. */
  #checkStuck(nowMs: number): void {
    const limitMs = this.#config.limits.stuckAfterMs;
    const stuck: StuckSource[] = [];
    for (const source of this.sources) {
      const stalledMs = source.stalledForMs(nowMs);
      if (stalledMs < limitMs) continue;
      const entry = { source: source.name, pending: source.pendingMessages, stalledMs, limitMs };
      stuck.push(entry);
      if (!this.#stuck.some((known) => known.source === source.name)) {
        log.error("{problem}; /health fails so that a supervisor restarts pg2kafka", {
          problem: describeStuck(entry),
          source: source.name,
        });
      }
    }
    this.#stuck = stuck;
  }

  /** Sets the gauges read from live state (also before each scrape, so they are current). */
  #refreshGauges(): void {
    this.metrics.inflightMessages.set(this.#budget.messages);
    this.metrics.inflightBytes.set(this.#budget.bytes);
    for (const source of this.sources) {
      const paused = source.status === "paused";
      this.metrics.sourceStreaming.labels(source.name).set(
        paused || source.status === "streaming" ? 1 : 0,
      );
      this.metrics.sourcePaused.labels(source.name).set(paused ? 1 : 0);
      this.metrics.sourceStandby.labels(source.name).set(source.status === "standby" ? 1 : 0);
      this.metrics.sourceFailed.labels(source.name).set(source.status === "failed" ? 1 : 0);
    }
  }
}

const GAUGE_INTERVAL_MS = 1000;
/** How long closing the connections may take once the sources stopped. */
const CLOSE_WAIT_MS = 2000;
/** /health fails when the periodic task has not run for this long: its timers stopped. */
const TICK_STALE_AFTER_MS = 15 * GAUGE_INTERVAL_MS;
const KAFKA_PROBE_INTERVAL_MS = 5000;
const KAFKA_PROBE_TIMEOUT_MS = 5000;
const SLOT_POLL_INTERVAL_MS = 5000;
/** The changes-per-second chart: one point every 5 s over the last 10 minutes. */
const RATE_INTERVAL_MS = 5000;
const RATE_POINTS = 120;

/**
 * The sinks of `config`: one shared idempotent sink, or with exactly-once
 * delivery one transactional sink per source, in the order of the sources.
 */
function createSinks(config: Config, metrics: Metrics): RunningSink[] {
  const { kafka } = config;
  const options: SinkOptions = {
    lingerMs: kafka.lingerMs,
    batchMaxMessages: kafka.batchMaxMessages,
    batchMaxBytes: kafka.batchMaxBytes,
    maxMessageBytes: kafka.maxMessageBytes,
    deadLetterTopic: kafka.deadLetterTopic,
    compression: kafka.compression,
    retry: kafka.retry,
    circuitBreaker: kafka.circuitBreaker,
    createTopics: kafka.createTopics
      ? { partitions: kafka.topicPartitions, replicationFactor: kafka.topicReplicationFactor }
      : null,
  };
  if (kafka.delivery === "at_least_once") {
    return [new KafkaSink<OutgoingMessage>(createKafka(kafka), options, metrics)];
  }
  const client = createKafka(kafka);
  const progress = new ProgressTopic(client, {
    topic: kafka.transactions.progressTopic,
    replicationFactor: kafka.topicReplicationFactor,
  });
  return config.sources.map((source) =>
    new TransactionalKafkaSink<OutgoingMessage>(client, progress, {
      ...options,
      source: source.name,
      slot: source.slot,
      database: source.database,
      transactionalId: source.transactionalId,
      transactions: kafka.transactions,
    }, metrics)
  );
}

function targetReads(target: TargetConfig, source: string): boolean {
  return target.sources.length === 0 || target.sources.includes(source);
}

function sourceSettings(
  source: SourceConfig,
  connections: ServerConnections,
  limits: LimitsConfig,
): SourceSettings {
  const connection = connectionOf(source);
  return {
    name: source.name,
    connection,
    queries: connections.queries(connection),
    spill: { limitBytes: limits.transactionBufferBytes, dir: limits.spillDir },
    setup: {
      slot: source.slot,
      createSlot: source.createSlot,
      failover: source.failoverSlot,
      publication: source.publication,
      createPublication: source.createPublication,
      alterPublication: source.alterPublication,
      tables: source.tables,
    },
    statusIntervalMs: source.statusIntervalMs,
    messages: source.messages,
    values: { bigNumbers: source.bigNumbers, jsonValues: source.jsonValues },
    reconnect: source.reconnect,
    standbyPollIntervalMs: source.standbyPollIntervalMs,
    snapshot: {
      mode: source.snapshot,
      fetchRows: source.snapshotFetchRows,
      progressIntervalMs: source.snapshotProgressIntervalMs,
    },
    heartbeat: { intervalMs: source.heartbeatIntervalMs, table: source.heartbeatTable },
    schemaChanges: source.schemaChanges.enabled ? source.schemaChanges : undefined,
  };
}
