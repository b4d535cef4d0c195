/**
 * Several sources in one process (project issue 10), against the real stack:
 * two databases feeding targets of their own and a shared one, each slot
 * confirming only its own acks, one source failing (database stopped, then
 * login revoked) and recovering on its own while the other keeps streaming (named by logs, metrics, `/ready` and
 * `pg2kafka health`), and one source's backlog not starving the other.
 *
 * The failing source lives on a second PostgreSQL cluster that this file
 * starts (and stops) with `scripts/stack.sh pg-start`, in the stack folder
 * plus `-second`, on `PG2KAFKA_SECOND_PG_PORT` (default: the stack's port + 10).
 */
import assert from "node:assert/strict";
import postgres, { type Sql } from "postgres";
import { parseLsn } from "../../src/lsn.ts";
import {
  confirmedFlushLsn,
  ConnectorProcess,
  currentWalLsn,
  dropSlotAndPublication,
  type ReadMessage,
  readTopics,
  STACK,
  stack,
  testSql,
  uniqueName,
  waitFor,
} from "./harness.ts";

const integration = { sanitizeOps: false, sanitizeResources: false };
const REPO_ROOT = new URL("../../", import.meta.url).pathname;

/** Distance of the second cluster's default port from the stack's own. */
const SECOND_PORT_OFFSET = 10;
const SECOND_CLUSTER = {
  dir: `${Deno.env.get("PG2KAFKA_STACK_DIR") ?? `${REPO_ROOT}.stack`}-second`,
  port: Number(
    Deno.env.get("PG2KAFKA_SECOND_PG_PORT") ?? STACK.pgPort + SECOND_PORT_OFFSET,
  ),
};

/** One `[[sources]]` entry of a test config. */
interface SourceSpec {
  name: string;
  port: number;
  database: string;
  table: string;
  slot: string;
  publication: string;
}

/** Options of {@linkcode multiSourceConfig}. */
interface ConfigOptions {
  /** `[[targets]]` tables. */
  targets: string;
  /** Consecutive produce failures before the circuit opens. */
  failureThreshold?: number;
  /** Extra top-level tables ([limits]). */
  extra?: string;
}

const DEFAULT_FAILURE_THRESHOLD = 3;
/** A failure threshold no test reaches: the circuit never opens. */
const CIRCUIT_NEVER_OPENS = 1_000_000;

/**
 * A config with HTTP on a free port and the given sources, each retrying its
 * connection quickly so a recovery fits in the test.
 */
function multiSourceConfig(sources: SourceSpec[], options: ConfigOptions): string {
  const sourceTables = sources.map((source) => `
[[sources]]
name = "${source.name}"
host = "${STACK.pgHost}"
port = ${source.port}
database = "${source.database}"
user = "${STACK.pgUser}"
password = "\${PG2KAFKA_PG_PASSWORD}"
slot = "${source.slot}"
publication = "${source.publication}"
tables = ["public.${source.table}"]
status_interval = "1s"
snapshot = "never"
connect_timeout = "2s"

[sources.reconnect]
initial_backoff = "200ms"
max_backoff = "1s"
`).join("");
  return `${sourceTables}
[kafka]
brokers = ["${STACK.kafkaBroker}"]
linger = "2ms"

[kafka.retry]
initial_backoff = "100ms"
max_backoff = "1s"

[kafka.circuit_breaker]
failure_threshold = ${options.failureThreshold ?? DEFAULT_FAILURE_THRESHOLD}
open_duration = "2s"

[log]
level = "info"
format = "json"

[http]
enabled = true
listen = "127.0.0.1:0"

${options.extra ?? ""}

${options.targets}
`;
}

/** A database of its own on a cluster, with one table `items`, dropped by `drop`. */
class TestDatabase {
  private constructor(
    readonly name: string,
    readonly sql: Sql,
    readonly spec: SourceSpec,
  ) {}

  /** Creates database `name` (the stack role has CREATEDB) and its table. */
  static async create(admin: Sql, source: string, name: string): Promise<TestDatabase> {
    await admin.unsafe(`CREATE DATABASE "${name}"`);
    const sql = testSql(name);
    await sql.unsafe("CREATE TABLE items (id int PRIMARY KEY, note text)");
    return new TestDatabase(name, sql, {
      name: source,
      port: STACK.pgPort,
      database: name,
      table: "items",
      slot: `${name}_slot`,
      publication: `${name}_pub`,
    });
  }

