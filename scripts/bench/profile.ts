/**
 * Reads a V8 CPU profile (the `.cpuprofile` JSON that `deno run --cpu-prof`
 * writes) into self time per function and per file, the busiest first.
 * Idle time is left out: the shares are of the time the process was busy.
 *
 * @module
 */

/** The parts of a `.cpuprofile` this module reads. */
export interface CpuProfile {
  readonly nodes: readonly {
    readonly id: number;
    readonly callFrame: {
      readonly functionName: string;
      readonly url: string;
      /** Zero-based. */
      readonly lineNumber: number;
    };
  }[];
  /** Node id of each sample. */
  readonly samples: readonly number[];
  /** Microseconds before each sample since the previous one. */
  readonly timeDeltas: readonly number[];
}

/** Self time of one function or file. */
export interface SelfTime {
  /** `function (file:line)` or a file. */
  readonly name: string;
  readonly selfMs: number;
  /** Share of busy time, in percent. */
  readonly percent: number;
}

/** Self times of a profile. */
export interface ProfileSummary {
  /** Sampled time that was not idle, in milliseconds. */
  readonly busyMs: number;
  readonly functions: readonly SelfTime[];
  readonly files: readonly SelfTime[];
}

const IDLE = "(idle)";
const MICROS_PER_MS = 1_000;
const PERCENT = 100;
const NPM_PATH = /\/npm\/registry\.npmjs\.org\/([^/]+)\/[^/]+\/(.*)$/;
const DENO_INTERNAL = /^(ext|node):/;

/**
 * A short name for a script URL: the path inside the repository, `npm:pkg/file`
 * for npm packages, the URL itself for Deno internals, `(native)` for none.
 *
 * @example
 * ```ts
 * shortUrl("file:///work/main/src/kafka/sink.ts", "/work/main/"); // "src/kafka/sink.ts"
 * ```
 */
export function shortUrl(url: string, repoRoot: string): string {
  if (url === "") return "(native)";
  const path = url.startsWith("file://") ? decodeURIComponent(new URL(url).pathname) : url;
  const npm = NPM_PATH.exec(path);
  if (npm) return `npm:${npm[1]}/${npm[2]}`;
  if (path.startsWith(repoRoot)) return path.slice(repoRoot.length);
  return DENO_INTERNAL.test(path) ? path : path.split("/").slice(-2).join("/");
}

/** Sample durations: each sample lasts until the next; the last one lasts as long as the average. */
function sampleDurations(profile: CpuProfile): number[] {
  const { timeDeltas } = profile;
  const durations: number[] = [];
  let total = 0;
  for (let i = 0; i < timeDeltas.length; i++) {
    const next = timeDeltas[i + 1];
    if (next !== undefined) {
      durations.push(Math.max(0, next));
      total += Math.max(0, next);
    }
  }
  durations.push(durations.length > 0 ? total / durations.length : 0);
  return durations;
}

function ranked(totals: Map<string, number>, busyMicros: number, limit: number): SelfTime[] {
  return [...totals]
    .sort((a, b) => b[1] - a[1])
    .slice(0, limit)
    .map(([name, micros]) => ({
      name,
      selfMs: micros / MICROS_PER_MS,
      percent: busyMicros > 0 ? (micros / busyMicros) * PERCENT : 0,
    }));
}

/**
 * Self time per function and per file of `profile`, the `limit` busiest of each.
 *
 * @example
 * ```ts
 * const profile = JSON.parse(Deno.readTextFileSync("CPU.cpuprofile"));
 * summarizeProfile(profile, "/work/main/", 20).functions[0].name;
 * ```
 */
export function summarizeProfile(
  profile: CpuProfile,
  repoRoot: string,
  limit: number,
): ProfileSummary {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const durations = sampleDurations(profile);
  const functions = new Map<string, number>();
  const files = new Map<string, number>();
  let busy = 0;
  profile.samples.forEach((id, index) => {
    const frame = byId.get(id)?.callFrame;
    const micros = durations[index] ?? 0;
    if (frame === undefined || frame.functionName === IDLE) return;
    busy += micros;
    const file = shortUrl(frame.url, repoRoot);
    const name = frame.url === ""
      ? frame.functionName || "(anonymous)"
      : `${frame.functionName || "(anonymous)"} (${file}:${frame.lineNumber + 1})`;
    functions.set(name, (functions.get(name) ?? 0) + micros);
    files.set(file, (files.get(file) ?? 0) + micros);
  });
  return {
    busyMs: busy / MICROS_PER_MS,
    functions: ranked(functions, busy, limit),
    files: ranked(files, busy, limit),
  };
}
