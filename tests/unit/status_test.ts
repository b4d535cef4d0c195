import assert from "node:assert/strict";
import { createOpsHandler, type OpsEndpoints } from "../../src/ops/http.ts";
import { Metrics } from "../../src/telemetry/metrics.ts";
import {
  buildStatus,
  ChangeRateHistory,
  readCounterTotals,
  type SourceInput,
  STATUS_API_PATH,
  type StatusInput,
} from "../../src/ops/status.ts";
import { STATUS_PAGE_HTML, statusPageHeaders } from "../../src/ops/status_page.ts";

const STARTED = new Date("2026-01-01T00:00:00Z");
const NOW = new Date("2026-01-01T00:01:40Z");

function source(overrides: Partial<SourceInput> = {}): SourceInput {
  return {
    name: "main",
    status: "streaming",
    lastError: null,
    loopEnded: false,
    stuck: null,
    slot: "pg2kafka",
    confirmedLsn: "0/16B3748",
    retainedWalBytes: 4096,
    slotActive: true,
    lagBytes: 0,
    lagSeconds: 0,
    inflight: { messages: 0, bytes: 0 },
    changeRate: { intervalSeconds: 5, perSecond: [] },
    ...overrides,
  };
}

function input(overrides: Partial<StatusInput> = {}): StatusInput {
  return {
    now: NOW,
    version: "0.1.0",
    startedAt: STARTED,
    stopping: false,
    sinkFailure: null,
    inflightLimits: { maxMessages: 100, maxBytes: 1000 },
    sources: [source()],
    kafka: { reachable: true, error: null, circuit: "closed", produceErrors: {} },
    targets: ["orders", "audit"],
    outcomes: new Map([["orders", { delivered: 7, filtered: 2, deadLettered: 1 }]]),
    ...overrides,
  };
}

Deno.test("buildStatus() reports a streaming source with Kafka up as ok, every target listed", () => {
  const report = buildStatus(input());
  assert.equal(report.apiVersion, 1);
  assert.equal(report.generatedAt, NOW.toISOString());
  assert.equal(report.uptimeSeconds, 100);
  assert.equal(report.severity, "ok");
  assert.deepEqual(report.problems, []);
  assert.deepEqual(report.connector, { state: "running", reason: null });
  assert.deepEqual(
    report.sources.map(({ state, severity, reason }) => [state, severity, reason]),
    [["streaming", "ok", null]],
  );
  assert.deepEqual(report.kafka.produceErrors, { transient: 0, poison: 0 });
  assert.deepEqual(report.targets, [
    { name: "orders", delivered: 7, filtered: 2, deadLettered: 1 },
    { name: "audit", delivered: 0, filtered: 0, deadLettered: 0 },
  ]);
});

Deno.test("buildStatus() shows a source waiting on an open circuit as paused, and the whole as failing", () => {
  const report = buildStatus(input({
    sources: [source({ status: "paused", inflight: { messages: 3, bytes: 300 } })],
    kafka: {
      reachable: false,
      error: "connect ECONNREFUSED",
      circuit: "open",
      produceErrors: { transient: 3 },
    },
  }));
  const [main] = report.sources;
  assert.deepEqual([main.state, main.severity], ["paused", "degraded"]);
  assert.equal(main.reason, "reading waits for Kafka: the circuit breaker is open");
  assert.equal(report.kafka.severity, "failing");
  assert.equal(report.severity, "failing");
  assert.deepEqual(report.problems, [
    "Kafka is unreachable: connect ECONNREFUSED; the circuit breaker is open",
    "source main is paused: reading waits for Kafka: the circuit breaker is open",
  ]);
  assert.deepEqual(report.inflight, { messages: 3, bytes: 300, maxMessages: 100, maxBytes: 1000 });
});

Deno.test("buildStatus() explains a pause with a closed circuit by the in-flight budget", () => {
  const report = buildStatus(input({
    sources: [source({ status: "paused", inflight: { messages: 100, bytes: 640 } })],
  }));
  assert.equal(
    report.sources[0].reason,
    "reading waits for acks: 100 of 100 messages and 640 of 1000 bytes in flight",
  );
  assert.equal(report.severity, "degraded");
});

Deno.test("buildStatus() never shows a source whose loop ended, or an unknown state, as healthy", () => {
  const report = buildStatus(input({
    sources: [
      source({ name: "a", status: "stopped", loopEnded: true, lastError: "slot dropped" }),
      source({ name: "b", status: "resyncing" }),
      source({ name: "c", status: "standby", lastError: "slot held by PID 42" }),
      source({ name: "d", status: "reconnecting", lastError: "connection refused" }),
      source({ name: "e", status: "paused", stuck: "source e stuck: 3 message(s) in flight" }),
    ],
  }));
  assert.deepEqual(
    report.sources.map(({ name, state, severity, reason }) => [name, state, severity, reason]),
    [
      ["a", "failed", "failing", "slot dropped"],
      ["b", "failed", "failing", "unknown state resyncing"],
      ["c", "standby", "info", "slot held by PID 42"],
      ["d", "reconnecting", "degraded", "connection refused"],
      ["e", "failed", "failing", "source e stuck: 3 message(s) in flight"],
    ],
  );
  assert.equal(report.severity, "failing");
  assert.equal(report.problems.length, 5);
  assert.match(report.problems[0], /^source a is failed: slot dropped$/);
});

Deno.test("buildStatus() marks every source failed once the Kafka sink stopped", () => {
  const report = buildStatus(input({ sinkFailure: "dead-letter topic refused" }));
  assert.deepEqual(report.connector, {
    state: "failed",
    reason: "the Kafka sink stopped: dead-letter topic refused",
  });
  assert.deepEqual([report.sources[0].state, report.severity], ["failed", "failing"]);
});