  /** Drops the slot (a logical slot pins its database), then the database. */
  async drop(admin: Sql): Promise<void> {
    await dropSlotAndPublication(this.sql, this.spec.slot, this.spec.publication);
    await this.sql.end();
    await admin.unsafe(`DROP DATABASE IF EXISTS "${this.name}" WITH (FORCE)`);
  }
}

/** Starts the connector and returns it with the URL of its HTTP endpoints. */
async function startConnector(
  config: string,
  sources: string[],
): Promise<{ connector: ConnectorProcess; url: string }> {
  const connector = ConnectorProcess.start(config);
  const line = await connector.waitForLine(/HTTP endpoints listening on/);
  const url = JSON.parse(line).properties.url as string;
  for (const source of sources) {
    await connector.waitForLine(new RegExp(`Source \\\\"${source}\\\\" streaming slot`));
  }
  return { connector, url };
}

/** Samples of a Prometheus text, keyed `name{labels}` as printed. */
async function scrape(url: string): Promise<Map<string, number>> {
  const response = await fetch(`${url}/metrics`);
  assert.equal(response.status, 200);
  const samples = new Map<string, number>();
  for (const line of (await response.text()).split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const space = line.lastIndexOf(" ");
    samples.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return samples;
}

interface ReadyCheck {
  check: string;
  source?: string;
  ok: boolean;
  detail: string;
}

interface ReadySource {
  name: string;
  status: string;
  flushLsn: string;
}

/** `/ready`'s status and body. */
async function ready(
  url: string,
): Promise<{ status: number; checks: ReadyCheck[]; sources: ReadySource[] }> {
  const response = await fetch(`${url}/ready`);
  const body = await response.json();
  return { status: response.status, checks: body.checks, sources: body.sources };
}

/** The connector's parsed JSON log lines from source `source` whose message matches `pattern`. */
function logLines(
  connector: ConnectorProcess,
  source: string,
  pattern: RegExp,
): { message: string; properties: Record<string, unknown> }[] {
  return connector.lines.flatMap((line) => {
    if (!line.startsWith("{")) return [];
    const parsed = JSON.parse(line);
    return parsed.properties?.source === source && pattern.test(parsed.message) ? [parsed] : [];
  });
}

/** `source:op:id` of a change message. */
function describe(message: ReadMessage): string {
  const value = JSON.parse(message.value!);
  return `${value.source}:${value.op}:${(value.after ?? value.before).id}`;
}

/** The sorted descriptions of the messages of `topic`. */
function described(messages: ReadMessage[], topic: string): string[] {
  return messages.filter((m) => m.topic === topic).map(describe).sort();
}

/** The descriptions of inserts of `ids` from `source`. */
function inserts(source: string, ids: Iterable<number>): string[] {
  return [...ids].map((id) => `${source}:insert:${id}`);
}

/** `from`, `from + 1`, …, `to`. */
function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

/** How long a slot must be seen holding while the connector could wrongly confirm it. */
const HOLD_OBSERVED_MS = 4000;
/** The row A writes while Kafka is down, apart from the earlier ones. */
const OUTAGE_ID = 100;

Deno.test(
  "two sources on two databases: each target gets exactly its sources' changes, each slot confirms only its own acks",
  integration,
  async (t) => {
    const admin = testSql();
    const run = uniqueName("multi");
    const a = await TestDatabase.create(admin, "a", `${run}_a`);
    const b = await TestDatabase.create(admin, "b", `${run}_b`);
    const topics = {
      a: `tests.${run}.only_a`,
      b: `tests.${run}.only_b`,
      both: `tests.${run}.both`,
    };
    // The circuit stays closed through the Kafka outage below, so no source is
    // paused by it and an idle source keeps reading keepalives.
    const config = multiSourceConfig([a.spec, b.spec], {
      failureThreshold: CIRCUIT_NEVER_OPENS,
      targets: `
[[targets]]
name = "only_a"
sources = ["a"]
tables = ["public.items"]
topic = "${topics.a}"

[[targets]]
name = "only_b"
sources = ["b"]
tables = ["public.items"]
topic = "${topics.b}"

[[targets]]
name = "both"
tables = ["public.items"]
topic = "${topics.both}"
`,
    });
    const { connector, url } = await startConnector(config, ["a", "b"]);
    try {
      await t.step("every change reaches exactly the targets of its source", async () => {
        // Same table, same ids in both databases: only the source tells them apart.
        await a.sql`INSERT INTO items SELECT g, 'a' FROM generate_series(1, 5) g`;
        await a.sql`UPDATE items SET note = 'a2' WHERE id = 1`;
        await b.sql`INSERT INTO items SELECT g, 'b' FROM generate_series(1, 3) g`;
        await b.sql`DELETE FROM items WHERE id = 2`;
        const fromA = [...inserts("a", range(1, 5)), "a:update:1"].sort();
        const fromB = [...inserts("b", range(1, 3)), "b:delete:2"].sort();
        const expected = 2 * (fromA.length + fromB.length);
        const messages = await readTopics(
          Object.values(topics),
          (m) => m.length >= expected,
        );
        assert.deepEqual(described(messages, topics.a), fromA);
        assert.deepEqual(described(messages, topics.b), fromB);
        assert.deepEqual(described(messages, topics.both), [...fromA, ...fromB].sort());

        const series = (source: string, target: string) =>
          `pg2kafka_changes_total{source="${source}",target="${target}",outcome="delivered"}`;
        const metrics = await waitFor("the delivered counters to settle", async () => {
          const samples = await scrape(url);
          return samples.get(series("b", "both")) === fromB.length ? samples : undefined;
        });
        const changes = [...metrics].filter(([name]) => name.startsWith("pg2kafka_changes_total"));
        assert.deepEqual(
          new Map(changes),
          new Map([
            [series("a", "only_a"), fromA.length],
            [series("a", "both"), fromA.length],
            [series("b", "only_b"), fromB.length],
            [series("b", "both"), fromB.length],
          ]),
        );
        assert.equal(metrics.get(`pg2kafka_transactions_total{source="a"}`), 2);
        assert.equal(metrics.get(`pg2kafka_transactions_total{source="b"}`), 2);
      });

      await t.step(
        "with Kafka down, A's slot holds before its unacked change while B's advances past it",
        async () => {
          await stack("kafka-stop");
          try {
            await a.sql`INSERT INTO items VALUES (${OUTAGE_ID}, 'during the outage')`;
            // Both databases share one WAL: B's walsender reads past A's commit and,
            // with nothing of B in flight, its keepalives let B confirm beyond it.
            const afterCommit = await currentWalLsn(a.sql);
            const committedAt = Date.now();
            const samplesOfA: bigint[] = [];
            await waitFor("B's slot to pass A's unacked commit while A's is sampled", async () => {
              samplesOfA.push((await confirmedFlushLsn(a.sql, a.spec.slot))!);
              const bPassed = (await confirmedFlushLsn(b.sql, b.spec.slot))! >= afterCommit;
              return bPassed && Date.now() - committedAt >= HOLD_OBSERVED_MS ? true : undefined;
            });
            const outage = await scrape(url);
            assert.equal(outage.get(`pg2kafka_source_streaming{source="a"}`), 1);
            assert.equal(outage.get(`pg2kafka_source_streaming{source="b"}`), 1);
            await stack("kafka-start");

            const [held] = (await readTopics([topics.a], (m) => m.some(isOutageRow)))
              .filter(isOutageRow);
            const commitLsn = parseLsn(JSON.parse(held.value!).commit_lsn);
            const maxOfA = samplesOfA.reduce((max, lsn) => lsn > max ? lsn : max);
            assert.ok(
              maxOfA < commitLsn,
              `A's slot confirmed ${maxOfA} during the outage, past its unacked commit ${commitLsn}`,
            );
            await waitFor("A's slot to pass its commit once Kafka acked it", async () => {
              return (await confirmedFlushLsn(a.sql, a.spec.slot))! >= afterCommit
                ? true
                : undefined;
            });
          } finally {
            await stack("kafka-start");
          }
        },
      );
      assert.equal((await connector.stop("SIGTERM")).code, 0);
    } finally {
      await connector.stop("SIGKILL");
      await a.drop(admin);
      await b.drop(admin);
      await admin.end();
    }
  },
);

/** Whether `message` is the insert A made while Kafka was down. */
function isOutageRow(message: ReadMessage): boolean {
  return describe(message) === `a:insert:${OUTAGE_ID}`;
}

/** Runs a stack.sh command on the second PostgreSQL cluster. */
async function secondCluster(command: "pg-start" | "pg-stop"): Promise<void> {
  await stackOfSecond(command);
}

/** Runs SQL as the second cluster's superuser (through stack.sh psql). */
async function secondClusterAdmin(statement: string): Promise<void> {
  await stackOfSecond("psql", "-v", "ON_ERROR_STOP=1", "-c", statement);
}

async function stackOfSecond(...args: string[]): Promise<void> {
  const command = args[0];
  const result = await new Deno.Command("bash", {
    args: [`${REPO_ROOT}scripts/stack.sh`, ...args],
    env: { PG2KAFKA_STACK_DIR: SECOND_CLUSTER.dir, PG2KAFKA_PG_PORT: String(SECOND_CLUSTER.port) },
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!result.success) {
    const stderr = new TextDecoder().decode(result.stderr);
    throw new Error(`stack.sh ${command} on the second cluster failed: ${stderr}`);
  }
}

/** A connection to the second cluster's database. */
function secondSql(): Sql {
  return postgres({
    host: STACK.pgHost,
    port: SECOND_CLUSTER.port,
    database: STACK.pgDatabase,
    username: STACK.pgUser,
    password: STACK.pgPassword,
    max: 1,
    onnotice: () => {},
  });
}

/** Inserts a row every `intervalMs` until stopped, keeping the ids that committed. */
class SteadyWriter {
  readonly committed: number[] = [];
  #running = true;
  readonly #done: Promise<void>;

  constructor(sql: Sql, table: string, intervalMs: number) {
    this.#done = this.#loop(sql, table, intervalMs);
  }

  async #loop(sql: Sql, table: string, intervalMs: number): Promise<void> {
    for (let id = 1; this.#running; id++) {
      await sql.unsafe(`INSERT INTO ${table} VALUES (${id}, 'steady')`);
      this.committed.push(id);
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
  }

  /** Stops writing; resolves once the last insert is done. */
  async stop(): Promise<number[]> {
    this.#running = false;
    await this.#done;
    return this.committed;
  }
}

const WRITE_INTERVAL_MS = 100;
/** The log line of each reconnection attempt. */
const RETRY_LINE = /reconnecting in|retrying in/;
/** Rows of A that must arrive while B is down to show A keeps flowing. */
const ROWS_DURING_OUTAGE = 10;
/** Reconnection attempts of B that must be logged while its database is down. */
const ATTEMPTS_DURING_OUTAGE = 3;

interface HealthRun {
  code: number;
  stdout: string;
}

/** Runs `pg2kafka health` as cron would, against the connector at `url`. */
async function runHealth(config: string, url: string, ...flags: string[]): Promise<HealthRun> {
  const configPath = await Deno.makeTempFile({ prefix: "pg2kafka-health-", suffix: ".toml" });
  try {
    await Deno.writeTextFile(configPath, config);
    const output = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-all",
        `${REPO_ROOT}main.ts`,
        "health",
        "--config",
        configPath,
        "--url",
        url,
        ...flags,
      ],
      env: { PG2KAFKA_PG_PASSWORD: STACK.pgPassword },
      stdout: "piped",
      stderr: "piped",
    }).output();
    return { code: output.code, stdout: new TextDecoder().decode(output.stdout).trim() };
  } finally {
    await Deno.remove(configPath);
  }
}

