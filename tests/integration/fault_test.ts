/**
 * The delivery path under injected network faults, through a proxy of the
 * tests' own in front of the real broker (tests/fixtures/fault_proxy.ts).
 * Under each fault, during 50,000 changes over a keyed table (on a topic that
 * exists) and a keyless one (on a topic created on first use): nothing lost,
 * per-key order kept, the slot reaches the WAL end once the fault ends. Each
 * run prints lost and duplicated changes. Then a wedged sink (the proxy
 * black-holes the broker): /health fails within `stuck_after` and SIGTERM
 * ends the process within the grace period, confirming only what was acked.
 */
import assert from "node:assert/strict";
import { type Fault, FaultProxy } from "../fixtures/fault_proxy.ts";
import {
  confirmedFlushLsn,
  connectorConfig,
  ConnectorProcess,
  currentWalLsn,
  dropSlotAndPublication,
  type ReadMessage,
  readTopics,
  STACK,
  testKafka,
  testSql,
  uniqueName,
  waitFor,
} from "./harness.ts";

const integration = { sanitizeOps: false, sanitizeResources: false };

const KEYED_ROWS = 10_000;
const KEYED_UPDATES = 2;
const KEYLESS_TRANSACTIONS = 20;
const KEYLESS_ROWS_PER_TRANSACTION = 1_000;
const CHANGES = KEYED_ROWS * (1 + KEYED_UPDATES) +
  KEYLESS_TRANSACTIONS * KEYLESS_ROWS_PER_TRANSACTION;
/** The client's request timeout in these runs: swallowed and delayed responses cost this much. */
const REQUEST_TIMEOUT_MS = 3_000;
/** How many produce requests each fault hits. */
const FAULTED_REQUESTS = 4;
const DELIVERY_TIMEOUT_MS = 300_000;
const REPO_ROOT = new URL("../../", import.meta.url).pathname;

interface Run {
  prefix: string;
  slot: string;
  publication: string;
  keyed: string;
  keyless: string;
}

function newRun(): Run {
  const prefix = uniqueName("fault");
  return {
    prefix,
    slot: `${prefix}_slot`,
    publication: `${prefix}_pub`,
    keyed: `${prefix}_k`,
    keyless: `${prefix}_n`,
  };
}

/** A config whose Kafka traffic goes through `proxy`, with `http` and `extra` TOML. */
function configFor(run: Run, proxy: FaultProxy, http = "", extra = ""): string {
  const config = connectorConfig({
    slot: run.slot,
    publication: run.publication,
    tables: [`public.${run.keyed}`, `public.${run.keyless}`],
    source: `snapshot = "never"`,
    kafka:
      `create_topics = true\ntopic_partitions = 3\nrequest_timeout = "${REQUEST_TIMEOUT_MS}ms"`,
    extra,
    targets: `
[[targets]]
name = "rows"
tables = ["public.${run.keyed}", "public.${run.keyless}"]
topic = "${run.prefix}.{table}"
`,
  });
  const proxied = config.replace(
    `brokers = ["${STACK.kafkaBroker}"]`,
    `brokers = ["${proxy.address}"]`,
  );
  return http === "" ? proxied : proxied.replace("[http]\nenabled = false", http);
}

/** The keyed table's topic exists before the connector starts; the keyless one does not. */
async function prepare(run: Run): Promise<void> {
  const sql = testSql();
  try {
    await sql.unsafe(`CREATE TABLE ${run.keyed} (id int PRIMARY KEY, v int NOT NULL)`);
    await sql.unsafe(`CREATE TABLE ${run.keyless} (a int, b text)`);
  } finally {
    await sql.end();
  }
  const admin = testKafka().admin();
  await admin.connect();
  try {
    await admin.createTopics({
      topics: [{ topic: `${run.prefix}.${run.keyed}`, numPartitions: 3, replicationFactor: 1 }],
      waitForLeaders: true,
    });
  } finally {
    await admin.disconnect();
  }
}

