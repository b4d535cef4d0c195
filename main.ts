/**
 * The pg2kafka command line: `run`, `check`, `health`, `version`.
 *
 * Exit codes: 0 success; 1 the pipeline failed at run time; 2 bad usage or
 * an invalid config; 3 a system the config names could not be reached;
 * 4 (`check --connect`) a system answered but cannot serve the config;
 * 130 a second interrupt during shutdown.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { ConfigError, loadConfig, secretsOf } from "./src/config/mod.ts";
import type { Config } from "./src/config/mod.ts";
import { Pipeline } from "./src/app.ts";
import { runCheck } from "./src/cli/check.ts";
import { healthCommand, type HealthFlags } from "./src/ops/health.ts";
import { configureLogging, logger } from "./src/ops/log.ts";
import { VERSION } from "./src/version.ts";

/** Process exit codes of every command. */
export const EXIT = {
  ok: 0,
  failed: 1,
  usage: 2,
  unreachable: 3,
  unusable: 4,
  interrupted: 130,
} as const;

const USAGE = `pg2kafka ${VERSION}: stream PostgreSQL changes into Apache Kafka

Usage:
  pg2kafka run --config FILE      stream changes until SIGINT/SIGTERM
  pg2kafka check --config FILE [--connect]
                                  validate the config; with --connect also check,
                                  read-only, that PostgreSQL (wal_level, REPLICATION,
                                  slot, publication, tables and keys) and Kafka
                                  (brokers, topics) can serve it
  pg2kafka health --config FILE   check the running connector and its slots (for cron)
  pg2kafka version                print the version
  pg2kafka help                   print this help

Options:
  -c, --config FILE   the TOML config (default: pg2kafka.toml)
  -h, --help          print help
  -V, --version       print the version

Exit codes: 0 ok, 1 failed at run time, 2 bad usage or invalid config,
3 unreachable system, 4 reachable but not usable (check --connect), 130 interrupted
twice during shutdown.

health options (thresholds default to the [health] config):
  --url URL                  the connector's HTTP address (default: from [http] listen)
  --token TOKEN              bearer token for /ready (default: [http] token, which can
                             come from the environment and stays out of the process list)
  --max-retained-wal SIZE    a slot retaining more WAL is failing, e.g. "1GiB"
  --max-lag DURATION         a source lagging more is degraded, e.g. "5m"
  --json                     print the full report as JSON instead of one line
health exit codes: 0 healthy; 1 degraded: connector not ready or unreachable while
its slots are active, a slot inactive or unreadable while the connector is ready, or
lag over --max-lag; 2 failing: a slot missing, losing WAL, retaining more than
--max-retained-wal, or inactive (or unreadable) while the connector is not ready,
or the check itself could not run (bad flags or config).
`;

const CLI_OPTIONS = {
  config: { type: "string", short: "c", default: "pg2kafka.toml" },
  help: { type: "boolean", short: "h", default: false },
  version: { type: "boolean", short: "V", default: false },
  url: { type: "string" },
  token: { type: "string" },
  "max-retained-wal": { type: "string" },
  "max-lag": { type: "string" },
  json: { type: "boolean", default: false },
  connect: { type: "boolean", default: false },
} as const;

/** Runs the command line `args` and returns the exit code. */
export async function main(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args, options: CLI_OPTIONS, allowPositionals: true, strict: true });
  } catch (error) {
    console.error(`pg2kafka: ${(error as Error).message}\n\n${USAGE}`);
    return EXIT.usage;
  }
  const { values, positionals } = parsed;
  const command = values.version ? "version" : values.help ? "help" : positionals[0] ?? "help";
  switch (command) {
    case "version":
      console.log(`pg2kafka ${VERSION}`);
      return EXIT.ok;
    case "help":
      console.log(USAGE);
      return EXIT.ok;
    case "check":
      return await runCheck(values.config, { connect: values.connect });
    case "run":
      return await run(values.config);
    case "health":
      return await health(values.config, {
        url: values.url,
        token: values.token,
        maxRetainedWal: values["max-retained-wal"],
        maxLag: values["max-lag"],
        json: values.json,
      });
    default:
      console.error(`pg2kafka: unknown command "${command}"\n\n${USAGE}`);
      return EXIT.usage;
  }
}

async function readConfig(path: string): Promise<Config | null> {
  try {
    return await loadConfig(path);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(error.message);
    return null;
  }
}

async function health(path: string, flags: HealthFlags): Promise<number> {
  const config = await readConfig(path);
  if (config === null) return EXIT.usage;
  return await healthCommand(config, flags);
}

async function run(path: string): Promise<number> {
  const config = await readConfig(path);
  if (config === null) return EXIT.usage;
  configureLogging({ ...config.log, secrets: secretsOf(config) });
  const log = logger("main");
  const pipeline = new Pipeline(config);
  const stopped = Promise.withResolvers<number>();
  let stopping = false;
  const onSignal = (signal: Deno.Signal) => {
    if (stopping) {
      log.warn("Second {signal}: exiting at once, acknowledging nothing more", { signal });
      Deno.exit(EXIT.interrupted);
    }
    stopping = true;
    log.info("{signal} received: draining in-flight messages, then stopping", { signal });
    pipeline.stop().then(() => stopped.resolve(EXIT.ok), (error) => {
      log.error("Shutdown failed: {error}", { error: String(error) });
      stopped.resolve(EXIT.failed);
    });
  };
  const signals: Deno.Signal[] = ["SIGINT", "SIGTERM"];
  const handlers = signals.map((signal) => {
    const handler = () => onSignal(signal);
    Deno.addSignalListener(signal, handler);
    return [signal, handler] as const;
  });
  await pipeline.start();
  pipeline.sink.onFailure((error) => {
    log.fatal("Stopping: {error}. The slot keeps every unacknowledged change.", {
      error: error.message,
    });
    stopped.resolve(EXIT.failed);
  });
  const code = await stopped.promise;
  for (const [signal, handler] of handlers) Deno.removeSignalListener(signal, handler);
  return code;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
