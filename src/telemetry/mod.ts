/**
 * Logging and metrics: the ground floor every other folder may use, and
 * which uses none of them.
 *
 * @example
 * ```ts ignore
 * import { logger, Metrics } from "./telemetry/mod.ts";
 * ```
 *
 * @module
 */
export { configureLogging, logger, redact, REDACTED } from "./log.ts";
export type { LogFormat, LoggingOptions } from "./log.ts";
export { agedLagSeconds, CIRCUIT_STATE_VALUE, Metrics } from "./metrics.ts";
export type { ChangeOutcome, Reported } from "./metrics.ts";