/** Writes the 50,000 changes: keyed inserts and updates, keyless inserts, interleaved. */
async function writeLoad(run: Run): Promise<void> {
  const sql = testSql();
  try {
    await sql.unsafe(
      `INSERT INTO ${run.keyed} SELECT g, 0 FROM generate_series(1, ${KEYED_ROWS}) g`,
    );
    for (let t = 0; t < KEYLESS_TRANSACTIONS; t++) {
      const first = t * KEYLESS_ROWS_PER_TRANSACTION + 1;
      const last = first + KEYLESS_ROWS_PER_TRANSACTION - 1;
      await sql.unsafe(
        `INSERT INTO ${run.keyless} SELECT g, 'n' FROM generate_series(${first}, ${last}) g`,
      );
      if (t % (KEYLESS_TRANSACTIONS / KEYED_UPDATES) === 0) {
        await sql.unsafe(`UPDATE ${run.keyed} SET v = v + 1`);
      }
    }
  } finally {
    await sql.end();
  }
}

/** `table/lsn` of a message: one per change. */
function changeOf(message: ReadMessage): string {
  return `${message.headers["pg2kafka.table"]}/${message.headers["pg2kafka.lsn"]}`;
}

/** Keys whose first deliveries, in partition order, are not in commit (LSN) order. */
function orderViolations(messages: readonly ReadMessage[]): number {
  const seen = new Set<string>();
  const lastByKey = new Map<string, bigint>();
  let violations = 0;
  const ordered = [...messages].sort((a, b) =>
    a.topic.localeCompare(b.topic) || a.partition - b.partition ||
    Number(BigInt(a.offset) - BigInt(b.offset))
  );
  for (const message of ordered) {
    if (message.key === null) continue;
    const change = changeOf(message);
    if (seen.has(change)) continue; // a duplicate of a change already delivered
    seen.add(change);
    const [high, low] = message.headers["pg2kafka.lsn"].split("/");
    const lsn = (BigInt(`0x${high}`) << 32n) | BigInt(`0x${low}`);
    const key = `${message.topic}/${message.key}`;
    if ((lastByKey.get(key) ?? -1n) > lsn) violations++;
    lastByKey.set(key, lsn);
  }
  return violations;
}

async function cleanUp(run: Run): Promise<void> {
  const sql = testSql();
  try {
    await dropSlotAndPublication(sql, run.slot, run.publication);
    await sql.unsafe(`DROP TABLE IF EXISTS ${run.keyed}, ${run.keyless}`);
  } finally {
    await sql.end();
  }
}

/** One fault during the load: counts, order and the slot, then a clean stop. */
async function underFault(fault: Fault, delayMs = 0): Promise<void> {
  const run = newRun();
  await prepare(run);
  const proxy = FaultProxy.start(STACK.kafkaBroker);
  const connector = ConnectorProcess.start(configFor(run, proxy));
  const sql = testSql();
  try {
    await connector.waitForLine(/streaming slot/, 60_000);
    proxy.inject(fault, FAULTED_REQUESTS, delayMs);
    await writeLoad(run);
    const walEnd = await currentWalLsn(sql);
    const distinct = new Set<string>();
    let counted = 0;
    const messages = await readTopics(
      [`${run.prefix}.${run.keyed}`, `${run.prefix}.${run.keyless}`],
      (read) => {
        for (; counted < read.length; counted++) distinct.add(changeOf(read[counted]));
        return distinct.size >= CHANGES;
      },
      DELIVERY_TIMEOUT_MS,
    ).catch((error) => {
      throw new Error(`${error.message}; fault applied ${proxy.applied} time(s)`);
    });
    const lost = CHANGES - distinct.size;
    const duplicates = messages.length - distinct.size;
    const violations = orderViolations(messages);
    console.log(
      `fault ${fault}: applied to ${proxy.applied} produce request(s); ${CHANGES} changes, ` +
        `lost ${lost}, duplicates ${duplicates}, per-key order violations ${violations}`,
    );
    assert.ok(proxy.applied > 0, `the ${fault} fault never hit a produce request`);
    assert.equal(lost, 0);
    assert.equal(violations, 0);
    proxy.clear();
    await waitFor("the slot to reach the WAL end", async () => {
      const flushed = await confirmedFlushLsn(sql, run.slot);
      return flushed !== undefined && flushed >= walEnd ? true : undefined;
    }, DELIVERY_TIMEOUT_MS);
    assert.equal((await connector.stop("SIGTERM")).code, 0);
  } finally {
    await connector.stop("SIGKILL");
    proxy.close();
    await sql.end();
    await cleanUp(run);
  }
}

