import assert from "node:assert/strict";
import { parseConfig } from "../../src/config/mod.ts";
import {
  assessHealth,
  checkConnector,
  type ConnectorCheck,
  connectorUrl,
  formatBytes,
  HEALTH_EXIT,
  healthLine,
  isHttpUrl,
  type SlotCheck,
  thresholdsOf,
} from "../../src/cli/health.ts";
import type { ReadinessReport } from "../../src/ops/probes.ts";

const MIB = 1024 * 1024;
const THRESHOLDS = { maxRetainedWalBytes: 64 * MIB, maxLagMs: 60_000 };
const URL_ = "http://127.0.0.1:9187";

function connector(overrides: Partial<ConnectorCheck> = {}): ConnectorCheck {
  return { state: "ready", url: URL_, detail: "ready", lagSeconds: { main: 0.4 }, ...overrides };
}

function slot(overrides: Partial<SlotCheck> = {}): SlotCheck {
  return {
    source: "main",
    slot: "pg2kafka",
    state: "present",
    active: true,
    walStatus: "reserved",
    retainedBytes: 2 * MIB,
    unconfirmedBytes: 0,
    error: null,
    ...overrides,
  };
}

const verdict = (c: ConnectorCheck, s: SlotCheck[]) => {
  const report = assessHealth(c, s, THRESHOLDS);
  return [report.status, report.exitCode, report.problems.map((p) => p.message)];
};

Deno.test("assessHealth() is healthy when the connector is ready and the slots are active and small", () => {
  assert.deepEqual(verdict(connector(), [slot()]), ["healthy", 0, []]);
});

Deno.test("assessHealth() fails when the connector is unreachable and nothing consumes the slot", () => {
  const down = connector({ state: "unreachable", detail: "connection refused", lagSeconds: {} });
  assert.deepEqual(verdict(down, [slot({ active: false })]), ["failing", 2, [
    "connector unreachable: connection refused",
    "slot pg2kafka of source main is inactive and the connector is unreachable: " +
    "nothing consumes it",
  ]]);
});

Deno.test("assessHealth() only degrades when the connector is unreachable but its slot is active", () => {
  const down = connector({ state: "unreachable", detail: "timed out", lagSeconds: {} });
  assert.deepEqual(verdict(down, [slot()]), ["degraded", 1, ["connector unreachable: timed out"]]);
  const locked = connector({ state: "unauthorized", detail: "wrong or missing token" });
  assert.deepEqual(verdict(locked, [slot()]), ["degraded", 1, [
    "connector unauthorized: wrong or missing token",
  ]]);
});

Deno.test("assessHealth() fails on a slot retaining more WAL than the threshold, even when ready", () => {
  assert.deepEqual(verdict(connector(), [slot({ retainedBytes: 65 * MIB })]), ["failing", 2, [
    "slot pg2kafka of source main retains 65.0 MiB of WAL, over 64.0 MiB",
  ]]);
  assert.equal(verdict(connector(), [slot({ retainedBytes: 64 * MIB })])[0], "healthy");
});

Deno.test("assessHealth() degrades when a source lags more than the threshold", () => {
  const late = connector({ lagSeconds: { main: 61, other: null } });
  assert.deepEqual(verdict(late, [slot()]), ["degraded", 1, [
    "source main lags 61.0 s, over 60.0 s",
  ]]);
});

Deno.test("assessHealth() fails on a missing slot and on one losing WAL", () => {
  assert.deepEqual(verdict(connector(), [slot({ state: "missing", active: false })]), [
    "failing",
    2,
    ["slot pg2kafka of source main does not exist"],
  ]);
  const lost = slot({ walStatus: "lost", retainedBytes: null });
  assert.deepEqual(verdict(connector(), [lost]), ["failing", 2, [
    "slot pg2kafka of source main has wal_status lost: WAL it needs is (being) removed",
  ]]);
});

Deno.test("assessHealth() degrades when the connector is not ready while its slot is active", () => {
  const notReady = connector({ state: "not_ready", detail: "kafka unreachable: refused" });
  assert.deepEqual(verdict(notReady, [slot()]), ["degraded", 1, [
    "connector not ready: kafka unreachable: refused",
  ]]);
});

Deno.test("assessHealth() weighs an unreadable or inactive slot by what the connector says", () => {
  const unreadable = slot({ state: "unreadable", active: false, error: "ECONNREFUSED" });
  assert.equal(verdict(connector(), [unreadable])[0], "degraded");
  assert.equal(verdict(connector({ state: "unreachable" }), [unreadable])[0], "failing");
  assert.equal(verdict(connector(), [slot({ active: false })])[0], "degraded");
  assert.equal(verdict(connector({ state: "skipped" }), [slot({ active: false })])[0], "failing");
  assert.equal(verdict(connector({ state: "skipped" }), [slot()])[0], "healthy");
});

Deno.test("healthLine() prints one line: the problems, or what was checked", () => {
  assert.equal(
    healthLine(assessHealth(connector(), [slot()], THRESHOLDS)),
    "OK: connector ready; slot pg2kafka active, 2.0 MiB retained",
  );
  const report = assessHealth(connector(), [slot({ retainedBytes: 65 * MIB })], THRESHOLDS);
  assert.equal(
    healthLine(report),
    "FAILING: slot pg2kafka of source main retains 65.0 MiB of WAL, over 64.0 MiB",
  );
  assert.equal(HEALTH_EXIT.failing, report.exitCode);
});

Deno.test("formatBytes() uses binary units", () => {
  assert.deepEqual([0, 1023, 1536, 3 * MIB, 5 * 1024 * MIB].map(formatBytes), [
    "0 B",
    "1023 B",
    "1.5 KiB",
    "3.0 MiB",
    "5.0 GiB",
  ]);
});

