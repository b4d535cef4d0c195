/**
 * Test harness for integration tests against the local stack
 * (scripts/stack.sh): SQL on the test database, reading topics back with a
 * kafkajs consumer, and the connector run as a real subprocess so tests can
 * signal or kill it.
 *
 * @module
 */
import postgres, { type Sql } from "postgres";
import { Kafka, logLevel } from "kafkajs";
import { routeProcessWarnings } from "../../src/kafka/client.ts";
import { V8_FLAGS_ARG } from "../../scripts/v8_flags.ts";

routeProcessWarnings((warning) => console.warn(`${warning.name}: ${warning.message}`));

const env = (name: string, fallback: string) => Deno.env.get(name) ?? fallback;

/** Where the local stack listens (scripts/stack.sh env). */
export const STACK = {
  pgHost: env("PG2KAFKA_PG_HOST", "127.0.0.1"),
  pgPort: Number(env("PG2KAFKA_PG_PORT", "54329")),
  pgDatabase: env("PG2KAFKA_PG_DATABASE", "app"),
  pgUser: env("PG2KAFKA_PG_USER", "pg2kafka"),
  pgPassword: env("PG2KAFKA_PG_PASSWORD", "pg2kafka-local"),
  kafkaBroker: env("PG2KAFKA_KAFKA_BROKERS", "127.0.0.1:19092"),
};

const REPO_ROOT = new URL("../../", import.meta.url).pathname;
const POLL_MS = 100;

/** A short random suffix that keeps each test's tables, slots and topics apart. */
export function uniqueName(prefix: string): string {
  return `${prefix}_${crypto.randomUUID().replaceAll("-", "").slice(0, 10)}`;
}

/** An ordinary connection to the test database. */
export function testSql(database = STACK.pgDatabase): Sql {
  return postgres({
    host: STACK.pgHost,
    port: STACK.pgPort,
    database,
    username: STACK.pgUser,
    password: STACK.pgPassword,
    max: 2,
    onnotice: () => {},
  });
}

/** Polls `probe` until it returns a value other than undefined, or throws after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${last}` : ""}`);
}

/** The slot's confirmed flush LSN as a bigint, or undefined when the slot is missing. */
export async function confirmedFlushLsn(sql: Sql, slot: string): Promise<bigint | undefined> {
  const [row] = await sql<{ lsn: string | null }[]>`
    SELECT (confirmed_flush_lsn - '0/0')::text AS lsn FROM pg_replication_slots
    WHERE slot_name = ${slot}`;
  return row?.lsn ? BigInt(row.lsn) : undefined;
}

/** The current WAL insert position as a bigint. */
export async function currentWalLsn(sql: Sql): Promise<bigint> {
  const [row] = await sql<
    { lsn: string }[]
  >`SELECT (pg_current_wal_insert_lsn() - '0/0')::text AS lsn`;
  return BigInt(row.lsn);
}

/** Drops a slot (waiting for its walsender to let go) and a publication, if present. */
export async function dropSlotAndPublication(sql: Sql, slot: string, publication: string) {
  await waitFor(`slot ${slot} to become inactive`, async () => {
    const [row] = await sql`SELECT active FROM pg_replication_slots WHERE slot_name = ${slot}`;
    return row && row.active ? undefined : true;
  });
  await sql`SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots
            WHERE slot_name = ${slot}`;
  await sql.unsafe(`DROP PUBLICATION IF EXISTS "${publication}"`);
}

/** A message read back from Kafka, decoded. */
export interface ReadMessage {
  topic: string;
  partition: number;
  offset: string;
  key: string | null;
  value: string | null;
  headers: Record<string, string>;
  timestamp: string;
}

/** A kafkajs client for tests. */
export function testKafka(): Kafka {
  return new Kafka({
    clientId: "pg2kafka-tests",
    brokers: [STACK.kafkaBroker],
    logLevel: logLevel.NOTHING,
  });
}

/** Waits until every topic exists (the connector creates them on first use). */
async function waitForTopics(kafka: Kafka, topics: string[], timeoutMs: number): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    await waitFor(`topics ${topics.join(", ")}`, async () => {
      const existing = new Set(await admin.listTopics());
      return topics.every((topic) => existing.has(topic)) ? true : undefined;
    }, timeoutMs);
  } finally {
    await admin.disconnect();
  }
}

/**
 * Reads `topics` from the beginning until `done(messages)` is true, or throws
 * after `timeoutMs` with what was read.
 */
export async function readTopics(
  topics: string[],
  done: (messages: ReadMessage[]) => boolean,
  timeoutMs = 60_000,
): Promise<ReadMessage[]> {
  const kafka = testKafka();
  await waitForTopics(kafka, topics, timeoutMs);
  const consumer = kafka.consumer({ groupId: uniqueName("tests"), maxWaitTimeInMs: 200 });
  const messages: ReadMessage[] = [];
  const complete = Promise.withResolvers<void>();
  await consumer.connect();
  try {
    await consumer.subscribe({ topics, fromBeginning: true });
    await consumer.run({
      // Whole batches, and `done` once per batch: predicates over every
      // message read so far stay cheap on loads of 100,000 changes.
      eachBatch: ({ batch }) => {
        for (const message of batch.messages) {
          const headers: Record<string, string> = {};
          for (const [name, value] of Object.entries(message.headers ?? {})) {
            headers[name] = String(value);
          }
          messages.push({
            topic: batch.topic,
            partition: batch.partition,
            offset: message.offset,
            key: message.key?.toString() ?? null,
            value: message.value?.toString() ?? null,
            headers,
            timestamp: message.timestamp,
          });
        }
        if (done(messages)) complete.resolve();
        return Promise.resolve();
      },
    });
    const timer = setTimeout(
      () =>
        complete.reject(
          new Error(`Read ${messages.length} message(s) of ${topics} before timing out`),
        ),
      timeoutMs,
    );
    await complete.promise.finally(() => clearTimeout(timer));
    return messages;
  } finally {
    await consumer.disconnect();
  }
}

