/**
 * pg2kafka's `format = "debezium"` against the real Debezium connector: the
 * fixture (tests/fixtures/debezium/fixture.json, recorded by
 * scripts/debezium/record_fixture.sh) holds what Debezium 3 wrote to Kafka for
 * scripts/debezium/scenario.sql and the pgoutput messages of the same WAL.
 * Here those messages go through pg2kafka's decoder and router, and every
 * message, field and value is compared with Debezium's, for the default
 * settings and each alternative mode. Where Debezium loses data, pg2kafka's
 * right value is asserted instead (see DEVIATIONS and docs/debezium.md).
 *
 * @module
 */
import assert from "node:assert/strict";
import { parseConfig } from "../../src/config/mod.ts";
import { parseLsn } from "../../src/lsn.ts";
import { Metrics } from "../../src/telemetry/metrics.ts";
import { Checkpoint } from "../../src/pipeline/checkpoint.ts";
import { DEBEZIUM_HEADER, DEBEZIUM_SOURCE_VERSION } from "../../src/pipeline/debezium.ts";
import { InflightBudget } from "../../src/pipeline/inflight.ts";
import type { OutgoingMessage } from "../../src/pipeline/message.ts";
import { handInto, MemorySink } from "../fixtures/memory_sink.ts";
import { Router } from "../../src/pipeline/router.ts";
import { ChangeDecoder } from "../../src/source/changes.ts";
import { decodePgOutput } from "../../src/source/pgoutput.ts";
import fixture from "../fixtures/debezium/fixture.json" with { type: "json" };

type Json = unknown;

interface RecordedMessage {
  readonly topic: string;
  readonly headers: Record<string, string>;
  readonly key: string | null;
  readonly value: string | null;
  readonly key_schema?: number | null;
  readonly value_schema?: number | null;
}

interface RecordedMode {
  readonly schemas: boolean;
  readonly properties: Record<string, string>;
  readonly schema_blocks: Json[];
  readonly messages: RecordedMessage[];
}

const MODES = fixture.modes as unknown as Record<string, RecordedMode>;

/** TOML keys of `[targets.debezium]` for the Debezium properties of a recorded mode. */
const PROPERTY_KEYS: Readonly<Record<string, string>> = {
  "decimal.handling.mode": "decimal_handling_mode",
  "time.precision.mode": "time_precision_mode",
  "binary.handling.mode": "binary_handling_mode",
  "interval.handling.mode": "interval_handling_mode",
  "money.fraction.digits": "money_fraction_digits",
  "unavailable.value.placeholder": "unavailable_value_placeholder",
};

/** The target config of a recorded mode, in pg2kafka's TOML. */
function targetToml(mode: RecordedMode): string {
  const lines: string[] = [];
  const target: string[] = [];
  for (const [property, value] of Object.entries(mode.properties)) {
    const key = PROPERTY_KEYS[property];
    if (key !== undefined) {
      lines.push(`${key} = ${key === "money_fraction_digits" ? value : JSON.stringify(value)}`);
    } else if (property === "tombstones.on.delete") {
      target.push(`tombstones = ${value}`);
    } else if (property === "skipped.operations" && value === "none") {
      target.push(`ops = ["insert", "update", "delete", "truncate", "snapshot"]`);
    } else {
      throw new Error(`The test does not know the Debezium property ${property}`);
    }
  }
  if (mode.schemas) lines.push("schemas = true");
  const table = lines.length === 0 ? "" : `[targets.debezium]\n${lines.join("\n")}`;
  return `${target.join("\n")}\n${table}`;
}

