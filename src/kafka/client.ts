/**
 * The kafkajs client built from the `[kafka]` config, with kafkajs' own log
 * lines routed into pg2kafka's structured logs.
 *
 * @module
 */
import process from "node:process";
import {
  Kafka,
  type KafkaConfig as KafkaJsConfig,
  logLevel,
  type RetryOptions,
  type SASLOptions,
} from "kafkajs";
import type { KafkaConfig } from "../config/mod.ts";
import { logger } from "../telemetry/log.ts";
import { VERSION } from "../version.ts";
import { installEncoderPatch, isEncoderPatched } from "./kafkajs_encoder.ts";
import { type PatchProof, provePatches } from "./kafkajs_proof.ts";
import { installRecordPatch } from "./kafkajs_record.ts";
import { installCrc32cPatch } from "./crc32c.ts";

const log = logger("kafkajs");

/** kafkajs log levels mapped to LogTape's. */
const LEVELS = {
  [logLevel.ERROR]: "warning",
  [logLevel.WARN]: "warning",
  [logLevel.INFO]: "debug",
  [logLevel.DEBUG]: "debug",
  [logLevel.NOTHING]: "debug",
} as const;

function sasl(config: KafkaConfig): SASLOptions | undefined {
  if (config.sasl === null) return undefined;
  const { mechanism, username, password } = config.sasl;
  return { mechanism, username, password } as SASLOptions;
}

function tls(config: KafkaConfig): KafkaJsConfig["ssl"] {
  if (!config.tls.enabled) return false;
  return {
    rejectUnauthorized: config.tls.rejectUnauthorized,
    ca: config.tls.caFile ? [Deno.readTextFileSync(config.tls.caFile)] : undefined,
  };
}

/**
 * kafkajs messages that are expected here and only noise at warning level:
 * pg2kafka limits kafkajs' own retries on purpose (its sink retries without
 * a time limit behind a circuit breaker, resending in order).
 */
const EXPECTED_WARNINGS = new Set([
  "Limiting retries for the idempotent producer may invalidate EoS guarantees",
]);

/**
 * kafkajs logs every failed connection attempt, several a second while a
 * broker is down. The sink and the Kafka probe already report the outage
 * once per retry with its context, so these go to debug.
 */
const CONNECTION_NOISE = /^(Connection error|Failed to connect to seed broker|Connection timeout)/;

let encoderInstalled = false;

/**
 * Installs the in-place kafkajs encoder, record encoder and CRC-32C once per
 * process (see kafkajs_encoder.ts, kafkajs_record.ts and crc32c.ts). They
 * only make producing cheaper: what cannot be replaced, kafkajs's own serves.
 */
function installFasterEncoder(): void {
  if (encoderInstalled) return;
  installEncoderPatch();
  try {
    installRecordPatch();
    installCrc32cPatch();
  } catch (error) {
    log.warn("Kept kafkajs's own record encoding: {error}", { error: String(error) });
  }
  encoderInstalled = true;
}

let proof: Promise<PatchProof> | null = null;

/**
 * Installs the faster encoder if not yet done, then proves once per process
 * which encoder serves kafkajs's produce requests (see kafkajs_proof.ts) and
 * logs it: `pg2kafka` when every patch is active, else `kafkajs` and which
 * patch is not.
 */
export function proveEncoder(): Promise<PatchProof> {
  installFasterEncoder();
  proof ??= provePatches(isEncoderPatched).then((result) => {
    if (result.encoder === "pg2kafka") {
      log.info("kafkajs produce requests use pg2kafka's encoder (record, CRC-32C): proven active");
    } else {
      log.warn("kafkajs's own encoder serves produce requests; not active: {inactive}", {
        inactive: result.inactive.join(", "),
      });
    }
    return result;
  });
  return proof;
}

/**
 * kafkajs 2.2.4 schedules a timer with a negative delay when it is not
 * throttled (`throttledUntil` starts at -1); Node treats it as 1 ms and
 * warns each time. This drops that warning and hands any other process
 * warning to `report` (the log by default). Scripts using kafkajs call it too.
 */
export function routeProcessWarnings(
  report: (warning: Error) => void = (warning) =>
    log.warn("{name}: {message}", { name: warning.name, message: warning.message }),
): void {
  process.removeAllListeners("warning");
  process.on("warning", (warning: Error) => {
    if (warning.name !== "TimeoutNegativeWarning") report(warning);
  });
}

/**
 * Creates the kafkajs client; its client id carries the pg2kafka version.
 * `retry` replaces kafkajs' default retries of connections and requests
 * (`pg2kafka check` gives up on a dead broker quickly).
 */
export function createKafka(config: KafkaConfig, retry?: RetryOptions): Kafka {
  routeProcessWarnings();
  installFasterEncoder();
  return new Kafka({
    clientId: `${config.clientId}/${VERSION}`,
    brokers: [...config.brokers],
    ssl: tls(config),
    sasl: sasl(config),
    requestTimeout: config.requestTimeoutMs,
    connectionTimeout: config.requestTimeoutMs,
    retry,
    logLevel: logLevel.WARN,
    logCreator: () => ({ level, log: entry }) => {
      const { message, ...context } = entry;
      const target = EXPECTED_WARNINGS.has(message) || CONNECTION_NOISE.test(message)
        ? "debug"
        : LEVELS[level];
      log[target]("{message}", { message, ...context });
    },
  });
}
