/**
 * Resource use of a process from Linux's /proc: peak resident memory
 * (`VmHWM` of /proc/PID/status) and CPU time (`utime` + `stime` of
 * /proc/PID/stat, all threads). A sampler polls while the process runs, so
 * the last reading survives the process's exit.
 *
 * @module
 */

const BYTES_PER_KIB = 1_024;
/** Fields of /proc/PID/stat after the command name: state is field 3, utime 14, stime 15. */
const STAT_FIRST_FIELD_AFTER_COMM = 3;
const STAT_UTIME_FIELD = 14;
const STAT_STIME_FIELD = 15;
/** Linux's USER_HZ on every mainstream architecture, used when getconf is missing. */
const DEFAULT_CLOCK_TICKS = 100;
const SAMPLE_INTERVAL_MS = 100;
const FIND_POLL_MS = 20;

/** One reading of a process's resource use. */
export interface ProcessUsage {
  /** Peak resident set size so far, in bytes. */
  readonly peakRssBytes: number;
  /** CPU time in user and kernel mode so far, in seconds. */
  readonly cpuSeconds: number;
}

/**
 * A memory field of /proc/PID/status (e.g. `VmHWM`) in bytes.
 *
 * @throws {Error} when the field is missing.
 * @example
 * ```ts
 * statusBytes("VmHWM:\t  2048 kB\n", "VmHWM"); // 2097152
 * ```
 */
export function statusBytes(status: string, field: string): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB$`, "m").exec(status);
  if (match === null) throw new Error(`/proc status has no ${field} line`);
  return Number(match[1]) * BYTES_PER_KIB;
}

/**
 * CPU seconds (utime + stime) from the text of /proc/PID/stat. The command
 * name in parentheses may hold spaces and parentheses, so fields are counted
 * from the last `)`.
 *
 * @throws {Error} when the text is not a stat line.
 * @example
 * ```ts
 * cpuSecondsFromStat("42 (deno) S 1 1 1 0 -1 0 0 0 0 0 150 50 0 0", 100); // 2
 * ```
 */
export function cpuSecondsFromStat(stat: string, ticksPerSecond: number): number {
  const end = stat.lastIndexOf(")");
  const fields = stat.slice(end + 1).trim().split(/\s+/);
  const field = (n: number) => Number(fields[n - STAT_FIRST_FIELD_AFTER_COMM]);
  const utime = field(STAT_UTIME_FIELD);
  const stime = field(STAT_STIME_FIELD);
  if (end < 0 || !Number.isFinite(utime) || !Number.isFinite(stime)) {
    throw new Error(`Not a /proc/PID/stat line: "${stat.slice(0, 80)}"`);
  }
  return (utime + stime) / ticksPerSecond;
}

let clockTicks: number | undefined;

/** The kernel's clock ticks per second (`getconf CLK_TCK`), the unit of utime and stime. */
export async function clockTicksPerSecond(): Promise<number> {
  if (clockTicks !== undefined) return clockTicks;
  try {
    const output = await new Deno.Command("getconf", { args: ["CLK_TCK"] }).output();
    const value = Number(new TextDecoder().decode(output.stdout).trim());
    clockTicks = output.success && value > 0 ? value : DEFAULT_CLOCK_TICKS;
  } catch {
    clockTicks = DEFAULT_CLOCK_TICKS;
  }
  return clockTicks;
}

/** Reads the usage of process `pid` now; null when it has exited. */
export async function readUsage(pid: number): Promise<ProcessUsage | null> {
  try {
    const [status, stat] = await Promise.all([
      Deno.readTextFile(`/proc/${pid}/status`),
      Deno.readTextFile(`/proc/${pid}/stat`),
    ]);
    return {
      peakRssBytes: statusBytes(status, "VmHWM"),
      cpuSeconds: cpuSecondsFromStat(stat, await clockTicksPerSecond()),
    };
  } catch {
    return null;
  }
}

/**
 * Polls a process's usage until stopped, keeping the last reading so that a
 * process that exits between samples still has a figure.
 */
export class UsageSampler {
  readonly #pid: number;
  #last: ProcessUsage | null = null;
  #timer: ReturnType<typeof setInterval> | undefined;
  #reading: Promise<void> = Promise.resolve();

  /** Starts polling process `pid`. */
  constructor(pid: number) {
    this.#pid = pid;
    this.#timer = setInterval(() => this.#sample(), SAMPLE_INTERVAL_MS);
    this.#sample();
  }

  /** The newest reading, or null if none succeeded yet. */
  get last(): ProcessUsage | null {
    return this.#last;
  }

  /** Takes one more reading (if the process still runs), stops polling and returns the newest. */
  async stop(): Promise<ProcessUsage | null> {
    clearInterval(this.#timer);
    await this.#reading;
    this.#sample();
    await this.#reading;
    return this.#last;
  }

  #sample(): void {
    this.#reading = this.#reading.then(async () => {
      this.#last = (await readUsage(this.#pid)) ?? this.#last;
    });
  }
}

/**
 * Finds a process with `find` (polling until it answers a pid) and samples it
 * until `ended` resolves; returns its last reading, or null if it never
 * showed up. Used for the walsender serving a slot.
 */
export async function sampleOnceFound(
  find: () => Promise<number | null>,
  ended: Promise<unknown>,
): Promise<ProcessUsage | null> {
  let finished = false;
  const finish = () => (finished = true);
  ended.then(finish, finish);
  let pid: number | null = null;
  while (!finished && (pid = await find().catch(() => null)) === null) {
    await new Promise((resolve) => setTimeout(resolve, FIND_POLL_MS));
  }
  return pid === null ? null : await sampleUntil(pid, ended);
}

/** Samples process `pid` until `ended` settles; returns its last reading. */
export async function sampleUntil(
  pid: number,
  ended: Promise<unknown>,
): Promise<ProcessUsage | null> {
  const sampler = new UsageSampler(pid);
  await ended.catch(() => {});
  return await sampler.stop();
}