/** pg2kafka's messages for the fixture's WAL, through the decoder and a router of one target. */
function pg2kafkaMessages(name: string, mode: RecordedMode): OutgoingMessage[] {
  const config = parseConfig(
    `
[[sources]]
name = "${name}"
database = "${fixture.database}"
user = "app"
tables = ["public.dbz_types", "public.dbz_keys"]
[kafka]
brokers = ["127.0.0.1:9092"]
[[targets]]
name = "debezium"
tables = ["public.dbz_*"]
topic = "{source}.{schema}.{table}"
format = "debezium"
${targetToml(mode)}`,
    { origin: "fixture.toml", env: {} },
  );
  const sink = new MemorySink();
  const checkpoint = new Checkpoint();
  const account = new InflightBudget({ maxMessages: 10_000, maxBytes: 1 << 30 }).account(name);
  const router = new Router({
    source: name,
    hand: handInto(checkpoint, account, sink),
    metrics: new Metrics(),
    database: fixture.database,
  }, config.targets);
  const decoder = new ChangeDecoder();
  let tx = null;
  for (const row of fixture.pgoutput) {
    const message = decodePgOutput(Uint8Array.fromHex(row.hex));
    const events = decoder.apply(message, parseLsn(row.lsn));
    if (message.tag === "begin") tx = checkpoint.begin(message.xid);
    for (const event of events) router.route(event, tx!);
    if (message.tag === "commit") {
      router.commit(tx!);
      checkpoint.commit(tx!, message.endLsn);
    }
  }
  assert.deepEqual(sink.deadLettered.map((dead) => dead.error), [], "nothing dead-lettered");
  return sink.sent;
}

/** JSON with integers a double cannot hold as exact bigints (JSON.parse would round them). */
function parseExact(text: string | null): Json {
  if (text === null) return null;
  const reviver = (_key: string, value: unknown, context?: { source?: string }) => {
    if (typeof value !== "number" || Number.isSafeInteger(value)) return value;
    const source = context?.source ?? "";
    if (!/^-?\d+$/.test(source)) return value;
    // Digits a double holds exactly compare as the double, whichever way they were printed.
    const exact = BigInt(source);
    return exact === BigInt(value) ? value : exact;
  };
  return JSON.parse(text, reviver as (key: string, value: unknown) => unknown);
}

/**
 * Where Debezium writes a value that loses data and pg2kafka writes the right
 * one: the column, what Debezium writes, and what pg2kafka writes instead, by
 * the row's id. Every entry must be met: a deviation that no longer occurs
 * fails the test, so the list stays true.
 */
const DEVIATIONS: Readonly<Record<string, Readonly<Record<number, { dbz: Json; ours: Json }>>>> = {
  // Debezium writes null for every `name` column.
  c_name: {
    1: { dbz: null, ours: "a_name" },
    3: { dbz: null, ours: "ünïcode_名前" },
  },
  // Debezium writes a null per element of the outer array.
  c_int4_matrix: {
    1: { dbz: [null, null], ours: [[1, 2], [3, 4]] },
    3: { dbz: [null, null], ours: [[1, null], [null, 4]] },
    4: { dbz: [null], ours: [[[1]]] },
  },
  // Debezium's array path reads BC dates as AD ones and infinities as other days.
  c_date_array: {
    3: { dbz: [-622191234, -625821272, -703383], ours: [-2147472692, -2147472691, -735160] },
  },
  // ... and writes -infinity inside a timestamptz array as a date in the year 292269055.
  c_timestamptz_array: {
    3: {
      dbz: ["+292269055-12-02T23:00:00.000000Z", "2024-06-01T09:00:00.500000Z"],
      ours: ["-infinity", "2024-06-01T09:00:00.500000Z"],
    },
  },
};

/** What Debezium writes and what pg2kafka writes instead. */
interface Deviation {
  readonly dbz: Json;
  readonly ours: Json;
}

