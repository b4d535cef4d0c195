/**
 * The secret values of a config, so the logger can redact them: passwords,
 * tokens, SASL credentials and every value that came from `${VAR}`
 * interpolation.
 *
 * @module
 */
import type { Config } from "./types.ts";

/** Interpolated values of each config built by `parseConfig`, kept off the config itself. */
const interpolatedValues = new WeakMap<Config, readonly string[]>();

/** Records the interpolated values of a freshly built config. */
export function rememberInterpolated(config: Config, values: readonly string[]): void {
  interpolatedValues.set(config, values);
}

/**
 * Every secret in `config`, without empty strings or duplicates, longest
 * first (so that a redactor replacing them in order never leaves part of a
 * longer secret that contains a shorter one).
 *
 * Interpolated values are known for configs returned by `parseConfig` and
 * `loadConfig`; for a config built otherwise, only the credential fields
 * are returned.
 *
 * @example
 * ```ts
 * import { parseConfig, secretsOf } from "./mod.ts";
 *
 * const config = parseConfig(
 *   `[source]\ndatabase = "app"\nuser = "app"\npassword = "\${PW}"\ntables = ["*"]\n` +
 *     `[kafka]\nbrokers = ["127.0.0.1:9092"]\n[[targets]]\nname = "all"\ntables = ["*.*"]\n`,
 *   { origin: "inline", env: { PW: "hunter2" } },
 * );
 * secretsOf(config); // ["hunter2"]
 * ```
 */
export function secretsOf(config: Config): string[] {
  const credentials = [
    ...config.sources.map(({ password }) => password),
    config.kafka.sasl?.username,
    config.kafka.sasl?.password,
    config.http.token,
  ];
  const all = [...credentials, ...(interpolatedValues.get(config) ?? [])];
  const secrets = new Set(all.filter((value): value is string => Boolean(value)));
  return [...secrets].sort((a, b) => b.length - a.length);
}