Deno.test("buildStatus() reports a draining connector as degraded, a half-open circuit too", () => {
  assert.equal(buildStatus(input({ stopping: true })).severity, "degraded");
  const probing = buildStatus(input({
    kafka: { reachable: true, error: null, circuit: "half_open", produceErrors: {} },
  }));
  assert.deepEqual([probing.kafka.severity, probing.problems], [
    "degraded",
    ["the circuit breaker is half-open (probing)"],
  ]);
});

Deno.test("ChangeRateHistory turns totals into rates and keeps only the last points", () => {
  const history = new ChangeRateHistory({ intervalSeconds: 5, points: 3 });
  assert.deepEqual(history.series("main"), { intervalSeconds: 5, perSecond: [] });
  const totals = [0, 50, 50, 60, 160];
  totals.forEach((total, i) => history.sample(new Map([["main", total]]), i * 5000));
  assert.deepEqual(history.series("main").perSecond, [0, 2, 20]);
  assert.deepEqual(history.series("other").perSecond, []);
});

Deno.test("readCounterTotals() counts changes read once per source and outcomes per target", async () => {
  const metrics = new Metrics();
  metrics.changesRead.labels("main").inc(10);
  metrics.changes.labels("main", "orders", "delivered").inc(6);
  metrics.changes.labels("main", "orders", "filtered").inc(4);
  metrics.changes.labels("other", "orders", "dead_lettered").inc(1);
  metrics.changes.labels("main", "audit", "delivered").inc(10);
  metrics.kafkaErrors.labels("transient").inc(2);
  const totals = await readCounterTotals(metrics);
  assert.deepEqual(totals.changesBySource, new Map([["main", 10]]));
  assert.deepEqual(
    totals.outcomesByTarget,
    new Map([
      ["orders", { delivered: 6, filtered: 4, deadLettered: 1 }],
      ["audit", { delivered: 10, filtered: 0, deadLettered: 0 }],
    ]),
  );
  assert.deepEqual(totals.produceErrors, { transient: 2 });
});

function endpoints(): OpsEndpoints {
  return {
    liveness: () => ({ ok: true, body: {} }),
    readiness: () => ({ ok: true, body: {} }),
    metrics: () => Promise.resolve({ text: "", contentType: "text/plain" }),
    status: () => Promise.resolve(buildStatus(input())),
  };
}

const TOKEN = "page-token";

Deno.test("createOpsHandler() guards the page and the report with the token, answering the page's form on 401", async () => {
  const handle = createOpsHandler(endpoints(), { token: TOKEN });
  const page = await handle(new Request("http://127.0.0.1/"));
  assert.equal(page.status, 401);
  assert.match(page.headers.get("www-authenticate")!, /^Bearer realm="pg2kafka"/);
  assert.equal(page.headers.get("content-type"), "text/html; charset=utf-8");
  assert.equal(await page.text(), STATUS_PAGE_HTML);

  const report = await handle(new Request(`http://127.0.0.1${STATUS_API_PATH}`));
  assert.equal(report.status, 401);
  assert.deepEqual(await report.json(), { error: "a bearer token is required" });

  const headers = { authorization: `Bearer ${TOKEN}` };
  const allowed = await handle(new Request(`http://127.0.0.1${STATUS_API_PATH}`, { headers }));
  assert.equal(allowed.status, 200);
  assert.equal(allowed.headers.get("cache-control"), "no-store");
  assert.equal((await allowed.json()).sources[0].slot, "pg2kafka");
  const shown = await handle(new Request("http://127.0.0.1/", { headers }));
  assert.equal(shown.status, 200);
  await shown.body?.cancel();
});

Deno.test("the status page admits only its own script and style and names no data", async () => {
  const csp = (await statusPageHeaders())["content-security-policy"];
  const script = /<script>([\s\S]*)<\/script>/.exec(STATUS_PAGE_HTML)![1];
  const style = /<style>([\s\S]*)<\/style>/.exec(STATUS_PAGE_HTML)![1];
  const hash = async (text: string) =>
    btoa(String.fromCharCode(
      ...new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text))),
    ));
  assert.ok(csp.includes(`script-src 'sha256-${await hash(script)}'`));
  assert.ok(csp.includes(`style-src 'sha256-${await hash(style)}'`));
  assert.match(csp, /connect-src 'self'/);
  // The script parses (it runs only in a browser).
  new Function(script);
  // No value reaches the page as markup: everything goes through textContent.
  assert.ok(!/innerHTML|outerHTML|insertAdjacentHTML|document\.write/.test(script));
  // The token travels in a header only, never in an address.
  assert.match(script, /headers\.authorization = "Bearer " \+ token/);
  assert.ok(!/[?&]token=/.test(script));
  assert.ok(!/<input[^>]*\bname=/.test(STATUS_PAGE_HTML), "a named input would submit into a URL");
});

Deno.test("createOpsHandler() serves the page and the report without a token when none is set", async () => {
  const handle = createOpsHandler(endpoints(), { token: null });
  const page = await handle(new Request("http://127.0.0.1/"));
  assert.equal(page.status, 200);
  assert.equal(page.headers.get("x-content-type-options"), "nosniff");
  assert.equal(await page.text(), STATUS_PAGE_HTML);
  const report = await handle(new Request(`http://127.0.0.1${STATUS_API_PATH}`));
  assert.equal((await report.json()).apiVersion, 1);
  const head = await handle(new Request("http://127.0.0.1/", { method: "HEAD" }));
  assert.equal(head.status, 200);
  assert.equal(head.body, null);
  const post = await handle(new Request("http://127.0.0.1/", { method: "POST" }));
  assert.equal(post.status, 405);
  await post.body?.cancel();
});
