/**
 * Generates `docs/configuration.md` from the config's zod schema
 * (`src/config/schema.ts`: every key, its type, its default, whether it is
 * required) and the comments of `config.example.toml` (what each key does,
 * and an example value), so the reference cannot drift from the code:
 * `tests/unit/config_docs_test.ts` regenerates it and compares.
 *
 *   deno run --allow-read --allow-write --allow-run scripts/gen_config_docs.ts [--check]
 *
 * With `--check` nothing is written; the exit code is 1 when the file is stale.
 *
 * @module
 */
import type { z } from "zod";
import { configSchema } from "../src/config/schema.ts";

type Schema = z.core.$ZodType;
type Def = z.core.$ZodTypeDef & Record<string, unknown>;

/** Where the reference is written, relative to the repository root. */
export const CONFIG_DOCS_PATH = "docs/configuration.md";
const REPO_ROOT = new URL("../", import.meta.url);
const EXAMPLE_URL = new URL("config.example.toml", REPO_ROOT);
const DOCS_URL = new URL(CONFIG_DOCS_PATH, REPO_ROOT);

/** The single `[source]` table: the same keys as `[[sources]]`, documented there. */
const SINGLE_SOURCE_KEY = "source";
/** Wrappers that only add a default or optionality around the schema that checks the value. */
const WRAPPERS = new Set(["optional", "default", "prefault", "nullable", "readonly"]);

/** One key of the schema, with what the schema knows about it. */
export interface KeyDoc {
  /** The key path, arrays of tables marked `[]`: `sources[].slot`. */
  readonly path: string;
  /** The key itself: `slot`. */
  readonly key: string;
  /** What the schema accepts, in words. */
  readonly type: string;
  /** The default as TOML, or null when there is none. */
  readonly defaultValue: string | null;
  /** Whether the key may be left out. */
  readonly optional: boolean;
}

/** A table of the config and its keys, in schema order. */
export interface TableDoc {
  /** The path of the table: `sources[]`, `kafka.tls`. */
  readonly path: string;
  /** The TOML header: `[[sources]]`, `[kafka.tls]`. */
  readonly header: string;
  /** Whether the table may be left out. */
  readonly optional: boolean;
  readonly keys: KeyDoc[];
}

function defOf(schema: Schema): Def {
  return schema._zod.def as Def;
}

/** The schema that checks the value, under its default and optionality. */
function unwrap(schema: Schema): { inner: Schema; defaultValue: unknown; optional: boolean } {
  let inner = schema;
  let defaultValue: unknown = undefined;
  let optional = false;
  while (WRAPPERS.has(defOf(inner).type)) {
    const def = defOf(inner);
    if (def.type === "optional") optional = true;
    if (def.type === "default" || def.type === "prefault") {
      optional = true;
      defaultValue ??= def.defaultValue;
    }
    inner = def.innerType as Schema;
  }
  return { inner, defaultValue, optional };
}

/** The object schema a key leads to (a table, or the element of an array of tables). */
function tableShape(schema: Schema): Record<string, Schema> | undefined {
  let inner = unwrap(schema).inner;
  if (defOf(inner).type === "array") inner = unwrap(defOf(inner).element as Schema).inner;
  const def = defOf(inner);
  return def.type === "object" ? def.shape as Record<string, Schema> : undefined;
}

function isArray(schema: Schema): boolean {
  return defOf(unwrap(schema).inner).type === "array";
}

function accepts(schema: Schema, value: unknown): boolean {
  return (schema as unknown as z.ZodType).safeParse(value).success;
}

/**
 * What a leaf schema accepts, in words. Custom leaves (durations, sizes,
 * names…) say it themselves: their issue for a value of no type at all
 * carries `params.expected`.
 */
export function describeType(schema: Schema): string {
  const inner = unwrap(schema).inner;
  const def = defOf(inner);
  switch (def.type) {
    case "string":
      return accepts(inner, "") ? "string" : "non-empty string";
    case "boolean":
      return "boolean";
    case "number":
      return "number";
    case "enum":
      return `one of ${
        Object.values(def.entries as Record<string, string>).map((v) => `"${v}"`).join(", ")
      }`;
    case "array": {
      const atLeastOne = accepts(inner, []) ? "" : ", at least one";
      return `list${atLeastOne}, each ${describeType(def.element as Schema)}`;
    }
    case "pipe": {
      const input = def.in as Schema;
      if (defOf(input).type === "array") return describeType(input);
      return expectedOf(inner);
    }
    default:
      throw new Error(`Config docs cannot describe a schema of type "${def.type}"`);
  }
}

