/**
 * `pg2kafka health`: one verdict for cron and probes, from two independent
 * sources of truth: the running connector (`/ready` over HTTP) and each
 * source's slot in PostgreSQL. The slot check is what still alerts when the
 * connector itself is dead, which is exactly when WAL piles up on the server.
 *
 * Verdicts (the worst one wins):
 * - failing (exit 2): the connector says it is stuck (messages in flight and
 *   none settled for `[limits] stuck_after`); a slot is missing, lost or about to lose WAL it needs
 *   (`wal_status` lost or unreserved), retains more WAL than the threshold, or
 *   is inactive while the connector is not ready (nothing consumes it); a
 *   slot cannot be read while the connector is not ready either; bad flags.
 * - degraded (exit 1): the connector is reachable but not ready, or cannot be
 *   reached while its slots are active; a slot is inactive or unreadable
 *   while the connector says it is ready; a source lags more than the
 *   threshold.
 * - healthy (exit 0): none of the above.
 *
 * @module
 */
import type { Config, SourceConfig } from "../config/mod.ts";
import { parseDuration, parseSize, secretsOf } from "../config/mod.ts";
import { connectionOf, openQueryConnection } from "../source/connect.ts";
import { redact } from "../telemetry/log.ts";
import type { ReadinessReport } from "../ops/probes.ts";
import { querySlot, retainedWalBytes } from "../ops/slot_monitor.ts";

/** The verdict of a health check. */
export type HealthStatus = "healthy" | "degraded" | "failing";

/** Whether `text` is an absolute http(s) URL, as `--url` needs. */
export function isHttpUrl(text: string): boolean {
  if (!URL.canParse(text)) return false;
  const { protocol } = new URL(text);
  return protocol === "http:" || protocol === "https:";
}

/** Exit code of each verdict. */
export const HEALTH_EXIT: Readonly<Record<HealthStatus, number>> = {
  healthy: 0,
  degraded: 1,
  failing: 2,
};

/** What `/ready` said, or why it said nothing. */
export interface ConnectorCheck {
  /** `skipped` when no URL is known (HTTP off, or port 0 without `--url`). */
  state: "ready" | "standby" | "not_ready" | "unreachable" | "unauthorized" | "skipped";
  url: string | null;
  /** The failing checks, the error, or why the check was skipped. */
  detail: string;
  /** Lag of each source as the connector measures it. */
  lagSeconds: Record<string, number | null>;
  /** Why the connector counts as stuck, one line per source (a supervisor should restart it). */
  stuck?: string[];
}

/** One source's slot as PostgreSQL shows it. */
export interface SlotCheck {
  source: string;
  slot: string;
  state: "present" | "missing" | "unreadable";
  active: boolean;
  walStatus: string | null;
  /** WAL the slot keeps on the server, or null when unknown or lost. */
  retainedBytes: number | null;
  /** Server WAL end minus the slot's confirmed flush LSN, or null when unknown. */
  unconfirmedBytes: number | null;
  /** Why the slot could not be read. */
  error: string | null;
}

/** Limits beyond which a check fails or degrades. */
export interface HealthThresholds {
  maxRetainedWalBytes: number;
  maxLagMs: number;
}

/** One finding of the health check. */
export interface HealthProblem {
  severity: "degraded" | "failing";
  message: string;
}

/** The full outcome, as `--json` prints it. */
export interface HealthReport {
  status: HealthStatus;
  exitCode: number;
  problems: HealthProblem[];
  connector: ConnectorCheck;
  slots: SlotCheck[];
  thresholds: HealthThresholds;
}

/** `wal_status` values of a slot that lost, or is about to lose, WAL it needs. */
const LOSING_WAL = new Set(["lost", "unreserved"]);
const MS_PER_SECOND = 1000;

