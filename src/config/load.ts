/**
 * Reading a config: file → TOML → `${VAR}` interpolation → schema and
 * cross-entry checks → typed {@linkcode Config}, or one {@linkcode ConfigError}
 * listing every problem.
 *
 * @module
 */
import { dirname, resolve } from "node:path";
import { parse, TomlError } from "smol-toml";
import { checkDocument } from "./checks.ts";
import { checkColumnRules } from "./column_rules.ts";
import { envLookup, interpolateTree } from "./env.ts";
import { compileTargetFilters } from "./filters.ts";
import { ConfigError, IssueCollector, sortIssues } from "./issues.ts";
import { resolveConfig } from "./resolve.ts";
import { rememberInterpolated } from "./secrets.ts";
import type { Config } from "./types.ts";
import { validateDocument } from "./validate.ts";

/** Environment variables for `${VAR}` interpolation. */
export type Env = Record<string, string | undefined>;

/** Options of {@linkcode parseConfig}. */
export interface ParseConfigOptions {
  /** Where the text came from (a file name), shown in error messages. */
  origin: string;
  /** Variables for `${VAR}` interpolation; the process environment when omitted. */
  env?: Env;
  /** Directory that relative file paths resolve against; the working directory by default. */
  baseDir?: string;
}

/**
 * Parses and validates config text.
 *
 * @example
 * ```ts
 * import { parseConfig } from "./load.ts";
 *
 * const config = parseConfig(
 *   `[source]\ndatabase = "app"\nuser = "app"\ntables = ["public.orders"]\n` +
 *     `[kafka]\nbrokers = ["127.0.0.1:9092"]\n` +
 *     `[[targets]]\nname = "orders"\ntables = ["public.orders"]\n`,
 *   { origin: "inline", env: {} },
 * );
 * config.sources[0].statusIntervalMs; // 10000
 * config.targets[0].matchesTable("public", "orders"); // true
 * ```
 *
 * @throws {ConfigError} listing every problem, each with its path.
 */
export function parseConfig(text: string, options: ParseConfigOptions): Config {
  const document = parseToml(text, options.origin);
  const interpolation = interpolateTree(document, envLookup(options.env));
  const collector = new IssueCollector(interpolation.interpolated);
  const validated = validateDocument(interpolation.value, collector);
  checkDocument(interpolation.value, collector, options.baseDir ?? Deno.cwd());
  const filters = compileTargetFilters(interpolation.value, collector);
  validated?.targets?.forEach((target, index) => checkColumnRules(target, index, collector));
  // A value whose variable is missing was replaced by "": report the variable, not the "".
  const unresolved = new Set(interpolation.issues.map(({ path }) => path));
  const issues = [
    ...interpolation.issues,
    ...collector.issues.filter(({ path }) => !unresolved.has(path)),
  ];
  if (issues.length > 0 || validated === undefined) {
    throw new ConfigError(options.origin, sortIssues(issues));
  }
  const config = resolveConfig(validated, filters, options.baseDir ?? Deno.cwd());
  rememberInterpolated(config, interpolation.secrets);
  return config;
}

/**
 * Reads, parses and validates a config file. Relative file paths in it
 * (CA certificates) resolve against the file's directory.
 *
 * @example
 * ```ts ignore
 * import { loadConfig } from "./load.ts";
 *
 * const config = await loadConfig("pg2kafka.toml");
 * ```
 *
 * @param env variables for `${VAR}` interpolation; the process environment when omitted.
 * @throws {ConfigError} when the file cannot be read or the config is invalid.
 */
export async function loadConfig(path: string, env?: Env): Promise<Config> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new ConfigError(path, [{ path: "", message: `cannot read the file: ${reason}` }]);
  }
  return parseConfig(text, { origin: path, env, baseDir: dirname(resolve(path)) });
}

function parseToml(text: string, origin: string): unknown {
  try {
    return parse(text);
  } catch (error) {
    if (!(error instanceof TomlError)) throw error;
    // The first line only: the rest is a code excerpt that could show a plain-text secret.
    const reason = error.message.split("\n")[0].replace(/^Invalid TOML document: /, "");
    const message = `invalid TOML at line ${error.line}, column ${error.column}: ${reason}`;
    throw new ConfigError(origin, [{ path: "", message }]);
  }
}
