/**
 * Start-up checks of a source against a scripted server: the answers a real
 * server gives for settings the local stack cannot take on (wal_level below
 * logical needs a restart that every logical slot on the cluster refuses,
 * slots of another plugin or database, lost slots), each failing with the
 * message an operator acts on, and names always quoted.
 */
import assert from "node:assert/strict";
import type { Sql } from "postgres";
import {
  preparePublication,
  prepareSlot,
  type SlotSetup,
  SourceSetupError,
} from "../../src/source/slot.ts";

/** One scripted answer: the rows for the first query whose text matches. */
type Script = readonly (readonly [RegExp, readonly Record<string, unknown>[]])[];

/** A postgres.js stand-in that answers queries from a script and records every statement. */
function scriptedSql(script: Script): { sql: Sql; statements: string[] } {
  const statements: string[] = [];
  const answer = (text: string) => {
    statements.push(text.replace(/\s+/g, " ").trim());
    const match = script.find(([pattern]) => pattern.test(text));
    return Promise.resolve(match ? [...match[1]] : []);
  };
  const sql = (strings: TemplateStringsArray, ...values: unknown[]) =>
    answer(
      strings.reduce((text, part, i) => text + (i > 0 ? `$${i}` : "") + part, "") +
        (values.length > 0 ? ` -- ${JSON.stringify(values)}` : ""),
    );
  // Like postgres.js, a query runs once, when awaited or when `.simple()` sends it.
  const unsafe = (text: string) => {
    let result: Promise<unknown[]> | undefined;
    const run = () => result ??= answer(text);
    return {
      simple: run,
      then: (...handlers: Parameters<Promise<unknown[]>["then"]>) => run().then(...handlers),
    };
  };
  return { sql: Object.assign(sql, { unsafe }) as unknown as Sql, statements };
}

const SETUP: SlotSetup = {
  slot: "orders_slot",
  createSlot: true,
  publication: 'orders "pub"',
  createPublication: true,
  alterPublication: true,
  tables: [{ schema: "public", table: "orders" }],
};

const HEALTHY: Script = [
  [/SHOW wal_level/, [{ wal_level: "logical" }]],
  [/FROM pg_roles/, [{ name: "pg2kafka", allowed: true }]],
  [/FROM pg_class/, [{ schema: "public", table: "orders" }]],
];

async function setupError(work: Promise<unknown>): Promise<string> {
  const error = await work.then(() => null, (error) => error);
  assert.ok(error instanceof SourceSetupError, `expected a SourceSetupError, got ${error}`);
  return error.message;
}

Deno.test("preparePublication() refuses a server whose wal_level is not logical", async () => {
  const { sql, statements } = scriptedSql([[/SHOW wal_level/, [{ wal_level: "replica" }]]]);
  assert.equal(
    await setupError(preparePublication(sql, SETUP)),
    'wal_level is "replica", but logical replication needs "logical": ' +
      "set wal_level = logical in postgresql.conf and restart PostgreSQL",
  );
  assert.deepEqual(statements, ["SHOW wal_level"], "nothing is created on such a server");
});

Deno.test("preparePublication() creates a missing publication with its name quoted", async () => {
  const { sql, statements } = scriptedSql(HEALTHY);
  await preparePublication(sql, SETUP);
  assert.equal(
    statements.at(-1),
    'CREATE PUBLICATION "orders ""pub""" FOR TABLE "public"."orders"',
  );
});

interface SlotRow {
  plugin: string;
  database: string;
  active_pid: number | null;
  confirmed_flush_lsn: string;
  wal_status: string;
  here: boolean;
}

const SLOT_ROW: SlotRow = {
  plugin: "pgoutput",
  database: "app",
  active_pid: null,
  confirmed_flush_lsn: "0/16B3748",
  wal_status: "reserved",
  here: true,
};

function slotSql(row: Partial<SlotRow>): Sql {
  return scriptedSql([[/FROM pg_replication_slots/, [{ ...SLOT_ROW, ...row }]]]).sql;
}

Deno.test("prepareSlot() refuses slots another plugin, database or process owns, or that are lost", async () => {
  const { sql: replication } = scriptedSql([]);
  const cases: [Partial<SlotRow>, string][] = [
    [{ plugin: "wal2json" }, 'Replication slot "orders_slot" uses plugin "wal2json", not pgoutput'],
    [
      { here: false, database: "other" },
      'Replication slot "orders_slot" belongs to database "other"',
    ],
    [
      { wal_status: "lost" },
      'Replication slot "orders_slot" is lost (the WAL it needed was removed): the changes it ' +
      "held are gone. To start again with a snapshot (every row sent again), set snapshot = " +
      '"when_needed" and restart pg2kafka',
    ],
    [
      { active_pid: 4242 },
      'Replication slot "orders_slot" is active in another process (PID 4242): waiting as a ' +
      "standby until it is free (stop that process, or use another slot)",
    ],
  ];
  for (const [row, message] of cases) {
    assert.equal(await setupError(prepareSlot(slotSql(row), replication, SETUP)), message);
  }
});

