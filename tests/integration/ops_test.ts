/**
 * The operations surface against the real stack (project issue 6): what
 * `/metrics` counts after a known workload, `/ready` following the broker,
 * the bearer token, `pg2kafka health` exit codes, and no secret in any log
 * line of the connector.
 */
import assert from "node:assert/strict";
import {
  connectorConfig,
  ConnectorProcess,
  dropSlotAndPublication,
  readTopics,
  STACK,
  stack,
  testSql,
  uniqueName,
  waitFor,
} from "./harness.ts";

const integration = { sanitizeOps: false, sanitizeResources: false };
const REPO_ROOT = new URL("../../", import.meta.url).pathname;
const REDACTED = "[redacted]";

/** The HTTP token, from the environment as an operator would set it. */
const TOKEN = `ops-token-${crypto.randomUUID()}`;
const AUTH = { headers: { authorization: `Bearer ${TOKEN}` } };

interface Fixture {
  table: string;
  slot: string;
  publication: string;
  config: string;
  /** What the connector and `health` see in their environment. */
  env: Record<string, string>;
}

/**
 * A table, its slot and a config with HTTP on a free port behind the token.
 * The slot name comes from the environment too: interpolated values are
 * secrets, and this one is logged (`streaming slot …`), so the redaction
 * is exercised on a value that really reaches the log lines.
 */
async function setUp(sql: ReturnType<typeof testSql>, targets: string): Promise<Fixture> {
  const table = uniqueName("ops");
  await sql.unsafe(`CREATE TABLE ${table} (id int PRIMARY KEY, amount int)`);
  const slot = `${table}_slot`;
  const publication = `${table}_pub`;
  const base = connectorConfig({
    slot: "${PG2KAFKA_TEST_SLOT}",
    publication,
    tables: [`public.${table}`],
    targets: targets.replaceAll("{TABLE}", table),
  });
  const disabled = "[http]\nenabled = false";
  assert.ok(base.includes(disabled), "the harness config has changed its [http] table");
  const config = base.replace(
    disabled,
    '[http]\nenabled = true\nlisten = "127.0.0.1:0"\ntoken = "${PG2KAFKA_HTTP_TOKEN}"',
  );
  const env = {
    PG2KAFKA_PG_PASSWORD: STACK.pgPassword,
    PG2KAFKA_HTTP_TOKEN: TOKEN,
    PG2KAFKA_TEST_SLOT: slot,
  };
  return { table, slot, publication, config, env };
}

const ONE_TARGET = `
[[targets]]
name = "all"
tables = ["public.{TABLE}"]
topic = "tests.{table}"
`;

/** Starts the connector and returns it with the URL its log line gives. */
async function startConnector(fx: Fixture): Promise<{ connector: ConnectorProcess; url: string }> {
  const connector = ConnectorProcess.start(fx.config, fx.env);
  const line = await connector.waitForLine(/HTTP endpoints listening on/);
  const url = JSON.parse(line).properties.url as string;
  await connector.waitForLine(/streaming slot/);
  return { connector, url };
}

/** Every secret the config holds must be missing from every line the connector printed. */
function assertNoSecrets(fx: Fixture, lines: readonly string[]): void {
  assert.ok(lines.length > 0, "the connector printed nothing");
  for (const secret of [TOKEN, fx.slot, STACK.pgPassword]) {
    const leaks = lines.filter((line) => line.includes(secret));
    assert.deepEqual(leaks, [], `a secret appears in ${leaks.length} log line(s)`);
  }
}

/** Samples of a Prometheus text, keyed `name{labels}` as printed. */
function parseMetrics(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const space = line.lastIndexOf(" ");
    samples.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return samples;
}

async function scrape(url: string): Promise<Map<string, number>> {
  const response = await fetch(`${url}/metrics`, AUTH);
  assert.equal(response.status, 200);
  assert.match(response.headers.get("content-type")!, /^text\/plain; version=0\.0\.4/);
  return parseMetrics(await response.text());
}