Deno.test(
  "a source whose database stops or whose role loses its login reconnects on its own and recovers while the other keeps streaming, named by logs, metrics, /ready and health",
  integration,
  async (t) => {
    await secondCluster("pg-start");
    const sqlA = testSql();
    const sqlB = secondSql();
    const run = uniqueName("isolate");
    const source = (name: string, port: number): SourceSpec => ({
      name,
      port,
      database: STACK.pgDatabase,
      table: `${run}_${name}`,
      slot: `${run}_${name}_slot`,
      publication: `${run}_${name}_pub`,
    });
    const a = source("a", STACK.pgPort);
    const b = source("b", SECOND_CLUSTER.port);
    await sqlA.unsafe(`CREATE TABLE ${a.table} (id int PRIMARY KEY, note text)`);
    await sqlB.unsafe(`CREATE TABLE ${b.table} (id int PRIMARY KEY, note text)`);
    const topics = { a: `tests.${run}.a`, b: `tests.${run}.b` };
    const config = multiSourceConfig([a, b], {
      targets: `
[[targets]]
name = "from_a"
sources = ["a"]
tables = ["public.*"]
topic = "${topics.a}"

[[targets]]
name = "from_b"
sources = ["b"]
tables = ["public.*"]
topic = "${topics.b}"
`,
    });
    const { connector, url } = await startConnector(config, ["a", "b"]);
    const writer = new SteadyWriter(sqlA, a.table, WRITE_INTERVAL_MS);
    let loginRevoked = false;
    try {
      await sqlB.unsafe(`INSERT INTO ${b.table} SELECT g, 'before' FROM generate_series(1, 5) g`);
      const [beforeOutage] = await readTopics([topics.b], (m) => m.length >= 5);
      const commitOfB = parseLsn(JSON.parse(beforeOutage.value!).commit_lsn);
      await waitFor("B to confirm its rows", async () => {
        return (await confirmedFlushLsn(sqlB, b.slot))! > commitOfB ? true : undefined;
      });

      await t.step("B's database stops: A keeps flowing, B retries with backoff", async () => {
        await secondCluster("pg-stop");
        const failing = await waitFor("/ready to name source b", async () => {
          const answer = await ready(url);
          return answer.status === 503 ? answer.checks.filter(({ ok }) => !ok) : undefined;
        });
        assert.deepEqual(failing.map(({ check, source }) => [check, source]), [["source", "b"]]);
        assert.match(failing[0].detail, /^reconnecting: /);
        // Where B stopped stays visible while it reconnects.
        const stopped = (await ready(url)).sources.find(({ name }) => name === "b")!;
        assert.equal(stopped.status, "reconnecting");
        assert.ok(parseLsn(stopped.flushLsn) > commitOfB, `B's flush LSN ${stopped.flushLsn}`);

        const firstDuringOutage = writer.committed.length + 1;
        const last = firstDuringOutage + ROWS_DURING_OUTAGE;
        await readTopics([topics.a], (m) => m.some((msg) => describe(msg) === `a:insert:${last}`));
        assert.equal((await ready(url)).checks.find(({ source }) => source === "b")?.ok, false);

        const attempts = await waitFor("B to log several reconnection attempts", () => {
          const lines = logLines(connector, "b", RETRY_LINE);
          return lines.length >= ATTEMPTS_DURING_OUTAGE ? lines : undefined;
        });
        assert.deepEqual(
          attempts.map(({ properties }) => properties.attempt),
          range(1, attempts.length),
        );
        assert.match(attempts[0].message, /^Source "b" lost its stream, reconnecting in/);
        assert.match(attempts[1].message, /^Source "b" could not start streaming, retrying in/);
        assert.deepEqual(logLines(connector, "a", RETRY_LINE), []);
      });

      await t.step("metrics, /health and pg2kafka health name source b", async () => {
        const metrics = await scrape(url);
        assert.equal(metrics.get(`pg2kafka_source_streaming{source="a"}`), 1);
        assert.equal(metrics.get(`pg2kafka_source_streaming{source="b"}`), 0);
        assert.ok(metrics.get(`pg2kafka_reconnects_total{source="b"}`)! >= ATTEMPTS_DURING_OUTAGE);
        assert.equal(metrics.get(`pg2kafka_reconnects_total{source="a"}`) ?? 0, 0);
        // Liveness: a source reconnecting is not a reason to restart the process.
        assert.equal((await fetch(`${url}/health`)).status, 200);

        const line = await runHealth(config, url);
        assert.equal(line.code, 2, line.stdout);
        assert.match(line.stdout, /^FAILING: connector not ready: source b reconnecting: /);
        assert.match(line.stdout, new RegExp(`cannot read slot ${b.slot} of source b`));
        assert.doesNotMatch(line.stdout, /source a/);
        const json = await runHealth(config, url, "--json");
        const report = JSON.parse(json.stdout);
        assert.equal(json.code, 2);
        assert.deepEqual(
          report.slots.map((
            { source, state }: { source: string; state: string },
          ) => [source, state]),
          [["a", "present"], ["b", "unreadable"]],
        );
      });

      await t.step(
        "B's database returns: B streams again",
        async () => {
          await secondCluster("pg-start");
          await connector.waitForLine(/Source \\"b\\" streaming slot/);
          await waitFor("/ready to answer 200 again", async () => {
            return (await ready(url)).status === 200 ? true : undefined;
          });
          await sqlB.unsafe(
            `INSERT INTO ${b.table} SELECT g, 'after' FROM generate_series(6, 10) g`,
          );
        },
      );

      await t.step(
        "B's role loses its login: B retries alone and recovers once it is back",
        async () => {
          const earlier = logLines(connector, "b", RETRY_LINE).length;
          await secondClusterAdmin(`ALTER ROLE ${STACK.pgUser} NOLOGIN`);
          loginRevoked = true;
          await secondClusterAdmin(
            `SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots
           WHERE slot_name = '${b.slot}'`,
          );
          await waitFor("B to be refused at login", () => {
            const refused = logLines(connector, "b", RETRY_LINE).slice(earlier)
              .filter(({ properties }) => /not permitted to log in/.test(String(properties.error)));
            return refused.length >= 2 ? true : undefined;
          });
          const during = writer.committed.length + ROWS_DURING_OUTAGE;
          await readTopics(
            [topics.a],
            (m) => m.some((msg) => describe(msg) === `a:insert:${during}`),
          );
          const answer = await ready(url);
          const failing = answer.checks.filter(({ ok }) => !ok);
          assert.deepEqual(failing.map(({ source }) => source), ["b"]);
          assert.match(failing[0].detail, /not permitted to log in/);

          await secondClusterAdmin(`ALTER ROLE ${STACK.pgUser} LOGIN`);
          loginRevoked = false;
          await waitFor("/ready to answer 200 again", async () => {
            return (await ready(url)).status === 200 ? true : undefined;
          });
          await sqlB.unsafe(
            `INSERT INTO ${b.table} SELECT g, 'later' FROM generate_series(11, 15) g`,
          );
        },
      );

      await t.step(
        "nothing is lost on either source",
        async () => {
          const written = await writer.stop();
          const expectedA = new Set(inserts("a", written));
          const expectedB = new Set(inserts("b", range(1, 15)));
          const messages = await readTopics([topics.a, topics.b], (m) => {
            const seen = new Set(m.map(describe));
            return [...expectedA, ...expectedB].every((row) => seen.has(row));
          });
          // At-least-once: B's reconnect may send a change twice, never lose or invent one.
          assert.deepEqual(new Set(described(messages, topics.a)), expectedA);
          assert.deepEqual(new Set(described(messages, topics.b)), expectedB);
        },
      );
      assert.equal((await connector.stop("SIGTERM")).code, 0);
    } finally {
      await writer.stop();
      await connector.stop("SIGKILL");
      await secondCluster("pg-start");
      if (loginRevoked) await secondClusterAdmin(`ALTER ROLE ${STACK.pgUser} LOGIN`);
      await dropSlotAndPublication(sqlA, a.slot, a.publication);
      await dropSlotAndPublication(sqlB, b.slot, b.publication);
      await sqlA.unsafe(`DROP TABLE IF EXISTS ${a.table}`);
      await sqlB.unsafe(`DROP TABLE IF EXISTS ${b.table}`);
      await sqlA.end();
      await sqlB.end();
      await secondCluster("pg-stop");
    }
  },
);

