/**
 * The HTTP endpoints: `/health` (liveness, always open), `/ready`
 * (readiness), `/metrics` (Prometheus text), the status page at `/` and its
 * report at `/api/v1/status`, all but `/health` behind an optional bearer
 * token.
 *
 * The handler never throws: unknown paths get 404, other methods than GET
 * and HEAD get 405, a failing endpoint gets 500, and every response body is
 * JSON (Prometheus text for `/metrics`). Error texts in bodies are the
 * endpoints' business: they redact secrets before they answer.
 *
 * @module
 */
import { logger } from "../telemetry/log.ts";
import { STATUS_API_PATH } from "./status.ts";
import { STATUS_PAGE_HTML, statusPageHeaders } from "./status_page.ts";

/** An endpoint's verdict: 200 when `ok`, else 503, with `body` as JSON. */
export interface ProbeResult {
  ok: boolean;
  body: unknown;
}

/** What the endpoints serve. */
export interface OpsEndpoints {
  /** `/health`: whether the process and its loops are alive. */
  liveness(): ProbeResult;
  /** `/ready`: whether changes flow. */
  readiness(): ProbeResult;
  /** `/metrics`: the Prometheus text and its content type. */
  metrics(): Promise<{ text: string; contentType: string }>;
  /** `/api/v1/status`: the report the status page draws. */
  status(): Promise<unknown>;
}

/** Options of {@linkcode createOpsHandler}. */
export interface OpsHandlerOptions {
  /** The bearer token every path but `/health` requires, or null for none. */
  token: string | null;
}

const log = logger("http");

const ALLOWED_METHODS = "GET, HEAD";
const JSON_TYPE = "application/json; charset=utf-8";
const BEARER = /^Bearer[ \t]+(\S+)[ \t]*$/i;
const REALM = 'Bearer realm="pg2kafka"';

/**
 * Builds the request handler (what `Deno.serve` calls).
 *
 * @example
 * ```ts
 * const handle = createOpsHandler(endpoints, { token: "s3cret" });
 * const response = await handle(new Request("http://localhost/ready"));
 * response.status; // 401: no token
 * ```
 */
export function createOpsHandler(
  endpoints: OpsEndpoints,
  options: OpsHandlerOptions,
): (request: Request) => Promise<Response> {
  const expected = options.token === null ? null : digest(options.token);
  const routes: Record<string, () => Promise<Response>> = {
    "/health": () => Promise.resolve(probeResponse(endpoints.liveness())),
    "/ready": () => Promise.resolve(probeResponse(endpoints.readiness())),
    "/metrics": async () => {
      const { text, contentType } = await endpoints.metrics();
      return new Response(text, { headers: { "content-type": contentType } });
    },
    [STATUS_API_PATH]: async () => {
      return new Response(JSON.stringify(await endpoints.status()), {
        headers: { "content-type": JSON_TYPE, "cache-control": "no-store" },
      });
    },
    "/": async () => new Response(STATUS_PAGE_HTML, { headers: await statusPageHeaders() }),
  };
  return async (request) => {
    const path = new URL(request.url).pathname;
    try {
      // Everything but /health needs the token, unknown paths too: no probing without it.
      if (path !== "/health" && expected !== null) {
        const denied = await authenticate(request, await expected);
        if (denied !== null) return path === "/" ? await askForToken(denied) : denied;
      }
      const route = routes[path];
      if (route === undefined) return json(404, { error: `no endpoint at ${path}` });
      if (request.method !== "GET" && request.method !== "HEAD") {
        return json(405, { error: `${request.method} is not allowed; use GET` }, {
          allow: ALLOWED_METHODS,
        });
      }
      const response = await route();
      return request.method === "HEAD" ? await withoutBody(response) : response;
    } catch (error) {
      log.error("HTTP endpoint {path} failed: {error}", { path, error: String(error) });
      return json(500, { error: "internal error" });
    }
  };
}

function probeResponse(result: ProbeResult): Response {
  return new Response(JSON.stringify(result.body), {
    status: result.ok ? 200 : 503,
    headers: { "content-type": JSON_TYPE, "cache-control": "no-store" },
  });
}

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": JSON_TYPE, ...headers },
  });
}

/** The HEAD answer: GET's status and headers, with the length of the body it leaves out. */
async function withoutBody(response: Response): Promise<Response> {
  const length = (await response.arrayBuffer()).byteLength;
  const headers = new Headers(response.headers);
  headers.set("content-length", String(length));
  return new Response(null, { status: response.status, headers });
}

/**
 * The status page in a 401: a browser cannot send a bearer token when it
 * navigates, so the page (which holds no data) asks for the token and sends
 * it from its script.
 */
async function askForToken(denied: Response): Promise<Response> {
  await denied.body?.cancel();
  const headers = new Headers(await statusPageHeaders());
  headers.set("www-authenticate", denied.headers.get("www-authenticate")!);
  return new Response(STATUS_PAGE_HTML, { status: 401, headers });
}

/** Null when the request carries the token, else the 401 response (RFC 6750). */
async function authenticate(request: Request, expected: Uint8Array): Promise<Response | null> {
  const header = request.headers.get("authorization");
  if (header === null) {
    return json(401, { error: "a bearer token is required" }, { "www-authenticate": REALM });
  }
  const presented = BEARER.exec(header)?.[1];
  if (presented !== undefined && timingSafeEqual(await digest(presented), expected)) return null;
  return json(401, { error: "invalid token" }, {
    "www-authenticate": `${REALM}, error="invalid_token"`,
  });
}

const encoder = new TextEncoder();

/**
 * SHA-256 of `text`. Comparing digests of equal length keeps the comparison
 * from revealing the token's length or a matching prefix.
 */
async function digest(text: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(text)));
}

/** Compares in time independent of where the inputs differ. */
export function timingSafeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let difference = 0;
  for (let i = 0; i < a.length; i++) difference |= a[i] ^ b[i];
  return difference === 0;
}

/** A running HTTP server. */
export interface OpsServer {
  /** The address it listens on, with the real port when 0 was asked for. */
  url: string;
  /** Stops accepting requests and closes the listener. */
  shutdown(): Promise<void>;
}

/** Where to listen. */
export interface ListenOptions {
  hostname: string;
  port: number;
}

/**
 * Starts serving `handler` on `listen`.
 *
 * @throws {Error} naming the address when it cannot be bound (in use, not local).
 */
export function serveOps(
  listen: ListenOptions,
  handler: (request: Request) => Promise<Response>,
): OpsServer {
  let server: Deno.HttpServer<Deno.NetAddr>;
  try {
    server = Deno.serve({
      hostname: listen.hostname,
      port: listen.port,
      onListen: () => {},
      onError: (error) => {
        log.error("HTTP request failed: {error}", { error: String(error) });
        return json(500, { error: "internal error" });
      },
    }, handler);
  } catch (error) {
    throw new Error(
      `Cannot listen for HTTP on ${hostPort(listen.hostname, listen.port)} ([http] listen): ` +
        (error instanceof Error ? error.message : String(error)),
      { cause: error },
    );
  }
  const { hostname, port } = server.addr;
  return {
    url: `http://${hostPort(hostname, port)}`,
    shutdown: () => server.shutdown(),
  };
}

function hostPort(hostname: string, port: number): string {
  return hostname.includes(":") ? `[${hostname}]:${port}` : `${hostname}:${port}`;
}
