/**
 * The status report behind the status page and `GET /api/v1/status`: one JSON
 * document, versioned, that says per source where it stands and why, how Kafka
 * answers, and what each target did with the changes.
 *
 * {@linkcode buildStatus} is pure: the connector hands it a
 * {@linkcode StatusInput} read from live state, so the rules (which state is
 * how severe) stay testable. {@linkcode ChangeRateHistory} keeps the recent
 * changes per second that the page draws as a chart.
 *
 * @module
 */
import type { Metrics } from "../telemetry/metrics.ts";

/**
 * The Kafka circuit breaker's states, as the report names them (the same
 * words as the sink's; spelled out here so ops does not depend on kafka/).
 */
export type CircuitState = "closed" | "half_open" | "open";

/** The version of the report's shape; it changes only when a field changes meaning or goes away. */
export const STATUS_API_VERSION = 1;

/** Where the report is served. */
export const STATUS_API_PATH = `/api/v${STATUS_API_VERSION}/status`;

/**
 * Where a source stands. `standby` is a source that deliberately waits (for
 * example for another instance to let go of its slot); `failed` is a source
 * whose loop ended, whose messages are stuck (`/health` fails for a restart)
 * or whose sink stopped for good: it will not recover alone.
 */
export type SourceState =
  | "starting"
  | "streaming"
  | "paused"
  | "reconnecting"
  | "standby"
  | "stopped"
  | "failed";

/**
 * How bad something is, worst last: `ok` (working), `info` (not working yet
 * or on purpose: starting, standby), `degraded` (waiting, will recover on its
 * own), `failing` (needs a person).
 */
export type Severity = "ok" | "info" | "degraded" | "failing";

const SEVERITY_ORDER: readonly Severity[] = ["ok", "info", "degraded", "failing"];

/** The worse of two severities. */
export function worse(a: Severity, b: Severity): Severity {
  return SEVERITY_ORDER.indexOf(a) >= SEVERITY_ORDER.indexOf(b) ? a : b;
}

const STATE_SEVERITY: Record<SourceState, Severity> = {
  streaming: "ok",
  starting: "info",
  standby: "info",
  paused: "degraded",
  reconnecting: "degraded",
  stopped: "failing",
  failed: "failing",
};

/** A series of changes per second, one value per interval, oldest first. */
export interface RateSeries {
  intervalSeconds: number;
  perSecond: number[];
}

/** One source as the connector sees it right now. */
export interface SourceInput {
  name: string;
  /** The source's own status (`standby` and any later state pass through as they are). */
  status: string;
  /** Why it is not streaming, already redacted. */
  lastError: string | null;
  /** Its run loop ended although nobody stopped it. */
  loopEnded: boolean;
  /** Why its in-flight messages count as stuck (`[limits] stuck_after`), or null. */
  stuck: string | null;
  slot: string;
  /** The flush LSN last sent to PostgreSQL, as `X/Y`. */
  confirmedLsn: string;
  /** WAL the slot keeps on the server, or null when not polled yet or lost. */
  retainedWalBytes: number | null;
  /** Whether a walsender streams the slot, or null when not polled yet. */
  slotActive: boolean | null;
  lagBytes: number | null;
  lagSeconds: number | null;
  inflight: { messages: number; bytes: number };
  changeRate: RateSeries;
}

/** Everything {@linkcode buildStatus} looks at. */
export interface StatusInput {
  now: Date;
  version: string;
  startedAt: Date;
  /** The connector is shutting down (draining). */
  stopping: boolean;
  /** The fatal error that stopped the Kafka sink, already redacted, if any. */
  sinkFailure: string | null;
  inflightLimits: { maxMessages: number; maxBytes: number };
  sources: readonly SourceInput[];
  kafka: {
    reachable: boolean;
    /** Why the last metadata probe failed, already redacted. */
    error: string | null;
    circuit: CircuitState;
    /** Failed produce attempts by kind (`transient`, `poison`). */
    produceErrors: Record<string, number>;
  };
  /** Every configured target, in config order. */
  targets: readonly string[];
  /** Changes per target and outcome, summed over sources. */
  outcomes: ReadonlyMap<string, Outcomes>;
}

/** What a target did with the changes it saw. */
export interface Outcomes {
  delivered: number;
  filtered: number;
  deadLettered: number;
}

/** One source in the report. */
export interface SourceReport {
  name: string;
  state: SourceState;
  severity: Severity;
  /** Why the source is in this state, or null while it streams. */
  reason: string | null;
  slot: string;
  slotActive: boolean | null;
  confirmedLsn: string;
  retainedWalBytes: number | null;
  lagBytes: number | null;
  lagSeconds: number | null;
  inflight: { messages: number; bytes: number };
  changesPerSecond: RateSeries;
}