function expectedOf(schema: Schema): string {
  const result = (schema as unknown as z.ZodType).safeParse(Symbol("probe"));
  const params = result.error?.issues[0] as { params?: { expected?: string } } | undefined;
  const expected = params?.params?.expected;
  if (expected === undefined) throw new Error("Config docs found a leaf that names no type");
  return expected;
}

/** A default value written as TOML. */
function tomlValue(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(tomlValue).join(", ")}]`;
  return typeof value === "string" ? JSON.stringify(value) : String(value);
}

/**
 * Every table of the config schema and its keys, in schema order. The
 * single `[source]` table is left out: its keys are those of `[[sources]]`.
 */
export function schemaTables(schema: Schema = configSchema): TableDoc[] {
  const tables: TableDoc[] = [];
  const walk = (shape: Record<string, Schema>, path: string, header: string, optional: boolean) => {
    const table: TableDoc = { path, header, optional, keys: [] };
    if (path !== "") tables.push(table);
    for (const [key, child] of Object.entries(shape)) {
      if (path === "" && key === SINGLE_SOURCE_KEY) continue;
      const childShape = tableShape(child);
      const keyPath = path === "" ? key : `${path}.${key}`;
      if (childShape !== undefined) {
        const array = isArray(child);
        const name = header === "" ? key : `${header.replace(/^\[+|\]+$/g, "")}.${key}`;
        walk(
          childShape,
          array ? `${keyPath}[]` : keyPath,
          array ? `[[${name}]]` : `[${name}]`,
          unwrap(child).optional,
        );
        continue;
      }
      const { defaultValue, optional: keyOptional } = unwrap(child);
      table.keys.push({
        path: keyPath,
        key,
        type: describeType(child),
        defaultValue: defaultValue === undefined ? null : tomlValue(defaultValue),
        optional: keyOptional,
      });
    }
  };
  walk(defOf(unwrap(schema).inner).shape as Record<string, Schema>, "", "", false);
  return tables;
}

/** What `config.example.toml` says about one key. */
export interface ExampleKey {
  /** The comment lines above the key, without `# `. */
  readonly comment: string[];
  /** Each value the example gives the key, as written. */
  readonly values: string[];
}

/** What `config.example.toml` says about its tables and keys. */
export interface ExampleDoc {
  /** The comment block above each table header, by TOML header (`[kafka.tls]`). */
  readonly tables: Map<string, string[]>;
  /** Each key by path (`sources[].slot`). */
  readonly keys: Map<string, ExampleKey>;
  /** The conventions stated at the top of the file. */
  readonly conventions: string[];
}