Deno.test(
  "swallowed produce responses during 50,000 changes lose nothing",
  integration,
  () => underFault("swallow"),
);

Deno.test(
  "connections cut mid-request during 50,000 changes lose nothing",
  integration,
  () => underFault("cut"),
);

Deno.test(
  "responses delayed past the request timeout during 50,000 changes lose nothing",
  integration,
  () => underFault("delay", REQUEST_TIMEOUT_MS + 2_000),
);

Deno.test(
  "a leader move (NOT_LEADER_OR_FOLLOWER) during 50,000 changes loses nothing",
  integration,
  () => underFault("not_leader"),
);

const STUCK_AFTER_MS = 5_000;
const GRACE_PERIOD_MS = 3_000;
/** Slack for the once-a-second tick and a loaded machine. */
const SLACK_MS = 10_000;

Deno.test(
  "a wedged sink fails /health within stuck_after, health says why, and SIGTERM exits within the grace period",
  integration,
  async () => {
    const run = newRun();
    await prepare(run);
    const proxy = FaultProxy.start(STACK.kafkaBroker);
    const http = `[http]\nenabled = true\nlisten = "127.0.0.1:0"`;
    const extra = `[limits]\nstuck_after = "${STUCK_AFTER_MS}ms"\n` +
      `[shutdown]\ngrace_period = "${GRACE_PERIOD_MS}ms"`;
    const config = configFor(run, proxy, http, extra);
    const connector = ConnectorProcess.start(config);
    const sql = testSql();
    try {
      await connector.waitForLine(/streaming slot/, 60_000);
      const url = JSON.parse(await connector.waitForLine(/HTTP endpoints listening on/))
        .properties.url as string;
      await sql.unsafe(`INSERT INTO ${run.keyed} SELECT g, 0 FROM generate_series(1, 100) g`);
      const acked = await currentWalLsn(sql);
      await waitFor("the first rows to be confirmed", async () => {
        const flushed = await confirmedFlushLsn(sql, run.slot);
        return flushed !== undefined && flushed >= acked ? true : undefined;
      }, 60_000);
      assert.equal(await fetch(`${url}/health`).then((r) => (r.body?.cancel(), r.status)), 200);

      proxy.inject("blackhole");
      await sql.unsafe(`INSERT INTO ${run.keyed} SELECT g, 0 FROM generate_series(101, 200) g`);
      const wedgedAt = Date.now();
      const body = await waitFor("/health to fail", async () => {
        const response = await fetch(`${url}/health`);
        const text = await response.text();
        return response.status === 503 ? text : undefined;
      }, STUCK_AFTER_MS + SLACK_MS);
      const failedAfterMs = Date.now() - wedgedAt;
      console.log(`wedged sink: /health failed after ${failedAfterMs} ms: ${body}`);
      assert.match(body, /source main stuck: \d+ message\(s\) in flight and none settled/);

      const health = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "--allow-all",
          `${REPO_ROOT}main.ts`,
          "health",
          "--config",
          connector.configPath,
          "--url",
          url,
        ],
        env: { PG2KAFKA_PG_PASSWORD: STACK.pgPassword },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const said = new TextDecoder().decode(health.stdout) +
        new TextDecoder().decode(health.stderr);
      console.log(`wedged sink: pg2kafka health exited ${health.code}: ${said.trim()}`);
      assert.equal(health.code, 2, said);
      assert.match(said, /stuck/);

      const signalled = Date.now();
      const status = await connector.stop("SIGTERM");
      const exitedAfterMs = Date.now() - signalled;
      console.log(`wedged sink: SIGTERM exit ${status.code} after ${exitedAfterMs} ms`);
      assert.notEqual(status.code, 0, "a drain that did not finish is not a clean exit");
      assert.ok(
        exitedAfterMs <= GRACE_PERIOD_MS + 5_000,
        `exited ${exitedAfterMs} ms after SIGTERM`,
      );
      const flushed = await confirmedFlushLsn(sql, run.slot);
      const walEnd = await currentWalLsn(sql);
      assert.ok(flushed !== undefined && flushed >= acked, "what was acked stays confirmed");
      assert.ok(flushed < walEnd, "nothing unacknowledged was confirmed");
    } finally {
      await connector.stop("SIGKILL");
      proxy.close();
      await sql.end();
      await cleanUp(run);
    }
  },
);
