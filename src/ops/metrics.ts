/**
 * Prometheus metrics of the pipeline, on a registry of their own (no Node-only
 * default metrics: their probes fail on Deno).
 *
 * Hot paths hold label children (`metrics.changes.labels(...)`) instead of
 * passing label objects per message.
 *
 * @module
 */
import { Counter, Gauge, Histogram, Registry } from "prom-client";
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
  readonly transactions = new Counter({
    name: "pg2kafka_transactions_total",
    help: "Committed transactions received from PostgreSQL.",
    labelNames: ["source"] as const,
    registers: [this.registry],
  });
  readonly lagBytes = new Gauge({
    name: "pg2kafka_replication_lag_bytes",
    help: "Server WAL end minus the confirmed flush LSN.",
    labelNames: ["source"] as const,
    registers: [this.registry],
  });
  readonly lagSeconds = new Gauge({
    name: "pg2kafka_replication_lag_seconds",
    help: "Now minus the commit time of the newest delivered change.",
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
  readonly slotRetainedWalBytes = new Gauge({
    name: "pg2kafka_slot_retained_wal_bytes",
    help: "WAL the slot retains on the server (pg_current_wal_lsn minus restart_lsn).",
    labelNames: ["source"] as const,
    registers: [this.registry],
  });
  readonly buildInfo = new Gauge({
    name: "pg2kafka_build_info",
    help: "Always 1; the labels name the build.",
    labelNames: ["version", "deno"] as const,
    registers: [this.registry],
  });

  /** Creates the metrics and sets the build info. */
  constructor() {
    this.buildInfo.labels(VERSION, Deno.version.deno).set(1);
    this.circuitState.set(CIRCUIT_STATE_VALUE.closed);
  }
}
