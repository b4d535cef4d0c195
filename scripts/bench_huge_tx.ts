/**
 * Measures the connector's memory through one huge transaction (project
 * issues 3 and 21, DESIGN invariant 4): a single `INSERT … SELECT
 * generate_series` of N rows (1,000,000 by default) on the local stack,
 * streamed to Kafka, with the connector's peak resident memory (`VmHWM` of
 * /proc/PID/status) sampled before and after.
 *
 * `--target change` (the default) sends one message per row; `--target
 * held` uses a transaction target whose `where` reads `tx.size`, so the
 * transaction is held until its commit: in memory up to
 * `--transaction-buffer` (pg2kafka's default 16MiB when left out), spilled
 * to a file beyond.
 *
 * The transaction is done when the slot's confirmed flush LSN passes its
 * commit: every message was acked by Kafka.
 *
 *   export PG2KAFKA_STACK_DIR=… PG2KAFKA_PG_PORT=… PG2KAFKA_KAFKA_PORT=… \
 *     PG2KAFKA_KAFKA_CONTROLLER_PORT=…
 *   bash scripts/stack.sh up && eval "$(bash scripts/stack.sh env)"
 *   bash scripts/deno.sh run --allow-all scripts/bench_huge_tx.ts [--rows 1000000] \
 *     [--target change|held] [--transaction-buffer 16MiB]
 *
 * @module
 */
import { parseArgs } from "node:util";
import {
  confirmedFlushLsn,
  connectorConfig,
  ConnectorProcess,
  currentWalLsn,
  dropSlotAndPublication,
  processMemory,
  testKafka,
  testSql,
  uniqueName,
  waitFor,
} from "../tests/integration/harness.ts";

const DEFAULT_ROWS = 1_000_000;
const SAMPLE_MS = 250;
const BYTES_PER_MIB = 1024 * 1024;
const MS_PER_SECOND = 1000;
/** A million rows through Kafka on a small machine: minutes, not hours. */
const DELIVERY_TIMEOUT_MS = 30 * 60 * MS_PER_SECOND;

const { values: args } = parseArgs({
  args: Deno.args,
  options: {
    rows: { type: "string", default: String(DEFAULT_ROWS) },
    "max-inflight-messages": { type: "string" },
    target: { type: "string", default: "change" },
    "transaction-buffer": { type: "string" },
  },
});
const rows = Number(args.rows);
if (args.target !== "change" && args.target !== "held") {
  throw new Error(`--target must be change or held, got "${args.target}"`);
}

const sql = testSql();
const table = uniqueName("huge_tx");
const slot = `${table}_slot`;
const publication = `${table}_pub`;
const topic = `bench.${table}`;
await sql.unsafe(`CREATE TABLE ${table} (id int PRIMARY KEY, note text, amount numeric)`);
const limitLines = [
  args["max-inflight-messages"] && `max_inflight_messages = ${args["max-inflight-messages"]}`,
  args["transaction-buffer"] && `transaction_buffer_bytes = "${args["transaction-buffer"]}"`,
].filter(Boolean);
const limits = limitLines.length > 0 ? `[limits]\n${limitLines.join("\n")}` : "";
const targets = args.target === "change"
  ? `
[[targets]]
name = "rows"
tables = ["public.${table}"]
topic = "bench.{table}"
`
  : `
[[targets]]
name = "held"
tables = ["public.${table}"]
mode = "transaction"
topic = "${topic}"
where = "tx.size > 1"
`;
const connector = ConnectorProcess.start(connectorConfig({
  slot,
  publication,
  tables: [`public.${table}`],
  extra: limits,
  targets,
}));

let peak = 0;
let sampling = true;
const sampler = (async () => {
  while (sampling) {
    peak = Math.max(peak, (await processMemory(connector.pid)).peak);
    await new Promise((resolve) => setTimeout(resolve, SAMPLE_MS));
  }
})();

try {
  await connector.waitForLine(/streaming slot/);
  const idle = await processMemory(connector.pid);
  const started = performance.now();
  await sql.unsafe(
    `INSERT INTO ${table}
     SELECT g, 'row ' || g, g * 1.5 FROM generate_series(1, ${rows}) g`,
  );
  const committed = performance.now();
  const commitEnd = await currentWalLsn(sql);
  await waitFor("Kafka to ack the whole transaction", async () => {
    const lsn = await confirmedFlushLsn(sql, slot);
    return lsn !== undefined && lsn >= commitEnd ? lsn : undefined;
  }, DELIVERY_TIMEOUT_MS);
  const delivered = performance.now();
  const final = await processMemory(connector.pid);
  sampling = false;
  await sampler;
  const seconds = (delivered - committed) / MS_PER_SECOND;
  const mib = (bytes: number) => (bytes / BYTES_PER_MIB).toFixed(1);
  console.log(JSON.stringify(
    {
      rows,
      target: args.target,
      transaction_buffer: args["transaction-buffer"] ?? "default",
      insert_seconds: Number(((committed - started) / MS_PER_SECOND).toFixed(1)),
      delivery_seconds: Number(seconds.toFixed(1)),
      rows_per_second: Math.round(rows / seconds),
      connector_rss_idle_mib: Number(mib(idle.rss)),
      connector_peak_rss_mib: Number(mib(Math.max(peak, final.peak))),
      connector_rss_after_mib: Number(mib(final.rss)),
    },
    null,
    2,
  ));
} finally {
  sampling = false;
  await connector.stop("SIGKILL");
  await dropSlotAndPublication(sql, slot, publication);
  await sql.unsafe(`DROP TABLE IF EXISTS ${table}`);
  await sql.end();
  const admin = testKafka().admin();
  await admin.connect();
  await admin.deleteTopics({ topics: [topic] }).catch(() => {});
  await admin.disconnect();
}
