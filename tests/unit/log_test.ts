import assert from "node:assert/strict";
import { configureLogging, logger, redact, REDACTED } from "../../src/telemetry/log.ts";

/** Logs with `secrets` as JSON lines and returns the parsed lines. */
function logLines(secrets: string[], log: () => void): Record<string, unknown>[] {
  const lines: string[] = [];
  configureLogging({ level: "info", format: "json", secrets, write: (line) => lines.push(line) });
  log();
  return lines.map((line) => JSON.parse(line));
}

Deno.test("redact() replaces every occurrence of each secret", () => {
  assert.equal(
    redact("pw hunter2, again hunter2", ["hunter2"]),
    `pw ${REDACTED}, again ${REDACTED}`,
  );
  assert.equal(redact("nothing here", ["hunter2", ""]), "nothing here");
});

Deno.test("configureLogging() redacts secrets in the message, nested properties and errors", () => {
  const [line] = logLines(
    ["hunter2!", "s3cret-token"],
    () =>
      logger("test").error("Login with {password} failed", {
        password: "hunter2!",
        nested: { tokens: ["s3cret-token"] },
        error: new Error("server said: bad password hunter2!"),
      }),
  );
  const text = JSON.stringify(line);
  assert.doesNotMatch(text, /hunter2!|s3cret-token/);
  const properties = line.properties as Record<string, unknown>;
  assert.equal(properties.password, REDACTED);
  assert.deepEqual(properties.nested, { tokens: [REDACTED] });
});

Deno.test("configureLogging() keeps JSON lines valid when a secret is a short number", () => {
  // An interpolated port is a secret too; redacting it in the formatted line
  // would turn `"port":5432` into invalid JSON.
  const [line] = logLines(
    ["5432"],
    () => logger("test").info("Connecting to {host}", { host: "db:5432", port: 5432 }),
  );
  const properties = line.properties as Record<string, unknown>;
  assert.equal(properties.host, `db:${REDACTED}`);
  assert.equal(properties.port, 5432);
});

Deno.test("configureLogging() redacts a secret with quotes in its JSON-escaped form", () => {
  const secret = 'pa"ss\\word';
  const lines: string[] = [];
  configureLogging({
    level: "info",
    format: "json",
    secrets: [secret],
    write: (l) => lines.push(l),
  });
  logger("test").error("Failed: {error}", { error: new Error(`rejected ${secret}`) });
  assert.equal(lines.length, 1);
  assert.doesNotMatch(lines[0], /pa\\"ss/);
  assert.match(lines[0], /rejected \[redacted\]/);
});