/** A small in-flight cap, so A's backlog holds the budget for a while. */
const SMALL_INFLIGHT_CAP = 10;
const BACKLOG_ROWS = 5000;
/** Several budget shares' worth, so B must get room again and again. */
const B_ROWS = 50;
/** B's changes must all be delivered this soon after their commit. */
const FAIR_DELIVERY_MS = 30_000;
/** Time for B's last ack and the keepalive after it, before B counts as idle. */
const IDLE_AFTER_MS = 1000;
const INFLIGHT_SAMPLE_MS = 50;

/** `pg2kafka_inflight_messages` sampled until stopped, with the time of each sample. */
class InflightSampler {
  readonly samples: { at: number; messages: number }[] = [];
  #running = true;
  readonly #done: Promise<void>;

  constructor(url: string) {
    this.#done = this.#loop(url);
  }

  async #loop(url: string): Promise<void> {
    while (this.#running) {
      const messages = (await scrape(url)).get("pg2kafka_inflight_messages")!;
      this.samples.push({ at: Date.now(), messages });
      await new Promise((resolve) => setTimeout(resolve, INFLIGHT_SAMPLE_MS));
    }
  }

  /** The most messages in flight seen in `[from, to]`. */
  async peak(from: number, to: number): Promise<number> {
    this.#running = false;
    await this.#done;
    const within = this.samples.filter(({ at }) => at >= from && at <= to);
    assert.ok(within.length > 0, "no in-flight sample in the window");
    return Math.max(...within.map(({ messages }) => messages));
  }
}