/**
 * Applies the rules of the module notes.
 *
 * @example
 * ```ts
 * const report = assessHealth(
 *   { state: "unreachable", url: "http://127.0.0.1:9187", detail: "connection refused", lagSeconds: {} },
 *   [{ source: "main", slot: "pg2kafka", state: "present", active: false, walStatus: "reserved",
 *      retainedBytes: 4096, unconfirmedBytes: 0, error: null }],
 *   { maxRetainedWalBytes: 1024 ** 3, maxLagMs: 300_000 },
 * );
 * report.status; // "failing": nothing consumes the slot
 * ```
 */
export function assessHealth(
  connector: ConnectorCheck,
  slots: SlotCheck[],
  thresholds: HealthThresholds,
): HealthReport {
  const problems: HealthProblem[] = [];
  const add = (severity: HealthProblem["severity"], message: string) =>
    problems.push({ severity, message });
  // A standby waits for the slot another process streams: as attended as a ready one.
  const ready = connector.state === "ready" || connector.state === "standby";
  if (connector.state === "not_ready") add("degraded", `connector not ready: ${connector.detail}`);
  if (connector.state === "unreachable" || connector.state === "unauthorized") {
    add("degraded", `connector ${connector.state.replace("_", " ")}: ${connector.detail}`);
  }
  for (const stuck of connector.stuck ?? []) add("failing", stuck);
  for (const slot of slots) slotProblems(slot, ready, connector.state, thresholds, add);
  for (const [source, lag] of Object.entries(connector.lagSeconds)) {
    if (lag !== null && lag * MS_PER_SECOND > thresholds.maxLagMs) {
      add(
        "degraded",
        `source ${source} lags ${formatSeconds(lag)}, over ${
          formatSeconds(thresholds.maxLagMs / MS_PER_SECOND)
        }`,
      );
    }
  }
  const status: HealthStatus = problems.some((p) => p.severity === "failing")
    ? "failing"
    : problems.length > 0
    ? "degraded"
    : "healthy";
  return { status, exitCode: HEALTH_EXIT[status], problems, connector, slots, thresholds };
}

function slotProblems(
  slot: SlotCheck,
  connectorReady: boolean,
  connectorState: ConnectorCheck["state"],
  thresholds: HealthThresholds,
  add: (severity: HealthProblem["severity"], message: string) => void,
): void {
  const name = `slot ${slot.slot} of source ${slot.source}`;
  const unattended = connectorReady ? "degraded" : "failing";
  if (slot.state === "unreadable") {
    return add(unattended, `cannot read ${name} in PostgreSQL: ${slot.error}`);
  }
  if (slot.state === "missing") return add("failing", `${name} does not exist`);
  if (slot.walStatus !== null && LOSING_WAL.has(slot.walStatus)) {
    add("failing", `${name} has wal_status ${slot.walStatus}: WAL it needs is (being) removed`);
  }
  if (slot.retainedBytes !== null && slot.retainedBytes > thresholds.maxRetainedWalBytes) {
    add(
      "failing",
      `${name} retains ${formatBytes(slot.retainedBytes)} of WAL, over ${
        formatBytes(thresholds.maxRetainedWalBytes)
      }`,
    );
  }
  if (!slot.active) {
    const why = connectorReady
      ? "while the connector reports ready"
      : `and the connector is ${connectorState.replace("_", " ")}: nothing consumes it`;
    add(unattended, `${name} is inactive ${why}`);
  }
}

const BYTE_UNITS = ["B", "KiB", "MiB", "GiB", "TiB"];
const KIBI = 1024;

