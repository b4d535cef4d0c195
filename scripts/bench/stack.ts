/**
 * The local stack the bench runs on: `scripts/stack.sh up` with the
 * environment the bench was given (PG2KAFKA_STACK_DIR, PG2KAFKA_PG_PORT, …),
 * then where it listens, read from `scripts/stack.sh env`.
 *
 * @module
 */

const REPO_ROOT = new URL("../../", import.meta.url).pathname;
const STACK_SCRIPT = `${REPO_ROOT}scripts/stack.sh`;
const EXPORT_LINE = /^export ([A-Z0-9_]+)=(.*)$/;

/** Where the stack's PostgreSQL and Kafka listen, and how to log in. */
export interface StackEndpoints {
  readonly pgHost: string;
  readonly pgPort: number;
  readonly pgDatabase: string;
  readonly pgUser: string;
  readonly pgPassword: string;
  readonly kafkaBroker: string;
}

/**
 * Parses the `export NAME=value` lines that `scripts/stack.sh env` prints.
 *
 * @example
 * ```ts
 * parseStackEnv("export PG2KAFKA_PG_PORT=54329\n"); // { PG2KAFKA_PG_PORT: "54329" }
 * ```
 */
export function parseStackEnv(text: string): Record<string, string> {
  const variables: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const match = EXPORT_LINE.exec(line.trim());
    if (match) variables[match[1]] = match[2];
  }
  return variables;
}

/**
 * The endpoints from the variables of `scripts/stack.sh env`.
 *
 * @throws {Error} naming the first variable that is missing.
 */
export function stackEndpoints(variables: Record<string, string>): StackEndpoints {
  const need = (name: string) => {
    const value = variables[name];
    if (value === undefined) throw new Error(`scripts/stack.sh env did not print ${name}`);
    return value;
  };
  return {
    pgHost: need("PG2KAFKA_PG_HOST"),
    pgPort: Number(need("PG2KAFKA_PG_PORT")),
    pgDatabase: need("PG2KAFKA_PG_DATABASE"),
    pgUser: need("PG2KAFKA_PG_USER"),
    pgPassword: need("PG2KAFKA_PG_PASSWORD"),
    kafkaBroker: need("PG2KAFKA_KAFKA_BROKERS"),
  };
}

async function stackCommand(command: string, inheritOutput: boolean): Promise<string> {
  const output = await new Deno.Command("bash", {
    args: [STACK_SCRIPT, command],
    stdout: "piped",
    stderr: inheritOutput ? "inherit" : "piped",
  }).output();
  if (!output.success) {
    const detail = inheritOutput ? "see above" : new TextDecoder().decode(output.stderr).trim();
    throw new Error(`scripts/stack.sh ${command} failed (exit ${output.code}): ${detail}`);
  }
  return new TextDecoder().decode(output.stdout);
}

/** Starts the local stack if it is not running (idempotent) and returns its endpoints. */
export async function ensureStack(): Promise<StackEndpoints> {
  await stackCommand("up", true);
  return stackEndpoints(parseStackEnv(await stackCommand("env", false)));
}