Deno.test(
  "a source with a large backlog does not starve the other's share of a small in-flight budget, and gets it all back once the other is idle",
  integration,
  async () => {
    const admin = testSql();
    const run = uniqueName("fair");
    const a = await TestDatabase.create(admin, "a", `${run}_a`);
    const b = await TestDatabase.create(admin, "b", `${run}_b`);
    const topics = { a: `tests.${run}.a`, b: `tests.${run}.b` };
    const config = multiSourceConfig([a.spec, b.spec], {
      extra: `[limits]\nmax_inflight_messages = ${SMALL_INFLIGHT_CAP}`,
      targets: `
[[targets]]
name = "from_a"
sources = ["a"]
tables = ["public.items"]
topic = "${topics.a}"

[[targets]]
name = "from_b"
sources = ["b"]
tables = ["public.items"]
topic = "${topics.b}"
`,
    });
    const { connector, url } = await startConnector(config, ["a", "b"]);
    try {
      const sampler = new InflightSampler(url);
      await a.sql`INSERT INTO items SELECT g, 'backlog' FROM generate_series(1, ${BACKLOG_ROWS}) g`;
      await b.sql`INSERT INTO items SELECT g, 'late' FROM generate_series(1, ${B_ROWS}) g`;
      const committedB = Date.now();
      const messages = await readTopics(
        [topics.a, topics.b],
        (m) => m.length >= BACKLOG_ROWS + B_ROWS,
      );
      assert.deepEqual(
        new Set(described(messages, topics.b)),
        new Set(inserts("b", range(1, B_ROWS))),
      );
      assert.equal(new Set(described(messages, topics.a)).size, BACKLOG_ROWS);
      const lastProduced = (topic: string) =>
        Math.max(...messages.filter((m) => m.topic === topic).map((m) => Number(m.timestamp)));
      const lastOfA = lastProduced(topics.a);
      const lastOfB = lastProduced(topics.b);
      const peakAlone = await sampler.peak(lastOfB + IDLE_AFTER_MS, lastOfA);
      console.log(
        `B done ${lastOfB - committedB} ms after its commit, A's backlog ${
          lastOfA - committedB
        } ms after it; peak in flight with B idle: ${peakAlone} of ${SMALL_INFLIGHT_CAP}`,
      );
      assert.ok(lastOfB - committedB < FAIR_DELIVERY_MS, "B's changes waited too long");
      assert.ok(lastOfB < lastOfA, "B's changes waited for A's whole backlog");
      // An idle B must not keep its share: A alone may fill the whole budget again.
      assert.ok(
        peakAlone > SMALL_INFLIGHT_CAP / 2,
        `A held at most ${peakAlone} of ${SMALL_INFLIGHT_CAP} messages after B went idle`,
      );
      assert.equal((await connector.stop("SIGTERM")).code, 0);
    } finally {
      await connector.stop("SIGKILL");
      await a.drop(admin);
      await b.drop(admin);
      await admin.end();
    }
  },
);
