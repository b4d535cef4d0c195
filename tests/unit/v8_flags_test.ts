import assert from "node:assert/strict";
import { V8_FLAGS_ARG } from "../../scripts/v8_flags.ts";

const ROOT = new URL("../../", import.meta.url);

/** The launchers that are not TypeScript and so cannot import V8_FLAGS_ARG. */
const LAUNCHERS = [
  { file: "scripts/dev.sh", command: /"\$DENO" run .*main\.ts run/ },
  { file: "scripts/demo.sh", command: /"\$DENO" run .*main\.ts run/ },
  { file: "scripts/compile.sh", command: /"\$DENO" compile .*main\.ts/ },
];

for (const { file, command } of LAUNCHERS) {
  Deno.test(`${file} starts pg2kafka with the V8 flags of scripts/v8_flags.ts`, async () => {
    const text = await Deno.readTextFile(new URL(file, ROOT));
    const line = text.match(command)?.[0];
    assert.ok(line, `no pg2kafka command in ${file}`);
    assert.ok(line.includes(` ${V8_FLAGS_ARG} `), `${file}: ${line}`);
  });
}
