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

function redactingSink(
  format: (record: LogRecord) => string,
  secrets: readonly string[],
  write: (line: string) => void,
): Sink {
  // Longest first, so a secret containing another is redacted whole.
  const ordered = [...secrets].filter((s) => s.length > 0).sort((a, b) => b.length - a.length);
  return (record) => write(redact(format(record), ordered));
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
