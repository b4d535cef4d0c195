/**
 * Prometheus metrics of the pipeline, on a registry of their own (no Node-only
 * default metrics: their probes fail on Deno).
 *
 * Hot paths hold label children (`metrics.changes.labels(...)`) instead of
 * passing label objects per message.
 *
 * @module
 */
import { Counter, Gauge, Histogram, type LabelValues, Registry } from "prom-client";
import { VERSION } from "../version.ts";

/** Outcome of one change for one target (DESIGN invariant 2). */
export type ChangeOutcome = "delivered" | "filtered" | "dead_lettered";

/** Numeric value of each circuit state in `pg2kafka_circuit_state`. */
export const CIRCUIT_STATE_VALUE = { closed: 0, half_open: 1, open: 2 } as const;

const PRODUCE_LATENCY_BUCKETS_S = [
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
];

const MS_PER_SECOND = 1000;

/** The value the pipeline last reported for one source, and when (`Date.now()`). */
export interface Reported {
  value: number;
  atMs: number;
}

/**
 * Works out the value of `source` at scrape time from what the pipeline last
 * reported (if anything) and live state; undefined when it is unknown.
 */
export type Refiner = (source: string, reported: Reported | undefined) => number | undefined;

/**
 * A per-source gauge worked out again at each scrape. The pipeline reports a
 * value when it knows one (the sink when it settles a batch, a session when it
 * sends a status update); such a value goes stale exactly when it matters most
 * (nothing is settled while Kafka is down), so a {@linkcode Refiner} combines
 * it with live state when `/metrics` is rendered.
 */
export class RefinedGauge extends Gauge<"source"> {
  readonly #reported = new Map<string, Reported>();
  #sources: readonly string[] = [];
  #refine: Refiner | null = null;

  /** Works out the value of each of `sources` with `refine` at every scrape. */
  refineWith(sources: readonly string[], refine: Refiner): void {
    this.#sources = sources;
    this.#refine = refine;
  }

  /** Records a value the pipeline reports (see the class notes). */
  override set(labels: LabelValues<"source"> | number, value?: number): void {
    if (typeof labels === "number") return super.set(labels);
    this.#reported.set(String(labels.source), { value: value!, atMs: Date.now() });
    super.set(labels, value!);
  }

  /** The value of `source` as a scrape shows it now, or undefined when unknown. */
  current(source: string): number | undefined {
    const reported = this.#reported.get(source);
    return this.#refine === null ? reported?.value : this.#refine(source, reported);
  }

  /** Refines every source's value, then returns the samples (prom-client calls it per scrape). */
  override async get(): ReturnType<Gauge<"source">["get"]> {
    for (const source of this.#sources) {
      const value = this.current(source);
      if (value !== undefined) super.set({ source }, value);
    }
    return await super.get();
  }
}

/**
 * Ages a reported `now minus commit time` value to the present: the lag of a
 * change delivered 10 s ago with a lag of 1 s is 11 s now.
 */
export function agedLagSeconds(reported: Reported, nowMs = Date.now()): number {
  return reported.value + (nowMs - reported.atMs) / MS_PER_SECOND;
}

