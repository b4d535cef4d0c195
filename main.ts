/**
 * The pg2kafka command line: `run`, `check`, `health`, `version`.
 *
 * Exit codes: 0 success; 1 the pipeline failed at run time; 2 bad usage or
 * an invalid config; 3 a system the config names could not be reached;
 * 4 (`check --connect`) a system answered but cannot serve the config;
 * 5 (`run`) every source stopped because the slot it streamed from is lost;
 * 130 a second interrupt during shutdown.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { ConfigError, loadConfig, secretsOf } from "./src/config/mod.ts";
import type { Config } from "./src/config/mod.ts";
import { Connector } from "./src/connector.ts";
import { runCheck } from "./src/cli/check.ts";
import { healthCommand, type HealthFlags } from "./src/cli/health.ts";
import { configureLogging, logger } from "./src/telemetry/log.ts";
import { VERSION } from "./src/version.ts";

/** Process exit codes of every command. */
export const EXIT = {
  ok: 0,
  failed: 1,
  usage: 2,
  unreachable: 3,
  unusable: 4,
  slotLost: 5,
  interrupted: 130,
} as const;

/** `pg2kafka --help`: the commands and the options every command takes. */
export const USAGE = `pg2kafka ${VERSION}: stream PostgreSQL changes into Apache Kafka

Usage:
  pg2kafka run --config FILE              stream changes until SIGINT/SIGTERM
  pg2kafka check --config FILE [--connect]
                                          validate the config; with --connect also check
                                          that PostgreSQL and Kafka can serve it
  pg2kafka health --config FILE [options] check the running connector and its slots (for cron)
  pg2kafka version                        print the version
  pg2kafka help [COMMAND]                 print this help, or a command's

Options of every command:
  -c, --config FILE   the TOML config (default: pg2kafka.toml)
  -h, --help          print help (pg2kafka COMMAND --help: that command's options)
  -V, --version       print the version

Exit codes: 0 ok; 1 failed at run time (health: degraded); 2 bad usage or invalid config
(health: failing); 3 a system the config names is unreachable (check --connect); 4 reachable
but cannot serve the config (check --connect); 5 every source's slot is lost (run); 130 a
second signal during shutdown (run).

Documentation: docs/operations.md (running and monitoring), docs/configuration.md (every option).
`;

/** `pg2kafka run --help`. */
export const RUN_HELP =
  `pg2kafka run: stream changes from PostgreSQL into Kafka until SIGINT or SIGTERM

Usage: pg2kafka run [--config FILE]

Options:
  -c, --config FILE   the TOML config (default: pg2kafka.toml); secrets come from the
                      environment through \${VAR} in it
  -h, --help          print this help

Each source creates its publication and slot when the config allows it, snapshots a new
slot's tables (snapshot = "initial"), then streams. Logs go to stderr; /health, /ready and
/metrics are served on [http] listen.

On SIGINT or SIGTERM pg2kafka stops reading, drains in-flight messages for up to
[shutdown] grace_period, confirms the final position to PostgreSQL and exits 0. If Kafka
has not acked everything by then, it confirms only what was acked and exits 1. A second
signal exits at once without confirming anything more.

A slot the source streamed from that vanished (dropped, or its WAL removed) is never
replaced silently: under snapshot = "when_needed" it is recreated with a snapshot, otherwise
the source stops with an error saying what to do (docs/operations.md, "A vanished slot").
While another process holds the slot, the source waits as a standby and takes over when
the slot is free.

Exit codes: 0 stopped by a signal; 1 failed at run time (the dead-letter topic refused a
message, a bug, or the grace period ended with messages unacknowledged); 2 invalid config;
5 every source stopped because the slot it streamed from is lost; 130 a second signal during
shutdown.
`;

/** `pg2kafka check --help`. */
export const CHECK_HELP =
  `pg2kafka check: validate a config, and with --connect the systems it names

Usage: pg2kafka check [--config FILE] [--connect]

Options:
  -c, --config FILE   the TOML config (default: pg2kafka.toml)
  --connect           also check, read-only, each source's PostgreSQL (wal_level, the
                      REPLICATION attribute, a replication connection, the slot, the
                      publication, the tables and their keys) and Kafka (brokers, message
                      size, topics); nothing is created
  -h, --help          print this help

Prints one line per check: "ok", "warn", "skip" or "FAIL", what was checked, and why.

Exit codes: 0 every check passed (warnings allowed); 2 the config is invalid (every problem
is printed with its path); 3 a system could not be reached; 4 every system answered but one
cannot serve the config.
`;

/** `pg2kafka health --help`. */
export const HEALTH_HELP =
  `pg2kafka health: one verdict on a running connector and its slots, for cron and probes

Usage: pg2kafka health [--config FILE] [--url URL] [--token TOKEN]
                       [--max-retained-wal SIZE] [--max-lag DURATION] [--json]

Asks the connector's /ready over HTTP and, independently, reads each source's slot in
pg_replication_slots with that source's credentials, so it still alerts when the
connector is dead.

Options:
  -c, --config FILE          the connector's TOML config (default: pg2kafka.toml)
  --url URL                  the connector's HTTP address (default: from [http] listen)
  --token TOKEN              bearer token for /ready (default: [http] token, which can come
                             from the environment and stays out of the process list)
  --max-retained-wal SIZE    a slot retaining more WAL is failing, e.g. "1GiB"
                             (default: [health] max_retained_wal)
  --max-lag DURATION         a source lagging more is degraded, e.g. "5m"
                             (default: [health] max_lag)
  --json                     print the full report as JSON instead of one line
  -h, --help                 print this help

Prints one line: "OK: …", "DEGRADED: …" or "FAILING: …".

Exit codes: 0 healthy; 1 degraded: connector not ready or unreachable while its slots are
active, a slot inactive or unreadable while the connector is ready, or lag over --max-lag;
2 failing: the connector stuck (messages in flight and none settled for [limits]
stuck_after), a slot missing, losing WAL, retaining more than --max-retained-wal, or inactive
(or unreadable) while the connector is not ready, or the check itself could not run (bad
flags or config).
`;

