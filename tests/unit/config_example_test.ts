import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { parse } from "smol-toml";
import { loadConfig, parseConfig } from "../../src/config/mod.ts";
import { configSchema } from "../../src/config/schema.ts";
import { schemaKeyPaths } from "../../src/config/schema_keys.ts";

const EXAMPLE_PATH = fileURLToPath(new URL("../../config.example.toml", import.meta.url));
const EXAMPLE_ENV = { PG2KAFKA_PG_PASSWORD: "demo-password" };
/** The optional settings commented out in the example need these. */
const OPTIONAL_ENV = {
  ...EXAMPLE_ENV,
  KAFKA_USER: "demo-user",
  KAFKA_PASSWORD: "demo-secret",
  PII_HASH_SECRET: "demo-hash-secret-0123456789",
};

/** A commented-out setting: `# key = value`, `# [table]` or `# [[array.of.tables]]`. */
const COMMENTED_SETTING = /^# ((?:\[\[?[a-z_.]+\]\]?)|(?:[a-z_]+ = .*))$/;

/** The example with every commented-out setting enabled. */
function uncommented(text: string): string {
  return text.split("\n").map((line) => line.replace(COMMENTED_SETTING, "$1")).join("\n");
}

/** Key paths of a parsed TOML document, arrays of tables marked `[]` like `schemaKeyPaths`. */
function documentKeyPaths(table: Record<string, unknown>, prefix = ""): Set<string> {
  const paths = new Set<string>();
  for (const [key, value] of Object.entries(table)) {
    const path = prefix === "" ? key : `${prefix}.${key}`;
    paths.add(path);
    const isTableArray = Array.isArray(value) && value.length > 0 &&
      value.every((item) => typeof item === "object" && !Array.isArray(item));
    const children = isTableArray
      ? value.map((item) => documentKeyPaths(item, `${path}[]`))
      : typeof value === "object" && !Array.isArray(value)
      ? [documentKeyPaths(value as Record<string, unknown>, path)]
      : [];
    for (const child of children) for (const childPath of child) paths.add(childPath);
  }
  return paths;
}

Deno.test("config.example.toml validates and describes the demo stack", async () => {
  const config = await loadConfig(EXAMPLE_PATH, EXAMPLE_ENV);
  const [source] = config.sources;
  assert.equal(config.sources.length, 1);
  assert.deepEqual(
    [source.host, source.port, source.database, source.user, source.password],
    ["127.0.0.1", 54329, "app", "pg2kafka", "demo-password"],
  );
  assert.deepEqual([source.slot, source.publication], ["pg2kafka_demo", "pg2kafka_demo"]);
  assert.deepEqual(source.tables, [
    { schema: "public", table: "orders" },
    { schema: "public", table: "customers" },
  ]);
  assert.deepEqual(config.kafka.brokers, ["127.0.0.1:19092"]);
  assert.equal(config.kafka.sasl, null);
  assert.deepEqual(config.targets.map(({ name }) => name), ["all_changes"]);
  assert.equal(config.targets[0].topic, "pg2kafka.{schema}.{table}");
});

Deno.test("config.example.toml also validates with its commented-out settings enabled", async () => {
  const text = uncommented(await Deno.readTextFile(EXAMPLE_PATH));
  const config = parseConfig(text, { origin: "uncommented example", env: OPTIONAL_ENV });
  assert.equal(config.kafka.sasl?.password, "demo-secret");
  const second = config.targets[1];
  assert.equal(second.mode, "transaction");
  assert.notEqual(second.filter, null);
});

Deno.test("config.example.toml documents every key of the schema, and only those", async () => {
  const text = uncommented(await Deno.readTextFile(EXAMPLE_PATH));
  const documented = documentKeyPaths(parse(text));
  const schemaPaths = exampleSchemaPaths();
  const undocumented = schemaPaths.filter((path) => !documented.has(path));
  assert.deepEqual(undocumented, [], "keys missing from config.example.toml");
  assert.deepEqual([...documented].filter((path) => !schemaPaths.includes(path)), []);
});

Deno.test("config.example.toml states the default (or that it is required) of every key", async () => {
  const lines = uncommented(await Deno.readTextFile(EXAMPLE_PATH)).split("\n");
  const schemaPaths = exampleSchemaPaths();
  const hasChildren = (path: string) =>
    schemaPaths.some((other) => other.startsWith(`${path}.`) || other.startsWith(`${path}[]`));
  const arraysOfTables = new Set(
    schemaPaths.filter((path) => schemaPaths.some((other) => other.startsWith(`${path}[]`))),
  );
  const documented = new Set<string>();
  let section = "";
  for (const [index, line] of lines.entries()) {
    const header = /^\[\[?([a-z_.]+)\]\]?$/.exec(line);
    if (header !== null) section = schemaPathOf(header[1], arraysOfTables);
    const setting = /^([a-z_]+) = /.exec(line);
    if (setting !== null && /Default: |Required/.test(commentAbove(lines, index))) {
      documented.add(section === "" ? setting[1] : `${section}.${setting[1]}`);
    }
  }
  const settings = schemaPaths.filter((path) => !hasChildren(path));
  assert.deepEqual(settings.filter((path) => !documented.has(path)), []);
});

/** The comment lines right above line `index`. */
function commentAbove(lines: string[], index: number): string {
  let start = index;
  while (start > 0 && lines[start - 1].startsWith("#")) start--;
  return lines.slice(start, index).join("\n");
}

/** Schema key paths, without the `[source]` alias (documented in a comment as one `[[sources]]`). */
function exampleSchemaPaths(): string[] {
  return schemaKeyPaths(configSchema).filter((path) =>
    path !== "source" && !path.startsWith("source.")
  );
}

/** `sources.reconnect` → `sources[].reconnect`. */
function schemaPathOf(header: string, arraysOfTables: Set<string>): string {
  let path = "";
  for (const key of header.split(".")) {
    path = path === "" ? key : `${path}.${key}`;
    if (arraysOfTables.has(path)) path += "[]";
  }
  return path;
}
