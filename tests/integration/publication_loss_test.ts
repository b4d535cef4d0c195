/**
 * A publication dropped while its slot streams (project issue 14, part 2):
 * pg2kafka recreates it, but the walsender keeps answering "publication …
 * does not exist" for the older WAL. The retries must back off (the attempt
 * number grows, not "attempt 1" twice a second), and the error, /ready and
 * `pg2kafka health` must name the cause and the way out.
 */
import assert from "node:assert/strict";
import { connectorConfig, ConnectorProcess, sleep, testSql, uniqueName } from "./harness.ts";

const integration = { sanitizeOps: false, sanitizeResources: false };
const REPO_ROOT = new URL("../../", import.meta.url).pathname;
/** How long the failing sessions are watched. */
const WATCH_MS = 8_000;
/** Pause between the writes to the unpublished table. */
const OTHER_WRITE_PAUSE_MS = 50;

interface RetryLine {
  attempt: number;
  delayMs: number;
  error: string;
}

function retries(lines: readonly string[]): RetryLine[] {
  return lines.flatMap((line) => {
    if (!line.includes("does not exist")) return [];
    try {
      const { properties } = JSON.parse(line);
      if (typeof properties?.attempt !== "number") return [];
      return [{
        attempt: properties.attempt,
        delayMs: properties.delayMs,
        error: properties.error,
      }];
    } catch {
      return [];
    }
  });
}

Deno.test(
  "a dropped publication makes the reconnects back off and names the way out",
  integration,
  async () => {
    const table = uniqueName("pub_loss");
    const slot = `${table}_slot`;
    const publication = `${table}_pub`;
    const sql = testSql();
    await sql.unsafe(`CREATE TABLE ${table} (id int PRIMARY KEY)`);
    // Traffic on a table no publication takes: pgoutput sends its transactions
    // empty, which must not count as a session that worked.
    const other = `${table}_other`;
    await sql.unsafe(`CREATE TABLE ${other} (id serial PRIMARY KEY)`);
    let writing = true;
    const otherWriter = (async () => {
      while (writing) {
        await sql.unsafe(`INSERT INTO ${other} DEFAULT VALUES`);
        await sleep(OTHER_WRITE_PAUSE_MS);
      }
    })();
    const config = connectorConfig({
      slot,
      publication,
      tables: [`public.${table}`],
      source: `[sources.reconnect]\ninitial_backoff = "200ms"\nmax_backoff = "10s"\njitter = 0.0`,
      kafka: `progress_topic = "tests.${table}.progress"`,
      targets: `[[targets]]\nname = "rows"\ntables = ["public.${table}"]\ntopic = "tests.{table}"`,
    }).replace("[http]\nenabled = false", '[http]\nenabled = true\nlisten = "127.0.0.1:0"');
    const connector = ConnectorProcess.start(config);
    try {
      await connector.waitForLine(/streaming slot/);
      const listening = await connector.waitForLine(/HTTP endpoints listening/);
      const url = JSON.parse(listening).properties.url as string;
      await sql.unsafe(`INSERT INTO ${table} VALUES (1)`);
      await sql.unsafe(`DROP PUBLICATION "${publication}"`);
      await sql.unsafe(`INSERT INTO ${table} VALUES (2)`);
      await connector.waitForLine(/does not exist/);
      await sleep(WATCH_MS);

      const seen = retries(connector.lines);
      assert.ok(seen.length >= 3, `only ${seen.length} retries:\n${connector.lines.join("\n")}`);
      // 200 ms doubling: 200 + 400 + 800 + 1600 + 3200 > 6 s, so at most a handful in 8 s.
      assert.ok(seen.length <= 8, `${seen.length} retries in ${WATCH_MS} ms: no backoff`);
      // The session before the first retry may have confirmed the change made before the
      // drop (a fresh start after it); from then on every retry counts.
      for (let i = 2; i < seen.length; i++) {
        assert.equal(seen[i].attempt, seen[i - 1].attempt + 1, "the attempt number did not grow");
        assert.ok(seen[i].delayMs > seen[i - 1].delayMs, "the delay did not grow");
      }
      assert.match(seen[0].error, /pg_drop_replication_slot\('.*'\)/);
      assert.match(seen[0].error, /snapshot = "when_needed"/);

      const ready = await (await fetch(`${url}/ready`)).json();
      assert.equal(ready.ready, false);
      const check = ready.checks.find((c: { source?: string }) => c.source === "main");
      assert.match(check.detail, /does not exist.*Way out: stop pg2kafka, drop the slot/);

      const configPath = await Deno.makeTempFile({ suffix: ".toml" });
      await Deno.writeTextFile(configPath, config);
      const health = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", `${REPO_ROOT}main.ts`, "health", "-c", configPath, "--url", url],
        env: { PG2KAFKA_PG_PASSWORD: Deno.env.get("PG2KAFKA_PG_PASSWORD") ?? "pg2kafka-local" },
        stdout: "piped",
        stderr: "piped",
      }).output();
      await Deno.remove(configPath);
      const line = new TextDecoder().decode(health.stdout);
      assert.notEqual(health.code, 0, line);
      assert.match(line, /does not exist.*Way out/);
    } finally {
      writing = false;
      await otherWriter;
      await sql.unsafe(`DROP TABLE ${other}`);
      await connector.stop("SIGKILL");
      await sql`SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots
                WHERE slot_name = ${slot} AND NOT active`;
      await sql.unsafe(`DROP PUBLICATION IF EXISTS "${publication}"`);
      await sql.unsafe(`DROP TABLE ${table}`);
      await sql.end();
    }
  },
);
