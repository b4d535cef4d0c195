import assert from "node:assert/strict";
import { z } from "zod";
import {
  CONFIG_DOCS_PATH,
  describeType,
  generateConfigDocs,
  renderConfigDocs,
  schemaTables,
} from "../../scripts/gen_config_docs.ts";
import { configSchema } from "../../src/config/schema.ts";
import { schemaKeyPaths } from "../../src/config/schema_keys.ts";
import { duration } from "../../src/config/leaves.ts";

const DOCS_URL = new URL(`../../${CONFIG_DOCS_PATH}`, import.meta.url);
const REGENERATE = "deno run -A scripts/gen_config_docs.ts";

Deno.test("docs/configuration.md is what the schema and config.example.toml generate", async () => {
  const { markdown } = await renderConfigDocs();
  const onDisk = await Deno.readTextFile(DOCS_URL);
  assert.ok(onDisk === markdown, `${CONFIG_DOCS_PATH} is stale: run ${REGENERATE}`);
});

Deno.test("renderConfigDocs() finds every key described and every stated default right", async () => {
  const { problems } = await renderConfigDocs();
  assert.deepEqual(problems, []);
});

Deno.test("schemaTables() documents every key of the schema but the [source] alias", () => {
  const documented = new Set(schemaTables().flatMap((table) => table.keys.map((key) => key.path)));
  const tables = new Set(schemaTables().map((table) => table.path.replace(/\[\]$/, "")));
  const leaves = schemaKeyPaths(configSchema).filter((path) =>
    !path.startsWith("source.") && path !== "source" && !tables.has(path)
  );
  assert.deepEqual(leaves.filter((path) => !documented.has(path)), []);
  assert.equal(documented.size, leaves.length);
});

Deno.test("docs/configuration.md states each schema default next to its key", async () => {
  const docs = await Deno.readTextFile(DOCS_URL);
  const linger = docs.slice(docs.indexOf("### `linger`"));
  assert.match(linger, /^- Default: `"5ms"`$/m);
  const brokers = docs.slice(docs.indexOf("### `brokers`"));
  assert.match(brokers.slice(0, brokers.indexOf("###", 1)), /^- Default: required$/m);
});

Deno.test("describeType() words custom leaves with the message their errors use", () => {
  assert.equal(describeType(duration()), `a duration such as "500ms", "10s" or "1m30s"`);
  assert.equal(
    describeType(z.array(z.enum(["a", "b"])).min(1)),
    `list, at least one, each one of "a", "b"`,
  );
  assert.equal(describeType(z.string().min(1).prefault("x")), "non-empty string");
});

Deno.test("generateConfigDocs() reports a key the example does not describe", () => {
  const schema = z.strictObject({ log: z.strictObject({ level: z.string().prefault("info") }) });
  const { problems } = generateConfigDocs("[log]\n", schema);
  assert.deepEqual(problems, [{
    path: "log.level",
    problem: "config.example.toml does not describe this key",
  }]);
});

Deno.test("generateConfigDocs() reports a default the example misstates", () => {
  const schema = z.strictObject({ log: z.strictObject({ level: z.string().prefault("info") }) });
  const example = `[log]\n# Lowest level logged. Default: "debug".\nlevel = "info"\n`;
  const { problems, markdown } = generateConfigDocs(example, schema);
  assert.deepEqual(problems.map(({ path }) => path), ["log.level"]);
  assert.match(problems[0].problem, /states the default "debug", the schema's is "info"/);
  assert.match(markdown, /- Default: `"info"`/);
});
