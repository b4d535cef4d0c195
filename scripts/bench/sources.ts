/**
 * The many-sources run (project issue 21): N sources on one server, one
 * database each, as a team with a database per tenant runs pg2kafka. For
 * each N of `--sources`: the time from spawning the connector until every
 * slot is streamed, its peak RSS and CPU, the connections it holds on the
 * server (by the purpose their `application_name` shows), the most it held
 * during start-up, and the time until one change per database, written once
 * all stream, is in Kafka.
 *
 * The bench creates each database with a table, a publication and a slot
 * before the connector starts, and drops them afterwards.
 *
 * @module
 */
import postgres, { type Sql } from "postgres";
import type { StackEndpoints } from "./stack.ts";
import { BenchConnector, type ConnectorOutcome } from "./connector.ts";
import { createBenchTopic, waitForMessages } from "./kafka.ts";
import type { RunContext } from "./runs.ts";

/** What one many-sources run measured. */
export interface SourcesRun {
  readonly sources: number;
  /** From spawning the connector until every slot is active, ms. */
  readonly startToStreamingMs: number;
  /** From writing one change per database until all are in Kafka, ms. */
  readonly deliveryMs: number;
  readonly peakRssBytes: number | null;
  readonly cpuSeconds: number | null;
  /** Connections held once every source streams, by purpose (`replication`, `monitor`, …). */
  readonly held: Readonly<Record<string, number>>;
  /** The most connections the connector held at once during start-up. */
  readonly peakConnections: number;
  readonly exitCode: number;
}

const POLL_MS = 100;
/** Start-up allowance per source, on top of a fixed one. */
const STREAMING_MS_PER_SOURCE = 2_000;
const STREAMING_BASE_MS = 60_000;
const DELIVERY_TIMEOUT_MS = 120_000;

/** Runs the connector over each count of `context.options.sources`. */
export async function runSources(
  context: RunContext,
  log: (line: string) => void,
): Promise<SourcesRun[]> {
  const runs: SourcesRun[] = [];
  for (const count of context.options.sources) runs.push(await runSourcesOnce(context, count, log));
  return runs;
}

/** One database of the run, with its table, publication and slot. */
interface TenantDatabase {
  readonly name: string;
  readonly sql: Sql;
}

async function runSourcesOnce(
  context: RunContext,
  count: number,
  log: (line: string) => void,
): Promise<SourcesRun> {
  const prefix = `bench_src_${Date.now().toString(36)}`;
  const topic = `bench.${prefix}`;
  log(`sources: creating ${count} database(s) with a table, publication and slot each`);
  const databases: TenantDatabase[] = [];
  try {
    for (let i = 0; i < count; i++) {
      databases.push(await createTenant(context.sql, context.stack, `${prefix}_${i}`));
    }
    await createBenchTopic(context.admin, topic);
    log(`sources: starting the connector with ${count} source(s)`);
    const connector = BenchConnector.start(
      context.options.entry,
      sourcesConfig(context.stack, databases, topic),
      context.stack.pgPassword,
    );
    let outcome: ConnectorOutcome | null = null;
    try {
      const slots = databases.map(({ name }) => slotOf(name));
      let peakConnections = 0;
      const deadline = Date.now() + STREAMING_BASE_MS + count * STREAMING_MS_PER_SOURCE;
      while (await activeSlots(context.sql, slots) < count) {
        peakConnections = Math.max(peakConnections, total(await heldConnections(context.sql)));
        const failure = connector.failure();
        if (failure !== null) throw new Error(`${failure}\n${connector.output}`);
        if (Date.now() > deadline) {
          throw new Error(`Not every source streams after ${Date.now() - connector.startedAt} ms`);
        }
        await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      }
      const startToStreamingMs = Date.now() - connector.startedAt;
      const held = await heldConnections(context.sql);
      peakConnections = Math.max(peakConnections, total(held));
      log(`sources: ${count} streaming after ${startToStreamingMs} ms; ${JSON.stringify(held)}`);
      const written = performance.now();
      await Promise.all(databases.map(({ sql }, i) => sql`INSERT INTO items VALUES (${i}, 'one')`));
      await waitForMessages(
        context.admin,
        topic,
        count,
        DELIVERY_TIMEOUT_MS,
        () => connector.failure(),
      );
      const deliveryMs = performance.now() - written;
      outcome = await connector.stop();
      return {
        sources: count,
        startToStreamingMs,
        deliveryMs: Math.round(deliveryMs),
        peakRssBytes: outcome.usage?.peakRssBytes ?? null,
        cpuSeconds: outcome.usage?.cpuSeconds ?? null,
        held,
        peakConnections,
        exitCode: outcome.exitCode,
      };
    } finally {
      if (outcome === null) await connector.stop();
    }
  } finally {
    log(`sources: dropping ${databases.length} database(s)`);
    for (const database of databases) await dropTenant(context.sql, database);
    await context.admin.deleteTopics({ topics: [topic] }).catch(() => {});
  }
}