/** Deviations whose value depends on the mode. */
function deviation(
  mode: RecordedMode,
  column: string,
  id: number,
  dbz: Json,
): Deviation | undefined {
  if (column === "c_numeric_array" && id === 3) {
    // Debezium drops the whole array when an element is NaN; pg2kafka writes NaN as the scalar.
    const decimal = mode.properties["decimal.handling.mode"] ?? "precise";
    const minusOneAndHalf = decimal === "precise"
      ? { scale: 1, value: "8Q==" }
      : decimal === "double"
      ? -1.5
      : "-1.5";
    return {
      dbz: null,
      ours: [decimal === "precise" ? null : decimal === "double" ? "NaN" : "NAN", minusOneAndHalf],
    };
  }
  if (column === "c_toast_bytea" && id === 1 && dbz === null) {
    // Debezium writes null for an unchanged bytea in the base64 modes, which reads as SQL NULL.
    const binary = mode.properties["binary.handling.mode"] ?? "bytes";
    if (binary !== "base64" && binary !== "base64-url-safe") return undefined;
    const placeholder = new TextEncoder().encode(
      mode.properties["unavailable.value.placeholder"] ?? "__debezium_unavailable_value",
    );
    return {
      dbz: null,
      ours: binary === "base64"
        ? placeholder.toBase64()
        : placeholder.toBase64({ alphabet: "base64url" }),
    };
  }
  return DEVIATIONS[column]?.[id];
}

/** Compares one row (before or after) column by column. */
function assertRow(
  mode: RecordedMode,
  ours: Record<string, Json> | null,
  dbz: Record<string, Json> | null,
  where: string,
  met: Set<string>,
) {
  if (dbz === null || ours === null) {
    assert.deepEqual(ours, dbz, where);
    return;
  }
  assert.deepEqual(Object.keys(ours), Object.keys(dbz), `${where}: columns`);
  const id = Number(ours.id ?? 0);
  for (const column of Object.keys(dbz)) {
    const known: Deviation | undefined = dbz[column] === null && ours[column] === null
      ? undefined
      : deviation(mode, column, id, dbz[column]);
    const at = `${where}.${column} (id ${id})`;
    if (known !== undefined && where.endsWith("after")) {
      assert.deepEqual(dbz[column], known.dbz, `${at}: Debezium's known value`);
      assert.deepEqual(ours[column], known.ours, `${at}: pg2kafka's right value`);
      met.add(`${column}/${id}`);
    } else {
      assert.deepEqual(ours[column], dbz[column], at);
    }
  }
}

/** Compares a value envelope field by field; processing times and the version are checked apart. */
function assertValue(
  mode: RecordedMode,
  ours: Record<string, Json>,
  dbz: Record<string, Json>,
  where: string,
  met: Set<string>,
) {
  assert.deepEqual(Object.keys(ours), Object.keys(dbz), `${where}: fields`);
  assertRow(
    mode,
    ours.before as Record<string, Json>,
    dbz.before as Record<string, Json>,
    `${where}.before`,
    met,
  );
  assertRow(
    mode,
    ours.after as Record<string, Json>,
    dbz.after as Record<string, Json>,
    `${where}.after`,
    met,
  );
  const source = ours.source as Record<string, Json>;
  const dbzSource = dbz.source as Record<string, Json>;
  assert.deepEqual(Object.keys(source), Object.keys(dbzSource), `${where}.source: fields`);
  for (const field of Object.keys(dbzSource)) {
    if (field === "version") assert.equal(source.version, DEBEZIUM_SOURCE_VERSION);
    else assert.deepEqual(source[field], dbzSource[field], `${where}.source.${field}`);
  }
  for (const field of ["transaction", "op"]) {
    assert.deepEqual(ours[field], dbz[field], `${where}.${field}`);
  }
  // Processing times: when each connector handled the event.
  const msNow = Date.now();
  assert.ok(Math.abs(Number(ours.ts_ms) - msNow) < 60_000, `${where}.ts_ms is now`);
  assert.equal(Math.floor(Number(ours.ts_us) / 1000), ours.ts_ms, `${where}.ts_us`);
  assert.equal(BigInt(ours.ts_ns as number), BigInt(Number(ours.ts_us)) * 1000n, `${where}.ts_ns`);
  assert.equal(typeof dbz.ts_us, "number");
}

/** Compares a Connect schema; the enum's allowed values are a known deviation. */
function assertSchema(ours: Json, dbz: Json, where: string) {
  assert.deepEqual(ours, withoutEnumDetails(dbz), where);
}