const HEADER_LINE = /^(?:# )?(\[\[?[a-z_.]+\]\]?)$/;
const KEY_LINE = /^(?:# )?([a-z_]+) = (.*)$/;
const SEPARATOR = /^# -{10,}$/;

/** Maps a TOML header to the schema path of its table: `[sources.reconnect]` → `sources[].reconnect`. */
function headerPath(header: string, tables: readonly TableDoc[]): string | undefined {
  return tables.find((table) => table.header === header)?.path ??
    tables.find((table) =>
      table.header.replace(/^\[+|\]+$/g, "") === header.replace(/^\[+|\]+$/g, "")
    )
      ?.path;
}

/** Reads the comments and values of the example config. */
export function readExample(text: string, tables: readonly TableDoc[]): ExampleDoc {
  const doc: ExampleDoc = { tables: new Map(), keys: new Map(), conventions: [] };
  let comment: string[] = [];
  let table = "";
  let inConventions = false;
  for (const line of text.split("\n")) {
    if (line.startsWith("# Conventions:")) {
      inConventions = true;
      continue;
    }
    if (inConventions) {
      if (line.startsWith("# ")) doc.conventions.push(line.slice(2));
      else inConventions = false;
      continue;
    }
    const header = HEADER_LINE.exec(line);
    const key = KEY_LINE.exec(line);
    if (header !== null) {
      table = headerPath(header[1], tables) ?? header[1];
      if (!doc.tables.has(header[1])) doc.tables.set(header[1], comment);
      comment = [];
    } else if (key !== null) {
      const path = table === "" ? key[1] : `${table}.${key[1]}`;
      const entry = doc.keys.get(path);
      if (entry === undefined) doc.keys.set(path, { comment, values: [key[2]] });
      else entry.values.push(key[2]);
      comment = [];
    } else if (line.startsWith("#") && !SEPARATOR.test(line)) {
      comment.push(line.replace(/^# ?/, ""));
    } else {
      comment = [];
    }
  }
  return doc;
}

/** Text that markdown would read as markup: quoted values, TOML tables, placeholders. */
const CODE_SPAN =
  /`[^`]*`|\{"[^}]*\}|\[\[?[a-z_.]*\]\]?|\["[^"\]]*"\]|"(?:[^"\\]|\\.)*"|\$\{[A-Z_]+\}|\{[a-z_]+\}/g;

/** Prose from the example's comments as markdown: values in code spans, the rest escaped. */
function markdownProse(text: string): string {
  let result = "";
  let last = 0;
  for (const match of text.matchAll(CODE_SPAN)) {
    result += escapeMarkdown(text.slice(last, match.index));
    result += match[0].startsWith("`") ? match[0] : `\`${match[0]}\``;
    last = match.index + match[0].length;
  }
  return result + escapeMarkdown(text.slice(last));
}

function escapeMarkdown(text: string): string {
  return text.replace(/[*<>]/g, (char) => `\\${char}`);
}

/**
 * Comment lines as markdown paragraphs; lines indented beyond `# ` (the
 * shape of a message, say) become a code block.
 */
function commentMarkdown(lines: readonly string[]): string {
  const blocks: string[] = [];
  let prose: string[] = [];
  let code: string[] = [];
  const flushProse = () => {
    if (prose.length > 0) blocks.push(markdownProse(prose.join(" ")));
    prose = [];
  };
  const flushCode = () => {
    if (code.length > 0) blocks.push(["```text", ...code, "```"].join("\n"));
    code = [];
  };
  for (const line of lines) {
    if (line.startsWith("  ")) {
      flushProse();
      code.push(line.trim());
    } else {
      flushCode();
      prose.push(line);
    }
  }
  flushProse();
  flushCode();
  return blocks.join("\n\n");
}

const DEFAULT_SENTENCE = /(?:^|\s)Default: ([\s\S]*?)\.?$/;

/** Splits "… Default: X (why)." off a key's comment. */
function splitDefault(lines: readonly string[]): { lines: string[]; stated: string | null } {
  const joined = lines.join("\n");
  const match = DEFAULT_SENTENCE.exec(joined);
  if (match === null) return { lines: [...lines], stated: null };
  const rest = joined.slice(0, match.index).split("\n").filter((line) => line.trim() !== "");
  return { lines: rest, stated: match[1].replace(/\s+/g, " ").trim() };
}

/** A problem found while generating: a key the example does not describe, a default it misstates. */
export interface DocsProblem {
  readonly path: string;
  readonly problem: string;
}

/** A stated default that is a TOML value rather than words. */
const STATED_LITERAL = /^(?:"|\[|-?\d|true\b|false\b)/;

function defaultLine(key: KeyDoc, stated: string | null, problems: DocsProblem[]): string {
  if (key.defaultValue === null) {
    if (!key.optional) return "required";
    return stated === null ? "none (optional)" : `none; when left out: ${markdownProse(stated)}`;
  }
  const value = `\`${key.defaultValue}\``;
  if (stated === null) return value;
  if (!stated.startsWith(key.defaultValue)) {
    // "Default: all of them." says it in words; only a different literal is a mistake.
    if (!STATED_LITERAL.test(stated)) return `${value} (${markdownProse(stated)})`;
    problems.push({
      path: key.path,
      problem:
        `config.example.toml states the default ${stated}, the schema's is ${key.defaultValue}`,
    });
    return value;
  }
  const why = stated.slice(key.defaultValue.length).trim();
  return why === "" ? value : `${value} ${markdownProse(why)}`;
}

/** The example value to show: the first one that differs from the default, else the first. */
function exampleLine(key: KeyDoc, values: readonly string[]): string {
  const value = values.find((candidate) => candidate !== key.defaultValue) ?? values[0];
  return `\`${key.key} = ${value}\``;
}

function keySection(key: KeyDoc, example: ExampleKey | undefined, problems: DocsProblem[]): string {
  if (example === undefined) {
    problems.push({ path: key.path, problem: "config.example.toml does not describe this key" });
  }
  const { lines, stated } = splitDefault(example?.comment ?? []);
  const facts = [
    `- Type: ${markdownProse(key.type)}`,
    `- Default: ${defaultLine(key, stated, problems)}`,
  ];
  if (example !== undefined) facts.push(`- Example: ${exampleLine(key, example.values)}`);
  return [`### \`${key.key}\``, commentMarkdown(lines), facts.join("\n")]
    .filter((part) => part !== "").join("\n\n");
}

function tableSection(table: TableDoc, example: ExampleDoc, problems: DocsProblem[]): string {
  const intro = commentMarkdown(example.tables.get(table.header) ?? []);
  // Arrays of tables are as many as the config needs; a single table may be optional.
  const optional = table.optional && !table.header.startsWith("[[")
    ? "The table may be left out."
    : "";
  const keys = table.keys.map((key) => keySection(key, example.keys.get(key.path), problems));
  return [`## \`${table.header}\``, intro, optional, ...keys]
    .filter((part) => part !== "").join("\n\n");
}

const INTRO = `# Configuration reference

pg2kafka reads one TOML file (\`pg2kafka run --config FILE\`; \`pg2kafka check --config FILE\`
validates it without running anything). This page lists every option: its type, its default and an
example. It is generated from the config schema (\`src/config/schema.ts\`) and the comments of
[\`config.example.toml\`](../config.example.toml) by \`scripts/gen_config_docs.ts\`; do not edit it by
hand (\`tests/unit/config_docs_test.ts\` fails when it is stale). Filter expressions (\`where\`) are
described in [filters.md](filters.md).

A config has one \`[source]\` table or any number of \`[[sources]]\` (the single table takes the same
keys, and its \`name\` defaults to \`"default"\`), one \`[kafka]\` table and at least one
\`[[targets]]\`; the other tables may be left out. Every problem in a file is reported at once, each
with its path (\`targets[1].where\`), what was expected and what was found. Conventions:`;

/** Generates the markdown (before formatting) and the problems found on the way. */
export function generateConfigDocs(
  exampleText: string,
  schema: Schema = configSchema,
): { markdown: string; problems: DocsProblem[] } {
  const tables = schemaTables(schema);
  const example = readExample(exampleText, tables);
  const problems: DocsProblem[] = [];
  const conventions = example.conventions.map((line) =>
    line.startsWith("- ") ? `- ${markdownProse(line.slice(2))}` : markdownProse(line.trim())
  ).join("\n");
  const sections = tables.map((table) => tableSection(table, example, problems));
  return { markdown: [INTRO, conventions, ...sections].join("\n\n") + "\n", problems };
}

/** Formats markdown as `deno fmt` does, so the file stays as the formatter leaves it. */
export async function formatMarkdown(markdown: string): Promise<string> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["fmt", "--ext", "md", "-"],
    cwd: new URL(".", REPO_ROOT).pathname,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(markdown));
  await writer.close();
  const { success, stdout, stderr } = await child.output();
  if (!success) {
    throw new Error(`deno fmt failed on the config docs: ${new TextDecoder().decode(stderr)}`);
  }
  return new TextDecoder().decode(stdout);
}

/** The reference as it should be on disk, and the problems found. */
export async function renderConfigDocs(): Promise<{ markdown: string; problems: DocsProblem[] }> {
  const { markdown, problems } = generateConfigDocs(await Deno.readTextFile(EXAMPLE_URL));
  return { markdown: await formatMarkdown(markdown), problems };
}

if (import.meta.main) {
  const { markdown, problems } = await renderConfigDocs();
  for (const { path, problem } of problems) console.error(`${path}: ${problem}`);
  if (Deno.args.includes("--check")) {
    const current = await Deno.readTextFile(DOCS_URL).catch(() => "");
    if (current !== markdown) {
      console.error(`${CONFIG_DOCS_PATH} is stale: run deno run -A scripts/gen_config_docs.ts`);
      Deno.exit(1);
    }
  } else {
    await Deno.writeTextFile(DOCS_URL, markdown);
    console.log(`wrote ${CONFIG_DOCS_PATH}`);
  }
  if (problems.length > 0) Deno.exit(1);
}
