/**
 * The repository stands alone: no tracked file refers to a path outside it,
 * so what a reader or a script needs is always in the clone they have.
 */
import assert from "node:assert/strict";
import { dirname, join, relative, resolve } from "node:path";

const ROOT = resolve(new URL("../../", import.meta.url).pathname);
/** A relative path that climbs at least one folder: `../x`, `../../y/z.md`. */
const CLIMBING_PATH = /(?:\.\.\/)+[\w.\-/]*/g;

/** Every tracked file, relative to the repository's root. */
async function trackedFiles(): Promise<string[]> {
  const output = await new Deno.Command("git", { args: ["ls-files", "-z"], cwd: ROOT }).output();
  assert.ok(output.success, "git ls-files failed");
  return new TextDecoder().decode(output.stdout).split("\0").filter((path) => path !== "");
}

/** `file:line: reference` for each climbing path in `text` that leaves the repository. */
export function referencesOutside(file: string, text: string, root = ROOT): string[] {
  const found: string[] = [];
  const lines = text.split("\n");
  for (let index = 0; index < lines.length; index++) {
    for (const [reference] of lines[index].matchAll(CLIMBING_PATH)) {
      const target = resolve(dirname(join(root, file)), reference);
      if (relative(root, target).startsWith("..")) found.push(`${file}:${index + 1}: ${reference}`);
    }
  }
  return found;
}

Deno.test("referencesOutside() tells a path that leaves the repository from one that stays", () => {
  const root = "/repo";
  assert.deepEqual(referencesOutside("docs/a.md", "see [it](../README.md)", root), []);
  assert.deepEqual(referencesOutside("tests/unit/x.ts", 'new URL("../../", base)', root), []);
  assert.deepEqual(referencesOutside("README.md", "read ../shared/DESIGN.md first", root), [
    "README.md:1: ../shared/DESIGN.md",
  ]);
  assert.deepEqual(referencesOutside("docs/a.md", "x\n[d](../../team/notes.md)", root), [
    "docs/a.md:2: ../../team/notes.md",
  ]);
});

Deno.test("no tracked file refers to a path outside the repository", async () => {
  const found: string[] = [];
  for (const file of await trackedFiles()) {
    let text: string;
    try {
      text = await Deno.readTextFile(join(ROOT, file));
    } catch {
      continue; // removed in the work tree, or not text
    }
    found.push(...referencesOutside(file, text));
  }
  assert.deepEqual(found, [], `references outside the repository:\n${found.join("\n")}`);
});
