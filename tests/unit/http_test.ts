import assert from "node:assert/strict";
import {
  createOpsHandler,
  type OpsEndpoints,
  type ProbeResult,
  serveOps,
  timingSafeEqual,
} from "../../src/ops/http.ts";
import { agedLagSeconds, Metrics } from "../../src/telemetry/metrics.ts";
import {
  assessLiveness,
  assessReadiness,
  type ReadinessSnapshot,
  type SourceSnapshot,
} from "../../src/ops/probes.ts";

const TOKEN = "t0ken-for-tests";

function endpoints(overrides: Partial<OpsEndpoints> = {}): OpsEndpoints {
  return {
    liveness: () => ({ ok: true, body: { alive: true, problems: [] } }),
    readiness: () => ({ ok: true, body: { ready: true } }),
    metrics: () => Promise.resolve({ text: "pg2kafka_up 1\n", contentType: "text/plain" }),
    status: () => Promise.resolve({ apiVersion: 1 }),
    ...overrides,
  };
}

function get(path: string, init: RequestInit = {}): Request {
  return new Request(`http://127.0.0.1${path}`, init);
}

const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });

Deno.test("createOpsHandler() serves /health without a token and guards /ready and /metrics", async () => {
  const handle = createOpsHandler(endpoints(), { token: TOKEN });
  assert.equal((await handle(get("/health"))).status, 200);
  for (const path of ["/ready", "/metrics"]) {
    const missing = await handle(get(path));
    assert.equal(missing.status, 401, path);
    assert.equal(missing.headers.get("www-authenticate"), 'Bearer realm="pg2kafka"');
    assert.deepEqual(await missing.json(), { error: "a bearer token is required" });

    const wrong = await handle(get(path, bearer(`${TOKEN}x`)));
    assert.equal(wrong.status, 401, path);
    assert.match(wrong.headers.get("www-authenticate")!, /error="invalid_token"/);
    await wrong.body?.cancel();

    const right = await handle(get(path, bearer(TOKEN)));
    assert.equal(right.status, 200, path);
    await right.body?.cancel();
  }
});

Deno.test("createOpsHandler() refuses a token sent in another scheme or as a prefix", async () => {
  const handle = createOpsHandler(endpoints(), { token: TOKEN });
  for (const header of [`Basic ${TOKEN}`, TOKEN, `Bearer ${TOKEN.slice(0, -1)}`, "Bearer"]) {
    const response = await handle(get("/ready", { headers: { authorization: header } }));
    assert.equal(response.status, 401, header);
    await response.body?.cancel();
  }
  const lowercase = await handle(get("/ready", { headers: { authorization: `bearer ${TOKEN}` } }));
  assert.equal(lowercase.status, 200);
  await lowercase.body?.cancel();
});

Deno.test("createOpsHandler() asks for the token before saying whether a path exists", async () => {
  const handle = createOpsHandler(endpoints(), { token: TOKEN });
  const response = await handle(get("/admin"));
  assert.equal(response.status, 401);
  await response.body?.cancel();
  const open = createOpsHandler(endpoints(), { token: null });
  const unknown = await open(get("/admin"));
  assert.equal(unknown.status, 404);
  assert.deepEqual(await unknown.json(), { error: "no endpoint at /admin" });
});

Deno.test("createOpsHandler() answers 405 with Allow for other methods, HEAD without a body", async () => {
  const handle = createOpsHandler(endpoints(), { token: null });
  for (const method of ["POST", "PUT", "DELETE"]) {
    const response = await handle(get("/metrics", { method }));
    assert.equal(response.status, 405, method);
    assert.equal(response.headers.get("allow"), "GET, HEAD");
    await response.body?.cancel();
  }
  const head = await handle(get("/ready", { method: "HEAD" }));
  assert.equal(head.status, 200);
  assert.equal(head.body, null);
});

Deno.test("createOpsHandler() maps a probe's verdict to 200 or 503 with its JSON body", async () => {
  let result: ProbeResult = { ok: true, body: { ready: true, checks: [] } };
  const handle = createOpsHandler(endpoints({ readiness: () => result }), { token: null });
  const ready = await handle(get("/ready"));
  assert.equal(ready.status, 200);
  assert.equal(ready.headers.get("content-type"), "application/json; charset=utf-8");
  assert.deepEqual(await ready.json(), { ready: true, checks: [] });
  result = { ok: false, body: { ready: false } };
  const notReady = await handle(get("/ready"));
  assert.equal(notReady.status, 503);
  assert.deepEqual(await notReady.json(), { ready: false });
});

