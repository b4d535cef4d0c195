/**
 * Debezium's value encodings beyond what the recorded fixture covers: the
 * byte layouts, exact numbers, precision-dependent forms and bad input.
 * (tests/unit/debezium_fixture_test.ts compares with the real connector.)
 */
import assert from "node:assert/strict";
import {
  compileDebeziumColumn,
  type DebeziumValueOptions,
  DEFAULT_DEBEZIUM_VALUE_OPTIONS,
  twosComplementBytes,
} from "../../src/source/debezium_values.ts";
import { ValueConversionError } from "../../src/source/errors.ts";
import { builtinTypeOid } from "../../src/source/values.ts";

function column(type: string, typeModifier = -1, options: Partial<DebeziumValueOptions> = {}) {
  return compileDebeziumColumn(
    { name: "c", valueTypeOid: builtinTypeOid(type)!, typeModifier, isKey: false },
    { ...DEFAULT_DEBEZIUM_VALUE_OPTIONS, ...options },
  );
}

/** PostgreSQL's type modifier of numeric(precision, scale). */
function numericModifier(precision: number, scale: number): number {
  return ((precision << 16) | scale) + 4;
}

Deno.test("twosComplementBytes() writes Java's BigInteger.toByteArray()", () => {
  const hex = (value: bigint) => twosComplementBytes(value).toHex();
  assert.equal(hex(0n), "00");
  assert.equal(hex(127n), "7f");
  assert.equal(hex(128n), "0080");
  assert.equal(hex(-1n), "ff");
  assert.equal(hex(-128n), "80");
  assert.equal(hex(-129n), "ff7f");
  assert.equal(hex(9223372036854775807n), "7fffffffffffffff");
});

Deno.test("an int8 beyond 2^53 keeps every digit in the JSON text", () => {
  const int8 = column("int8");
  assert.equal(JSON.stringify([int8.convert("9223372036854775807")]), "[9223372036854775807]");
  assert.equal(JSON.stringify([int8.convert("-42")]), "[-42]");
  assert.throws(() => int8.convert("12x"), ValueConversionError);
});

Deno.test("numeric(p,s) is the unscaled integer at the column's scale", () => {
  const decimal = column("numeric", numericModifier(12, 3));
  assert.equal(decimal.convert("1234.500"), Uint8Array.fromHex("12d644").toBase64());
  assert.equal(decimal.convert("NaN"), null);
  assert.deepEqual(decimal.schema.parameters, { scale: "3", "connect.decimal.precision": "12" });
});

Deno.test("an unconstrained numeric drops fraction zeros but not integer ones", () => {
  const decimal = column("numeric");
  assert.deepEqual(decimal.convert("100.500"), { scale: 1, value: "A+0=" });
  assert.deepEqual(decimal.convert("100"), { scale: 0, value: "ZA==" });
  assert.equal(decimal.convert("Infinity"), null);
  assert.throws(() => decimal.convert("1e5"), /not a decimal number/);
});

Deno.test("money follows money_fraction_digits and decimal_handling_mode", () => {
  assert.equal(column("money").convert("-$1,234.56"), twosComplementBytes(-123456n).toBase64());
  const digits = column("money", -1, { moneyFractionDigits: 0 });
  assert.equal(digits.convert("$1,234.56"), twosComplementBytes(1234n).toBase64());
  assert.equal(column("money", -1, { decimalHandlingMode: "string" }).convert("$0.50"), "0.50");
  assert.equal(column("money", -1, { decimalHandlingMode: "double" }).convert("$0.50"), 0.5);
});

Deno.test("bits are little-endian with the fewest bytes, bit(1) a boolean", () => {
  assert.equal(column("bit", 10).convert("1010000001"), Uint8Array.of(0x81, 0x02).toBase64());
  assert.equal(column("varbit").convert("11111111"), Uint8Array.of(0xff).toBase64());
  assert.equal(column("varbit").convert("000"), "");
  assert.equal(column("bit", 1).convert("1"), true);
  assert.throws(() => column("varbit").convert("102"), /not a bit string/);
});