const slotOf = (database: string) => `${database}_slot`;
const publicationOf = (database: string) => `${database}_pub`;

async function createTenant(admin: Sql, stack: StackEndpoints, name: string) {
  await admin.unsafe(`CREATE DATABASE "${name}"`);
  const sql = postgres({
    host: stack.pgHost,
    port: stack.pgPort,
    database: name,
    username: stack.pgUser,
    password: stack.pgPassword,
    max: 1,
    idle_timeout: 1,
    onnotice: () => {},
  });
  await sql.unsafe("CREATE TABLE items (id int PRIMARY KEY, note text)");
  await sql.unsafe(`CREATE PUBLICATION "${publicationOf(name)}" FOR TABLE items`);
  await sql`SELECT pg_create_logical_replication_slot(${slotOf(name)}, 'pgoutput')`;
  return { name, sql };
}

async function dropTenant(admin: Sql, { name, sql }: TenantDatabase): Promise<void> {
  await sql`SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots
            WHERE slot_name = ${slotOf(name)}`.catch(() => {});
  await sql.end({ timeout: 1 });
  await admin.unsafe(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
}

async function activeSlots(sql: Sql, slots: readonly string[]): Promise<number> {
  const [{ count }] = await sql<{ count: number }[]>`
    SELECT count(*)::int AS count FROM pg_replication_slots
    WHERE active AND slot_name = ANY(${slots as string[]}::text[])`;
  return count;
}

/**
 * pg2kafka's connections to the server by purpose, from the word after the
 * version in `application_name` (builds before they had one count as `any`).
 */
async function heldConnections(sql: Sql): Promise<Record<string, number>> {
  const rows = await sql<{ purpose: string; count: number }[]>`
    SELECT coalesce(nullif(split_part(application_name, ' ', 2), ''), 'any') AS purpose,
           count(*)::int AS count
    FROM pg_stat_activity WHERE application_name LIKE 'pg2kafka/%' GROUP BY 1 ORDER BY 1`;
  return Object.fromEntries(rows.map(({ purpose, count }) => [purpose, count]));
}

function total(held: Readonly<Record<string, number>>): number {
  return Object.values(held).reduce((sum, count) => sum + count, 0);
}

/** N sources, one per database, all into one change-mode target. */
function sourcesConfig(
  stack: StackEndpoints,
  databases: readonly TenantDatabase[],
  topic: string,
): string {
  const sources = databases.map(({ name }) => `
[[sources]]
name = "${name}"
host = ${JSON.stringify(stack.pgHost)}
port = ${stack.pgPort}
database = "${name}"
user = ${JSON.stringify(stack.pgUser)}
password = "\${PG2KAFKA_PG_PASSWORD}"
slot = "${slotOf(name)}"
create_slot = false
publication = "${publicationOf(name)}"
create_publication = false
tables = ["public.items"]
snapshot = "never"
`).join("");
  return `${sources}
[kafka]
brokers = [${JSON.stringify(stack.kafkaBroker)}]
client_id = "pg2kafka-bench"

[[targets]]
name = "bench"
tables = ["public.items"]
topic = "${topic}"

[http]
enabled = false

[log]
level = "warning"
format = "json"
`;
}
