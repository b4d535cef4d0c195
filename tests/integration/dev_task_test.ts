/**
 * `deno task dev`, as a newcomer runs it: on a stack that is up it streams at
 * once; on a stack that is down it starts the stack first and says so; either
 * way Ctrl-C (SIGINT) ends it cleanly.
 */
import assert from "node:assert/strict";
import { dropSlotAndPublication, STACK, testSql, uniqueName, waitFor } from "./harness.ts";

const integration = { sanitizeOps: false, sanitizeResources: false };
const REPO_ROOT = new URL("../../", import.meta.url).pathname;
/**
 * A stack started from nothing: initdb, certificates, Kafka's first start
 * (formatting and starting a JVM broker take minutes on a loaded machine).
 */
const STACK_START_TIMEOUT_MS = 480_000;
const STREAMING = /streaming slot/;

/** `deno task dev` with `args`, its output collected line by line. */
class DevTask {
  readonly lines: string[] = [];
  readonly #child: Deno.ChildProcess;

  constructor(args: string[], env: Record<string, string>) {
    this.#child = new Deno.Command(Deno.execPath(), {
      args: ["task", "dev", ...args],
      cwd: REPO_ROOT,
      env,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#collect(this.#child.stdout);
    this.#collect(this.#child.stderr);
  }

  /** Waits for a line matching `pattern`; fails at once if the task exits first. */
  async waitForLine(pattern: RegExp, timeoutMs: number): Promise<void> {
    const seen = waitFor(
      `a line matching ${pattern}`,
      () => this.lines.some((line) => pattern.test(line)) || undefined,
      timeoutMs,
    );
    const exited = this.#child.status.then((status) => {
      throw new Error(`deno task dev exited with ${status.code} before a line matched ${pattern}`);
    });
    await Promise.race([seen, exited]).catch((error) => {
      throw new Error(`${error.message}\n--- deno task dev output ---\n${this.lines.join("\n")}`);
    });
  }

  /** Sends SIGINT, as Ctrl-C does, and resolves with the exit code. */
  async interrupt(): Promise<number> {
    this.#child.kill("SIGINT");
    return (await this.#child.status).code;
  }

  kill(): void {
    try {
      this.#child.kill("SIGKILL");
    } catch { /* already gone */ }
  }

  async #collect(stream: ReadableStream<Uint8Array>): Promise<void> {
    const text = stream.pipeThrough(new TextDecoderStream());
    let rest = "";
    for await (const chunk of text) {
      const parts = (rest + chunk).split("\n");
      rest = parts.pop()!;
      this.lines.push(...parts);
    }
    if (rest !== "") this.lines.push(rest);
  }
}

/** A config for a stack on `pgPort` and `broker`, streaming one table. */
function devConfig(pgPort: number, broker: string, table: string): string {
  return `
[[sources]]
name = "dev"
host = "${STACK.pgHost}"
port = ${pgPort}
database = "${STACK.pgDatabase}"
user = "${STACK.pgUser}"
password = "\${PG2KAFKA_PG_PASSWORD}"
slot = "${table}_slot"
publication = "${table}_pub"
tables = ["public.${table}"]
snapshot = "never"

[kafka]
brokers = ["${broker}"]

[http]
enabled = false

[[targets]]
name = "rows"
tables = ["public.${table}"]
topic = "dev.{table}"
`;
}

function writeConfig(text: string): string {
  const path = Deno.makeTempFileSync({ prefix: "pg2kafka-dev-", suffix: ".toml" });
  Deno.writeTextFileSync(path, text);
  return path;
}

/** A TCP port nothing listens on now. */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** The environment of this process less the stack's variables, plus `extra`. */
function envWith(extra: Record<string, string>): Record<string, string> {
  const env = Deno.env.toObject();
  for (const name of Object.keys(env)) {
    if (name.startsWith("PG2KAFKA_") && name !== "PG2KAFKA_CACHE_DIR") delete env[name];
  }
  return { ...env, ...extra };
}

Deno.test(
  "deno task dev streams on a running stack and exits 0 on SIGINT",
  integration,
  async () => {
    const table = uniqueName("dev_up");
    const sql = testSql();
    const configPath = writeConfig(devConfig(STACK.pgPort, STACK.kafkaBroker, table));
    const dev = new DevTask(["--config", configPath], Deno.env.toObject());
    try {
      await sql.unsafe(`CREATE TABLE ${table} (id int PRIMARY KEY)`);
      await dev.waitForLine(STREAMING, STACK_START_TIMEOUT_MS);
      assert.ok(!dev.lines.some((line) => /not running; starting it/.test(line)), "restarted");
      assert.equal(await dev.interrupt(), 0, dev.lines.join("\n"));
    } finally {
      dev.kill();
      await Deno.remove(configPath);
      await dropSlotAndPublication(sql, `${table}_slot`, `${table}_pub`);
      await sql.unsafe(`DROP TABLE IF EXISTS ${table}`);
      await sql.end();
    }
  },
);

Deno.test(
  "deno task dev starts a stack that is down, says so, streams and exits 0 on SIGINT",
  integration,
  async () => {
    const stackDir = Deno.makeTempDirSync({ prefix: "pg2kafka-dev-stack-" });
    Deno.chmodSync(stackDir, 0o755);
    const pgPort = freePort();
    const kafkaPort = freePort();
    const env = envWith({
      PG2KAFKA_STACK_DIR: stackDir,
      PG2KAFKA_PG_PORT: String(pgPort),
      PG2KAFKA_KAFKA_PORT: String(kafkaPort),
      PG2KAFKA_KAFKA_CONTROLLER_PORT: String(freePort()),
    });
    // The publication's table does not exist before the stack does: the
    // example's own tables, which dev creates, are published instead.
    const configPath = writeConfig(
      devConfig(pgPort, `127.0.0.1:${kafkaPort}`, "orders").replace(
        /slot = "orders_slot"/,
        `slot = "${uniqueName("dev_down")}"`,
      ),
    );
    const dev = new DevTask(["--config", configPath], env);
    try {
      await dev.waitForLine(/not running; starting it/, STACK_START_TIMEOUT_MS);
      await dev.waitForLine(STREAMING, STACK_START_TIMEOUT_MS);
      assert.equal(await dev.interrupt(), 0, dev.lines.join("\n"));
    } finally {
      dev.kill();
      await Deno.remove(configPath);
      const down = await new Deno.Command("bash", {
        args: [`${REPO_ROOT}scripts/stack.sh`, "down"],
        env,
        stdout: "null",
        stderr: "null",
      }).output();
      assert.ok(down.success, "scripts/stack.sh down failed for the test's own stack");
      await Deno.remove(stackDir, { recursive: true });
    }
  },
);
