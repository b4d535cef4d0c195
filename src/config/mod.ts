/**
 * The pg2kafka config: a TOML file validated with zod into a typed
 * {@linkcode Config}, with `${VAR}` interpolation for secrets, units for
 * durations and sizes, and every problem reported at once in a
 * {@linkcode ConfigError}.
 *
 * @example
 * ```ts ignore
 * import { ConfigError, loadConfig, secretsOf } from "./config/mod.ts";
 *
 * try {
 *   const config = await loadConfig("pg2kafka.toml");
 *   const redact = secretsOf(config);
 * } catch (error) {
 *   if (error instanceof ConfigError) console.error(error.message);
 * }
 * ```
 *
 * @module
 */
export { loadConfig, parseConfig } from "./load.ts";
export type { Env, ParseConfigOptions } from "./load.ts";
export { ConfigError } from "./issues.ts";
export type { ConfigIssue } from "./issues.ts";
export { secretsOf } from "./secrets.ts";
export { compileColumnMatcher } from "./column_rules.ts";
export { parseDuration, parseSize } from "./units.ts";
export { topicWarnings } from "./topic_rules.ts";
export type {
  BackoffConfig,
  ColumnAction,
  ColumnRule,
  Config,
  HttpConfig,
  KafkaConfig,
  LimitsConfig,
  LogConfig,
  SaslConfig,
  SchemaChangesConfig,
  SourceConfig,
  TableName,
  TargetConfig,
} from "./types.ts";
