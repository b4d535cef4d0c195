/**
 * Structured logging on LogTape: JSON lines (or readable text on a terminal)
 * to stderr, with every configured secret redacted from every line.
 *
 * Modules log through {@linkcode logger}, e.g. `logger("source").info(...)`,
 * with the context (source, slot, LSN, target, topic) as properties.
 *
 * @module
 */
import {
  configureSync,
  getJsonLinesFormatter,
  getLogger,
  getTextFormatter,
  type Logger,
  type LogLevel,
  type LogRecord,
  resetSync,
  type Sink,
} from "@logtape/logtape";

/** Root category of every pg2kafka logger. */
export const ROOT_CATEGORY = "pg2kafka";
/** What replaces a secret in a log line. */
export const REDACTED = "[redacted]";

/** Log line format: text, JSON lines, or text only when stderr is a terminal. */
export type LogFormat = "auto" | "json" | "text";

/** Options of {@linkcode configureLogging}. */
export interface LoggingOptions {
  level: LogLevel;
  format: LogFormat;
  /** Values that must never appear in a log line (passwords, tokens). */
  secrets?: readonly string[];
  /** Where lines go; stderr by default. */
  write?: (line: string) => void;
}

const encoder = new TextEncoder();

function writeStderr(line: string): void {
  const bytes = encoder.encode(line);
  let written = 0;
  while (written < bytes.length) written += Deno.stderr.writeSync(bytes.subarray(written));
}

/**
 * Replaces every occurrence of each secret in `line`.
 *
 * @example
 * ```ts
 * redact('password "hunter2" rejected', ["hunter2"]); // 'password "[redacted]" rejected'
 * ```
 */
export function redact(line: string, secrets: readonly string[]): string {
  let result = line;
  for (const secret of secrets) {
    if (secret.length > 0 && result.includes(secret)) result = result.replaceAll(secret, REDACTED);
  }
  return result;
}

/** Nesting depth up to which property values are searched for secrets. */
const MAX_REDACT_DEPTH = 8;
/**
 * Secrets shorter than this, or made of digits only, are redacted inside
 * string values only, never in the formatted line: there they would also hit
 * JSON keys and numbers (an interpolated port "5432" would turn
 * `"port":5432` into invalid JSON).
 */
const MIN_LINE_SECRET_LENGTH = 6;
const DIGITS_ONLY = /^\d+$/;

/** `value` with every secret replaced in its strings, arrays and plain objects. */
function redactValue(value: unknown, secrets: readonly string[], depth = 0): unknown {
  if (typeof value === "string") return redact(value, secrets);
  if (depth >= MAX_REDACT_DEPTH || typeof value !== "object" || value === null) return value;
  if (Array.isArray(value)) return value.map((item) => redactValue(item, secrets, depth + 1));
  const prototype = Object.getPrototypeOf(value);
  if (prototype !== Object.prototype && prototype !== null) return value;
  const copy: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    copy[key] = redactValue(item, secrets, depth + 1);
  }
  return copy;
}

/**
 * The forms a secret takes in a formatted line: as is, and JSON-escaped when
 * it holds quotes, backslashes or control characters.
 */
function lineForms(secrets: readonly string[]): string[] {
  const forms = new Set<string>();
  for (const secret of secrets) {
    if (secret.length < MIN_LINE_SECRET_LENGTH || DIGITS_ONLY.test(secret)) continue;
    forms.add(secret);
    forms.add(JSON.stringify(secret).slice(1, -1));
  }
  return [...forms].sort((a, b) => b.length - a.length);
}

function redactingSink(
  format: (record: LogRecord) => string,
  secrets: readonly string[],
  write: (line: string) => void,
): Sink {
  // Longest first, so a secret containing another is redacted whole.
  const ordered = [...secrets].filter((s) => s.length > 0).sort((a, b) => b.length - a.length);
  const inLine = lineForms(ordered);
  if (ordered.length === 0) return (record) => write(format(record));
  return (record) => {
    // First the values, which keeps the line valid JSON; then the line, for
    // secrets inside values the first pass does not open (errors, class instances).
    const clean: LogRecord = {
      ...record,
      message: record.message.map((part) => redactValue(part, ordered)),
      properties: redactValue(record.properties, ordered) as Record<string, unknown>,
    };
    write(redact(format(clean), inLine));
  };
}

/**
 * (Re)configures logging for the whole process.
 *
 * @example
 * ```ts
 * configureLogging({ level: "info", format: "json", secrets: ["s3cret"] });
 * logger("source").info("Streaming from {slot}", { slot: "pg2kafka" });
 * ```
 */
export function configureLogging(options: LoggingOptions): void {
  const useJson = options.format === "json" ||
    (options.format === "auto" && !Deno.stderr.isTerminal());
  const format = useJson ? getJsonLinesFormatter() : getTextFormatter();
  resetSync();
  configureSync({
    reset: true,
    sinks: {
      main: redactingSink(format, options.secrets ?? [], options.write ?? writeStderr),
    },
    loggers: [
      { category: ROOT_CATEGORY, lowestLevel: options.level, sinks: ["main"] },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: ["main"] },
    ],
  });
}

/** The logger of one module, e.g. `logger("kafka")`. */
export function logger(...category: string[]): Logger {
  return getLogger([ROOT_CATEGORY, ...category]);
}
