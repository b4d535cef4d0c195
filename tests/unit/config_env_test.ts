import assert from "node:assert/strict";
import { interpolateString, interpolateTree } from "../../src/config/env.ts";

const ENV: Record<string, string> = { USER: "app", PASSWORD: "hunter2", EMPTY: "" };
const lookup = (name: string) => ENV[name];

Deno.test("interpolateString() replaces each ${VAR} and reports the variables used", () => {
  assert.deepEqual(interpolateString("${USER}:${PASSWORD}@db", lookup), {
    text: "app:hunter2@db",
    variables: ["USER", "PASSWORD"],
  });
  assert.deepEqual(interpolateString("x${EMPTY}y", lookup), { text: "xy", variables: ["EMPTY"] });
});

Deno.test("interpolateString() keeps $${ as a literal ${ and other dollars as they are", () => {
  assert.deepEqual(interpolateString("$${USER} costs $5 or $$", lookup), {
    text: "${USER} costs $5 or $$",
    variables: [],
  });
});

Deno.test("interpolateString() names every missing variable once, never the values it found", () => {
  const result = interpolateString("${PASSWORD}${NOPE}${ALSO_NOPE}${NOPE}", lookup);
  assert.equal(result.problem, "environment variables NOPE and ALSO_NOPE are not set");
  assert(!result.problem.includes("hunter2"));
});

Deno.test("interpolateString() rejects unterminated references and invalid names", () => {
  assert.equal(
    interpolateString("pre ${USER", lookup).problem,
    'unterminated "${" (write "$${" for a literal "${")',
  );
  assert.equal(
    interpolateString("${1ST} ${USER}", lookup).problem,
    'invalid variable reference "${1ST}"',
  );
  assert.equal(interpolateString("${}", lookup).problem, 'invalid variable reference "${}"');
});

Deno.test("interpolateTree() walks tables and arrays, recording paths and secret values", () => {
  const result = interpolateTree(
    { kafka: { brokers: ["${USER}:9092", "plain:9092"], sasl: { password: "x-${PASSWORD}" } } },
    lookup,
  );
  assert.deepEqual(result.value, {
    kafka: { brokers: ["app:9092", "plain:9092"], sasl: { password: "x-hunter2" } },
  });
  assert.deepEqual([...result.interpolated], [
    ["kafka.brokers[0]", ["USER"]],
    ["kafka.sasl.password", ["PASSWORD"]],
  ]);
  assert.deepEqual(result.secrets, ["app:9092", "app", "x-hunter2", "hunter2"]);
  assert.deepEqual(result.issues, []);
});
