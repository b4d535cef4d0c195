import assert from "node:assert/strict";
import { type CpuProfile, shortUrl, summarizeProfile } from "../../scripts/bench/profile.ts";

const REPO = "/work/main/";

function frame(functionName: string, url = "", lineNumber = 0) {
  return { functionName, url, lineNumber };
}

const PROFILE: CpuProfile = {
  nodes: [
    { id: 1, callFrame: frame("(root)") },
    { id: 2, callFrame: frame("(idle)") },
    { id: 3, callFrame: frame("encodeValue", "file:///work/main/src/pipeline/encode.ts", 71) },
    { id: 4, callFrame: frame("formatLsn", "file:///work/main/src/lsn.ts", 22) },
    { id: 5, callFrame: frame("(garbage collector)") },
  ],
  // Each sample lasts until the next: encodeValue 300 + 200 µs, formatLsn 100, idle 500 + the
  // last sample, the garbage collector 200.
  samples: [3, 4, 2, 3, 5, 2],
  timeDeltas: [0, 300, 100, 500, 200, 200],
};

Deno.test("summarizeProfile() ranks functions by self time and leaves idle time out", () => {
  const summary = summarizeProfile(PROFILE, REPO, 10);
  assert.equal(summary.busyMs, 0.8);
  assert.deepEqual(summary.functions.map((f) => [f.name, f.selfMs]), [
    ["encodeValue (src/pipeline/encode.ts:72)", 0.5],
    ["(garbage collector)", 0.2],
    ["formatLsn (src/lsn.ts:23)", 0.1],
  ]);
  assert.equal(summary.functions[0].percent, 62.5);
});

Deno.test("summarizeProfile() sums self time per file", () => {
  const summary = summarizeProfile(PROFILE, REPO, 10);
  assert.deepEqual(summary.files.map((f) => f.name), [
    "src/pipeline/encode.ts",
    "(native)",
    "src/lsn.ts",
  ]);
});

Deno.test("summarizeProfile() keeps only the busiest entries", () => {
  assert.equal(summarizeProfile(PROFILE, REPO, 1).functions.length, 1);
});

Deno.test("shortUrl() shortens repository, npm and Deno internal URLs", () => {
  assert.equal(shortUrl("file:///work/main/src/kafka/sink.ts", REPO), "src/kafka/sink.ts");
  assert.equal(
    shortUrl(
      "file:///root/.cache/deno/npm/registry.npmjs.org/kafkajs/2.2.4/src/protocol/encoder.js",
      REPO,
    ),
    "npm:kafkajs/src/protocol/encoder.js",
  );
  assert.equal(
    shortUrl("ext:deno_node/internal/buffer.mjs", REPO),
    "ext:deno_node/internal/buffer.mjs",
  );
  assert.equal(shortUrl("", REPO), "(native)");
});
