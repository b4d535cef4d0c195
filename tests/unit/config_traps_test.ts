/**
 * Config traps a hostile test found (project issue 14, part 4): each loads
 * with a clear error (exit 2 from `check`), or a warning where the config
 * can be legitimate, instead of misbehaving at run time.
 */
import assert from "node:assert/strict";
import { ConfigError, parseConfig, topicWarnings } from "../../src/config/mod.ts";
import { runCheck } from "../../src/cli/check.ts";

const SOURCE = '[[sources]]\nname = "main"\ndatabase = "app"\nuser = "app"\ntables = ["t"]';
const KAFKA = '[kafka]\nbrokers = ["127.0.0.1:9092"]';

function target(name: string, lines = "", tables = '["public.orders"]'): string {
  return `[[targets]]\nname = "${name}"\ntables = ${tables}\n${lines}`;
}

function load(...parts: string[]) {
  return parseConfig([SOURCE, ...parts].join("\n"), { origin: "test.toml", env: {} });
}

function issuesOf(...parts: string[]): string {
  try {
    load(...parts);
  } catch (error) {
    if (error instanceof ConfigError) return error.message;
    throw error;
  }
  assert.fail("expected a ConfigError");
}

Deno.test("a topic template that is . or .. is refused at load", () => {
  for (const topic of [".", ".."]) {
    assert.match(
      issuesOf(KAFKA, target("t", `topic = "${topic}"`)),
      /targets\[0\]\.topic: expected a topic template .*Kafka does not allow the names \. and \.\./,
    );
  }
});

Deno.test("a target writing the dead-letter, progress or an internal topic is refused", () => {
  assert.match(
    issuesOf(KAFKA, target("t", 'topic = "pg2kafka.dead_letter"')),
    /targets\[0\]\.topic: expected a topic other than kafka\.dead_letter_topic/,
  );
  assert.match(
    issuesOf(KAFKA, target("t", 'topic = "pg2kafka.progress"')),
    /targets\[0\]\.topic: expected a topic other than kafka\.progress_topic/,
  );
  assert.match(
    issuesOf(KAFKA, target("t", 'topic = "__consumer_offsets"')),
    /targets\[0\]\.topic: expected a topic not starting with "__"/,
  );
  assert.match(
    issuesOf(`${KAFKA}\ndead_letter_topic = "__dead"`, target("t")),
    /kafka\.dead_letter_topic: expected a topic not starting with "__"/,
  );
  assert.match(
    issuesOf(`${KAFKA}\nprogress_topic = "pg2kafka.dead_letter"`, target("t")),
    /kafka\.progress_topic: expected a topic other than kafka\.dead_letter_topic/,
  );
});

Deno.test("two targets sure to send the same changes to one topic are refused", () => {
  const message = issuesOf(KAFKA, target("a", 'topic = "cdc"'), target("b", 'topic = "cdc"'));
  assert.match(message, /targets\[1\]\.topic: expected a topic no other target sends the same/);
  assert.match(message, /targets\[0\] sends every change of the same table to this topic too/);
  // The default template is shared too.
  assert.match(issuesOf(KAFKA, target("a"), target("b")), /targets\[1\]\.topic: expected a topic/);
});

Deno.test("two targets sharing a topic that may be legitimate load with a warning", () => {
  const cases = [
    [target("a", 'topic = "cdc"'), target("b", 'topic = "cdc"', '["public.lines"]')],
    [target("a", 'topic = "cdc"\nwhere = "new.id > 0"'), target("b", 'topic = "cdc"')],
    [
      target("a", 'topic = "cdc"\nops = ["insert"]'),
      target("b", 'topic = "cdc"\nops = ["delete"]'),
    ],
  ];
  for (const targets of cases) {
    const config = load(KAFKA, ...targets);
    assert.deepEqual(topicWarnings(config), [
      "targets[1].topic is the topic of targets[0] too: a change both take arrives twice, " +
      "unless their tables, ops or where keep them apart",
    ]);
  }
  assert.deepEqual(topicWarnings(load(KAFKA, target("a"))), []);
});

Deno.test("a where of 2,000 nested parentheses is a config error (exit 2), not a crash", async () => {
  const deep = "(".repeat(2_000) + "new.id > 0" + ")".repeat(2_000);
  const parts = [SOURCE, KAFKA, target("t", `where = "${deep}"`)];
  assert.match(issuesOf(...parts.slice(1)), /targets\[0\]\.where: .*nests deeper than 100 levels/s);
  const path = await Deno.makeTempFile({ suffix: ".toml" });
  await Deno.writeTextFile(path, parts.join("\n"));
  const errors: string[] = [];
  try {
    const code = await runCheck(path, {
      connect: false,
      print: () => {},
      printError: (text) => errors.push(text),
    });
    assert.equal(code, 2);
    assert.match(errors.join("\n"), /nests deeper than 100 levels/);
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("a where of 8,000 alternatives loads", () => {
  const alternatives = Array.from({ length: 8_000 }, (_, i) => `new.id == ${i}`).join(" || ");
  const config = load(KAFKA, target("t", `where = "${alternatives}"`));
  assert.ok(config.targets[0].filter !== null);
});
