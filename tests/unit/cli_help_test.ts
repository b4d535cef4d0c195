import assert from "node:assert/strict";
import { CLI_OPTIONS, COMMAND_HELP, main, USAGE } from "../../main.ts";

const OPERATIONS_URL = new URL("../../docs/operations.md", import.meta.url);
const COMMANDS = ["run", "check", "health", "version"] as const;
const LONG_OPTION = /--[a-z][a-z-]*/g;

/** Runs the command line, returning its exit code and what it printed. */
async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const { log, error } = console;
  console.log = (...parts: unknown[]) => out.push(parts.join(" "));
  console.error = (...parts: unknown[]) => err.push(parts.join(" "));
  try {
    const code = await main(args);
    return { code, out: out.join("\n"), err: err.join("\n") };
  } finally {
    console.log = log;
    console.error = error;
  }
}

/** The "## Command line" section of docs/operations.md. */
async function commandLineDocs(): Promise<string> {
  const docs = await Deno.readTextFile(OPERATIONS_URL);
  const start = docs.indexOf("\n## Command line\n");
  assert.ok(start >= 0, "docs/operations.md has no Command line section");
  const end = docs.indexOf("\n## ", start + 1);
  return docs.slice(start, end < 0 ? undefined : end);
}

/** The part of `text` under `### pg2kafka <command>`. */
function commandSection(docs: string, command: string): string {
  const start = docs.indexOf(`\n### pg2kafka ${command}\n`);
  assert.ok(start >= 0, `docs/operations.md has no section for pg2kafka ${command}`);
  const end = docs.indexOf("\n### ", start + 1);
  return docs.slice(start, end < 0 ? undefined : end);
}

/** The exit codes an "Exit codes: 0 …; 1 …" sentence lists. */
function exitCodes(text: string): number[] {
  const start = text.indexOf("Exit codes:");
  assert.ok(start >= 0, `no "Exit codes:" in ${text.slice(0, 60)}…`);
  const sentence = text.slice(start, text.indexOf("\n\n", start) >>> 0).replaceAll("\n", " ");
  return [...sentence.matchAll(/(?:Exit codes:|;)\s+(\d+)\b/g)].map((match) => Number(match[1]));
}

Deno.test("pg2kafka --help, -h and help print the general help naming every command", async () => {
  for (const args of [["--help"], ["-h"], ["help"], []]) {
    const { code, out } = await cli(args);
    assert.equal(code, 0);
    assert.equal(out, USAGE);
  }
  for (const command of [...COMMANDS, "help"]) {
    assert.match(USAGE, new RegExp(`^  pg2kafka ${command}\\b`, "m"));
  }
});

Deno.test("pg2kafka COMMAND --help and pg2kafka help COMMAND print that command's help", async () => {
  for (const command of COMMANDS) {
    const help = COMMAND_HELP[command];
    assert.match(help, new RegExp(`^pg2kafka ${command}: `));
    assert.deepEqual(await cli([command, "--help"]), { code: 0, out: help, err: "" });
    assert.deepEqual(await cli(["help", command]), { code: 0, out: help, err: "" });
  }
});

Deno.test("pg2kafka help of an unknown command exits 2 and prints the general help", async () => {
  const { code, err } = await cli(["help", "replay"]);
  assert.equal(code, 2);
  assert.match(err, /unknown command "replay"/);
  assert.ok(err.includes(USAGE));
});

Deno.test("the helps name every option the command line accepts", () => {
  const helps = Object.values(COMMAND_HELP).join("\n");
  for (const [name, option] of Object.entries(CLI_OPTIONS)) {
    assert.ok(helps.includes(`--${name}`), `no help mentions --${name}`);
    const short = "short" in option ? option.short : undefined;
    if (short !== undefined) assert.ok(helps.includes(`-${short}, --${name}`), `-${short}`);
  }
});

Deno.test("every option a help names is documented in docs/operations.md", async () => {
  const docs = await commandLineDocs();
  for (const command of COMMANDS) {
    const section = commandSection(docs, command);
    for (const [option] of COMMAND_HELP[command].matchAll(LONG_OPTION)) {
      const global = USAGE.includes(option);
      assert.ok(
        section.includes(`\`${option}`) || (global && docs.includes(`\`${option}\``)),
        `pg2kafka ${command} ${option} is not in docs/operations.md`,
      );
    }
  }
});

Deno.test("docs/operations.md documents no option the command line lacks", async () => {
  const known = new Set(Object.keys(CLI_OPTIONS).map((name) => `--${name}`));
  for (const [option] of (await commandLineDocs()).matchAll(LONG_OPTION)) {
    assert.ok(known.has(option), `docs/operations.md names ${option}, which pg2kafka lacks`);
  }
});

Deno.test("each help states the exit codes docs/operations.md states", async () => {
  const docs = await commandLineDocs();
  assert.deepEqual(exitCodes(USAGE), [0, 1, 2, 3, 4, 5, 130]);
  assert.deepEqual(exitCodes(docs), exitCodes(USAGE));
  for (const command of COMMANDS) {
    assert.deepEqual(
      exitCodes(COMMAND_HELP[command]),
      exitCodes(commandSection(docs, command)),
      `exit codes of pg2kafka ${command}`,
    );
  }
});
