/**
 * What `/health` (liveness) and `/ready` (readiness) report, worked out from a
 * snapshot of the pipeline so the rules stay pure and testable.
 *
 * Liveness asks whether the process should be restarted: its loops run. It
 * never depends on PostgreSQL or Kafka, or a broker outage would restart every
 * connector at once. Readiness asks whether changes flow: every source
 * streams, Kafka answers, the circuit is closed.
 *
 * @module
 */
import type { SourceStatus } from "../source/source.ts";

/** One source as the probes see it. */
export interface SourceSnapshot {
  name: string;
  status: SourceStatus;
  /** Why the source is not streaming, if it is not. */
  lastError: string | null;
  /** The flush LSN as `X/Y`. */
  flushLsn: string;
  /** Now minus the commit time of the newest delivered change, or null when unknown. */
  lagSeconds: number | null;
  /** Server WAL end minus the flush LSN, or null when unknown. */
  lagBytes: number | null;
}

/** Everything the readiness rules look at. */
export interface ReadinessSnapshot {
  /** The pipeline is shutting down (draining). */
  stopping: boolean;
  sources: readonly SourceSnapshot[];
  kafka: { reachable: boolean; error: string | null };
  /** The sink's state word (the Kafka circuit: closed, half_open, open) and whether it is healthy. */
  circuit: string;
  circuitOk?: boolean;
  /** Sources whose in-flight messages have not settled for longer than allowed. */
  stuck?: readonly StuckSource[];
  /** The fatal error that stopped the Kafka sink, if any. */
  sinkFailure: string | null;
}

/** A source whose messages wait in flight with none settled for too long. */
export interface StuckSource {
  source: string;
  /** Messages handed to the sink and not settled. */
  pending: number;
  /** How long none has settled. */
  stalledMs: number;
  /** The configured limit (`[limits] stuck_after`). */
  limitMs: number;
}

/** How a stuck source reads in /health, /ready and `pg2kafka health`. */
export function describeStuck({ source, pending, stalledMs, limitMs }: StuckSource): string {
  const seconds = (ms: number) => `${Math.round(ms / MS_PER_SECOND)} s`;
  return `source ${source} stuck: ${pending} message(s) in flight and none settled for ` +
    `${seconds(stalledMs)} (stuck_after ${seconds(limitMs)})`;
}

const MS_PER_SECOND = 1000;

/** One readiness check and its outcome. */
export interface ReadinessCheck {
  check: "pipeline" | "source" | "kafka" | "circuit" | "stuck";
  /** The source a `source` check is about. */
  source?: string;
  ok: boolean;
  detail: string;
}

/** The body of `/ready`. */
export interface ReadinessReport {
  ready: boolean;
  checks: ReadinessCheck[];
  sources: readonly SourceSnapshot[];
}

/**
 * Source states that count as ready. `paused` is backpressure: changes still
 * flow to Kafka, only reading waits for acks.
 */
const READY_STATUSES: ReadonlySet<SourceStatus> = new Set(["streaming", "paused"]);

/**
 * Applies the readiness rules: not shutting down and the sink alive, every
 * source streaming, Kafka reachable, circuit closed.
 *
 * @example
 * ```ts
 * const report = assessReadiness({
 *   stopping: false,
 *   sources: [],
 *   kafka: { reachable: false, error: "connect ECONNREFUSED" },
 *   circuit: "closed",
 *   sinkFailure: null,
 * });
 * report.ready; // false: the kafka check fails
 * ```
 */
export function assessReadiness(snapshot: ReadinessSnapshot): ReadinessReport {
  const checks: ReadinessCheck[] = [pipelineCheck(snapshot)];
  for (const source of snapshot.sources) {
    const ok = READY_STATUSES.has(source.status);
    const detail = ok || source.lastError === null
      ? source.status
      : `${source.status}: ${source.lastError}`;
    checks.push({ check: "source", source: source.name, ok, detail });
  }
  const { kafka, circuit } = snapshot;
  checks.push({
    check: "kafka",
    ok: kafka.reachable,
    detail: kafka.reachable ? "reachable" : `unreachable: ${kafka.error ?? "no answer yet"}`,
  });
  checks.push({
    check: "circuit",
    ok: snapshot.circuitOk ?? circuit === "closed",
    detail: circuit,
  });
  for (const stuck of snapshot.stuck ?? []) {
    checks.push({ check: "stuck", source: stuck.source, ok: false, detail: describeStuck(stuck) });
  }
  return { ready: checks.every(({ ok }) => ok), checks, sources: snapshot.sources };
}

function pipelineCheck(snapshot: ReadinessSnapshot): ReadinessCheck {
  if (snapshot.sinkFailure !== null) {
    return { check: "pipeline", ok: false, detail: `stopped: ${snapshot.sinkFailure}` };
  }
  if (snapshot.stopping) return { check: "pipeline", ok: false, detail: "shutting down" };
  return { check: "pipeline", ok: true, detail: "running" };
}

/** Everything the liveness rules look at. */
export interface LivenessSnapshot {
  /** Milliseconds since the pipeline's periodic task last ran. */
  tickAgeMs: number;
  /** Sources whose run loop ended although nobody stopped it. */
  deadSources: readonly string[];
  /** The Kafka sink's loop stopped for good. */
  sinkFailed: boolean;
  /** Sources whose in-flight messages have not settled for longer than allowed. */
  stuck?: readonly StuckSource[];
}

/** The body of `/health`: deliberately free of error texts, since it needs no token. */
export interface LivenessReport {
  alive: boolean;
  problems: string[];
}

/**
 * Applies the liveness rules: the periodic task ran within `staleAfterMs`
 * (answering at all proves the event loop turns; a stale tick means the
 * pipeline's timers stopped), no source loop and no sink loop ended, and no
 * source is stuck: messages wait in flight and none settled for longer than
 * `[limits] stuck_after` (a wedged producer looks alive in every other way).
 */
export function assessLiveness(snapshot: LivenessSnapshot, staleAfterMs: number): LivenessReport {
  const problems: string[] = [];
  if (snapshot.tickAgeMs > staleAfterMs) {
    problems.push(`the periodic task last ran ${Math.round(snapshot.tickAgeMs)} ms ago`);
  }
  for (const source of snapshot.deadSources) problems.push(`the loop of source ${source} ended`);
  if (snapshot.sinkFailed) problems.push("the Kafka sink loop stopped");
  for (const stuck of snapshot.stuck ?? []) problems.push(describeStuck(stuck));
  return { alive: problems.length === 0, problems };
}
