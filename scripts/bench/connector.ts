/**
 * The connector under test, run as users run it: `deno run` with the V8
 * flags of scripts/v8_flags.ts and `--allow-all main.ts run --config
 * <generated toml>`, in its own process, whose memory and
 * CPU time the bench reads from /proc.
 *
 * @module
 */
import { type ProcessUsage, UsageSampler } from "./proc.ts";
import { V8_FLAGS_ARG } from "../v8_flags.ts";
import { BENCH_HASH_SECRET, BENCH_HASH_SECRET_VARIABLE } from "./config.ts";

const STOP_TIMEOUT_MS = 60_000;
/** Lines of output kept to explain a failure. */
const KEPT_LINES = 200;

/** How a connector run ended. */
export interface ConnectorOutcome {
  /** Resource use read just before the stop signal. */
  readonly usage: ProcessUsage | null;
  readonly exitCode: number;
}

/** A running connector process. */
export class BenchConnector {
  /** When the process was spawned, in milliseconds since the Unix epoch. */
  readonly startedAt: number;
  readonly #child: Deno.ChildProcess;
  readonly #configPath: string;
  readonly #sampler: UsageSampler;
  readonly #lines: string[] = [];
  #exit: Deno.CommandStatus | null = null;
  readonly #exited: Promise<Deno.CommandStatus>;

  private constructor(child: Deno.ChildProcess, configPath: string, startedAt: number) {
    this.#child = child;
    this.#configPath = configPath;
    this.startedAt = startedAt;
    this.#sampler = new UsageSampler(child.pid);
    this.#exited = child.status.then((status) => (this.#exit = status));
    this.#collect(child.stdout);
    this.#collect(child.stderr);
  }

  /**
   * Writes `config` to a temporary file and starts the connector (`entry`,
   * i.e. main.ts) on it; with `profileDir`, V8 writes a CPU profile
   * (.cpuprofile) there on exit.
   */
  static start(
    entry: string,
    config: string,
    password: string,
    profileDir?: string,
  ): BenchConnector {
    const configPath = Deno.makeTempFileSync({ prefix: "pg2kafka-bench-", suffix: ".toml" });
    Deno.writeTextFileSync(configPath, config);
    const profile = profileDir ? ["--cpu-prof", `--cpu-prof-dir=${profileDir}`] : [];
    const startedAt = Date.now();
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        V8_FLAGS_ARG,
        "--allow-all",
        ...profile,
        entry,
        "run",
        "--config",
        configPath,
      ],
      env: { PG2KAFKA_PG_PASSWORD: password, [BENCH_HASH_SECRET_VARIABLE]: BENCH_HASH_SECRET },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    return new BenchConnector(child, configPath, startedAt);
  }

  /** The process id. */
  get pid(): number {
    return this.#child.pid;
  }

  /** Why the connector can no longer finish the run, or null while it runs. */
  failure(): string | null {
    return this.#exit === null ? null : `The connector exited with code ${this.#exit.code}`;
  }

  /** The newest lines the connector printed, to explain a failure. */
  get output(): string {
    return this.#lines.slice(-KEPT_LINES).join("\n");
  }

  /** Reads its resource use, sends SIGTERM and waits for a clean exit. */
  async stop(): Promise<ConnectorOutcome> {
    const usage = await this.#sampler.stop();
    if (this.#exit === null) this.#child.kill("SIGTERM");
    const timer = setTimeout(() => this.#child.kill("SIGKILL"), STOP_TIMEOUT_MS);
    const status = await this.#exited.finally(() => clearTimeout(timer));
    await Deno.remove(this.#configPath).catch(() => {});
    return { usage, exitCode: status.code };
  }

  async #collect(stream: ReadableStream<Uint8Array>): Promise<void> {
    let rest = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      const parts = (rest + chunk).split("\n");
      rest = parts.pop() ?? "";
      for (const line of parts) this.#onLine(line);
    }
    if (rest) this.#onLine(rest);
  }

  #onLine(line: string): void {
    if (this.#lines.length >= KEPT_LINES * 2) this.#lines.splice(0, KEPT_LINES);
    this.#lines.push(line);
  }
}
