import assert from "node:assert/strict";
import { EXIT, main, usageProblem } from "../../main.ts";

Deno.test("usageProblem() refuses an option of another command", () => {
  assert.equal(
    usageProblem("run", ["config", "json"], ["run"]),
    'option --json does not apply to "run" (it is an option of health)',
  );
  assert.equal(
    usageProblem("check", ["url"], ["check"]),
    'option --url does not apply to "check" (it is an option of health)',
  );
});

Deno.test("usageProblem() accepts each command's own options and --help", () => {
  assert.equal(usageProblem("check", ["config", "connect", "help"], ["check"]), null);
  assert.equal(usageProblem("health", ["json", "max-lag", "token"], ["health"]), null);
  assert.equal(usageProblem("help", [], ["help", "run"]), null);
});

Deno.test("usageProblem() refuses words after the command", () => {
  assert.equal(usageProblem("run", [], ["run", "now"]), 'unexpected argument "now" after "run"');
});

Deno.test("main() exits 2 on an option the command does not take", async () => {
  const errors: string[] = [];
  const original = console.error;
  console.error = (message: string) => errors.push(message);
  try {
    assert.equal(await main(["run", "--json", "--config", "x.toml"]), EXIT.usage);
  } finally {
    console.error = original;
  }
  assert.match(errors[0], /option --json does not apply to "run"/);
});

Deno.test("main() exits 2 on health --url that is not an http(s) URL", async () => {
  const configPath = await Deno.makeTempFile({ suffix: ".toml" });
  await Deno.writeTextFile(
    configPath,
    '[source]\ndatabase = "app"\nuser = "app"\ntables = ["public.orders"]\n' +
      '[kafka]\nbrokers = ["127.0.0.1:9092"]\n[[targets]]\nname = "t"\ntables = ["public.orders"]\n',
  );
  const errors: string[] = [];
  const original = console.error;
  console.error = (message: string) => errors.push(message);
  try {
    assert.equal(await main(["health", "-c", configPath, "--url", "not-a-url"]), EXIT.usage);
  } finally {
    console.error = original;
    await Deno.remove(configPath);
  }
  assert.match(errors[0], /--url expects an http:\/\/ or https:\/\/ URL .*found "not-a-url"/);
});