/** Options of a connector config written for a test. */
export interface ConnectorConfigOptions {
  slot: string;
  publication: string;
  tables: string[];
  /** TOML appended after the generated sections (extra targets, tweaks). */
  targets?: string;
  /** Extra keys for the [kafka] table. */
  kafka?: string;
  /** Extra keys for the [[sources]] table. */
  source?: string;
  /** Extra top-level tables (limits, shutdown, http). */
  extra?: string;
}

/** A config for the local stack with one source and the given targets. */
export function connectorConfig(options: ConnectorConfigOptions): string {
  const tables = options.tables.map((t) => `"${t}"`).join(", ");
  return `
[[sources]]
name = "main"
host = "${STACK.pgHost}"
port = ${STACK.pgPort}
database = "${STACK.pgDatabase}"
user = "${STACK.pgUser}"
password = "\${PG2KAFKA_PG_PASSWORD}"
slot = "${options.slot}"
publication = "${options.publication}"
tables = [${tables}]
status_interval = "1s"
${options.source ?? ""}

[kafka]
brokers = ["${STACK.kafkaBroker}"]
linger = "2ms"
${options.kafka ?? ""}

[kafka.retry]
initial_backoff = "100ms"
max_backoff = "2s"

[kafka.circuit_breaker]
failure_threshold = 3
open_duration = "2s"

[log]
level = "info"
format = "json"

[http]
enabled = false

${options.extra ?? ""}

${options.targets ?? ""}
`;
}

/** A connector process started by a test. */
export class ConnectorProcess {
  readonly #child: Deno.ChildProcess;
  readonly #lines: string[] = [];
  readonly #exit: Promise<Deno.CommandStatus>;
  readonly configPath: string;

  /** Where the process's output is also written, for post-mortems of failed tests. */
  readonly logPath: string;

  private constructor(child: Deno.ChildProcess, configPath: string) {
    this.#child = child;
    this.configPath = configPath;
    this.#exit = child.status;
    const logDir = `${Deno.env.get("PG2KAFKA_STACK_DIR") ?? `${REPO_ROOT}.stack`}/test-logs`;
    Deno.mkdirSync(logDir, { recursive: true });
    this.logPath = `${logDir}/connector-${child.pid}.log`;
    this.#collect(child.stderr);
    this.#collect(child.stdout);
  }

  /** Writes `config` to a temporary file and starts `pg2kafka run` on it. */
  static start(config: string, extraEnv: Record<string, string> = {}): ConnectorProcess {
    const configPath = Deno.makeTempFileSync({ prefix: "pg2kafka-test-", suffix: ".toml" });
    Deno.writeTextFileSync(configPath, config);
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        V8_FLAGS_ARG,
        "--allow-all",
        `${REPO_ROOT}main.ts`,
        "run",
        "--config",
        configPath,
      ],
      env: { PG2KAFKA_PG_PASSWORD: STACK.pgPassword, ...extraEnv },
      stdout: "piped",
      stderr: "piped",
      stdin: "null",
    }).spawn();
    return new ConnectorProcess(child, configPath);
  }

  /** Every line the process printed so far. */
  get lines(): readonly string[] {
    return this.#lines;
  }

  /** The process id. */
  get pid(): number {
    return this.#child.pid;
  }

  /** Resolves with the exit status. */
  get status(): Promise<Deno.CommandStatus> {
    return this.#exit;
  }

  /** Waits for a printed line matching `pattern` (a loaded CI machine may start a process slowly). */
  async waitForLine(pattern: RegExp, timeoutMs = 60_000): Promise<string> {
    return await waitFor(`a line matching ${pattern}`, () => {
      const line = this.#lines.find((l) => pattern.test(l));
      if (line !== undefined) return line;
      return undefined;
    }, timeoutMs).catch((error) => {
      throw new Error(`${error.message}\n--- connector output ---\n${this.#lines.join("\n")}`);
    });
  }

  /** Sends `signal` and waits for the exit. */
  async stop(signal: Deno.Signal = "SIGTERM"): Promise<Deno.CommandStatus> {
    try {
      this.#child.kill(signal);
    } catch { /* already gone */ }
    const status = await this.#exit;
    await Deno.remove(this.configPath).catch(() => {});
    return status;
  }

  async #collect(stream: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    let rest = "";
    for await (const chunk of stream) {
      rest += decoder.decode(chunk, { stream: true });
      const parts = rest.split("\n");
      rest = parts.pop()!;
      this.#lines.push(...parts);
      if (parts.length > 0) {
        Deno.writeTextFileSync(this.logPath, parts.join("\n") + "\n", { append: true });
      }
    }
    if (rest) this.#lines.push(rest);
  }
}

/** Runs a stack.sh command (e.g. "kafka-stop"). */
export async function stack(command: string): Promise<void> {
  const result = await new Deno.Command("bash", {
    args: [`${REPO_ROOT}scripts/stack.sh`, command],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!result.success) {
    throw new Error(`stack.sh ${command} failed: ${new TextDecoder().decode(result.stderr)}`);
  }
}

/** Peak and current resident memory of a process, in bytes (from /proc). */
export async function processMemory(pid: number): Promise<{ rss: number; peak: number }> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  const kib = (field: string) =>
    Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0);
  const BYTES_PER_KIB = 1024;
  return { rss: kib("VmRSS") * BYTES_PER_KIB, peak: kib("VmHWM") * BYTES_PER_KIB };
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
