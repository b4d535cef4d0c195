import assert from "node:assert/strict";
import { parseStackEnv, stackEndpoints } from "../../scripts/bench/stack.ts";

const ENV_OUTPUT = `export PG2KAFKA_PG_HOST=127.0.0.1
export PG2KAFKA_PG_PORT=54389
export PG2KAFKA_PG_DATABASE=app
export PG2KAFKA_PG_USER=pg2kafka
export PG2KAFKA_PG_PASSWORD=secret=with=equals
export PG2KAFKA_KAFKA_BROKERS=127.0.0.1:19692
`;

Deno.test("parseStackEnv() reads every export line of scripts/stack.sh env", () => {
  const variables = parseStackEnv(ENV_OUTPUT);
  assert.equal(variables.PG2KAFKA_PG_PORT, "54389");
  assert.equal(variables.PG2KAFKA_PG_PASSWORD, "secret=with=equals");
});

Deno.test("stackEndpoints() maps the variables to where the stack listens", () => {
  assert.deepEqual(stackEndpoints(parseStackEnv(ENV_OUTPUT)), {
    pgHost: "127.0.0.1",
    pgPort: 54389,
    pgDatabase: "app",
    pgUser: "pg2kafka",
    pgPassword: "secret=with=equals",
    kafkaBroker: "127.0.0.1:19692",
  });
});

Deno.test("stackEndpoints() names a variable stack.sh did not print", () => {
  const variables = parseStackEnv(ENV_OUTPUT.replace(/^export PG2KAFKA_KAFKA_BROKERS.*$/m, ""));
  assert.throws(() => stackEndpoints(variables), /PG2KAFKA_KAFKA_BROKERS/);
});