function config(rest: string) {
  return parseConfig(
    `[source]\ndatabase = "app"\nuser = "app"\ntables = ["*"]\n` +
      `[kafka]\nbrokers = ["127.0.0.1:9092"]\n[[targets]]\nname = "all"\ntables = ["*.*"]\n${rest}`,
    { origin: "test.toml", env: {} },
  );
}

Deno.test("connectorUrl() reaches a wildcard listen address on loopback and skips port 0", () => {
  assert.deepEqual(connectorUrl(config(`[http]\nlisten = "0.0.0.0:9300"`)), {
    url: "http://127.0.0.1:9300",
  });
  assert.deepEqual(connectorUrl(config(`[http]\nlisten = "[::]:9300"`)), {
    url: "http://[::1]:9300",
  });
  assert.equal(connectorUrl(config(`[http]\nlisten = "127.0.0.1:0"`)).url, null);
  assert.match(connectorUrl(config(`[http]\nenabled = false`)).skipReason!, /--url/);
});

Deno.test("thresholdsOf() takes the flags over the [health] config, and rejects bad ones", () => {
  const withHealth = config(`[health]\nmax_retained_wal = "2GiB"\nmax_lag = "10m"`);
  assert.deepEqual(thresholdsOf(withHealth, { json: false }), {
    maxRetainedWalBytes: 2 * 1024 * MIB,
    maxLagMs: 600_000,
  });
  assert.deepEqual(
    thresholdsOf(withHealth, { json: false, maxRetainedWal: "1MiB", maxLag: "1s" }),
    {
      maxRetainedWalBytes: MIB,
      maxLagMs: 1000,
    },
  );
  assert.deepEqual(thresholdsOf(config(""), { json: false }), {
    maxRetainedWalBytes: 1024 * MIB,
    maxLagMs: 300_000,
  });
  assert.throws(() => thresholdsOf(withHealth, { json: false, maxLag: "10" }), /missing unit/);
});

/** Serves `/ready` answers for checkConnector() on a free port. */
async function withReadyServer(
  answer: (request: Request) => Response,
  test: (url: string) => Promise<void>,
): Promise<void> {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, answer);
  try {
    await test(`http://127.0.0.1:${server.addr.port}`);
  } finally {
    await server.shutdown();
  }
}

const readiness = (ready: boolean): ReadinessReport => ({
  ready,
  checks: [
    { check: "pipeline", ok: true, detail: "running" },
    { check: "source", source: "main", ok: ready, detail: ready ? "streaming" : "reconnecting: x" },
  ],
  sources: [{
    name: "main",
    status: ready ? "streaming" : "reconnecting",
    lastError: null,
    flushLsn: "0/1",
    lagSeconds: 3.5,
    lagBytes: 10,
  }],
});

Deno.test("checkConnector() reads /ready with the token and names what is not ready", async () => {
  let ready = true;
  await withReadyServer((request) => {
    if (request.headers.get("authorization") !== "Bearer s3cret") {
      return new Response("{}", { status: 401 });
    }
    return Response.json(readiness(ready), { status: ready ? 200 : 503 });
  }, async (url) => {
    const target = { url, token: "s3cret", timeoutMs: 2000 };
    assert.deepEqual(await checkConnector(target), {
      state: "ready",
      url,
      detail: "ready",
      lagSeconds: { main: 3.5 },
    });
    ready = false;
    const notReady = await checkConnector(target);
    assert.deepEqual([notReady.state, notReady.detail], [
      "not_ready",
      "source main reconnecting: x",
    ]);
    const denied = await checkConnector({ ...target, token: "wrong" });
    assert.deepEqual([denied.state, denied.detail], ["unauthorized", "wrong or missing token"]);
  });
});

Deno.test("checkConnector() reports a closed port or a foreign answer as unreachable", async () => {
  let closedUrl = "";
  await withReadyServer(() => new Response("<html>proxy</html>"), async (url) => {
    const foreign = await checkConnector({ url, token: null, timeoutMs: 2000 });
    assert.deepEqual([foreign.state, foreign.detail], [
      "unreachable",
      "unexpected answer from /ready (HTTP 200)",
    ]);
    closedUrl = url;
  });
  const closed = await checkConnector({ url: closedUrl, token: null, timeoutMs: 2000 });
  assert.equal(closed.state, "unreachable");
  assert.match(closed.detail, /refused/i, 'the cause, not just "fetch failed"');
  const skipped = await checkConnector({ url: null, token: null, skipReason: "off", timeoutMs: 1 });
  assert.deepEqual([skipped.state, skipped.detail], ["skipped", "off"]);
});

Deno.test("checkConnector() reports a connector whose sources are all standby as standby", async () => {
  const standby: ReadinessReport = {
    ...readiness(false),
    checks: [
      { check: "pipeline", ok: true, detail: "running" },
      { check: "source", source: "main", ok: false, detail: "standby: slot held by PID 42" },
    ],
  };
  await withReadyServer(() => Response.json(standby, { status: 503 }), async (url) => {
    const check = await checkConnector({ url, token: null, timeoutMs: 2000 });
    assert.equal(check.state, "standby");
    const report = assessHealth(check, [slot()], THRESHOLDS);
    assert.deepEqual([report.status, report.exitCode], ["healthy", 0]);
    assert.match(healthLine(report), /^OK: connector standby; slot pg2kafka active/);
  });
});

Deno.test("isHttpUrl() accepts http(s) URLs only, as health --url needs", () => {
  assert.ok(isHttpUrl("http://127.0.0.1:9187"));
  assert.ok(isHttpUrl("https://connector.example:443/"));
  for (const bad of ["not-a-url", "127.0.0.1:9187", "ftp://host/", ""]) {
    assert.equal(isHttpUrl(bad), false, bad);
  }
});