/** The body of `GET /api/v1/status`. */
export interface StatusReport {
  apiVersion: typeof STATUS_API_VERSION;
  generatedAt: string;
  version: string;
  uptimeSeconds: number;
  /** The worst severity of the connector, Kafka and every source. */
  severity: Severity;
  /** One sentence per thing that is not ok, worst first. */
  problems: string[];
  connector: { state: "running" | "stopping" | "failed"; reason: string | null };
  inflight: { messages: number; bytes: number; maxMessages: number; maxBytes: number };
  kafka: {
    severity: Severity;
    reachable: boolean;
    error: string | null;
    circuit: CircuitState;
    produceErrors: { transient: number; poison: number };
  };
  sources: SourceReport[];
  targets: (Outcomes & { name: string })[];
}

const MS_PER_SECOND = 1000;

/**
 * Builds the report: each source's state with its reason and severity, the
 * Kafka verdict, and the overall severity, never better than its worst part.
 *
 * @example
 * ```ts
 * const report = buildStatus(input);
 * report.severity; // "failing" when the circuit is open
 * ```
 */
export function buildStatus(input: StatusInput): StatusReport {
  const { kafka } = input;
  const sources = input.sources.map((source) => sourceReport(source, input));
  const kafkaSeverity = kafkaSeverityOf(kafka.reachable, kafka.circuit);
  const connector = input.sinkFailure !== null
    ? { state: "failed" as const, reason: `the Kafka sink stopped: ${input.sinkFailure}` }
    : input.stopping
    ? { state: "stopping" as const, reason: "shutting down: draining in-flight messages" }
    : { state: "running" as const, reason: null };
  const connectorSeverity: Severity = connector.state === "failed"
    ? "failing"
    : connector.state === "stopping"
    ? "degraded"
    : "ok";

  const problems: [Severity, string][] = [];
  if (connector.reason !== null) problems.push([connectorSeverity, connector.reason]);
  if (kafkaSeverity !== "ok") problems.push([kafkaSeverity, kafkaProblem(kafka)]);
  for (const source of sources) {
    if (source.severity === "ok") continue;
    const why = source.reason === null ? "" : `: ${source.reason}`;
    problems.push([source.severity, `source ${source.name} is ${source.state}${why}`]);
  }
  problems.sort(([a], [b]) => SEVERITY_ORDER.indexOf(b) - SEVERITY_ORDER.indexOf(a));

  const severity = [connectorSeverity, kafkaSeverity, ...sources.map((s) => s.severity)]
    .reduce(worse, "ok");
  return {
    apiVersion: STATUS_API_VERSION,
    generatedAt: input.now.toISOString(),
    version: input.version,
    uptimeSeconds: Math.max(0, (input.now.getTime() - input.startedAt.getTime()) / MS_PER_SECOND),
    severity,
    problems: problems.map(([, text]) => text),
    connector,
    inflight: {
      messages: sum(input.sources.map((s) => s.inflight.messages)),
      bytes: sum(input.sources.map((s) => s.inflight.bytes)),
      ...input.inflightLimits,
    },
    kafka: {
      severity: kafkaSeverity,
      reachable: kafka.reachable,
      error: kafka.reachable ? null : kafka.error,
      circuit: kafka.circuit,
      produceErrors: {
        transient: kafka.produceErrors.transient ?? 0,
        poison: kafka.produceErrors.poison ?? 0,
      },
    },
    sources,
    targets: input.targets.map((name) => ({
      name,
      ...(input.outcomes.get(name) ?? { delivered: 0, filtered: 0, deadLettered: 0 }),
    })),
  };
}

function sourceReport(source: SourceInput, input: StatusInput): SourceReport {
  const { state, reason } = stateOf(source, input);
  return {
    name: source.name,
    state,
    severity: STATE_SEVERITY[state],
    reason,
    slot: source.slot,
    slotActive: source.slotActive,
    confirmedLsn: source.confirmedLsn,
    retainedWalBytes: source.retainedWalBytes,
    lagBytes: source.lagBytes,
    lagSeconds: source.lagSeconds,
    inflight: source.inflight,
    changesPerSecond: source.changeRate,
  };
}

const KNOWN_STATES: ReadonlySet<string> = new Set(Object.keys(STATE_SEVERITY));

/** The page's state of a source and the reason an operator reads next to it. */
function stateOf(
  source: SourceInput,
  input: StatusInput,
): { state: SourceState; reason: string | null } {
  if (input.sinkFailure !== null) {
    return { state: "failed", reason: `the Kafka sink stopped: ${input.sinkFailure}` };
  }
  if (source.loopEnded) {
    return { state: "failed", reason: source.lastError ?? "its loop ended; restart pg2kafka" };
  }
  if (source.stuck !== null) return { state: "failed", reason: source.stuck };
  if (!KNOWN_STATES.has(source.status)) {
    // A state this report does not know yet must not pass for healthy.
    return { state: "failed", reason: `unknown state ${source.status}` };
  }
  const state = source.status as SourceState;
  switch (state) {
    case "streaming":
      return { state, reason: null };
    case "paused":
      return { state, reason: pauseReason(source, input) };
    case "starting":
      return { state, reason: source.lastError ?? "connecting to PostgreSQL" };
    default:
      return { state, reason: source.lastError };
  }
}

