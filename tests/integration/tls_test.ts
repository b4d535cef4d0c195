/**
 * TLS to PostgreSQL against the local stack's self-signed CA
 * (scripts/stack.sh, PG2KAFKA_PG_CA_FILE): each sslmode streams changes over
 * connections encrypted as asked, and verify-full refuses a server its CA
 * file does not vouch for, or whose certificate does not name the host.
 */
import assert from "node:assert/strict";
import postgres, { type Sql } from "postgres";
import {
  connectorConfig,
  ConnectorProcess,
  dropSlotAndPublication,
  readTopics,
  STACK,
  testSql,
  uniqueName,
} from "./harness.ts";

const integration = { sanitizeOps: false, sanitizeResources: false };
const ROWS = 200;
const CA_FILE = Deno.env.get("PG2KAFKA_PG_CA_FILE") ??
  new URL("../../.stack/pg/tls/ca.crt", import.meta.url).pathname;

/** A superuser connection over the stack's Unix socket, to see every backend's TLS state. */
function adminSql(): Sql {
  const socketDir = Deno.env.get("PG2KAFKA_PG_SOCKET_DIR") ?? ".stack/pg/run";
  return postgres({
    path: `${socketDir}/.s.PGSQL.${STACK.pgPort}`,
    database: STACK.pgDatabase,
    username: "postgres",
    max: 1,
    onnotice: () => {},
  });
}

function config(table: string, source: string, host = STACK.pgHost): string {
  return connectorConfig({
    slot: `${table}_slot`,
    publication: `${table}_pub`,
    tables: [`public.${table}`],
    source,
    targets: `
[[targets]]
name = "rows"
tables = ["public.${table}"]
topic = "tests.{table}"
`,
  }).replace(`host = "${STACK.pgHost}"`, `host = "${host}"`);
}

/** A CA that signed nothing the server has, made with openssl in a temporary directory. */
async function strangerCa(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "pg2kafka-tls-" });
  const result = await new Deno.Command("openssl", {
    args: [
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-days",
      "1",
      "-subj",
      "/CN=a stranger CA",
      "-keyout",
      `${dir}/ca.key`,
      "-out",
      `${dir}/ca.crt`,
    ],
    stdout: "null",
    stderr: "piped",
  }).output();
  assert.ok(result.success, new TextDecoder().decode(result.stderr));
  return `${dir}/ca.crt`;
}

const MODES = [
  { sslmode: "disable", source: `sslmode = "disable"`, encrypted: false },
  { sslmode: "require", source: `sslmode = "require"`, encrypted: true },
  {
    sslmode: "verify-full",
    source: `sslmode = "verify-full"\nssl_ca_file = "${CA_FILE}"`,
    encrypted: true,
  },
];

for (const mode of MODES) {
  Deno.test(
    `sslmode ${mode.sslmode} streams changes over ${
      mode.encrypted ? "encrypted" : "plain"
    } connections`,
    integration,
    async () => {
      const sql = testSql();
      const admin = adminSql();
      const table = uniqueName("tls");
      await sql.unsafe(`CREATE TABLE ${table} (id int PRIMARY KEY, note text)`);
      const connector = ConnectorProcess.start(config(table, mode.source));
      try {
        await connector.waitForLine(/streaming slot/);
        await sql.unsafe(
          `INSERT INTO ${table} SELECT g, repeat('x', g) FROM generate_series(1, ${ROWS}) g`,
        );
        const messages = await readTopics([`tests.${table}`], (m) => m.length >= ROWS);
        assert.equal(new Set(messages.map((m) => m.key)).size, ROWS);
        const backends = await admin<{ ssl: boolean; walsender: boolean }[]>`
          SELECT s.ssl, a.backend_type = 'walsender' AS walsender
          FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
          JOIN pg_replication_slots r ON r.slot_name = ${`${table}_slot`}
          WHERE a.application_name LIKE 'pg2kafka/%'
            AND (a.backend_type <> 'walsender' OR a.pid = r.active_pid)`;
        assert.ok(backends.some((b) => b.walsender), "the walsender of the slot is listed");
        assert.ok(backends.length >= 2, "and the ordinary connection");
        assert.deepEqual(backends.map((b) => b.ssl), backends.map(() => mode.encrypted));
      } finally {
        await connector.stop("SIGKILL");
        await dropSlotAndPublication(sql, `${table}_slot`, `${table}_pub`);
        await admin.end();
        await sql.end();
      }
    },
  );
}

/** The error a connector that cannot start logs first. */
async function startUpError(connector: ConnectorProcess): Promise<string> {
  const line = await connector.waitForLine(/could not start streaming/);
  return JSON.parse(line).properties.error;
}

Deno.test(
  "verify-full with a CA that did not sign the server refuses to connect",
  integration,
  async () => {
    const sql = testSql();
    const table = uniqueName("tls_stranger");
    const ca = await strangerCa();
    const connector = ConnectorProcess.start(
      config(table, `sslmode = "verify-full"\nssl_ca_file = "${ca}"`),
    );
    try {
      assert.equal(
        await startUpError(connector),
        `TLS certificate of PostgreSQL at ${STACK.pgHost}:${STACK.pgPort} not trusted ` +
          `(sslmode verify-full, CA file ${ca}): unable to verify the first certificate ` +
          "(UNABLE_TO_VERIFY_LEAF_SIGNATURE)",
      );
      const slots =
        await sql`SELECT 1 FROM pg_replication_slots WHERE slot_name = ${`${table}_slot`}`;
      assert.equal(slots.length, 0, "nothing was created on the untrusted server");
    } finally {
      await connector.stop("SIGKILL");
      await Deno.remove(ca.slice(0, ca.lastIndexOf("/")), { recursive: true });
      await sql.end();
    }
  },
);

Deno.test(
  "verify-full refuses a certificate that does not name the host",
  integration,
  async () => {
    // 127.1 reaches 127.0.0.1, but is a name the certificate (127.0.0.1, localhost) lacks.
    const host = "127.1";
    const table = uniqueName("tls_name");
    const connector = ConnectorProcess.start(
      config(table, `sslmode = "verify-full"\nssl_ca_file = "${CA_FILE}"`, host),
    );
    try {
      const error = await startUpError(connector);
      assert.ok(
        error.startsWith(
          `TLS certificate of PostgreSQL at ${host}:${STACK.pgPort} not trusted ` +
            `(sslmode verify-full, CA file ${CA_FILE}): Hostname/IP does not match`,
        ),
        error,
      );
      assert.ok(error.endsWith("(ERR_TLS_CERT_ALTNAME_INVALID)"), error);
    } finally {
      await connector.stop("SIGKILL");
    }
  },
);