/** Every metric pg2kafka exports. */
export class Metrics {
  /** The registry `/metrics` renders. */
  readonly registry = new Registry();
  readonly changes = new Counter({
    name: "pg2kafka_changes_total",
    help: "Changes by source, target and outcome (delivered, filtered, dead_lettered).",
    labelNames: ["source", "target", "outcome"] as const,
    registers: [this.registry],
  });
  readonly changesRead = new Counter({
    name: "pg2kafka_changes_read_total",
    help: "Changes read from the source (snapshot rows included), once whatever the targets do.",
    labelNames: ["source"] as const,
    registers: [this.registry],
  });
  readonly transactions = new Counter({
    name: "pg2kafka_transactions_total",
    help: "Committed transactions received from PostgreSQL; an initial snapshot counts as one.",
    labelNames: ["source"] as const,
    registers: [this.registry],
  });
  readonly transactionSpilledBytes = new Counter({
    name: "pg2kafka_transaction_spilled_bytes_total",
    help: "Bytes of held transactions a transaction target wrote to spill files.",
    labelNames: ["source", "target"] as const,
    registers: [this.registry],
  });
  readonly lagBytes = new RefinedGauge({
    name: "pg2kafka_replication_lag_bytes",
    help: "Server WAL end minus the confirmed flush LSN.",
    labelNames: ["source"] as const,
    registers: [this.registry],
  });
  readonly lagSeconds = new RefinedGauge({
    name: "pg2kafka_replication_lag_seconds",
    help: "Now minus the commit time of the newest delivered change; 0 while nothing waits.",
    labelNames: ["source"] as const,
    registers: [this.registry],
  });
  readonly flushLsn = new Gauge({
    name: "pg2kafka_confirmed_flush_lsn",
    help: "The flush LSN last sent to PostgreSQL, as a number.",
    labelNames: ["source"] as const,
    registers: [this.registry],
  });
  readonly inflightMessages = new Gauge({
    name: "pg2kafka_inflight_messages",
    help: "Messages handed to the Kafka sink and not yet acked.",
    registers: [this.registry],
  });
  readonly inflightBytes = new Gauge({
    name: "pg2kafka_inflight_bytes",
    help: "Bytes of messages handed to the Kafka sink and not yet acked.",
    registers: [this.registry],
  });
  readonly produceLatency = new Histogram({
    name: "pg2kafka_produce_latency_seconds",
    help: "Time from sending a batch to Kafka to its acknowledgement.",
    buckets: PRODUCE_LATENCY_BUCKETS_S,
    registers: [this.registry],
  });
  readonly kafkaErrors = new Counter({
    name: "pg2kafka_kafka_errors_total",
    help: "Failed produce attempts by kind of error.",
    labelNames: ["kind"] as const,
    registers: [this.registry],
  });
  readonly circuitState = new Gauge({
    name: "pg2kafka_circuit_state",
    help: "Kafka circuit breaker: 0 closed, 1 half-open, 2 open.",
    registers: [this.registry],
  });
  readonly reconnects = new Counter({
    name: "pg2kafka_reconnects_total",
    help: "Reconnections of the replication stream.",
    labelNames: ["source"] as const,
    registers: [this.registry],
  });
  readonly snapshotRows = new Counter({
    name: "pg2kafka_snapshot_rows_total",
    help: "Rows read by initial snapshots, by source and table.",
    labelNames: ["source", "table"] as const,
    registers: [this.registry],
  });
  readonly snapshotRowsExpected = new Gauge({
    name: "pg2kafka_snapshot_rows_expected",
    help: "Rows a running or finished snapshot read expects of a table: exact count or estimate.",
    labelNames: ["source", "table"] as const,
    registers: [this.registry],
  });
  readonly snapshotSecondsLeft = new Gauge({
    name: "pg2kafka_snapshot_seconds_left",
    help: "Estimated seconds until the snapshot of a table is read, at the rate so far.",
    labelNames: ["source", "table"] as const,
    registers: [this.registry],
  });
  readonly slotRetainedWalBytes = new Gauge({
    name: "pg2kafka_slot_retained_wal_bytes",
    help: "WAL the slot retains on the server (pg_current_wal_lsn minus restart_lsn).",
    labelNames: ["source"] as const,
    registers: [this.registry],
  });
  readonly slotActive = new Gauge({
    name: "pg2kafka_slot_active",
    help: "1 while a walsender streams the slot (pg_replication_slots.active), else 0.",
    labelNames: ["source"] as const,
    registers: [this.registry],
  });
  readonly sourceStreaming = new Gauge({
    name: "pg2kafka_source_streaming",
    help: "1 while the source streams its slot, 0 while it starts, reconnects or stops.",
    labelNames: ["source"] as const,
    registers: [this.registry],
  });
  readonly sourcePaused = new Gauge({
    name: "pg2kafka_source_paused",
    help: "1 while the source streams but waits for Kafka (in-flight budget full or circuit open).",
    labelNames: ["source"] as const,
    registers: [this.registry],
  });
  readonly sourceStandby = new Gauge({
    name: "pg2kafka_source_standby",
    help: "1 while another process holds the source's slot and this one waits to take over.",
    labelNames: ["source"] as const,
    registers: [this.registry],
  });
  readonly sourceFailed = new Gauge({
    name: "pg2kafka_source_failed",
    help: "1 when the source stopped for good: the slot it streamed from is lost.",
    labelNames: ["source"] as const,
    registers: [this.registry],
  });
  readonly kafkaReachable = new Gauge({
    name: "pg2kafka_kafka_reachable",
    help: "1 when the last metadata request to Kafka succeeded, else 0.",
    registers: [this.registry],
  });
  readonly buildInfo = new Gauge({
    name: "pg2kafka_build_info",
    help: "Always 1; the labels name the build.",
    labelNames: ["version", "deno", "encoder"] as const,
    registers: [this.registry],
  });

  /**
   * Names the encoder that serves Kafka produce requests (`pg2kafka` when its
   * patches are proven active, `kafkajs` otherwise) in `pg2kafka_build_info`.
   */
  setEncoder(encoder: string): void {
    this.buildInfo.reset();
    this.buildInfo.labels(VERSION, Deno.version.deno, encoder).set(1);
  }

  /** The Prometheus text of every metric, values refined to the present. */
  async render(): Promise<string> {
    return await this.registry.metrics();
  }

  /** The content type of {@linkcode render}'s text. */
  get contentType(): string {
    return this.registry.contentType;
  }

  /** Creates the metrics and sets the build info. */
  constructor() {
    this.setEncoder("unknown");
    this.circuitState.set(CIRCUIT_STATE_VALUE.closed);
  }
}
