import assert from "node:assert/strict";
import { parseDuration, parseSize } from "../../src/config/mod.ts";

Deno.test("parseDuration() converts each unit and combinations to milliseconds", () => {
  const cases: [string, number][] = [
    ["0ms", 0],
    ["500ms", 500],
    ["10s", 10_000],
    ["5m", 300_000],
    ["1h", 3_600_000],
    ["1m30s", 90_000],
    ["1h2m3s4ms", 3_723_004],
    ["1.5s", 1_500],
    ["1.1s", 1_100],
    ["0.5m", 30_000],
  ];
  for (const [text, expected] of cases) assert.equal(parseDuration(text), expected, text);
});

Deno.test("parseDuration() rejects plain numbers, unknown units and odd forms with the reason", () => {
  const cases: [string, string][] = [
    ["10", 'Invalid duration "10": missing unit; use ms, s, m or h'],
    ["", 'Invalid duration "": the value is empty'],
    ["10sec", 'Invalid duration "10sec": unknown unit "sec"; use ms, s, m or h'],
    ["10S", 'Invalid duration "10S": unknown unit "S"; use ms, s, m or h'],
    ["10 s", 'Invalid duration "10 s": unexpected " " at character 3'],
    [
      "30s1m",
      'Invalid duration "30s1m": units must go from largest to smallest, each at most once',
    ],
    ["1s1s", 'Invalid duration "1s1s": units must go from largest to smallest, each at most once'],
    ["-1s", 'Invalid duration "-1s": expected a number at character 1'],
    ["0.5ms", 'Invalid duration "0.5ms": the value must be a whole number of milliseconds'],
  ];
  for (const [text, message] of cases) {
    assert.throws(() => parseDuration(text), { name: "RangeError", message }, text);
  }
});

Deno.test("parseSize() converts binary and decimal units to bytes", () => {
  const cases: [string, number][] = [
    ["512B", 512],
    ["64KiB", 65_536],
    ["64MiB", 67_108_864],
    ["1GiB", 1_073_741_824],
    ["1kB", 1_000],
    ["10MB", 10_000_000],
    ["2GB", 2_000_000_000],
    ["1.5KiB", 1_536],
  ];
  for (const [text, expected] of cases) assert.equal(parseSize(text), expected, text);
});

Deno.test("parseSize() rejects plain numbers, unknown or miscased units and fractions of a byte", () => {
  const units = "use B, kB, MB, GB, KiB, MiB or GiB";
  const cases: [string, string][] = [
    ["1024", `Invalid size "1024": missing unit; ${units}`],
    ["1mb", `Invalid size "1mb": unknown unit "mb"; ${units}`],
    ["1KB", `Invalid size "1KB": unknown unit "KB"; ${units}`],
    ["1 MiB", 'Invalid size "1 MiB": unexpected " " at character 2'],
    ["1MiB2KiB", 'Invalid size "1MiB2KiB": unexpected text after "1MiB"'],
    ["0.5B", 'Invalid size "0.5B": the value must be a whole number of bytes'],
    ["MiB", 'Invalid size "MiB": expected a number at character 1'],
  ];
  for (const [text, message] of cases) {
    assert.throws(() => parseSize(text), { name: "RangeError", message }, text);
  }
});