async function ready(url: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${url}/ready`, AUTH);
  return { status: response.status, body: await response.json() };
}

Deno.test(
  "a scrape of /metrics after a known workload counts what was delivered, filtered and committed",
  integration,
  async () => {
    const sql = testSql();
    const fx = await setUp(
      sql,
      `${ONE_TARGET}
[[targets]]
name = "big"
tables = ["public.{TABLE}"]
topic = "tests.{table}.big"
where = "op != 'delete' && new.amount > 100"
`,
    );
    const { connector, url } = await startConnector(fx);
    try {
      // Three transactions: 4 inserts, 2 updates, 1 delete. Target "big" takes
      // the inserts of 300 and 400 and the update to 301, and filters out 4.
      await sql.unsafe(`INSERT INTO ${fx.table} VALUES (1, 10), (2, 20), (3, 300), (4, 400)`);
      await sql.unsafe(`UPDATE ${fx.table} SET amount = amount + 1 WHERE id IN (1, 3)`);
      await sql.unsafe(`DELETE FROM ${fx.table} WHERE id = 2`);
      const sent = await readTopics([`tests.${fx.table}`, `tests.${fx.table}.big`], (m) => {
        return m.length >= 10;
      });
      assert.equal(sent.length, 10);

      const series = (target: string, outcome: string) =>
        `pg2kafka_changes_total{source="main",target="${target}",outcome="${outcome}"}`;
      const metrics = await waitFor("the counters to settle", async () => {
        const samples = await scrape(url);
        const settled = samples.get(series("all", "delivered")) === 7 &&
          samples.get(series("big", "delivered")) === 3;
        return settled ? samples : undefined;
      });
      const changes = [...metrics].filter(([name]) => name.startsWith("pg2kafka_changes_total"));
      assert.deepEqual(
        new Map(changes),
        new Map([
          [series("all", "delivered"), 7],
          [series("big", "delivered"), 3],
          [series("big", "filtered"), 4],
        ]),
      );
      // The three above and the initial snapshot of the (empty) table.
      assert.equal(metrics.get(`pg2kafka_transactions_total{source="main"}`), 4);
      assert.ok(metrics.get("pg2kafka_produce_latency_seconds_count")! >= 1);
      assert.ok(metrics.get(`pg2kafka_confirmed_flush_lsn{source="main"}`)! > 0);
      assert.equal(metrics.get("pg2kafka_circuit_state"), 0);
      assert.equal(metrics.get(`pg2kafka_source_streaming{source="main"}`), 1);
      assert.equal(metrics.get("pg2kafka_kafka_reachable"), 1);
      // The slot monitor polls pg_replication_slots every few seconds.
      const slot = await waitFor("the slot monitor to see the slot active", async () => {
        const samples = await scrape(url);
        return samples.get(`pg2kafka_slot_active{source="main"}`) === 1 ? samples : undefined;
      });
      assert.ok(slot.get(`pg2kafka_slot_retained_wal_bytes{source="main"}`)! > 0);
      assert.ok(slot.get(`pg2kafka_replication_lag_bytes{source="main"}`)! >= 0);
      const lag = await waitFor("the lag to read 0 once caught up", async () => {
        const value = (await scrape(url)).get(`pg2kafka_replication_lag_seconds{source="main"}`);
        return value === 0 ? value : undefined;
      });
      assert.equal(lag, 0);

      assert.equal((await connector.stop("SIGTERM")).code, 0);
      assertNoSecrets(fx, connector.lines);
      assert.ok(
        connector.lines.some((line) => line.includes(`streaming slot \\"${REDACTED}\\"`)),
        "the slot name (an interpolated value) reached the logs redacted",
      );
    } finally {
      await connector.stop("SIGKILL");
      await dropSlotAndPublication(sql, fx.slot, fx.publication);
      await sql.end();
    }
  },
);

Deno.test(
  "the token guards /ready and /metrics: missing or wrong gets 401, right gets in; /health is open",
  integration,
  async () => {
    const sql = testSql();
    const fx = await setUp(sql, ONE_TARGET);
    const { connector, url } = await startConnector(fx);
    try {
      const health = await fetch(`${url}/health`);
      assert.equal(health.status, 200);
      assert.deepEqual(await health.json(), { alive: true, problems: [] });
      for (const path of ["/ready", "/metrics"]) {
        const missing = await fetch(`${url}${path}`);
        assert.equal(missing.status, 401, `${path} without a token`);
        assert.match(missing.headers.get("www-authenticate")!, /^Bearer/);
        await missing.body?.cancel();
        const wrong = await fetch(`${url}${path}`, {
          headers: { authorization: `Bearer ${TOKEN.slice(0, -1)}` },
        });
        assert.equal(wrong.status, 401, `${path} with a wrong token`);
        await wrong.body?.cancel();
        const right = await fetch(`${url}${path}`, AUTH);
        assert.equal(right.status, 200, `${path} with the token`);
        await right.body?.cancel();
      }
      const post = await fetch(`${url}/ready`, { ...AUTH, method: "POST" });
      assert.equal(post.status, 405);
      await post.body?.cancel();
      assert.equal((await connector.stop("SIGTERM")).code, 0);
      assertNoSecrets(fx, connector.lines);
    } finally {
      await connector.stop("SIGKILL");
      await dropSlotAndPublication(sql, fx.slot, fx.publication);
      await sql.end();
    }
  },
);

Deno.test(
  "/ready fails on the kafka check while the broker is stopped and recovers when it returns",
  integration,
  async () => {
    const sql = testSql();
    const fx = await setUp(sql, ONE_TARGET);
    const { connector, url } = await startConnector(fx);
    try {
      await waitFor("/ready to answer 200", async () => {
        return (await ready(url)).status === 200 ? true : undefined;
      });
      await stack("kafka-stop");
      const down = await waitFor("/ready to answer 503", async () => {
        const answer = await ready(url);
        return answer.status === 503 ? answer.body : undefined;
      }, 60_000);
      const checks = down.checks as { check: string; ok: boolean; detail: string }[];
      const failed = checks.filter(({ ok }) => !ok);
      assert.deepEqual(failed.map(({ check }) => check), ["kafka"]);
      assert.match(failed[0].detail, /^unreachable: /);
      // Liveness does not depend on Kafka: a broker outage must not restart the connector.
      assert.equal((await fetch(`${url}/health`)).status, 200);

      // A change Kafka cannot take opens the circuit after three failed produce
      // attempts (each takes kafkajs seconds to give up): the source shows it waits.
      await sql.unsafe(`INSERT INTO ${fx.table} VALUES (1, 1)`);
      const paused = `pg2kafka_source_paused{source="main"}`;
      await waitFor("the source to show it is paused", async () => {
        const { body } = await ready(url);
        const source = (body.checks as { check: string; detail: string }[])
          .find(({ check }) => check === "source");
        return source?.detail === "paused" && (await scrape(url)).get(paused) === 1
          ? true
          : undefined;
      }, 90_000);

      await stack("kafka-start");
      await waitFor("/ready to answer 200 again", async () => {
        return (await ready(url)).status === 200 ? true : undefined;
      }, 90_000);
      await waitFor("the source to stream unpaused", async () => {
        return (await scrape(url)).get(paused) === 0 ? true : undefined;
      });
      await readTopics([`tests.${fx.table}`], (m) => m.length >= 1);
      assert.equal((await connector.stop("SIGTERM")).code, 0);
      assertNoSecrets(fx, connector.lines);
    } finally {
      await stack("kafka-start");
      await connector.stop("SIGKILL");
      await dropSlotAndPublication(sql, fx.slot, fx.publication);
      await sql.end();
    }
  },
);

interface HealthRun {
  code: number;
  report: {
    status: string;
    problems: { severity: string; message: string }[];
    connector: { state: string };
    slots: { source: string; active: boolean; retainedBytes: number | null }[];
  };
}

/** Runs `pg2kafka health --json` as cron would, on its own copy of the config. */
async function runHealth(fx: Fixture, url: string, ...flags: string[]): Promise<HealthRun> {
  const configPath = await Deno.makeTempFile({ prefix: "pg2kafka-health-", suffix: ".toml" });
  try {
    await Deno.writeTextFile(configPath, fx.config);
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
        "--json",
        ...flags,
      ],
      env: fx.env,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stdout = new TextDecoder().decode(output.stdout);
    for (const secret of [TOKEN, fx.slot, STACK.pgPassword]) {
      assert.ok(!stdout.includes(secret), "health printed a secret");
    }
    return { code: output.code, report: JSON.parse(stdout) };
  } finally {
    await Deno.remove(configPath);
  }
}

const RETENTION_THRESHOLD = "512KiB";
/** Rows of about 1 kB: some 2 MiB of WAL, well over the threshold. */
const FILLER_ROWS = 2000;

Deno.test(
  "pg2kafka health exits 0 when all is well, 2 when the slot retains too much WAL or the connector is stopped",
  integration,
  async (t) => {
    const sql = testSql();
    const fx = await setUp(sql, ONE_TARGET);
    const filler = `${fx.table}_filler`;
    await sql.unsafe(`CREATE TABLE ${filler} (id int, pad text)`);
    const { connector, url } = await startConnector(fx);
    try {
      await waitFor("/ready to answer 200", async () => {
        return (await ready(url)).status === 200 ? true : undefined;
      });

      await t.step("exit 0 while the connector is ready and the slot active", async () => {
        const { code, report } = await runHealth(
          fx,
          url,
          "--max-retained-wal",
          RETENTION_THRESHOLD,
        );
        assert.deepEqual([code, report.status, report.problems], [0, "healthy", []]);
        assert.equal(report.connector.state, "ready");
        assert.deepEqual(report.slots.map(({ source, active }) => [source, active]), [
          ["main", true],
        ]);
      });

      await t.step("exit 2 once a long transaction makes the slot retain WAL", async () => {
        // An open transaction pins the slot's restart_lsn: WAL written after
        // it stays on disk however fast pg2kafka confirms.
        const holder = await sql.reserve();
        try {
          await holder.unsafe("BEGIN");
          await holder.unsafe(`INSERT INTO ${filler} VALUES (0, 'held open')`);
          await sql.unsafe(
            `INSERT INTO ${filler} SELECT g, repeat('x', 1000) FROM generate_series(1, ${FILLER_ROWS}) g`,
          );
          const { code, report } = await runHealth(
            fx,
            url,
            "--max-retained-wal",
            RETENTION_THRESHOLD,
          );
          assert.equal(code, 2);
          assert.equal(report.status, "failing");
          assert.equal(report.connector.state, "ready");
          assert.deepEqual(report.problems.map(({ severity }) => severity), ["failing"]);
          assert.match(report.problems[0].message, /retains .* of WAL, over 512\.0 KiB/);
          assert.ok(report.slots[0].retainedBytes! > 512 * 1024);
          await holder.unsafe("ROLLBACK");
        } finally {
          holder.release();
        }
      });

      await t.step("exit 2 once the connector is stopped", async () => {
        assert.equal((await connector.stop("SIGTERM")).code, 0);
        await waitFor("the slot to become inactive", async () => {
          const [row] = await sql`SELECT active FROM pg_replication_slots
                                  WHERE slot_name = ${fx.slot}`;
          return row.active ? undefined : true;
        });
        const { code, report } = await runHealth(fx, url);
        assert.equal(code, 2);
        assert.equal(report.connector.state, "unreachable");
        assert.deepEqual(report.problems.map(({ severity }) => severity), ["degraded", "failing"]);
        assert.match(report.problems[1].message, /inactive and the connector is unreachable/);
      });
      assertNoSecrets(fx, connector.lines);
    } finally {
      await connector.stop("SIGKILL");
      await dropSlotAndPublication(sql, fx.slot, fx.publication);
      await sql.unsafe(`DROP TABLE IF EXISTS ${filler}`);
      await sql.end();
    }
  },
);