/** `1536` → `"1.5 KiB"`. */
export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= KIBI && unit < BYTE_UNITS.length - 1) {
    value /= KIBI;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${BYTE_UNITS[unit]}`;
}

function formatSeconds(seconds: number): string {
  return `${seconds.toFixed(1)} s`;
}

/** The one line printed without `--json`. */
export function healthLine(report: HealthReport): string {
  const label = { healthy: "OK", degraded: "DEGRADED", failing: "FAILING" }[report.status];
  if (report.problems.length > 0) {
    return `${label}: ${report.problems.map((p) => p.message).join("; ")}`;
  }
  const slots = report.slots.map((slot) =>
    `slot ${slot.slot} active, ${formatBytes(slot.retainedBytes ?? 0)} retained`
  );
  const connector = report.connector.state === "skipped"
    ? `connector not checked (${report.connector.detail})`
    : `connector ${report.connector.state === "standby" ? "standby" : "ready"}`;
  return `${label}: ${[connector, ...slots].join("; ")}`;
}

/** How to reach the connector's `/ready`. */
export interface ConnectorTarget {
  url: string | null;
  token: string | null;
  /** Why `url` is null. */
  skipReason?: string;
  timeoutMs: number;
}

/** Asks the connector's `/ready`, never throwing. */
export async function checkConnector(target: ConnectorTarget): Promise<ConnectorCheck> {
  const { url, token } = target;
  if (url === null) {
    return { state: "skipped", url, detail: target.skipReason ?? "no URL", lagSeconds: {} };
  }
  const headers: Record<string, string> = token === null
    ? {}
    : { authorization: `Bearer ${token}` };
  let response: Response;
  try {
    response = await fetch(new URL("/ready", url), {
      headers,
      signal: AbortSignal.timeout(target.timeoutMs),
    });
  } catch (error) {
    return { state: "unreachable", url, detail: fetchError(error, target), lagSeconds: {} };
  }
  const text = await response.text();
  if (response.status === 401) {
    return { state: "unauthorized", url, detail: "wrong or missing token", lagSeconds: {} };
  }
  const report = parseReadiness(text);
  if (report === null || (response.status !== 200 && response.status !== 503)) {
    const detail = `unexpected answer from /ready (HTTP ${response.status})`;
    return { state: "unreachable", url, detail, lagSeconds: {} };
  }
  const lagSeconds = Object.fromEntries(report.sources.map((s) => [s.name, s.lagSeconds]));
  if (report.ready) return { state: "ready", url, detail: "ready", lagSeconds };
  const notOk = report.checks.filter((check) => !check.ok);
  if (notOk.length > 0 && notOk.every((check) => check.detail.startsWith("standby"))) {
    return { state: "standby", url, detail: "standby: another process streams", lagSeconds };
  }
  const stuck = report.checks.filter((check) => check.check === "stuck").map((c) => c.detail);
  const failing = report.checks.filter((check) => !check.ok && check.check !== "stuck").map((
    check,
  ) =>
    check.source === undefined
      ? `${check.check} ${check.detail}`
      : `source ${check.source} ${check.detail}`
  );
  const detail = failing.length > 0 ? failing.join(", ") : "stuck";
  return { state: "not_ready", url, detail, lagSeconds, stuck };
}

/** What went wrong with a request: `fetch failed` alone says nothing, its cause does. */
function fetchError(error: unknown, target: ConnectorTarget): string {
  if (!(error instanceof Error)) return String(error);
  if (error.name === "TimeoutError") return `no answer within ${target.timeoutMs} ms`;
  return error.cause instanceof Error ? error.cause.message : error.message;
}

function parseReadiness(text: string): ReadinessReport | null {
  try {
    const body = JSON.parse(text);
    const valid = typeof body?.ready === "boolean" && Array.isArray(body.checks) &&
      Array.isArray(body.sources);
    return valid ? body : null;
  } catch {
    return null;
  }
}

/** Reads one source's slot, never throwing. */
export async function checkSlot(source: SourceConfig): Promise<SlotCheck> {
  const base = { source: source.name, slot: source.slot };
  const sql = openQueryConnection(connectionOf(source), "check");
  try {
    const state = await querySlot(sql, source.slot);
    if (state === null) {
      return {
        ...base,
        state: "missing",
        active: false,
        walStatus: null,
        retainedBytes: null,
        unconfirmedBytes: null,
        error: null,
      };
    }
    const retained = retainedWalBytes(state);
    const confirmed = state.confirmedFlushLsn;
    return {
      ...base,
      state: "present",
      active: state.active,
      walStatus: state.walStatus,
      retainedBytes: retained === null ? null : Number(retained),
      unconfirmedBytes: confirmed === null || confirmed > state.walEnd
        ? null
        : Number(state.walEnd - confirmed),
      error: null,
    };
  } catch (error) {
    return {
      ...base,
      state: "unreadable",
      active: false,
      walStatus: null,
      retainedBytes: null,
      unconfirmedBytes: null,
      error: error instanceof Error ? error.message : String(error),
    };
  } finally {
    await sql.end({ timeout: 1 }).catch(() => {});
  }
}

/** The command-line flags of `pg2kafka health`. */
export interface HealthFlags {
  url?: string;
  token?: string;
  maxRetainedWal?: string;
  maxLag?: string;
  json: boolean;
}

/** How long `/ready` may take to answer. */
const HTTP_TIMEOUT_MS = 5000;

/**
 * The connector's URL from the `[http]` config: a wildcard listen address is
 * reached on loopback; port 0 (chosen at start) cannot be guessed.
 */
export function connectorUrl(config: Config): { url: string | null; skipReason?: string } {
  const { enabled, listen } = config.http;
  if (!enabled) return { url: null, skipReason: "[http] enabled is false; pass --url" };
  if (listen.port === 0) return { url: null, skipReason: "[http] listen has port 0; pass --url" };
  const wildcard: Record<string, string> = { "0.0.0.0": "127.0.0.1", "::": "::1" };
  const host = wildcard[listen.hostname] ?? listen.hostname;
  return { url: `http://${host.includes(":") ? `[${host}]` : host}:${listen.port}` };
}