/** `pg2kafka version --help`. */
export const VERSION_HELP = `pg2kafka version: print the version

Usage: pg2kafka version    (or pg2kafka --version, pg2kafka -V)

Prints "pg2kafka ${VERSION}". The same version is in the pg2kafka_build_info metric, the
Kafka client id ("<client_id>/${VERSION}") and PostgreSQL's application_name
("pg2kafka/${VERSION}").

Exit codes: 0.
`;

/** Each command's help, for `pg2kafka COMMAND --help` and `pg2kafka help COMMAND`. */
export const COMMAND_HELP: Readonly<Record<string, string>> = {
  run: RUN_HELP,
  check: CHECK_HELP,
  health: HEALTH_HELP,
  version: VERSION_HELP,
  help: USAGE,
};

/** Every option the command line accepts (`parseArgs` options). */
export const CLI_OPTIONS = {
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

/** The options each command takes besides --help and --version. */
const COMMAND_OPTIONS: Readonly<Record<string, readonly string[]>> = {
  run: ["config"],
  check: ["config", "connect"],
  health: ["config", "url", "token", "max-retained-wal", "max-lag", "json"],
  version: [],
  help: [],
};

/**
 * Why `args` misuse `command`, or null: an option another command takes, or
 * words after the command, are refused rather than silently ignored.
 */
export function usageProblem(
  command: string,
  given: readonly string[],
  positionals: readonly string[],
): string | null {
  const allowed = COMMAND_OPTIONS[command];
  if (allowed === undefined) return null; // unknown commands are reported on their own
  for (const option of given) {
    if (option === "help" || option === "version" || allowed.includes(option)) continue;
    const owners = Object.keys(COMMAND_OPTIONS).filter((c) => COMMAND_OPTIONS[c].includes(option));
    return `option --${option} does not apply to "${command}" (it is an option of ${
      owners.join(", ")
    })`;
  }
  const extra = positionals.slice(command === "help" ? 2 : 1);
  return extra.length > 0 ? `unexpected argument "${extra[0]}" after "${command}"` : null;
}

/** Runs the command line `args` and returns the exit code. */
export async function main(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: CLI_OPTIONS,
      allowPositionals: true,
      strict: true,
      tokens: true,
    });
  } catch (error) {
    console.error(`pg2kafka: ${(error as Error).message}\n\n${USAGE}`);
    return EXIT.usage;
  }
  const { values, positionals, tokens } = parsed;
  if (values.help) return help(positionals[0]);
  const command = values.version ? "version" : positionals[0] ?? "help";
  const given = tokens.flatMap((token) => token.kind === "option" ? [token.name] : []);
  const problem = usageProblem(command, given, values.version ? [] : positionals);
  if (problem !== null) {
    console.error(`pg2kafka: ${problem}\n\n${COMMAND_HELP[command] ?? USAGE}`);
    return EXIT.usage;
  }
  switch (command) {
    case "version":
      console.log(`pg2kafka ${VERSION}`);
      return EXIT.ok;
    case "help":
      return help(positionals[1]);
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

/** Prints the help of `command`, or the general help when it names none. */
function help(command: string | undefined): number {
  if (command === undefined) {
    console.log(USAGE);
    return EXIT.ok;
  }
  const text = COMMAND_HELP[command];
  if (text === undefined) {
    console.error(`pg2kafka: unknown command "${command}"\n\n${USAGE}`);
    return EXIT.usage;
  }
  console.log(text);
  return EXIT.ok;
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
  const connector = new Connector(config);
  const stopped = Promise.withResolvers<number>();
  let stopping = false;
  const onSignal = (signal: Deno.Signal) => {
    if (stopping) {
      log.warn("Second {signal}: exiting at once, acknowledging nothing more", { signal });
      Deno.exit(EXIT.interrupted);
    }
    stopping = true;
    log.info("{signal} received: draining in-flight messages, then stopping", { signal });
    connector.stop().then((drained) => {
      if (drained) return stopped.resolve(EXIT.ok);
      log.error("Stopped with messages unacknowledged; the slot keeps them for the next start");
      stopped.resolve(EXIT.failed);
    }, (error) => {
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
  try {
    await connector.start();
  } catch (error) {
    // A broker without a protocol version pg2kafka needs, an HTTP address in use: say what, exit.
    log.fatal("Could not start: {error}", { error: (error as Error).message });
    return EXIT.failed;
  }
  connector.onFailure((error) => {
    log.fatal("Stopping: {error}. The slot keeps every unacknowledged change.", {
      error: error.message,
    });
    stopped.resolve(EXIT.failed);
  });
  connector.onAllSourcesFailed(() => {
    log.fatal("Every source stopped because its slot is lost; exiting with code {code}", {
      code: EXIT.slotLost,
    });
    connector.stop().finally(() => stopped.resolve(EXIT.slotLost));
  });
  const code = await stopped.promise;
  for (const [signal, handler] of handlers) Deno.removeSignalListener(signal, handler);
  return code;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