Deno.test("prepareSlot() resumes an existing slot from its confirmed flush LSN", async () => {
  const { sql: replication, statements } = scriptedSql([]);
  const state = await prepareSlot(slotSql({}), replication, SETUP);
  assert.deepEqual(state, { created: false, confirmedFlushLsn: 0x16B3748n });
  assert.deepEqual(statements, [], "no slot is created");
});

Deno.test("prepareSlot() refuses to create a missing slot when create_slot is false", async () => {
  const { sql } = scriptedSql([]);
  const { sql: replication } = scriptedSql([]);
  assert.equal(
    await setupError(prepareSlot(sql, replication, { ...SETUP, createSlot: false })),
    'Replication slot "orders_slot" does not exist: create it or set create_slot = true',
  );
});

/** A server of `versionNumber` (server_version_num) holding `slot`, or no slot when null. */
function failoverSql(versionNumber: number, slot: Partial<SlotRow> | null, failover = false): Sql {
  const major = Math.floor(versionNumber / 10000);
  return scriptedSql([
    [/server_version_num/, [{ number: versionNumber, text: `${major}.5` }]],
    [/SELECT failover FROM pg_replication_slots/, [{ failover }]],
    [/FROM pg_replication_slots/, slot === null ? [] : [{ ...SLOT_ROW, ...slot }]],
  ]).sql;
}

const CREATED: Script = [[/CREATE_REPLICATION_SLOT/, [{
  consistent_point: "0/16B3748",
  snapshot_name: null,
}]]];

Deno.test("prepareSlot() refuses failover_slot on a server older than PostgreSQL 17", async () => {
  for (const slot of [null, {}]) {
    const { sql: replication, statements } = scriptedSql(CREATED);
    assert.equal(
      await setupError(prepareSlot(failoverSql(160009, slot), replication, {
        ...SETUP,
        failover: true,
      })),
      "failover_slot = true needs PostgreSQL 17 or later, but the server is 16.5: " +
        "set failover_slot = false, or upgrade the server",
    );
    assert.deepEqual(statements, [], "no slot is created or altered");
  }
});

Deno.test("prepareSlot() creates a failover slot on PostgreSQL 17", async () => {
  const { sql: replication, statements } = scriptedSql(CREATED);
  const state = await prepareSlot(failoverSql(170005, null), replication, {
    ...SETUP,
    failover: true,
  });
  assert.deepEqual(state, { created: true, confirmedFlushLsn: 0x16B3748n });
  assert.deepEqual(statements, [
    `CREATE_REPLICATION_SLOT "orders_slot" LOGICAL pgoutput (SNAPSHOT 'nothing', FAILOVER true)`,
  ]);
});

Deno.test("prepareSlot() exports the snapshot of a new failover slot when asked", async () => {
  const { sql: replication, statements } = scriptedSql(CREATED);
  await prepareSlot(failoverSql(180000, null), replication, { ...SETUP, failover: true }, true);
  assert.deepEqual(statements, [
    `CREATE_REPLICATION_SLOT "orders_slot" LOGICAL pgoutput (SNAPSHOT 'export', FAILOVER true)`,
  ]);
});

Deno.test("prepareSlot() turns an existing slot into a failover slot, once", async () => {
  const altered = scriptedSql([]);
  await prepareSlot(failoverSql(170005, {}, false), altered.sql, { ...SETUP, failover: true });
  assert.deepEqual(altered.statements, ['ALTER_REPLICATION_SLOT "orders_slot" (FAILOVER true)']);
  const already = scriptedSql([]);
  await prepareSlot(failoverSql(170005, {}, true), already.sql, { ...SETUP, failover: true });
  assert.deepEqual(already.statements, []);
});

Deno.test("prepareSlot() keeps the old slot syntax without failover_slot", async () => {
  const { sql: replication, statements } = scriptedSql(CREATED);
  await prepareSlot(scriptedSql([]).sql, replication, SETUP);
  assert.deepEqual(statements, [
    'CREATE_REPLICATION_SLOT "orders_slot" LOGICAL pgoutput NOEXPORT_SNAPSHOT',
  ]);
});
