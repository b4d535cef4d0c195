import assert from "node:assert/strict";
import {
  BENCH_PARTS,
  BenchUsageError,
  DEFAULT_OPTIONS,
  parseBenchArgs,
  parseMix,
  parseParts,
} from "../../scripts/bench/options.ts";

Deno.test("parseBenchArgs() gives the reference workload with no flags", () => {
  const options = parseBenchArgs([]);
  assert.deepEqual(options, DEFAULT_OPTIONS);
  assert.equal(options.rows, 100_000);
  assert.equal(options.rate, 5_000);
  assert.deepEqual(options.only, ["filter", "recvlogical", "backlog", "live", "latency"]);
});

Deno.test("parseBenchArgs() reads every flag", () => {
  const options = parseBenchArgs([
    "--rows=2_000",
    "--width",
    "500",
    "--tx-size",
    "1",
    "--mix",
    "100,0,0",
    "--rate",
    "1000",
    "--duration",
    "5",
    "--warmup",
    "0",
    "--huge-rows",
    "10000",
    "--repeat",
    "5",
    "--only",
    "huge,backlog",
    "--json",
    "out.json",
    "--set",
    "kafka.linger=0ms",
    "--set",
    "limits.max_inflight_messages=5000",
  ]);
  assert.equal(options.rows, 2_000);
  assert.equal(options.width, 500);
  assert.equal(options.txSize, 1);
  assert.deepEqual(options.mix, { insert: 100, update: 0, delete: 0 });
  assert.equal(options.rate, 1_000);
  assert.equal(options.duration, 5);
  assert.equal(options.warmup, 0);
  assert.equal(options.hugeRows, 10_000);
  assert.equal(options.repeat, 5);
  assert.deepEqual(options.only, ["backlog", "huge"]);
  assert.equal(options.json, "out.json");
  assert.deepEqual(options.set, [
    { table: "kafka", key: "linger", value: '"0ms"' },
    { table: "limits", key: "max_inflight_messages", value: "5000" },
  ]);
});

Deno.test("parseBenchArgs() refuses an unknown flag, naming it", () => {
  assert.throws(() => parseBenchArgs(["--rowz", "5"]), (error: Error) => {
    assert.ok(error instanceof BenchUsageError);
    assert.match(error.message, /rowz/);
    return true;
  });
});

Deno.test("parseBenchArgs() refuses counts that are zero, negative or not whole", () => {
  assert.throws(() => parseBenchArgs(["--rows", "0"]), /--rows must be at least 1/);
  assert.throws(() => parseBenchArgs(["--rate=-5"]), /--rate must be a whole number/);
  assert.throws(() => parseBenchArgs(["--tx-size", "2.5"]), /--tx-size must be a whole number/);
  assert.throws(() => parseBenchArgs(["--width", ""]), /--width must be a whole number/);
});

Deno.test("parseBenchArgs() refuses a --set that is not table.key=value", () => {
  assert.throws(() => parseBenchArgs(["--set", "linger=0ms"]), BenchUsageError);
});

Deno.test("parseMix() reads three percentages summing to 100", () => {
  assert.deepEqual(parseMix("80, 15, 5"), { insert: 80, update: 15, delete: 5 });
  assert.deepEqual(parseMix("0,0,100"), { insert: 0, update: 0, delete: 100 });
});

Deno.test("parseMix() refuses a mix that does not sum to 100 or has the wrong shape", () => {
  for (const text of ["60,30", "60,30,20", "60,30,,10", "60,-10,50", "60.5,29.5,10", "a,b,c"]) {
    assert.throws(() => parseMix(text), BenchUsageError, text);
  }
});

Deno.test("parseParts() returns the parts in run order without duplicates", () => {
  assert.deepEqual(parseParts("latency, filter,latency"), ["filter", "latency"]);
  assert.deepEqual(parseParts(BENCH_PARTS.join(",")), [...BENCH_PARTS]);
});

Deno.test("parseParts() names an unknown part and refuses an empty list", () => {
  assert.throws(() => parseParts("backlog,speed"), /speed/);
  assert.throws(() => parseParts(" , "), BenchUsageError);
});

Deno.test("parseBenchArgs() reads the source counts of the many-sources run", () => {
  assert.deepEqual(DEFAULT_OPTIONS.sources, [1, 20, 100]);
  const options = parseBenchArgs(["--only", "sources", "--sources", "2, 5"]);
  assert.deepEqual(options.sources, [2, 5]);
  assert.deepEqual(options.only, ["sources"]);
  assert.throws(() => parseBenchArgs(["--sources", "1,,3"]), BenchUsageError);
  assert.throws(() => parseBenchArgs(["--sources", "0"]), /--sources must be at least 1/);
});