Deno.test("timestamps far from 1970 stay exact, in microseconds and milliseconds", () => {
  const micros = column("timestamp");
  assert.equal(JSON.stringify(micros.convert("0001-01-01 00:00:00 BC")), "-62167219200000000");
  assert.equal(JSON.stringify(micros.convert("9999-12-31 23:59:59.999999")), "253402300799999999");
  assert.equal(JSON.stringify(micros.convert("infinity")), "9223372036825200000");
  const millis = column("timestamp", 3);
  assert.equal(millis.convert("1969-12-31 23:59:59.9995"), -1);
  assert.equal(millis.schema.name, "io.debezium.time.Timestamp");
  assert.throws(() => micros.convert("29/02/2024 12:00"), /ISO DateStyle/);
});

Deno.test("the day before the epoch and the microsecond before it are exact", () => {
  assert.equal(column("date").convert("1969-12-31"), -1);
  assert.equal(column("timestamp").convert("1969-12-31 23:59:59.999999"), -1);
  assert.equal(column("timestamp", 3).convert("1969-12-31 23:59:59.999"), -1);
});

Deno.test("time is microseconds above precision 3 and milliseconds at or below", () => {
  assert.equal(column("time").convert("23:59:59.999999"), 86_399_999_999);
  assert.equal(column("time", 3).convert("23:59:59.999"), 86_399_999);
  const micros = column("time", 3, { timePrecisionMode: "adaptive_time_microseconds" });
  assert.equal(micros.convert("00:00:01"), 1_000_000);
  assert.throws(() => column("time").convert("1:2:3"), /HH:MM:SS/);
});

Deno.test("timestamptz has as many fraction digits as its precision", () => {
  assert.equal(
    column("timestamptz").convert("2024-02-29 23:59:59+02"),
    "2024-02-29T21:59:59.000000Z",
  );
  assert.equal(
    column("timestamptz", 3).convert("2024-02-29 23:59:59.1234+00"),
    "2024-02-29T23:59:59.123Z",
  );
  assert.equal(column("timestamptz", 0).convert("2024-02-29 23:59:59+00"), "2024-02-29T23:59:59Z");
});

Deno.test("timetz is UTC, wrapped around midnight", () => {
  assert.equal(column("timetz").convert("01:00:00+05:30"), "19:30:00Z");
  assert.equal(column("timetz").convert("23:00:00.250-02"), "01:00:00.25Z");
});

Deno.test("intervals count a month as 30.4375 days, or spell every field", () => {
  const numeric = column("interval");
  assert.equal(numeric.convert("1 mon"), 2_629_800_000_000);
  assert.equal(numeric.convert("-1 days +02:00:00"), -79_200_000_000);
  const iso = column("interval", -1, { intervalHandlingMode: "string" });
  assert.equal(iso.convert("-1 years -2 mons +3 days -04:05:06.5"), "P-1Y-2M3DT-4H-5M-6.5S");
  assert.throws(() => numeric.convert("P1Y"), /IntervalStyle "postgres"/);
});

Deno.test("bytea follows binary_handling_mode, and so does its TOAST placeholder", () => {
  const bytes = "\\x00ff10";
  assert.equal(column("bytea").convert(bytes), "AP8Q");
  assert.equal(column("bytea", -1, { binaryHandlingMode: "hex" }).convert(bytes), "00ff10");
  const urlSafe = column("bytea", -1, { binaryHandlingMode: "base64-url-safe" });
  assert.equal(urlSafe.convert("\\xfbff"), "-_8=");
  assert.equal(column("bytea").unavailable, btoa("__debezium_unavailable_value"));
  assert.equal(
    column("bytea", -1, { binaryHandlingMode: "hex" }).unavailable,
    "__debezium_unavailable_value",
  );
  assert.equal(column("text").unavailable, "__debezium_unavailable_value");
  assert.throws(() => column("bytea").convert("a\\001"), /bytea_output "hex"/);
});

Deno.test("arrays nest like their text and convert each element", () => {
  const dates = column("_date");
  assert.deepEqual(dates.convert("{{2024-01-01,NULL},{infinity,1970-01-02}}"), [
    [19723, null],
    [-2147472692, 1],
  ]);
  assert.deepEqual(dates.schema, {
    type: "array",
    items: { type: "int32", name: "io.debezium.time.Date", version: 1, optional: true },
  });
});

Deno.test("a point is its coordinates and little-endian well-known binary", () => {
  const point = column("point").convert("(1.5,2.5)") as Record<string, unknown>;
  assert.deepEqual(point, { x: 1.5, y: 2.5, wkb: "AQEAAAAAAAAAAAD4PwAAAAAAAARA", srid: null });
  assert.throws(() => column("point").convert("1.5,2.5"), /"\(x,y\)"/);
});
