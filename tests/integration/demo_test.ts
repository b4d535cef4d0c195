/**
 * scripts/demo.sh works the first time and every time after: on a stack that
 * starts empty it runs twice, and each run prints exactly the six messages of
 * the changes it made, none of the other run's.
 *
 * It brings up a stack of its own (the environment's PG2KAFKA_STACK_DIR and
 * ports, which must hold no stack yet) and takes it down at the end, so it
 * runs only when PG2KAFKA_TEST_DEMO=1 (CI's demo job), not in the full suite.
 */
import assert from "node:assert/strict";
import { parseLsn } from "../../src/lsn.ts";

const REPO_ROOT = new URL("../../", import.meta.url).pathname;
const STACK_DIR = Deno.env.get("PG2KAFKA_STACK_DIR") ?? `${REPO_ROOT}.stack`;
const MESSAGES_PER_RUN = 6;

interface DemoRun {
  customer: number;
  since: bigint;
  values: Record<string, unknown>[];
  output: string;
}

async function run(script: string, ...args: string[]): Promise<{ ok: boolean; output: string }> {
  const result = await new Deno.Command("bash", {
    args: [`${REPO_ROOT}scripts/${script}`, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  return { ok: result.success, output: decode(result.stdout) + decode(result.stderr) };
}

/** Runs the demo and reads back what it printed: its customer, start position and messages. */
async function runDemo(): Promise<DemoRun> {
  const { ok, output } = await run("demo.sh");
  assert.ok(ok, `demo.sh failed:\n${output}`);
  const header =
    /changing rows in PostgreSQL \(customer (\d+), from WAL position ([0-9A-F]+\/[0-9A-F]+)\)/
      .exec(output);
  assert.ok(header, `demo.sh did not say which rows it changed:\n${output}`);
  const values = output.split("\n")
    .filter((line) => line.startsWith("  {"))
    .map((line) => JSON.parse(line.trim()));
  assert.match(
    output,
    new RegExp(`${MESSAGES_PER_RUN} of ${MESSAGES_PER_RUN} message\\(s\\) received`),
  );
  assert.match(output, /pg2kafka exited cleanly/);
  return { customer: Number(header[1]), since: parseLsn(header[2]), values, output };
}

/** Checks the run printed exactly its own changes, in order. */
function assertOwnChanges(run: DemoRun): void {
  assert.equal(run.values.length, MESSAGES_PER_RUN, run.output);
  for (const value of run.values) {
    assert.ok(
      parseLsn(value.lsn as string) >= run.since,
      `a message from before this run:\n${run.output}`,
    );
  }
  const [customer, ...orders] = run.values;
  assert.deepEqual([customer.table, customer.op], ["customers", "insert"]);
  assert.equal((customer.after as { id: number }).id, run.customer);
  assert.deepEqual(orders.map((o) => [o.table, o.op]), [
    ["orders", "insert"],
    ["orders", "insert"],
    ["orders", "update"],
    ["orders", "update"],
    ["orders", "delete"],
  ]);
  const inserted = orders.slice(0, 2).map((o) => o.after as { id: string; customer_id: number });
  assert.deepEqual(inserted.map((o) => o.customer_id), [run.customer, run.customer]);
  const deleted = (orders[4].before as { id: string }).id;
  assert.ok(inserted.some((o) => o.id === deleted), "the delete is of one of this run's orders");
}

Deno.test({
  name: "scripts/demo.sh succeeds twice in a row on an empty stack, printing only its own changes",
  ignore: Deno.env.get("PG2KAFKA_TEST_DEMO") !== "1",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const status = await run("stack.sh", "status");
    assert.match(status.output, /postgresql: stopped/, "the demo test needs a stack of its own");
    assert.match(status.output, /kafka: stopped/, "the demo test needs a stack of its own");
    assert.ok(
      !(await Deno.stat(`${STACK_DIR}/kafka/data`).then(() => true, () => false)),
      `${STACK_DIR} must hold no stack yet`,
    );
    try {
      const first = await runDemo();
      assertOwnChanges(first);
      const second = await runDemo();
      assertOwnChanges(second);
      assert.notEqual(second.customer, first.customer);
      assert.ok(second.since > first.since);
      console.log(
        `demo: two runs, ${MESSAGES_PER_RUN} messages each, customers ${first.customer} ` +
          `and ${second.customer}`,
      );
      const versions = await run("stack.sh", "versions");
      console.log(`== matrix demo: ${versions.output.trim().replaceAll("\n", "; ")}`);
    } finally {
      await run("stack.sh", "down");
    }
  },
});
