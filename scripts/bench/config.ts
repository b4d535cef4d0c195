/**
 * The connector config of a bench run: pg2kafka's defaults (batching,
 * linger, in-flight limits) except what the bench needs, plus the settings a
 * user overrides with `--set table.key=value` to compare them.
 *
 * @module
 */
import type { StackEndpoints } from "./stack.ts";

/**
 * The HMAC secret of the bench's column rules, passed to the connector in
 * {@linkcode BENCH_HASH_SECRET_VARIABLE}: a fixed value, as the bench data is.
 */
export const BENCH_HASH_SECRET = "pg2kafka-bench-hash-secret-0123456789";
/** The environment variable the bench's hash rule reads its secret from. */
export const BENCH_HASH_SECRET_VARIABLE = "PG2KAFKA_BENCH_HASH_SECRET";

/**
 * The three column rules of `--column-rules` on the bench table: a hash of a
 * short text (as an email would be), a mask and a truncation of the payload.
 */
export const BENCH_COLUMN_RULES = `[[targets.column_rules]]
columns = ["status"]
action = "hash"
secret = "\${${BENCH_HASH_SECRET_VARIABLE}}"

[[targets.column_rules]]
columns = ["amount"]
action = "mask"

[[targets.column_rules]]
columns = ["payload"]
action = "truncate"
length = 20
`;

/** What the generated config names. */
export interface BenchConfigNames {
  readonly slot: string;
  readonly publication: string;
  readonly table: string;
  readonly topic: string;
}

/** One `--set table.key=value`: a key of a config table and its TOML value. */
export interface ConfigOverride {
  /** The TOML table, e.g. `kafka`, `limits`, `kafka.retry`, `sources`, `targets`. */
  readonly table: string;
  readonly key: string;
  /** The value as TOML (strings quoted). */
  readonly value: string;
}

const OVERRIDE = /^([a-z_]+(?:\.[a-z_]+)*)\.([a-z_]+)=(.*)$/;
const BARE_TOML_VALUE = /^(-?\d[\d_]*(\.\d+)?|true|false|\[.*\]|".*")$/;

/**
 * Parses `table.key=value`. A value that is a number, a boolean, an array or
 * a quoted string is kept as TOML; anything else becomes a TOML string, so
 * `kafka.linger=0ms` works without quotes.
 *
 * @throws {Error} when the text is not `table.key=value`.
 * @example
 * ```ts
 * parseOverride("limits.max_inflight_messages=5000");
 * // { table: "limits", key: "max_inflight_messages", value: "5000" }
 * parseOverride("kafka.linger=0ms").value; // '"0ms"'
 * ```
 */
export function parseOverride(text: string): ConfigOverride {
  const match = OVERRIDE.exec(text.trim());
  if (match === null) {
    throw new Error(`--set "${text}" is not table.key=value, e.g. kafka.linger=0ms`);
  }
  const raw = match[3].trim();
  const value = BARE_TOML_VALUE.test(raw) ? raw : JSON.stringify(raw);
  return { table: match[1], key: match[2], value };
}

interface Section {
  readonly header: string;
  readonly table: string;
  readonly entries: Map<string, string>;
}

function section(header: string, table: string, entries: Record<string, string>): Section {
  return { header, table, entries: new Map(Object.entries(entries)) };
}

/**
 * A config for the bench: its slot, publication, table and topic, no HTTP
 * listener (ports are shared with other stacks), JSON logs, then the
 * overrides. The bench creates the slot and the publication itself, before
 * writing.
 */
export function benchConfig(
  stack: StackEndpoints,
  names: BenchConfigNames,
  overrides: readonly ConfigOverride[] = [],
  columnRules = false,
): string {
  const table = JSON.stringify(`public.${names.table}`);
  const sections = [
    section("[[sources]]", "sources", {
      name: '"bench"',
      host: JSON.stringify(stack.pgHost),
      port: String(stack.pgPort),
      database: JSON.stringify(stack.pgDatabase),
      user: JSON.stringify(stack.pgUser),
      password: '"${PG2KAFKA_PG_PASSWORD}"',
      slot: JSON.stringify(names.slot),
      create_slot: "false",
      publication: JSON.stringify(names.publication),
      create_publication: "false",
      tables: `[${table}]`,
    }),
    section("[kafka]", "kafka", {
      brokers: `[${JSON.stringify(stack.kafkaBroker)}]`,
      client_id: '"pg2kafka-bench"',
    }),
    section("[[targets]]", "targets", {
      name: '"bench"',
      tables: `[${table}]`,
      topic: JSON.stringify(names.topic),
    }),
    section("[http]", "http", { enabled: "false" }),
    section("[log]", "log", { level: '"info"', format: '"json"' }),
  ];
  for (const { table, key, value } of overrides) {
    let target = sections.find((s) => s.table === table);
    if (target === undefined) sections.push(target = section(`[${table}]`, table, {}));
    target.entries.set(key, value);
  }
  const text =
    sections.map((s) =>
      [s.header, ...[...s.entries].map(([key, value]) => `${key} = ${value}`)].join("\n")
    ).join("\n\n") + "\n";
  // The rules belong to the one [[targets]] entry, wherever they stand after it.
  return columnRules ? `${text}\n${BENCH_COLUMN_RULES}` : text;
}
