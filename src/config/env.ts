/**
 * `${VAR}` interpolation of environment variables into config strings, so
 * that secrets live in the environment rather than in the file.
 *
 * `$${` writes a literal `${`. A missing variable is an error; so is an
 * unterminated `${` or an invalid variable name.
 *
 * @module
 */
import { type ConfigIssue, formatPath, type PathSegment } from "./issues.ts";

/** Looks up an environment variable; `undefined` when it is not set. */
export type EnvLookup = (name: string) => string | undefined;

/** The result of interpolating a whole parsed TOML document. */
export interface InterpolationResult {
  /** The document with every string interpolated (missing variables become ""). */
  value: unknown;
  /** Path → names of the variables used, for every string that used at least one. */
  interpolated: Map<string, string[]>;
  /** Every non-empty interpolated value and variable value (secrets to redact). */
  secrets: string[];
  /** Missing variables and syntax errors, by path. */
  issues: ConfigIssue[];
}

/** The result of interpolating one string. */
export interface StringInterpolation {
  /** The text with variables replaced. */
  text: string;
  /** Names of the variables that were used, in order of appearance. */
  variables: string[];
  /** Why the text could not be interpolated, if it could not. */
  problem?: string;
}

const VARIABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const OPENING = "${";
const ESCAPED_OPENING = "$${";

/**
 * Interpolates `${VAR}` references in one string.
 *
 * @example
 * ```ts
 * import { interpolateString } from "./env.ts";
 *
 * const env: Record<string, string> = { USER: "app" };
 * interpolateString("postgres://${USER}@db", (name) => env[name]).text; // "postgres://app@db"
 * interpolateString("cost: $${price}", () => undefined).text; // "cost: ${price}"
 * ```
 */
export function interpolateString(text: string, lookup: EnvLookup): StringInterpolation {
  if (!text.includes(OPENING)) return { text, variables: [] };
  let result = "";
  const variables: string[] = [];
  const missing: string[] = [];
  let position = 0;
  while (position < text.length) {
    const dollar = text.indexOf("$", position);
    if (dollar === -1) break;
    result += text.slice(position, dollar);
    if (text.startsWith(ESCAPED_OPENING, dollar)) {
      result += OPENING;
      position = dollar + ESCAPED_OPENING.length;
    } else if (text.startsWith(OPENING, dollar)) {
      const close = text.indexOf("}", dollar);
      if (close === -1) {
        return {
          text,
          variables,
          problem: `unterminated "\${" (write "$\${" for a literal "\${")`,
        };
      }
      const name = text.slice(dollar + OPENING.length, close);
      if (!VARIABLE_NAME.test(name)) {
        const reference = JSON.stringify(text.slice(dollar, close + 1));
        return { text, variables, problem: `invalid variable reference ${reference}` };
      }
      const value = lookup(name);
      if (value === undefined) missing.push(name);
      variables.push(name);
      result += value ?? "";
      position = close + 1;
    } else {
      result += "$";
      position = dollar + 1;
    }
  }
  result += text.slice(position);
  if (missing.length > 0) return { text: result, variables, problem: missingMessage(missing) };
  return { text: result, variables };
}

/**
 * Interpolates every string value (not key) of a parsed TOML document.
 *
 * @example
 * ```ts
 * import { interpolateTree } from "./env.ts";
 *
 * const result = interpolateTree({ kafka: { sasl: { password: "${PW}" } } }, () => "hunter2");
 * result.interpolated.get("kafka.sasl.password"); // ["PW"]
 * result.secrets; // ["hunter2"]
 * ```
 */
export function interpolateTree(document: unknown, lookup: EnvLookup): InterpolationResult {
  const result: InterpolationResult = {
    value: undefined,
    interpolated: new Map(),
    secrets: [],
    issues: [],
  };
  result.value = walk(document, [], lookup, result);
  return result;
}

/** An {@linkcode EnvLookup} over a map, or over the process environment by default. */
export function envLookup(env?: Record<string, string | undefined>): EnvLookup {
  return env === undefined ? (name) => Deno.env.get(name) : (name) => env[name];
}

function walk(
  value: unknown,
  path: PathSegment[],
  lookup: EnvLookup,
  result: InterpolationResult,
): unknown {
  if (typeof value === "string") return interpolateLeaf(value, path, lookup, result);
  if (Array.isArray(value)) {
    return value.map((item, index) => walk(item, [...path, index], lookup, result));
  }
  if (isTable(value)) {
    const table: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) {
      table[key] = walk(item, [...path, key], lookup, result);
    }
    return table;
  }
  return value;
}

function interpolateLeaf(
  text: string,
  path: PathSegment[],
  lookup: EnvLookup,
  result: InterpolationResult,
): string {
  const { text: interpolated, variables, problem } = interpolateString(text, lookup);
  const where = formatPath(path);
  if (variables.length > 0) {
    result.interpolated.set(where, variables);
    // Both the whole value and each variable's own value: a token spliced into a URL
    // must be redacted wherever it shows up.
    const pieces = [interpolated, ...variables.map((name) => lookup(name) ?? "")];
    result.secrets.push(...pieces.filter((piece) => piece !== ""));
  }
  if (problem !== undefined) result.issues.push({ path: where, message: problem });
  return interpolated;
}

function isTable(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !(value instanceof Date);
}

function missingMessage(names: string[]): string {
  const unique = [...new Set(names)];
  if (unique.length === 1) return `environment variable ${unique[0]} is not set`;
  const listed = `${unique.slice(0, -1).join(", ")} and ${unique.at(-1)}`;
  return `environment variables ${listed} are not set`;
}
