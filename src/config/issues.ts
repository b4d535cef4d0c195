/**
 * Config problems: their paths (`targets[1].where`), the wording of what was
 * found without leaking interpolated secrets, and the error that reports
 * them all at once.
 *
 * @module
 */

/** One step of a path into the config: a key or an array index. */
export type PathSegment = string | number;

/** One problem in a config file. */
export interface ConfigIssue {
  /** Where: `kafka.retry.max_backoff`, `targets[1].where`; empty for the whole file. */
  path: string;
  /** What was expected and what was found. */
  message: string;
}

const ISSUE_INDENT = "  ";
const CONTINUATION_INDENT = "    ";

/**
 * Thrown when a config file cannot be used; lists every problem found, one
 * per line of the message.
 *
 * @example
 * ```ts
 * import { ConfigError } from "./issues.ts";
 *
 * const error = new ConfigError("pg2kafka.toml", [
 *   { path: "targets[1].topic", message: "expected a string, found 42" },
 * ]);
 * error.message; // "Invalid config in pg2kafka.toml:\n  targets[1].topic: expected a string, found 42"
 * ```
 */
export class ConfigError extends Error {
  /** Every problem found, in path order. */
  readonly issues: readonly ConfigIssue[];
  /** The file (or other origin) the config came from. */
  readonly origin: string;

  /**
   * @param origin the file name shown in the message.
   * @param issues the problems, at least one.
   */
  constructor(origin: string, issues: readonly ConfigIssue[]) {
    const lines = issues.map(({ path, message }) => {
      // Continuation lines (a filter's caret display) stay under their issue.
      const indented = message.replaceAll("\n", `\n${CONTINUATION_INDENT}`);
      return `${ISSUE_INDENT}${path === "" ? "" : `${path}: `}${indented}`;
    });
    super(`Invalid config in ${origin}:\n${lines.join("\n")}`);
    this.name = "ConfigError";
    this.origin = origin;
    this.issues = issues;
  }
}

const BARE_KEY = /^[A-Za-z0-9_-]+$/;

/**
 * Formats a path the way a user would look it up in the TOML file:
 * `targets[1].where`, with keys that need it quoted (`kafka."odd key"`).
 */
export function formatPath(path: readonly PathSegment[]): string {
  let text = "";
  for (const segment of path) {
    if (typeof segment === "number") text += `[${segment}]`;
    else {
      const key = BARE_KEY.test(segment) ? segment : JSON.stringify(segment);
      text += text === "" ? key : `.${key}`;
    }
  }
  return text;
}

const MAX_SHOWN_STRING = 80;

/**
 * Describes a TOML value for an error message: strings and numbers as
 * written, tables and arrays by kind only (their contents get their own
 * issues).
 */
export function describeValue(value: unknown): string {
  if (value === undefined) return "no value (the key is required)";
  if (typeof value === "string") {
    const shown = value.length > MAX_SHOWN_STRING ? `${value.slice(0, MAX_SHOWN_STRING)}…` : value;
    return JSON.stringify(shown);
  }
  if (typeof value === "number") {
    if (Number.isNaN(value)) return "nan";
    return Number.isFinite(value) ? String(value) : value > 0 ? "inf" : "-inf";
  }
  if (typeof value === "boolean" || typeof value === "bigint") return String(value);
  if (Array.isArray(value)) return value.length === 0 ? "an empty array" : "an array";
  if (value instanceof Date) return "a date-time";
  return "a table";
}

/**
 * Collects issues for one config, knowing which values came from `${VAR}`
 * interpolation so that messages never print them.
 */
export class IssueCollector {
  readonly #issues: ConfigIssue[] = [];
  readonly #interpolated: ReadonlyMap<string, readonly string[]>;

  /** @param interpolated path → names of the variables its value was built from. */
  constructor(interpolated: ReadonlyMap<string, readonly string[]> = new Map()) {
    this.#interpolated = interpolated;
  }

  /** Every issue added so far. */
  get issues(): readonly ConfigIssue[] {
    return this.#issues;
  }

  /** Adds an issue with a free-form message (which must not contain a found value). */
  add(path: string, message: string): void {
    this.#issues.push({ path, message });
  }

  /**
   * Adds an "expected …, found …" issue. `detail` explains the mismatch and
   * may quote the value, so it is left out when the value is a secret.
   */
  mismatch(path: string, expected: string, found: unknown, detail?: string): void {
    const secret = this.#interpolated.has(path);
    const suffix = detail === undefined || secret ? "" : ` (${detail})`;
    this.add(path, `expected ${expected}, found ${this.describe(path, found)}${suffix}`);
  }

  /** Describes the value at `path`, naming its variables instead when it was interpolated. */
  describe(path: string, value: unknown): string {
    const variables = this.#interpolated.get(path);
    if (variables === undefined) return describeValue(value);
    return `a value from ${variables.map((name) => `\${${name}}`).join(" and ")}`;
  }

  /** Whether the value at `path` came from interpolation and must not be shown. */
  isSecret(path: string): boolean {
    return this.#interpolated.has(path);
  }
}

/**
 * Orders issues by path, array indexes numerically, so that the report reads
 * like the file.
 */
export function sortIssues(issues: readonly ConfigIssue[]): ConfigIssue[] {
  return [...issues].sort((a, b) => comparePaths(a.path, b.path));
}

const PATH_PIECE = /\[(\d+)\]|[^.[\]]+/g;

function comparePaths(a: string, b: string): number {
  const left = [...a.matchAll(PATH_PIECE)];
  const right = [...b.matchAll(PATH_PIECE)];
  for (let i = 0; i < Math.min(left.length, right.length); i++) {
    const [l, r] = [left[i], right[i]];
    const order = l[1] !== undefined && r[1] !== undefined
      ? Number(l[1]) - Number(r[1])
      : l[0] < r[0]
      ? -1
      : l[0] > r[0]
      ? 1
      : 0;
    if (order !== 0) return order;
  }
  return left.length - right.length;
}
