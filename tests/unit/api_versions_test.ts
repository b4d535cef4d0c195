import assert from "node:assert/strict";
import {
  type BrokerApiVersions,
  brokerReleaseLine,
  formatApisInUse,
  negotiateApiVersions,
  producerApis,
  UnsupportedBrokerError,
} from "../../src/kafka/api_versions.ts";

/** API keys of the Kafka protocol. */
const KEY = {
  produce: 0,
  fetch: 1,
  metadata: 3,
  apiVersions: 18,
  createTopics: 19,
  initProducerId: 22,
} as const;

/** Part of the ApiVersions answer of a Kafka 4.4.0 broker (read from one with scripts/stack.sh). */
const KAFKA_4_4: BrokerApiVersions = {
  [KEY.produce]: { minVersion: 0, maxVersion: 13 },
  [KEY.fetch]: { minVersion: 4, maxVersion: 18 },
  [KEY.metadata]: { minVersion: 0, maxVersion: 13 },
  [KEY.apiVersions]: { minVersion: 0, maxVersion: 5 },
  [KEY.createTopics]: { minVersion: 2, maxVersion: 7 },
  [KEY.initProducerId]: { minVersion: 0, maxVersion: 5 },
};

/** Part of the ApiVersions answer of a Kafka 3.9.1 broker. */
const KAFKA_3_9: BrokerApiVersions = {
  [KEY.produce]: { minVersion: 0, maxVersion: 11 },
  [KEY.fetch]: { minVersion: 0, maxVersion: 17 },
  [KEY.metadata]: { minVersion: 0, maxVersion: 12 },
  [KEY.apiVersions]: { minVersion: 0, maxVersion: 4 },
  [KEY.createTopics]: { minVersion: 0, maxVersion: 7 },
  [KEY.initProducerId]: { minVersion: 0, maxVersion: 5 },
};

const APIS = producerApis({ createTopics: true });

/** `table` without the API `key`, as a broker that does not know it. */
function without(table: BrokerApiVersions, key: number): BrokerApiVersions {
  return Object.fromEntries(Object.entries(table).filter(([entry]) => Number(entry) !== key));
}

Deno.test("producerApis() takes the versions kafkajs implements for the producing path", () => {
  assert.deepEqual(
    producerApis({ createTopics: false }).map(({ name, key }) => [name, key]),
    [["ApiVersions", 18], ["Metadata", 3], ["InitProducerId", 22], ["Produce", 0]],
  );
  const produce = APIS.find(({ name }) => name === "Produce")!;
  assert.deepEqual(produce.versions, [0, 1, 2, 3, 4, 5, 6, 7]);
  assert.ok(APIS.some(({ name }) => name === "CreateTopics"));
});

Deno.test("negotiateApiVersions() picks kafkajs's highest version under the broker's highest", () => {
  const { inUse, missing } = negotiateApiVersions(KAFKA_4_4, APIS);
  assert.deepEqual(missing, []);
  assert.equal(
    formatApisInUse(inUse),
    "ApiVersions v2, Metadata v6, InitProducerId v1, Produce v7, CreateTopics v3",
  );
  assert.deepEqual(negotiateApiVersions(KAFKA_3_9, APIS).missing, []);
});

Deno.test("negotiateApiVersions() caps a version at an older broker's highest", () => {
  const old = { ...KAFKA_3_9, [KEY.produce]: { minVersion: 0, maxVersion: 5 } };
  const { inUse } = negotiateApiVersions(old, APIS);
  assert.deepEqual(inUse.find(({ name }) => name === "Produce"), { name: "Produce", version: 5 });
});

Deno.test("negotiateApiVersions() names an API whose versions the broker dropped", () => {
  const future = { ...KAFKA_4_4, [KEY.produce]: { minVersion: 8, maxVersion: 15 } };
  const { inUse, missing } = negotiateApiVersions(future, APIS);
  assert.deepEqual(missing, [{
    name: "Produce",
    key: KEY.produce,
    client: { minVersion: 0, maxVersion: 7 },
    broker: { minVersion: 8, maxVersion: 15 },
  }]);
  assert.ok(!inUse.some(({ name }) => name === "Produce"));
});

Deno.test("negotiateApiVersions() names an API the broker does not know", () => {
  const { missing } = negotiateApiVersions(without(KAFKA_4_4, KEY.initProducerId), APIS);
  assert.deepEqual(missing.map(({ name, broker }) => [name, broker]), [["InitProducerId", null]]);
});

Deno.test("UnsupportedBrokerError says which API and both sides' versions", () => {
  const future = { ...KAFKA_4_4, [KEY.produce]: { minVersion: 8, maxVersion: 15 } };
  const table = without(future, KEY.initProducerId);
  const error = new UnsupportedBrokerError(negotiateApiVersions(table, APIS).missing);
  assert.match(error.message, /does not accept a protocol version pg2kafka needs/);
  assert.match(error.message, /Produce \(pg2kafka speaks v0–v7, the broker accepts v8–v15\)/);
  assert.match(
    error.message,
    /InitProducerId \(pg2kafka speaks v0–v1, the broker does not offer it\)/,
  );
  assert.equal(error.missing.length, 2);
});

Deno.test("brokerReleaseLine() tells Kafka 4 from 3 by the Fetch versions 4.0 removed", () => {
  assert.equal(brokerReleaseLine(KAFKA_4_4), "Kafka 4.0 or later");
  assert.equal(brokerReleaseLine(KAFKA_3_9), "Kafka 3.x or earlier");
  assert.equal(brokerReleaseLine({}), "unknown (no Fetch API)");
});