Deno.test("createOpsHandler() answers 500 when an endpoint throws, and keeps serving", async () => {
  const handle = createOpsHandler(
    endpoints({ metrics: () => Promise.reject(new Error("registry broke")) }),
    { token: null },
  );
  const failed = await handle(get("/metrics"));
  assert.equal(failed.status, 500);
  assert.deepEqual(await failed.json(), { error: "internal error" });
  assert.equal((await handle(get("/health"))).status, 200);
});

Deno.test("timingSafeEqual() compares whole arrays and rejects other lengths", () => {
  assert.equal(timingSafeEqual(new Uint8Array([1, 2, 3]), new Uint8Array([1, 2, 3])), true);
  assert.equal(timingSafeEqual(new Uint8Array([1, 2, 3]), new Uint8Array([1, 2, 4])), false);
  assert.equal(timingSafeEqual(new Uint8Array([9, 2, 3]), new Uint8Array([1, 2, 3])), false);
  assert.equal(timingSafeEqual(new Uint8Array([1, 2]), new Uint8Array([1, 2, 3])), false);
});

Deno.test("serveOps() reports the port the system chose and survives a malformed request", async () => {
  const server = serveOps(
    { hostname: "127.0.0.1", port: 0 },
    createOpsHandler(endpoints(), { token: null }),
  );
  try {
    const { port } = new URL(server.url);
    assert.notEqual(Number(port), 0);
    const connection = await Deno.connect({ hostname: "127.0.0.1", port: Number(port) });
    await connection.write(new TextEncoder().encode("GARBAGE / \x00\r\n\r\n"));
    const buffer = new Uint8Array(1024);
    const read = await connection.read(buffer);
    connection.close();
    assert.match(new TextDecoder().decode(buffer.subarray(0, read ?? 0)), /^HTTP\/1\.1 4\d\d/);
    const response = await fetch(`${server.url}/health`);
    assert.deepEqual(await response.json(), { alive: true, problems: [] });
  } finally {
    await server.shutdown();
  }
});

Deno.test("serveOps() names the address it cannot bind", async () => {
  const first = serveOps({ hostname: "127.0.0.1", port: 0 }, () => Promise.resolve(new Response()));
  try {
    const port = Number(new URL(first.url).port);
    assert.throws(
      () => serveOps({ hostname: "127.0.0.1", port }, () => Promise.resolve(new Response())),
      new RegExp(`Cannot listen for HTTP on 127\\.0\\.0\\.1:${port} \\(\\[http\\] listen\\)`),
    );
  } finally {
    await first.shutdown();
  }
});

function source(overrides: Partial<SourceSnapshot> = {}): SourceSnapshot {
  return {
    name: "main",
    status: "streaming",
    lastError: null,
    flushLsn: "0/16B3748",
    lagSeconds: 0,
    lagBytes: 0,
    ...overrides,
  };
}

function snapshot(overrides: Partial<ReadinessSnapshot> = {}): ReadinessSnapshot {
  return {
    stopping: false,
    sources: [source()],
    kafka: { reachable: true, error: null },
    circuit: "closed",
    sinkFailure: null,
    ...overrides,
  };
}

const failing = (s: ReadinessSnapshot) =>
  assessReadiness(s).checks.filter(({ ok }) => !ok).map(({ check, source, detail }) => ({
    check,
    source,
    detail,
  }));

Deno.test("assessReadiness() is ready when every source streams, Kafka answers and the circuit is closed", () => {
  const report = assessReadiness(snapshot({ sources: [source(), source({ name: "b" })] }));
  assert.equal(report.ready, true);
  assert.deepEqual(report.checks.map(({ check, source }) => [check, source]), [
    ["pipeline", undefined],
    ["source", "main"],
    ["source", "b"],
    ["kafka", undefined],
    ["circuit", undefined],
  ]);
});