/** Why reading waits: the circuit, or the in-flight budget. */
function pauseReason(source: SourceInput, input: StatusInput): string {
  if (input.kafka.circuit !== "closed") {
    return `reading waits for Kafka: the circuit breaker is ${circuitWords(input.kafka.circuit)}`;
  }
  const { maxMessages, maxBytes } = input.inflightLimits;
  return `reading waits for acks: ${source.inflight.messages} of ${maxMessages} messages and ` +
    `${source.inflight.bytes} of ${maxBytes} bytes in flight`;
}

function kafkaSeverityOf(reachable: boolean, circuit: CircuitState): Severity {
  if (circuit === "open" || !reachable) return "failing";
  return circuit === "half_open" ? "degraded" : "ok";
}

function kafkaProblem(kafka: StatusInput["kafka"]): string {
  const parts: string[] = [];
  if (!kafka.reachable) parts.push(`Kafka is unreachable: ${kafka.error ?? "no answer yet"}`);
  if (kafka.circuit !== "closed") {
    parts.push(`the circuit breaker is ${circuitWords(kafka.circuit)}`);
  }
  return parts.join("; ");
}

function circuitWords(circuit: CircuitState): string {
  return circuit === "half_open" ? "half-open (probing)" : circuit;
}

function sum(values: readonly number[]): number {
  return values.reduce((total, value) => total + value, 0);
}

/**
 * Changes per second of each source over the last minutes: a ring of counter
 * totals sampled at a fixed interval, turned into rates between neighbours.
 *
 * @example
 * ```ts
 * const history = new ChangeRateHistory({ intervalSeconds: 5, points: 120 });
 * history.sample(new Map([["main", 0]]), 0);
 * history.sample(new Map([["main", 50]]), 5000);
 * history.series("main").perSecond; // [10]
 * ```
 */
export class ChangeRateHistory {
  readonly #intervalSeconds: number;
  readonly #points: number;
  readonly #samples = new Map<string, { total: number; atMs: number }[]>();

  /** Keeps `points` rates, one per `intervalSeconds` (the sampling period the caller keeps). */
  constructor(options: { intervalSeconds: number; points: number }) {
    this.#intervalSeconds = options.intervalSeconds;
    this.#points = options.points;
  }

  /** Records each source's running total of changes at `atMs`. */
  sample(totals: ReadonlyMap<string, number>, atMs: number): void {
    for (const [source, total] of totals) {
      const samples = this.#samples.get(source) ?? [];
      samples.push({ total, atMs });
      // One more total than rates: each rate needs the total before it.
      if (samples.length > this.#points + 1) samples.shift();
      this.#samples.set(source, samples);
    }
  }

  /** The rates of `source`, oldest first (empty before two samples). */
  series(source: string): RateSeries {
    const samples = this.#samples.get(source) ?? [];
    const perSecond: number[] = [];
    for (let i = 1; i < samples.length; i++) {
      const seconds = (samples[i].atMs - samples[i - 1].atMs) / MS_PER_SECOND;
      const changes = Math.max(0, samples[i].total - samples[i - 1].total);
      perSecond.push(seconds > 0 ? round(changes / seconds) : 0);
    }
    return { intervalSeconds: this.#intervalSeconds, perSecond };
  }
}

const RATE_DECIMALS = 100;
const round = (value: number) => Math.round(value * RATE_DECIMALS) / RATE_DECIMALS;

/** What the status report needs of the counters: totals by source, by target, by error kind. */
export interface CounterTotals {
  /** Changes read by source, each counted once whatever the targets do. */
  changesBySource: Map<string, number>;
  outcomesByTarget: Map<string, Outcomes>;
  produceErrors: Record<string, number>;
}

const OUTCOME_FIELD = {
  delivered: "delivered",
  filtered: "filtered",
  dead_lettered: "deadLettered",
} as const;

/** Reads the change and produce error counters of `metrics`. */
export async function readCounterTotals(metrics: Metrics): Promise<CounterTotals> {
  const changesBySource = new Map<string, number>();
  const outcomesByTarget = new Map<string, Outcomes>();
  for (const { labels, value } of (await metrics.changesRead.get()).values) {
    changesBySource.set(String(labels.source), value);
  }
  for (const { labels, value } of (await metrics.changes.get()).values) {
    const field = OUTCOME_FIELD[labels.outcome as keyof typeof OUTCOME_FIELD];
    if (field === undefined) continue;
    const target = String(labels.target);
    const outcomes = outcomesByTarget.get(target) ?? { delivered: 0, filtered: 0, deadLettered: 0 };
    outcomes[field] += value;
    outcomesByTarget.set(target, outcomes);
  }
  const produceErrors: Record<string, number> = {};
  for (const { labels, value } of (await metrics.kafkaErrors.get()).values) {
    produceErrors[String(labels.kind)] = (produceErrors[String(labels.kind)] ?? 0) + value;
  }
  return { changesBySource, outcomesByTarget, produceErrors };
}
