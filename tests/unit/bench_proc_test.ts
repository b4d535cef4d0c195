import assert from "node:assert/strict";
import { cpuSecondsFromStat, readUsage, statusBytes } from "../../scripts/bench/proc.ts";

const STATUS = `Name:\tdeno
VmPeak:\t 3000000 kB
VmHWM:\t  204800 kB
VmRSS:\t  102400 kB
`;

Deno.test("statusBytes() reads a /proc status memory field in bytes", () => {
  assert.equal(statusBytes(STATUS, "VmHWM"), 204_800 * 1_024);
  assert.equal(statusBytes(STATUS, "VmRSS"), 102_400 * 1_024);
});

Deno.test("statusBytes() names the field that is missing", () => {
  assert.throws(() => statusBytes("Name:\tdeno\n", "VmHWM"), /VmHWM/);
});

Deno.test("cpuSecondsFromStat() adds utime and stime in clock ticks", () => {
  const stat = "4242 (deno) S 1 4242 4242 0 -1 4194560 100 0 0 0 150 50 0 0 20 0 9 0";
  assert.equal(cpuSecondsFromStat(stat, 100), 2);
});

Deno.test("cpuSecondsFromStat() counts fields after a command name with spaces and parentheses", () => {
  const stat = "77 (tokio (rt) worker) R 1 77 77 0 -1 0 0 0 0 0 300 100 0 0 20 0 1 0";
  assert.equal(cpuSecondsFromStat(stat, 100), 4);
});

Deno.test("cpuSecondsFromStat() refuses text that is not a stat line", () => {
  assert.throws(() => cpuSecondsFromStat("not a stat line", 100), /stat/);
});

Deno.test("readUsage() reads this process's peak memory and CPU time", async () => {
  const usage = await readUsage(Deno.pid);
  assert.ok(usage !== null);
  assert.ok(usage.peakRssBytes > 0);
  assert.ok(usage.cpuSeconds >= 0);
});

Deno.test("readUsage() is null for a process that does not exist", async () => {
  const NO_SUCH_PID = 2 ** 30;
  assert.equal(await readUsage(NO_SUCH_PID), null);
});
