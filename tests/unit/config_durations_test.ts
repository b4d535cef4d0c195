/**
 * Every duration option is bounded at load by the longest delay a timer takes
 * (project issue 14): a longer one would fire after 1 ms and turn a heartbeat
 * or a backoff into a busy loop. The options are found in the schema itself,
 * so a new one is covered without editing this test.
 */
import assert from "node:assert/strict";
import { ConfigError, parseConfig, parseDuration } from "../../src/config/mod.ts";
import { MAX_DURATION_MS, MAX_DURATION_TEXT } from "../../src/config/units.ts";
import { schemaTables } from "../../scripts/gen_config_docs.ts";

/** One millisecond past the bound. */
const PAST_MAX = "596h31m23.648s";

Deno.test("parseDuration() accepts the longest timer delay and refuses one millisecond more", () => {
  assert.equal(parseDuration(MAX_DURATION_TEXT), MAX_DURATION_MS);
  assert.equal(MAX_DURATION_MS, 2_147_483_647);
  assert.throws(() => parseDuration(PAST_MAX), /longer than 596h31m23\.647s/);
  assert.throws(() => parseDuration("600h"), /the longest delay a timer takes/);
});

/** The duration keys of the schema, as `[table header, key path]`. */
function durationKeys(): { header: string; path: string; key: string }[] {
  return schemaTables().flatMap((table) =>
    table.keys.filter((key) => key.type.startsWith("a duration")).map((key) => ({
      header: table.header,
      path: key.path,
      key: key.key,
    }))
  );
}

/** A minimal config with `line` in the table `header`. */
function configWith(header: string, line: string): string {
  const sections: Record<string, string[]> = {
    "[[sources]]": ['name = "main"', 'database = "app"', 'user = "app"', 'tables = ["t"]'],
    "[kafka]": ['brokers = ["127.0.0.1:9092"]'],
  };
  (sections[header] ??= []).push(line);
  // A backoff's max_backoff may not be shorter than its initial_backoff.
  if (line.startsWith("initial_backoff")) {
    sections[header].push(`max_backoff = "${MAX_DURATION_TEXT}"`);
  }
  const order = Object.keys(sections).sort((a, b) => sectionRank(a) - sectionRank(b));
  return [
    ...order.flatMap((name) => [name, ...sections[name]]),
    "[[targets]]",
    'name = "orders"',
    'tables = ["public.orders"]',
  ].join("\n");
}

/** Sub-tables of [[sources]] must follow it; everything else may follow [kafka]. */
function sectionRank(header: string): number {
  if (header === "[[sources]]") return 0;
  if (header.startsWith("[sources.")) return 1;
  if (header === "[kafka]") return 2;
  return header.startsWith("[kafka.") ? 3 : 4;
}

Deno.test("every duration option takes the longest timer delay and refuses one millisecond more", () => {
  const keys = durationKeys();
  assert.ok(keys.length >= 13, `found only ${keys.length} duration options`);
  for (const { header, path, key } of keys) {
    parseConfig(configWith(header, `${key} = "${MAX_DURATION_TEXT}"`), {
      origin: "test.toml",
      env: {},
    });
    let error: unknown;
    try {
      parseConfig(configWith(header, `${key} = "${PAST_MAX}"`), { origin: "test.toml", env: {} });
    } catch (caught) {
      error = caught;
    }
    assert.ok(error instanceof ConfigError, `${path} = "${PAST_MAX}" was accepted`);
    const where = path.replace("[]", "[0]");
    assert.match(
      error.message,
      new RegExp(
        `${
          where.replaceAll(".", "\\.").replace("[0]", "\\[0\\]")
        }: expected a duration .*found "${PAST_MAX}" \\(longer than ${
          MAX_DURATION_TEXT.replaceAll(".", "\\.")
        }`,
      ),
    );
  }
});

Deno.test('heartbeat_interval = "600h" is refused at load, not turned into 1 ms', () => {
  assert.throws(
    () =>
      parseConfig(configWith("[[sources]]", 'heartbeat_interval = "600h"'), {
        origin: "test.toml",
        env: {},
      }),
    /sources\[0\]\.heartbeat_interval: expected a duration .*found "600h" \(longer than/,
  );
});
