/**
 * Smoke test of the compiled binary (`deno task compile` builds
 * `dist/pg2kafka`; `PG2KAFKA_BINARY` names another file): it reports the
 * version, validates the example config, and streams a real change from the
 * local stack into Kafka, then stops cleanly.
 *
 * Where the binary was not built (the Deno runtime for `deno compile` could
 * not be had) the tests are ignored with a notice; where it exists, they run
 * and fail when it misbehaves.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { VERSION } from "../../src/version.ts";
import {
  connectorConfig,
  dropSlotAndPublication,
  readTopics,
  STACK,
  testSql,
  uniqueName,
  waitFor,
} from "./harness.ts";

const REPO_ROOT = new URL("../../", import.meta.url).pathname;
const BINARY = Deno.env.get("PG2KAFKA_BINARY") ?? `${REPO_ROOT}dist/pg2kafka`;
const EXAMPLE_CONFIG = `${REPO_ROOT}config.example.toml`;
const BUILT = existsSync(BINARY);
const integration = { sanitizeOps: false, sanitizeResources: false, ignore: !BUILT };
const STREAMING = /streaming slot/;
const EXIT_INVALID_CONFIG = 2;

if (!BUILT) {
  console.log(
    `binary smoke test ignored: ${BINARY} does not exist (deno task compile builds it; ` +
      "it is skipped where the Deno runtime for deno compile cannot be downloaded)",
  );
}

/** Runs the binary to completion. */
async function runBinary(args: string[], env: Record<string, string> = {}) {
  const output = await new Deno.Command(BINARY, { args, env, stdin: "null" }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

Deno.test("the binary prints the version of deno.json and its help", integration, async () => {
  const version = await runBinary(["--version"]);
  assert.equal(version.code, 0, version.stderr);
  assert.equal(version.stdout, `pg2kafka ${VERSION}\n`);
  const help = await runBinary(["run", "--help"]);
  assert.equal(help.code, 0, help.stderr);
  assert.match(help.stdout, /^pg2kafka run: /);
});

Deno.test(
  "the binary validates config.example.toml and rejects a broken config",
  integration,
  async () => {
    const valid = await runBinary(["check", "--config", EXAMPLE_CONFIG], {
      PG2KAFKA_PG_PASSWORD: "smoke-test",
    });
    assert.equal(valid.code, 0, valid.stderr);
    assert.match(
      valid.stdout,
      /^ok {3}config: .*config\.example\.toml is valid \(1 source\(s\), 1 target\(s\)\)$/m,
    );
    const broken = await Deno.makeTempFile({ prefix: "pg2kafka-smoke-", suffix: ".toml" });
    try {
      await Deno.writeTextFile(broken, "[kafka]\nbrokers = []\n");
      const invalid = await runBinary(["check", "--config", broken]);
      assert.equal(invalid.code, EXIT_INVALID_CONFIG);
      assert.match(invalid.stderr, /kafka\.brokers/);
    } finally {
      await Deno.remove(broken);
    }
  },
);

/** The binary running `pg2kafka run`, its output collected line by line. */
class RunningBinary {
  readonly lines: string[] = [];
  readonly #child: Deno.ChildProcess;
  readonly #collected: Promise<void>;

  constructor(configPath: string) {
    this.#child = new Deno.Command(BINARY, {
      args: ["run", "--config", configPath],
      env: { PG2KAFKA_PG_PASSWORD: STACK.pgPassword },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#collected = Promise.all([
      this.#collect(this.#child.stdout),
      this.#collect(this.#child.stderr),
    ])
      .then(() => {});
  }

  async waitForLine(pattern: RegExp): Promise<void> {
    await waitFor(
      `a line matching ${pattern}`,
      () => this.lines.some((line) => pattern.test(line)) || undefined,
    )
      .catch((error) => {
        throw new Error(`${error.message}\n--- binary output ---\n${this.lines.join("\n")}`);
      });
  }

  /** Sends SIGTERM and resolves with the exit code. */
  async stop(): Promise<number> {
    try {
      this.#child.kill("SIGTERM");
    } catch { /* already gone */ }
    const status = await this.#child.status;
    await this.#collected;
    return status.code;
  }

  async #collect(stream: ReadableStream<Uint8Array>): Promise<void> {
    let rest = "";
    for await (const text of stream.pipeThrough(new TextDecoderStream())) {
      const parts = (rest + text).split("\n");
      rest = parts.pop()!;
      this.lines.push(...parts);
    }
    if (rest !== "") this.lines.push(rest);
  }
}

Deno.test(
  "the binary streams an inserted row into Kafka and exits 0 on SIGTERM",
  integration,
  async () => {
    const sql = testSql();
    const table = uniqueName("smoke");
    const slot = `${table}_slot`;
    const publication = `${table}_pub`;
    await sql.unsafe(`CREATE TABLE ${table} (id int PRIMARY KEY, name text)`);
    const configPath = await Deno.makeTempFile({ prefix: "pg2kafka-smoke-", suffix: ".toml" });
    await Deno.writeTextFile(
      configPath,
      connectorConfig({
        slot,
        publication,
        tables: [`public.${table}`],
        targets:
          `[[targets]]\nname = "rows"\ntables = ["public.${table}"]\ntopic = "tests.{table}"\n`,
      }),
    );
    const binary = new RunningBinary(configPath);
    try {
      await binary.waitForLine(STREAMING);
      await sql.unsafe(`INSERT INTO ${table} VALUES (1, 'from the binary')`);
      const [message] = await readTopics([`tests.${table}`], (messages) => messages.length >= 1);
      assert.equal(message.key, '{"id":1}');
      const value = JSON.parse(message.value!);
      assert.deepEqual([value.op, value.table, value.after], ["insert", table, {
        id: 1,
        name: "from the binary",
      }]);
      assert.equal(message.headers["pg2kafka.op"], "insert");
      assert.equal(await binary.stop(), 0, binary.lines.join("\n"));
    } finally {
      await binary.stop();
      await dropSlotAndPublication(sql, slot, publication);
      await sql.unsafe(`DROP TABLE IF EXISTS ${table}`);
      await sql.end();
      await Deno.remove(configPath).catch(() => {});
    }
  },
);