Deno.test("assessReadiness() names the failing check and the source it is about", () => {
  const reconnecting = source({ name: "b", status: "reconnecting", lastError: "ECONNREFUSED" });
  assert.deepEqual(failing(snapshot({ sources: [source(), reconnecting] })), [
    { check: "source", source: "b", detail: "reconnecting: ECONNREFUSED" },
  ]);
  assert.deepEqual(failing(snapshot({ kafka: { reachable: false, error: "no answer" } })), [
    { check: "kafka", source: undefined, detail: "unreachable: no answer" },
  ]);
  assert.deepEqual(failing(snapshot({ circuit: "half_open" })), [
    { check: "circuit", source: undefined, detail: "half_open" },
  ]);
  assert.deepEqual(failing(snapshot({ stopping: true })), [
    { check: "pipeline", source: undefined, detail: "shutting down" },
  ]);
  assert.deepEqual(failing(snapshot({ sinkFailure: "dead-letter topic refused" })), [
    { check: "pipeline", source: undefined, detail: "stopped: dead-letter topic refused" },
  ]);
});

Deno.test("assessReadiness() counts a source paused by backpressure as ready, a starting one not", () => {
  assert.equal(assessReadiness(snapshot({ sources: [source({ status: "paused" })] })).ready, true);
  assert.equal(
    assessReadiness(snapshot({ sources: [source({ status: "starting" })] })).ready,
    false,
  );
});

Deno.test("assessLiveness() fails on a stale tick, an ended source loop or a stopped sink", () => {
  const alive = { tickAgeMs: 900, deadSources: [], sinkFailed: false };
  assert.deepEqual(assessLiveness(alive, 15_000), { alive: true, problems: [] });
  assert.deepEqual(
    assessLiveness({ tickAgeMs: 20_000, deadSources: ["main"], sinkFailed: true }, 15_000),
    {
      alive: false,
      problems: [
        "the periodic task last ran 20000 ms ago",
        "the loop of source main ended",
        "the Kafka sink loop stopped",
      ],
    },
  );
});

Deno.test("agedLagSeconds() adds the time since the lag was reported", () => {
  assert.equal(agedLagSeconds({ value: 1.5, atMs: 10_000 }, 20_000), 11.5);
  assert.equal(agedLagSeconds({ value: 0.2, atMs: 10_000 }, 10_000), 0.2);
});

Deno.test("Metrics.render() shows refined lags and keeps what the sink reported", async () => {
  const metrics = new Metrics();
  // The sink reports through the prom-client child, as in production.
  metrics.lagSeconds.labels("main").set(2);
  metrics.lagBytes.labels("main").set(100);
  assert.equal(metrics.lagSeconds.current("main"), 2);
  metrics.lagSeconds.refineWith(
    ["main", "idle"],
    (name, reported) =>
      name === "idle" ? 0 : reported === undefined ? undefined : reported.value + 40,
  );
  metrics.lagBytes.refineWith(["main"], (_name, reported) => Math.max(4096, reported!.value));
  const text = await metrics.render();
  assert.match(text, /^pg2kafka_replication_lag_seconds\{source="main"\} 42$/m);
  assert.match(text, /^pg2kafka_replication_lag_seconds\{source="idle"\} 0$/m);
  assert.match(text, /^pg2kafka_replication_lag_bytes\{source="main"\} 4096$/m);
  // A refined value is not mistaken for a new report.
  assert.equal(metrics.lagSeconds.current("main"), 42);
  assert.match(text, /^pg2kafka_build_info\{version="[^"]+",deno="[^"]+",encoder="[^"]+"\} 1$/m);
  assert.doesNotMatch(text, /process_|nodejs_/);
});

Deno.test("serveOps() answers HEAD /metrics and /ready with the length GET's body has", async () => {
  const server = serveOps(
    { hostname: "127.0.0.1", port: 0 },
    createOpsHandler(endpoints(), { token: null }),
  );
  try {
    for (const path of ["/metrics", "/ready"]) {
      const get = await fetch(`${server.url}${path}`);
      const length = new TextEncoder().encode(await get.text()).byteLength;
      const head = await fetch(`${server.url}${path}`, { method: "HEAD" });
      await head.body?.cancel();
      assert.equal(head.status, 200, path);
      assert.notEqual(length, 0);
      assert.equal(head.headers.get("content-length"), String(length), path);
    }
  } finally {
    await server.shutdown();
  }
});
