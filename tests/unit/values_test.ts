import assert from "node:assert/strict";
import { ValueConversionError } from "../../src/source/errors.ts";
import {
  builtinTypeName,
  builtinTypeOid,
  converterFor,
  parseArrayLiteral,
} from "../../src/source/values.ts";

const OID = {
  bool: 16,
  bytea: 17,
  char: 18,
  name: 19,
  int8: 20,
  int2: 21,
  int4: 23,
  text: 25,
  oid: 26,
  json: 114,
  xml: 142,
  cidr: 650,
  float4: 700,
  float8: 701,
  macaddr8: 774,
  money: 790,
  macaddr: 829,
  inet: 869,
  bpchar: 1042,
  varchar: 1043,
  date: 1082,
  time: 1083,
  timestamp: 1114,
  timestamptz: 1184,
  interval: 1186,
  timetz: 1266,
  bit: 1560,
  varbit: 1562,
  numeric: 1700,
  uuid: 2950,
  tsvector: 3614,
  jsonb: 3802,
  int4range: 3904,
  boolArray: 1000,
  byteaArray: 1001,
  int4Array: 1007,
  textArray: 1009,
  int8Array: 1016,
  boxArray: 1020,
  float8Array: 1022,
  dateArray: 1182,
  timestamptzArray: 1185,
  numericArray: 1231,
  jsonbArray: 3807,
} as const;

function convert(typeOid: number, text: string, bigNumbers?: "string" | "number"): unknown {
  return converterFor(typeOid, { bigNumbers })(text);
}

function assertConversionError(typeOid: number, text: string, pattern: RegExp): void {
  assert.throws(() => convert(typeOid, text), (error: unknown) => {
    assert.ok(error instanceof ValueConversionError, `expected ValueConversionError: ${error}`);
    assert.match(error.message, pattern);
    return true;
  });
}

Deno.test("converterFor() turns int2, int4 and oid into numbers", () => {
  assert.equal(convert(OID.int2, "-32768"), -32768);
  assert.equal(convert(OID.int4, "2147483647"), 2147483647);
  assert.equal(convert(OID.oid, "4294967295"), 4294967295);
  assertConversionError(OID.int4, "12.5", /^Cannot convert int4 value "12.5": not an integer$/);
});

Deno.test("converterFor() keeps float NaN and infinities as strings JSON can carry", () => {
  assert.equal(convert(OID.float8, "3.141592653589793"), 3.141592653589793);
  assert.equal(convert(OID.float4, "1.5"), 1.5);
  assert.equal(convert(OID.float8, "1e+300"), 1e300);
  assert.equal(convert(OID.float4, "NaN"), "NaN");
  assert.equal(convert(OID.float8, "Infinity"), "Infinity");
  assert.equal(convert(OID.float8, "-Infinity"), "-Infinity");
  assert.equal(JSON.stringify(convert(OID.float8, "-Infinity")), '"-Infinity"');
});

Deno.test("converterFor() keeps int8 and numeric exact as strings by default", () => {
  assert.equal(convert(OID.int8, "9223372036854775807"), "9223372036854775807");
  assert.equal(convert(OID.int8, "-9223372036854775808"), "-9223372036854775808");
  assert.equal(
    convert(OID.numeric, "123456789012345678901234567890.123456789"),
    "123456789012345678901234567890.123456789",
  );
  assert.equal(convert(OID.numeric, "9007199254740993"), "9007199254740993");
  assert.equal(convert(OID.numeric, "NaN"), "NaN");
});

Deno.test("converterFor() turns int8 and numeric into numbers on request", () => {
  assert.equal(convert(OID.int8, "42", "number"), 42);
  assert.equal(convert(OID.int8, "9007199254740993", "number"), 9007199254740992);
  assert.equal(convert(OID.numeric, "12.25", "number"), 12.25);
  assert.equal(convert(OID.numeric, "NaN", "number"), "NaN");
  assert.equal(convert(OID.numeric, "-Infinity", "number"), "-Infinity");
  assert.deepEqual(convert(OID.int8Array, "{1,NULL,-3}", "number"), [1, null, -3]);
});

