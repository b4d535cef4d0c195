/**
 * `pg2kafka check --config FILE [--connect]`: validates the config and, with
 * `--connect`, checks read-only that every source's PostgreSQL and the Kafka
 * cluster can serve it. One human-readable line per check:
 *
 * ```text
 * ok   config: pg2kafka.toml is valid (1 source(s), 2 target(s))
 * ok   postgres main: wal_level is logical
 * FAIL postgres main: slot "pg2kafka" does not exist and create_slot = false: …
 * warn postgres main: table public.events has no primary key or replica identity: …
 * ok   kafka: topic pg2kafka.public.orders (all_changes) does not exist yet; pg2kafka will create it
 * ```
 *
 * Exit codes ({@linkcode CHECK_EXIT}): 0 every check passed (warnings
 * allowed); 2 the config is invalid; 3 a system could not be reached (its
 * checks could not run, so this wins over 4); 4 every system answered but
 * one cannot serve the config (wal_level, privileges, slot, publication,
 * tables, topics).
 *
 * @module
 */
import { ConfigError, loadConfig, secretsOf, topicWarnings } from "../config/mod.ts";
import type { Config, SourceConfig } from "../config/mod.ts";
import { redact } from "../telemetry/log.ts";
import type { CheckLine, CheckStatus } from "./check_line.ts";
import { gatherKafkaFacts, judgeKafka, planTopics } from "./check_kafka.ts";
import { connectionOf, planConnections } from "../source/mod.ts";
import {
  gatherPostgresFacts,
  judgeConnections,
  judgePostgres,
  type PostgresFacts,
} from "./check_postgres.ts";
import { gatherSchemaFacts, judgeSchema } from "./check_schema.ts";

/** Exit codes of `pg2kafka check`. */
export const CHECK_EXIT = { ok: 0, invalid: 2, unreachable: 3, unusable: 4 } as const;

export type { CheckLine, CheckStatus } from "./check_line.ts";

/** Options of {@linkcode runCheck}. */
export interface CheckOptions {
  /** Also check PostgreSQL and Kafka. */
  readonly connect: boolean;
  /** Where check lines go; `console.log` by default. */
  readonly print?: (line: string) => void;
  /** Where the config's errors go; `console.error` by default. */
  readonly printError?: (text: string) => void;
}

const LABEL: Readonly<Record<CheckStatus, string>> = {
  ok: "ok",
  warn: "warn",
  skip: "skip",
  fail: "FAIL",
  unreachable: "FAIL",
};
const LABEL_WIDTH = 5;

/**
 * Formats a line: status label, subject, text.
 *
 * @example
 * ```ts
 * formatCheckLine({ status: "fail", subject: "kafka", text: "no broker answered" });
 * // "FAIL kafka: no broker answered"
 * ```
 */
export function formatCheckLine(line: CheckLine): string {
  return `${LABEL[line.status].padEnd(LABEL_WIDTH)}${line.subject}: ${line.text}`;
}

/**
 * The exit code for a run's lines: unreachable before unusable, since an
 * unreachable system's own checks never ran.
 */
export function checkExitCode(lines: readonly CheckLine[]): number {
  if (lines.some((line) => line.status === "unreachable")) return CHECK_EXIT.unreachable;
  if (lines.some((line) => line.status === "fail")) return CHECK_EXIT.unusable;
  return CHECK_EXIT.ok;
}

/** Runs `pg2kafka check` on the config at `path` and returns the exit code. */
export async function runCheck(path: string, options: CheckOptions): Promise<number> {
  const print = options.print ?? console.log;
  let config: Config;
  try {
    config = await loadConfig(path);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    (options.printError ?? console.error)(error.message);
    return CHECK_EXIT.invalid;
  }
  const counts = `${config.sources.length} source(s), ${config.targets.length} target(s)`;
  print(formatCheckLine({ status: "ok", subject: "config", text: `${path} is valid (${counts})` }));
  for (const text of topicWarnings(config)) {
    print(formatCheckLine({ status: "warn", subject: "config", text }));
  }
  if (!options.connect) return CHECK_EXIT.ok;
  const secrets = secretsOf(config);
  const lines: CheckLine[] = [];
  const report = (line: CheckLine) => {
    lines.push(line);
    print(redact(formatCheckLine(line), secrets));
  };
  /** The facts of one reachable source per server (`host:port`). */
  const servers = new Map<string, PostgresFacts>();
  for (const source of config.sources) {
    const facts = await gatherPostgresFacts(source);
    (await checkSource(source, config, facts)).forEach(report);
    if (!("status" in facts)) servers.set(`${source.host}:${source.port}`, facts);
  }
  const plans = planConnections(
    config.sources.map(connectionOf),
    config.limits.maxQueryConnections,
  );
  for (const plan of plans) {
    const facts = servers.get(plan.server);
    if (facts !== undefined) report(judgeConnections(plan, facts));
  }
  (await checkKafka(config)).forEach(report);
  return checkExitCode(lines);
}

async function checkSource(
  source: SourceConfig,
  config: Config,
  facts: Awaited<ReturnType<typeof gatherPostgresFacts>>,
): Promise<CheckLine[]> {
  if (!("status" in facts)) {
    return [...judgePostgres(source, facts), ...await checkSchema(source, config)];
  }
  const where = `${source.host}:${source.port}/${source.database}`;
  const text = facts.status === "unreachable"
    ? `cannot reach ${where}: ${facts.error}`
    : `${where} refused the connection: ${facts.error}`;
  return [{ status: facts.status, subject: `postgres ${source.name}`, text }];
}

/** Column rules and schema-change triggers against the source's tables and event triggers. */
async function checkSchema(source: SourceConfig, config: Config): Promise<CheckLine[]> {
  try {
    return judgeSchema(source, config.targets, await gatherSchemaFacts(source));
  } catch (error) {
    const text = `cannot read the tables' columns: ${
      error instanceof Error ? error.message : String(error)
    }`;
    return [{ status: "fail", subject: `postgres ${source.name}`, text }];
  }
}

async function checkKafka(config: Config): Promise<CheckLine[]> {
  const plan = planTopics(config);
  const facts = await gatherKafkaFacts(config, plan);
  if (!("status" in facts)) return judgeKafka(config, plan, facts);
  const brokers = config.kafka.brokers.join(", ");
  const text = facts.status === "unreachable"
    ? `cannot reach ${brokers}: ${facts.error}`
    : `${brokers} refused the connection: ${facts.error}`;
  return [{ status: facts.status, subject: "kafka", text }];
}