/** Debezium names enum columns io.debezium.data.Enum with their labels; pgoutput does not tell. */
function withoutEnumDetails(schema: Json): Json {
  if (Array.isArray(schema)) return schema.map(withoutEnumDetails);
  if (schema === null || typeof schema !== "object") return schema;
  const object = schema as Record<string, Json>;
  if (object.name === "io.debezium.data.Enum" && object.field === "c_mood") {
    return { type: "string", optional: object.optional, field: object.field };
  }
  return Object.fromEntries(
    Object.entries(object).map(([key, value]) => [key, withoutEnumDetails(value)]),
  );
}

for (const [name, mode] of Object.entries(MODES)) {
  const label = `${JSON.stringify(mode.properties)}${mode.schemas ? ", schemas" : ""}`;
  Deno.test(`format debezium writes what Debezium ${fixture.debezium} writes: ${label}`, () => {
    const ours = pg2kafkaMessages(name, mode);
    const dbz = mode.messages;
    assert.deepEqual(
      ours.map((m) => [m.topic, m.value === null ? "tombstone" : parseDebeziumOp(m.value, mode)]),
      dbz.map((m) => [m.topic, m.value === null ? "tombstone" : parseDebeziumOp(m.value, mode)]),
      "the same messages in the same order",
    );
    const met = new Set<string>();
    ours.forEach((message, index) => {
      const recorded = dbz[index];
      const where = `${name} message ${index}`;
      for (const [header, value] of Object.entries(recorded.headers)) {
        if (header === DEBEZIUM_HEADER.runId) {
          assert.match(message.headers[header], /^[0-9a-f-]{36}$/, `${where} header ${header}`);
        } else {
          assert.equal(message.headers[header], value, `${where} header ${header}`);
        }
      }
      const key = payloadAndSchema(message.key, mode);
      assert.deepEqual(key.payload, parseExact(recorded.key), `${where}: key`);
      const value = payloadAndSchema(message.value, mode);
      if (recorded.value === null) {
        assert.equal(message.value, null, `${where}: tombstone`);
      } else {
        assertValue(
          mode,
          value.payload as Record<string, Json>,
          parseExact(recorded.value) as Record<string, Json>,
          where,
          met,
        );
      }
      if (mode.schemas) {
        const schemaOf = (index?: number | null) =>
          index === null || index === undefined ? null : mode.schema_blocks[index];
        assertSchema(key.schema, schemaOf(recorded.key_schema), `${where}: key schema`);
        assertSchema(value.schema, schemaOf(recorded.value_schema), `${where}: value schema`);
      }
    });
    const expectedDeviations = Object.entries(DEVIATIONS).flatMap(([column, rows]) =>
      Object.keys(rows).map((id) => `${column}/${id}`)
    );
    for (const deviation of expectedDeviations) {
      assert.ok(met.has(deviation), `the deviation ${deviation} did not occur`);
    }
  });
}

function parseDebeziumOp(text: string, mode: RecordedMode): string {
  const parsed = JSON.parse(text);
  return (mode.schemas && "payload" in parsed ? parsed.payload : parsed).op;
}

/** A message's payload and schema block (null without schemas). */
function payloadAndSchema(
  text: string | null,
  mode: RecordedMode,
): { payload: Json; schema: Json } {
  if (text === null) return { payload: null, schema: null };
  const parsed = parseExact(text) as Record<string, Json>;
  if (!mode.schemas) return { payload: parsed, schema: null };
  assert.deepEqual(Object.keys(parsed), ["schema", "payload"]);
  return { payload: parsed.payload, schema: parsed.schema };
}

Deno.test("the fixture was recorded from the connector and versions docs/debezium.md names", () => {
  const docs = Deno.readTextFileSync(new URL("../../docs/debezium.md", import.meta.url));
  assert.ok(
    docs.includes(`Debezium ${fixture.debezium}`),
    `docs name Debezium ${fixture.debezium}`,
  );
  assert.ok(docs.includes(`Kafka Connect ${fixture.kafka_connect}`));
  assert.deepEqual(Object.keys(MODES).length, 5);
});