/** Reads the thresholds from the flags, else the `[health]` config. */
export function thresholdsOf(config: Config, flags: HealthFlags): HealthThresholds {
  return {
    maxRetainedWalBytes: flags.maxRetainedWal === undefined
      ? config.health.maxRetainedWalBytes
      : parseSize(flags.maxRetainedWal),
    maxLagMs: flags.maxLag === undefined ? config.health.maxLagMs : parseDuration(flags.maxLag),
  };
}

/**
 * Runs `pg2kafka health` on a loaded config: prints one line (or the JSON
 * report) to stdout and returns the exit code.
 */
export async function healthCommand(config: Config, flags: HealthFlags): Promise<number> {
  let thresholds: HealthThresholds;
  try {
    thresholds = thresholdsOf(config, flags);
  } catch (error) {
    console.error(`pg2kafka health: ${(error as Error).message}`);
    return HEALTH_EXIT.failing;
  }
  if (flags.url !== undefined && !isHttpUrl(flags.url)) {
    // Bad usage, not an unreachable connector: exit 2 like every usage error.
    console.error(
      `pg2kafka health: --url expects an http:// or https:// URL such as ` +
        `"http://127.0.0.1:9187", found "${flags.url}"`,
    );
    return HEALTH_EXIT.failing;
  }
  const fromConfig = connectorUrl(config);
  const url = flags.url ?? fromConfig.url;
  const [connector, slots] = await Promise.all([
    checkConnector({
      url,
      token: flags.token ?? config.http.token,
      skipReason: fromConfig.skipReason,
      timeoutMs: HTTP_TIMEOUT_MS,
    }),
    Promise.all(config.sources.map(checkSlot)),
  ]);
  const report = redactReport(assessHealth(connector, slots, thresholds), secretsOf(config));
  console.log(flags.json ? JSON.stringify(report) : healthLine(report));
  return report.exitCode;
}

/** The report with secrets removed from its texts (errors may quote what was sent). */
function redactReport(report: HealthReport, secrets: readonly string[]): HealthReport {
  const clean = (text: string) => redact(text, secrets);
  return {
    ...report,
    problems: report.problems.map((problem) => ({ ...problem, message: clean(problem.message) })),
    connector: { ...report.connector, detail: clean(report.connector.detail) },
    slots: report.slots.map((slot) => ({
      ...slot,
      slot: clean(slot.slot),
      error: slot.error && clean(slot.error),
    })),
  };
}
