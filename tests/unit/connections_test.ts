import assert from "node:assert/strict";
import type { Sql } from "postgres";
import type { ConnectionSettings } from "../../src/source/connect.ts";
import { planConnections, ServerConnections, serverKey } from "../../src/source/connections.ts";

/** A fake connection that records whether it was closed. */
interface FakeConnection {
  readonly database: string;
  ended: boolean;
}

function settings(database: string, overrides: Partial<ConnectionSettings> = {}) {
  return {
    host: "db",
    port: 5432,
    database,
    user: "app",
    password: "secret",
    sslmode: "disable",
    connectTimeoutMs: 10_000,
    ...overrides,
  } satisfies ConnectionSettings;
}

/** Pools over fake connections; `opened` lists every connection opened so far. */
function fakePools(maxConnections: number, idleTimeoutMs = 60_000) {
  const opened: FakeConnection[] = [];
  const pools = new ServerConnections({ maxConnections, idleTimeoutMs }, (target) => {
    const connection: FakeConnection = { database: target.database, ended: false };
    opened.push(connection);
    return {
      connection,
      end: () => {
        connection.ended = true;
        return Promise.resolve();
      },
    } as unknown as Sql;
  });
  const open = () => opened.filter((connection) => !connection.ended);
  return { pools, opened, open };
}

/** Work that holds its connection until `release()` is called. */
function held() {
  let release!: () => void;
  const done = new Promise<void>((resolve) => release = resolve);
  return { release, work: (sql: Sql) => done.then(() => sql) };
}

const databaseOf = (sql: Sql) => (sql as unknown as { connection: FakeConnection }).connection;

Deno.test("ServerConnections reuses one connection per database", async () => {
  const { pools, opened } = fakePools(2);
  const orders = pools.queries(settings("orders"));
  const first = databaseOf(await orders.run((sql) => Promise.resolve(sql)));
  const second = databaseOf(await orders.run((sql) => Promise.resolve(sql)));
  assert.equal(first, second);
  assert.equal(opened.length, 1);
  await pools.close();
  assert.equal(first.ended, true);
});

Deno.test("ServerConnections never holds more than maxConnections open per server", async () => {
  const { pools, opened, open } = fakePools(2);
  const a = held();
  const b = held();
  const runA = pools.queries(settings("a")).run(a.work);
  const runB = pools.queries(settings("b")).run(b.work);
  let cDone = false;
  const runC = pools.queries(settings("c")).run((sql) => Promise.resolve(sql)).then((sql) => {
    cDone = true;
    return sql;
  });
  await new Promise((resolve) => setTimeout(resolve, 10));
  assert.equal(open().length, 2);
  assert.equal(cDone, false, "the third database waits while both connections are busy");
  a.release();
  await runA;
  const c = databaseOf(await runC);
  assert.equal(c.database, "c");
  assert.deepEqual(open().map(({ database }) => database).sort(), ["b", "c"]);
  assert.equal(opened.find(({ database }) => database === "a")?.ended, true);
  b.release();
  await runB;
  await pools.close();
  assert.equal(open().length, 0);
});

Deno.test("ServerConnections closes a connection nobody borrowed for the idle timeout", async () => {
  const { pools, open } = fakePools(2, 20);
  await pools.queries(settings("a")).run((sql) => Promise.resolve(sql));
  assert.equal(open().length, 1);
  await new Promise((resolve) => setTimeout(resolve, 60));
  assert.equal(open().length, 0);
  assert.equal(pools.openConnections, 0);
  // A later borrower opens a new one.
  await pools.queries(settings("a")).run((sql) => Promise.resolve(sql));
  assert.equal(open().length, 1);
  await pools.close();
});

Deno.test("ServerConnections keeps sources with other credentials or servers apart", async () => {
  const { pools, opened } = fakePools(1);
  const a = held();
  const other = held();
  const runA = pools.queries(settings("a")).run(a.work);
  // A full pool for user app does not hold back user tenant, nor another server.
  await pools.queries(settings("a", { user: "tenant" })).run((sql) => Promise.resolve(sql));
  const runOther = pools.queries(settings("a", { host: "db2" })).run(other.work);
  await new Promise((resolve) => setTimeout(resolve, 10));
  assert.equal(opened.length, 3);
  a.release();
  other.release();
  await Promise.all([runA, runOther]);
  await pools.close();
});

Deno.test("ServerConnections gives a failed borrower's connection back", async () => {
  const { pools, open } = fakePools(1);
  const queries = pools.queries(settings("a"));
  await assert.rejects(() => queries.run(() => Promise.reject(new Error("boom"))), /boom/);
  // Had the connection stayed borrowed, another database would wait forever.
  await pools.queries(settings("b")).run((sql) => Promise.resolve(sql));
  assert.deepEqual(open().map(({ database }) => database), ["b"]);
  await pools.close();
});

Deno.test("ServerConnections refuses a pool without room", () => {
  assert.throws(
    () => new ServerConnections({ maxConnections: 0, idleTimeoutMs: 1 }),
    /maxConnections must be a positive integer, got 0/,
  );
});

Deno.test("serverKey() tells credentials apart but not databases", () => {
  assert.equal(serverKey(settings("a")), serverKey(settings("b")));
  assert.notEqual(serverKey(settings("a")), serverKey(settings("a", { user: "other" })));
  assert.notEqual(serverKey(settings("a")), serverKey(settings("a", { password: "other" })));
  assert.notEqual(serverKey(settings("a")), serverKey(settings("a", { port: 5433 })));
  assert.notEqual(serverKey(settings("a")), serverKey(settings("a", { sslmode: "require" })));
});

Deno.test("planConnections() counts replication, monitor and pool connections per server", () => {
  const sources = [
    settings("a"),
    settings("b"),
    settings("c"),
    settings("d", { user: "tenant" }),
    settings("e", { host: "db2" }),
  ];
  assert.deepEqual(planConnections(sources, 2), [
    { server: "db:5432", replication: 4, monitor: 2, query: 4, total: 10 },
    { server: "db2:5432", replication: 1, monitor: 1, query: 2, total: 4 },
  ]);
});