Deno.test("converterFor() turns bool t/f into booleans and rejects other text", () => {
  assert.equal(convert(OID.bool, "t"), true);
  assert.equal(convert(OID.bool, "f"), false);
  assertConversionError(OID.bool, "true", /expected "t" or "f"/);
});

Deno.test("converterFor() keeps character, network and other text types as sent", () => {
  const samples: [number, string][] = [
    [OID.text, "héllo, wörld 🐘"],
    [OID.varchar, "varchar"],
    [OID.bpchar, "ab   "],
    [OID.name, "a_name"],
    [OID.char, "x"],
    [OID.uuid, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"],
    [OID.inet, "192.168.1.5/24"],
    [OID.cidr, "10.0.0.0/8"],
    [OID.macaddr, "08:00:2b:01:02:03"],
    [OID.macaddr8, "08:00:2b:01:02:03:04:05"],
    [OID.money, "$1,234.56"],
    [OID.xml, "<a>x</a>"],
    [OID.bit, "1010"],
    [OID.varbit, "110"],
    [OID.tsvector, "'a' 'cat' 'fat'"],
    [OID.int4range, "[1,10)"],
  ];
  for (const [typeOid, text] of samples) assert.equal(convert(typeOid, text), text);
});

Deno.test("converterFor() keeps values of unknown type OIDs as text", () => {
  assert.equal(convert(16385, "happy"), "happy");
  assert.equal(convert(16384, "{sad,happy}"), "{sad,happy}");
  assert.equal(convert(16396, "(1,one)"), "(1,one)");
});

Deno.test("converterFor() keeps JSON null apart from SQL NULL only with jsonValues: text", () => {
  // Parsed, the JSON literal null is null: what SQL NULL is written as too.
  assert.equal(converterFor(OID.jsonb)("null"), null);
  const asText = converterFor(OID.jsonb, { jsonValues: "text" });
  assert.equal(asText("null"), "null");
  assert.equal(asText('{"a": 1}'), '{"a": 1}');
  assert.deepEqual(converterFor(OID.jsonbArray, { jsonValues: "text" })('{"null","[1]",NULL}'), [
    "null",
    "[1]",
    null,
  ]);
});

Deno.test("converterFor() parses json and jsonb", () => {
  const text = '{"a": [1, 2.5, "x"], "b": 1, "n": null}';
  assert.deepEqual(convert(OID.jsonb, text), { a: [1, 2.5, "x"], b: 1, n: null });
  assert.deepEqual(convert(OID.json, '"just a string"'), "just a string");
  assertConversionError(OID.json, "{oops", /^Cannot convert json value "\{oops": invalid JSON/);
});

Deno.test("converterFor() turns bytea hex and escape output into base64", () => {
  assert.equal(convert(OID.bytea, "\\x00ff10"), "AP8Q");
  assert.equal(convert(OID.bytea, "\\x"), "");
  assert.equal(convert(OID.bytea, "a\\001\\\\b"), "YQFcYg==");
  assertConversionError(OID.bytea, "\\xzz", /invalid hexadecimal digits/);
  assertConversionError(OID.bytea, "a\\9", /invalid escape at character 1/);
});

Deno.test("converterFor() keeps ISO dates, infinities and turns BC years astronomical", () => {
  assert.equal(convert(OID.date, "2024-02-29"), "2024-02-29");
  assert.equal(convert(OID.date, "infinity"), "infinity");
  assert.equal(convert(OID.date, "-infinity"), "-infinity");
  assert.equal(convert(OID.date, "0044-03-15 BC"), "-0043-03-15");
  assert.equal(convert(OID.date, "0001-01-01 BC"), "0000-01-01");
  assert.equal(convert(OID.date, "5874897-12-31"), "5874897-12-31");
  assertConversionError(OID.date, "02/29/2024", /is the session DateStyle ISO\?/);
});

Deno.test("converterFor() pads time and timetz to microseconds and keeps the offset", () => {
  assert.equal(convert(OID.time, "13:45:10"), "13:45:10.000000");
  assert.equal(convert(OID.time, "13:45:10.5"), "13:45:10.500000");
  assert.equal(convert(OID.time, "23:59:59.999999"), "23:59:59.999999");
  assert.equal(convert(OID.timetz, "13:45:10.123456+05:30"), "13:45:10.123456+05:30");
  assert.equal(convert(OID.timetz, "23:59:59.999999-11"), "23:59:59.999999-11:00");
  assert.equal(convert(OID.timetz, "00:00:00+14"), "00:00:00.000000+14:00");
  assert.equal(convert(OID.timetz, "12:00:00+00:19:32"), "12:00:00.000000+00:19:32");
});

Deno.test("converterFor() writes timestamp as ISO-8601 without a zone", () => {
  assert.equal(convert(OID.timestamp, "2024-02-29 13:45:10.123"), "2024-02-29T13:45:10.123000");
  assert.equal(convert(OID.timestamp, "2024-02-29 13:45:10"), "2024-02-29T13:45:10.000000");
  assert.equal(convert(OID.timestamp, "0001-01-01 00:00:00 BC"), "0000-01-01T00:00:00.000000");
  assert.equal(convert(OID.timestamp, "-infinity"), "-infinity");
});

Deno.test("converterFor() converts timestamptz from any offset to UTC", () => {
  const cases: [string, string][] = [
    ["2024-02-29 11:45:10.123456+00", "2024-02-29T11:45:10.123456Z"],
    ["2024-01-15 08:30:00-03:30", "2024-01-15T12:00:00.000000Z"],
    ["2024-07-15 09:30:00.5-02:30", "2024-07-15T12:00:00.500000Z"],
    ["2024-03-01 01:00:00+02", "2024-02-29T23:00:00.000000Z"],
    ["2023-12-31 20:00:00-05", "2024-01-01T01:00:00.000000Z"],
    // Local mean time of St. John's in 1850: an offset with seconds.
    ["1849-12-31 20:29:08-03:30:52", "1850-01-01T00:00:00.000000Z"],
    ["1999-01-08 04:05:06+00 BC", "-1998-01-08T04:05:06.000000Z"],
    ["0001-01-01 00:30:00+01", "0000-12-31T23:30:00.000000Z"],
    ["294276-12-31 23:59:59.999999+00", "294276-12-31T23:59:59.999999Z"],
    ["infinity", "infinity"],
    ["-infinity", "-infinity"],
  ];
  for (const [text, expected] of cases) assert.equal(convert(OID.timestamptz, text), expected);
  assertConversionError(OID.timestamptz, "Thu Feb 29 11:45:10 2024 UTC", /DateStyle/);
});

Deno.test("converterFor() writes interval as the ISO-8601 duration PostgreSQL prints", () => {
  // Expected values are what PostgreSQL prints for the same intervals with IntervalStyle iso_8601.
  const cases: [string, string][] = [
    ["1 year 2 mons 3 days 04:05:06.789", "P1Y2M3DT4H5M6.789S"],
    ["-1 years -2 mons +3 days -04:05:06.5", "P-1Y-2M3DT-4H-5M-6.5S"],
    ["00:00:00", "PT0S"],
    ["00:00:00.5", "PT0.5S"],
    ["-00:00:00.5", "PT-0.5S"],
    ["100:00:00", "PT100H"],
    ["1 day -00:00:01", "P1DT-1S"],
    ["-3 mons", "P-3M"],
    ["178000000 years", "P178000000Y"],
    ["1 mon 15 days", "P1M15D"],
    ["-04:00:00", "PT-4H"],
    ["00:00:01.000001", "PT1.000001S"],
    ["-1 mons -00:00:01", "P-1MT-1S"],
    ["P1Y2M", "P1Y2M"],
  ];
  for (const [text, expected] of cases) assert.equal(convert(OID.interval, text), expected);
  assertConversionError(OID.interval, "1-2 3 4:05:06", /IntervalStyle "postgres" or "iso_8601"/);
  assertConversionError(OID.interval, "@ 1 year", /IntervalStyle/);
});

Deno.test("converterFor() parses arrays with quotes, escapes, NULL and the NULL string", () => {
  assert.deepEqual(convert(OID.textArray, '{"a,b","c\\"d",NULL,"NULL","","x y"}'), [
    "a,b",
    'c"d',
    null,
    "NULL",
    "",
    "x y",
  ]);
  assert.deepEqual(convert(OID.textArray, '{"back\\\\slash","{braces}",null}'), [
    "back\\slash",
    "{braces}",
    null,
  ]);
});

Deno.test("converterFor() parses nested, empty and lower-bounded arrays", () => {
  assert.deepEqual(convert(OID.int4Array, "{1,2,NULL}"), [1, 2, null]);
  assert.deepEqual(convert(OID.int4Array, "{{1,2},{3,4}}"), [[1, 2], [3, 4]]);
  assert.deepEqual(convert(OID.int4Array, "{{{1}}}"), [[[1]]]);
  assert.deepEqual(convert(OID.int4Array, "{}"), []);
  assert.deepEqual(convert(OID.int4Array, "[2:3][1:1]={{1},{2}}"), [[1], [2]]);
  assert.deepEqual(convert(OID.dateArray, "[0:1]={2024-01-01,infinity}"), [
    "2024-01-01",
    "infinity",
  ]);
});

Deno.test("converterFor() converts array elements by the element type", () => {
  assert.deepEqual(convert(OID.boolArray, "{t,f}"), [true, false]);
  assert.deepEqual(convert(OID.numericArray, "{1.5,NaN,123456789012345678901234567890}"), [
    "1.5",
    "NaN",
    "123456789012345678901234567890",
  ]);
  assert.deepEqual(convert(OID.float8Array, "{1.25,-Infinity,NaN}"), [1.25, "-Infinity", "NaN"]);
  assert.deepEqual(
    convert(OID.timestamptzArray, '{"2024-01-01 00:00:00+00","2024-06-01 10:30:00+02"}'),
    ["2024-01-01T00:00:00.000000Z", "2024-06-01T08:30:00.000000Z"],
  );
  assert.deepEqual(convert(OID.jsonbArray, '{"{\\"k\\": \\"v\\"}","[1, 2]"}'), [{ k: "v" }, [
    1,
    2,
  ]]);
  assert.deepEqual(convert(OID.byteaArray, '{"\\\\x0102","\\\\x",NULL}'), ["AQI=", "", null]);
});

Deno.test("converterFor() splits box arrays on semicolons", () => {
  assert.deepEqual(convert(OID.boxArray, "{(1,1),(0,0);(3,3),(2,2)}"), [
    "(1,1),(0,0)",
    "(3,3),(2,2)",
  ]);
});

Deno.test("parseArrayLiteral() rejects malformed array text", () => {
  const keep = (text: string) => text;
  const cases: [string, RegExp][] = [
    ["{1,2", /missing closing brace/],
    ['{"a', /unterminated quoted element/],
    ["{a}}", /text after the closing brace/],
    ["1,2", /expected "\{" at character 0/],
    ["{a,,b}", /empty element at character 3/],
    ['{"a"b}', /expected "," or "}" at character 4/],
    ["[1:2]{1,2}", /unterminated dimension decoration/],
  ];
  for (const [text, pattern] of cases) {
    assert.throws(() => parseArrayLiteral(text, ",", keep, "text[]"), (error: unknown) => {
      assert.ok(error instanceof ValueConversionError);
      assert.match(error.message, /^Cannot convert text\[\] value .*: malformed array: /);
      assert.match(error.message, pattern);
      return true;
    });
  }
});

Deno.test("builtinTypeName() and builtinTypeOid() name scalar and array types", () => {
  assert.equal(builtinTypeName(23), "int4");
  assert.equal(builtinTypeName(1007), "int4[]");
  assert.equal(builtinTypeName(1020), "box[]");
  assert.equal(builtinTypeName(16385), undefined);
  assert.equal(builtinTypeOid("timestamptz"), 1184);
  assert.equal(builtinTypeOid("_int4"), 1007);
  assert.equal(builtinTypeOid("mood"), undefined);
});
