import assert from "node:assert/strict";
import { main } from "../../main.ts";
import { parseConfig } from "../../src/config/mod.ts";
import { createKafka } from "../../src/kafka/client.ts";
import { Metrics } from "../../src/telemetry/metrics.ts";
import { VERSION } from "../../src/version.ts";

const DENO_JSON_URL = new URL("../../deno.json", import.meta.url);
/** kafkajs leaves retry timers and sockets behind a refused connection. */
const LEAKY = { sanitizeOps: false, sanitizeResources: false };
/** Bytes of a Kafka request before the client id: size, api key, api version, correlation id. */
const CLIENT_ID_OFFSET = 4 + 2 + 2 + 4;
const STRING_LENGTH_BYTES = 2;

Deno.test("VERSION equals the version in deno.json", async () => {
  const denoJson = JSON.parse(await Deno.readTextFile(DENO_JSON_URL));
  assert.equal(VERSION, denoJson.version);
  assert.match(VERSION, /^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?$/);
});

Deno.test("pg2kafka --version, -V and version print VERSION", async () => {
  for (const args of [["--version"], ["-V"], ["version"]]) {
    const printed: string[] = [];
    const log = console.log;
    console.log = (...parts: unknown[]) => printed.push(parts.join(" "));
    try {
      assert.equal(await main(args), 0);
    } finally {
      console.log = log;
    }
    assert.deepEqual(printed, [`pg2kafka ${VERSION}`]);
  }
});

Deno.test("/metrics reports VERSION in pg2kafka_build_info", async () => {
  const text = await new Metrics().render();
  const line =
    `pg2kafka_build_info{version="${VERSION}",deno="${Deno.version.deno}",encoder="unknown"} 1`;
  assert.ok(text.split("\n").includes(line), `no line ${line}`);
});

/** Accepts one connection on a free port and resolves with the client id of its first request. */
function firstClientId(listener: Deno.Listener): Promise<string> {
  return (async () => {
    const connection = await listener.accept();
    const bytes: number[] = [];
    const chunk = new Uint8Array(512);
    try {
      while (bytes.length < CLIENT_ID_OFFSET + STRING_LENGTH_BYTES) {
        const read = await connection.read(chunk);
        if (read === null) throw new Error("The client closed before sending a request header");
        bytes.push(...chunk.subarray(0, read));
      }
      const view = new DataView(Uint8Array.from(bytes).buffer);
      const length = view.getInt16(CLIENT_ID_OFFSET);
      const start = CLIENT_ID_OFFSET + STRING_LENGTH_BYTES;
      while (bytes.length < start + length) {
        const read = await connection.read(chunk);
        if (read === null) throw new Error("The client closed inside its client id");
        bytes.push(...chunk.subarray(0, read));
      }
      return new TextDecoder().decode(Uint8Array.from(bytes.slice(start, start + length)));
    } finally {
      connection.close();
    }
  })();
}

Deno.test("createKafka() sends VERSION in the client id of its requests", LEAKY, async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  const config = parseConfig(
    `[source]\ndatabase = "app"\nuser = "app"\ntables = ["public.orders"]\n` +
      `[kafka]\nbrokers = ["127.0.0.1:${port}"]\nclient_id = "orders-cdc"\nrequest_timeout = "2s"\n` +
      `[[targets]]\nname = "orders"\ntables = ["public.orders"]\n`,
    { origin: "inline", env: {} },
  );
  const clientId = firstClientId(listener);
  const admin = createKafka(config.kafka, { retries: 0 }).admin();
  const connecting = admin.connect().catch(() => {});
  try {
    assert.equal(await clientId, `orders-cdc/${VERSION}`);
  } finally {
    listener.close();
    await connecting;
    await admin.disconnect().catch(() => {});
  }
});
