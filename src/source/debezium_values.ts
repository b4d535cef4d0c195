/**
 * Debezium's value encodings: each column value as Debezium's PostgreSQL
 * connector writes it with Kafka Connect's `JsonConverter`, from the text
 * PostgreSQL sent, with the handling modes Debezium users set
 * (`decimal.handling.mode`, `time.precision.mode`, `binary.handling.mode`,
 * `interval.handling.mode`, `money.fraction.digits`). Also the Connect schema
 * of each column (`schemas.enable=true`).
 *
 * {@linkcode compileDebeziumColumn} is called once per column of a relation;
 * what it returns is called for every value, allocating nothing beyond the
 * result. Values Debezium gets wrong are written right here (see
 * docs/debezium.md, "Where pg2kafka writes the right value"): `name` columns
 * (Debezium: `null`), multi-dimensional arrays (Debezium: `[null, null]`),
 * BC dates and infinities inside arrays, numeric arrays holding `NaN`.
 *
 * Exact numbers beyond 2^53 (int8, microseconds of far dates) are written
 * with `JSON.rawJSON`, so `JSON.stringify` prints every digit.
 *
 * @module
 */
import type { EventColumn } from "../model.ts";
import { ValueConversionError } from "./errors.ts";
import { builtinTypeName, builtinTypeOid, daysFromCivil, parseArrayLiteral } from "./values.ts";
import type {
  BinaryHandlingMode,
  DebeziumValueOptions,
  DecimalHandlingMode,
  IntervalHandlingMode,
  TimePrecisionMode,
} from "../config/types.ts";

export type {
  BinaryHandlingMode,
  DebeziumValueOptions,
  DecimalHandlingMode,
  IntervalHandlingMode,
  TimePrecisionMode,
} from "../config/types.ts";

/** Debezium's defaults. */
export const DEFAULT_DEBEZIUM_VALUE_OPTIONS: DebeziumValueOptions = Object.freeze({
  decimalHandlingMode: "precise",
  timePrecisionMode: "adaptive",
  binaryHandlingMode: "bytes",
  intervalHandlingMode: "numeric",
  moneyFractionDigits: 2,
  unavailableValuePlaceholder: "__debezium_unavailable_value",
});

/** A Kafka Connect schema as `JsonConverter` writes it. */
export type ConnectSchema = Record<string, unknown>;

/** One column, compiled: its converter, placeholder and Connect schema. */
export interface DebeziumColumn {
  readonly name: string;
  /** The value of a text PostgreSQL sent, as Debezium writes it. */
  readonly convert: (text: string) => unknown;
  /** What stands for an unchanged TOASTed value. */
  readonly unavailable: unknown;
  /** The Connect schema of the field, without `optional` and `field`. */
  readonly schema: ConnectSchema;
}

/** `JSON.rawJSON` (ES2025), which TypeScript's lib does not know yet. */
const JSON_WITH_RAW = JSON as unknown as { rawJSON(text: string): unknown };

/**
 * A JSON number written with exactly the digits of `text` by `JSON.stringify`.
 *
 * @example
 * ```ts
 * JSON.stringify([rawJson("9223372036854775807")]); // "[9223372036854775807]"
 * ```
 */
export function rawJson(text: string): unknown {
  return JSON_WITH_RAW.rawJSON(text);
}

const oid = (name: string): number => builtinTypeOid(name)!;
const OID = {
  bool: oid("bool"),
  bytea: oid("bytea"),
  name: oid("name"),
  int8: oid("int8"),
  int2: oid("int2"),
  int4: oid("int4"),
  oid: oid("oid"),
  json: oid("json"),
  jsonb: oid("jsonb"),
  xml: oid("xml"),
  point: oid("point"),
  float4: oid("float4"),
  float8: oid("float8"),
  money: oid("money"),
  date: oid("date"),
  time: oid("time"),
  timetz: oid("timetz"),
  timestamp: oid("timestamp"),
  timestamptz: oid("timestamptz"),
  interval: oid("interval"),
  bit: oid("bit"),
  varbit: oid("varbit"),
  numeric: oid("numeric"),
  uuid: oid("uuid"),
  tsvector: oid("tsvector"),
  box: oid("box"),
} as const;

const ARRAY_SUFFIX = "[]";
const BOX_ARRAY_DELIMITER = ";";
const ARRAY_DELIMITER = ",";

/**
 * Compiles the converter, placeholder and schema of one column.
 *
 * @example
 * ```ts
 * const column = compileDebeziumColumn(
 *   { name: "d", valueTypeOid: 1082, typeModifier: -1, isKey: false },
 *   DEFAULT_DEBEZIUM_VALUE_OPTIONS,
 * );
 * column.convert("2024-02-29"); // 19782
 * column.schema; // { type: "int32", name: "io.debezium.time.Date", version: 1 }
 * ```
 */
export function compileDebeziumColumn(
  column: EventColumn,
  options: DebeziumValueOptions,
): DebeziumColumn {
  const typeName = builtinTypeName(column.valueTypeOid);
  const unavailable = column.valueTypeOid === OID.bytea
    ? unavailableBytes(options)
    : options.unavailableValuePlaceholder;
  if (typeName?.endsWith(ARRAY_SUFFIX)) {
    const elementOid = builtinTypeOid(typeName.slice(0, -ARRAY_SUFFIX.length))!;
    const element = scalar(elementOid, -1, options);
    const delimiter = elementOid === OID.box ? BOX_ARRAY_DELIMITER : ARRAY_DELIMITER;
    const convertElement = element.convert;
    return {
      name: column.name,
      convert: (text) => parseArrayLiteral(text, delimiter, convertElement, typeName),
      unavailable,
      schema: { type: "array", items: { ...element.schema, optional: true } },
    };
  }
  const { convert, schema } = scalar(column.valueTypeOid, column.typeModifier, options);
  return { name: column.name, convert, unavailable, schema };
}

interface Scalar {
  readonly convert: (text: string) => unknown;
  readonly schema: ConnectSchema;
}

const STRING: ConnectSchema = Object.freeze({ type: "string" });

function named(type: string, name: string, extra: ConnectSchema = {}): ConnectSchema {
  return { type, name, version: 1, ...extra };
}

function scalar(typeOid: number, typeModifier: number, options: DebeziumValueOptions): Scalar {
  switch (typeOid) {
    case OID.bool:
      return { convert: toBoolean, schema: { type: "boolean" } };
    case OID.int2:
      return { convert: toSmallInteger, schema: { type: "int16" } };
    case OID.int4:
      return { convert: toSmallInteger, schema: { type: "int32" } };
    case OID.int8:
    case OID.oid:
      return { convert: toExactInteger, schema: { type: "int64" } };
    case OID.float4:
      return { convert: toFloat, schema: { type: "float" } };
    case OID.float8:
      return { convert: toFloat, schema: { type: "double" } };
    case OID.numeric:
      return numeric(typeModifier, options.decimalHandlingMode);
    case OID.money:
      return money(options);
    case OID.bytea:
      return bytea(options.binaryHandlingMode);
    case OID.json:
    case OID.jsonb:
      return { convert: keepText, schema: named("string", "io.debezium.data.Json") };
    case OID.xml:
      return { convert: keepText, schema: named("string", "io.debezium.data.Xml") };
    case OID.uuid:
      return { convert: keepText, schema: named("string", "io.debezium.data.Uuid") };
    case OID.tsvector:
      return { convert: keepText, schema: named("string", "io.debezium.data.Tsvector") };
    case OID.date:
      return date(options.timePrecisionMode);
    case OID.time:
      return time(typeModifier, options.timePrecisionMode);
    case OID.timetz:
      return { convert: toZonedTime, schema: named("string", "io.debezium.time.ZonedTime") };
    case OID.timestamp:
      return timestamp(typeModifier, options.timePrecisionMode);
    case OID.timestamptz:
      return zonedTimestamp(typeModifier);
    case OID.interval:
      return interval(options.intervalHandlingMode);
    case OID.bit:
    case OID.varbit:
      return bits(typeOid, typeModifier);
    case OID.point:
      return { convert: toPoint, schema: POINT_SCHEMA };
    default:
      // Text types, name, network types, ranges, enums and other user types.
      return { convert: keepText, schema: STRING };
  }
}

function keepText(text: string): string {
  return text;
}

function toBoolean(text: string): boolean {
  if (text === "t") return true;
  if (text === "f") return false;
  throw new ValueConversionError("bool", text, 'expected "t" or "f"');
}

function toSmallInteger(text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value)) throw new ValueConversionError("int4", text, "not an integer");
  return value;
}

const INTEGER_PATTERN = /^-?\d+$/;

/** int8 as a JSON number with every digit: a plain number when exact, raw JSON beyond 2^53. */
function toExactInteger(text: string): unknown {
  const value = Number(text);
  if (Number.isSafeInteger(value)) return value;
  if (!INTEGER_PATTERN.test(text)) throw new ValueConversionError("int8", text, "not an integer");
  return rawJson(text);
}

/** A JSON number, or NaN and ±Infinity as the strings Jackson writes for them. */
function toFloat(text: string): number | string {
  const value = Number(text);
  if (Number.isFinite(value)) return value;
  if (text === "NaN" || text === "Infinity" || text === "-Infinity") return text;
  throw new ValueConversionError("float8", text, "not a number");
}

/** An exact integer as a JSON number: plain when it fits a double exactly, else raw. */
function exact(value: bigint): unknown {
  const number = Number(value);
  return Number.isSafeInteger(number) ? number : rawJson(value.toString());
}

// ------------------------------------------------------------- decimals

/** PostgreSQL adds this header size to a numeric's type modifier. */
const VARHDRSZ = 4;
const NUMERIC_SCALE_MASK = 0x7ff;
const NUMERIC_PRECISION_SHIFT = 16;
const DECIMAL_PATTERN = /^(-)?(\d+)(?:\.(\d+))?$/;
const NOT_A_NUMBER = "NaN";
const NUMERIC_SPECIALS = new Set([NOT_A_NUMBER, "Infinity", "-Infinity"]);

const VARIABLE_SCALE_DECIMAL = named("struct", "io.debezium.data.VariableScaleDecimal", {
  fields: [
    { type: "int32", optional: false, field: "scale" },
    { type: "bytes", optional: false, field: "value" },
  ],
  doc: "Variable scaled decimal",
});

/** An exact decimal: its unscaled integer and scale (digits after the point). */
interface Decimal {
  readonly unscaled: bigint;
  readonly scale: number;
}

function parseDecimal(text: string, typeName: string): Decimal {
  const match = DECIMAL_PATTERN.exec(text);
  if (match === null) throw new ValueConversionError(typeName, text, "not a decimal number");
  const [, minus, whole, fraction = ""] = match;
  const unscaled = BigInt(whole + fraction);
  return { unscaled: minus === undefined ? unscaled : -unscaled, scale: fraction.length };
}

/**
 * Java's `BigInteger.toByteArray()`: the shortest big-endian two's
 * complement bytes, as `org.apache.kafka.connect.data.Decimal` holds them.
 */
export function twosComplementBytes(value: bigint): Uint8Array {
  let bytes = 1;
  while (value < -(1n << BigInt(8 * bytes - 1)) || value >= 1n << BigInt(8 * bytes - 1)) bytes++;
  const unsigned = value < 0n ? (1n << BigInt(8 * bytes)) + value : value;
  return Uint8Array.fromHex(unsigned.toString(16).padStart(2 * bytes, "0"));
}

function numeric(typeModifier: number, mode: DecimalHandlingMode): Scalar {
  if (mode === "double") return { convert: toFloat, schema: { type: "double" } };
  if (mode === "string") return { convert: toDecimalString, schema: STRING };
  if (typeModifier < VARHDRSZ) {
    return { convert: toVariableScaleDecimal, schema: VARIABLE_SCALE_DECIMAL };
  }
  const scale = (typeModifier - VARHDRSZ) & NUMERIC_SCALE_MASK;
  const precision = (typeModifier - VARHDRSZ) >> NUMERIC_PRECISION_SHIFT;
  return {
    convert: toDecimalBytes,
    schema: named("bytes", "org.apache.kafka.connect.data.Decimal", {
      parameters: { scale: String(scale), "connect.decimal.precision": String(precision) },
    }),
  };
}

/** NaN and infinities have no decimal form: Debezium writes `null`. */
function toVariableScaleDecimal(text: string): unknown {
  if (NUMERIC_SPECIALS.has(text)) return null;
  const small = SMALL_DECIMAL;
  if (readSmallDecimal(text, small, false)) {
    while (small.scale > 0 && small.unscaled % 10 === 0) {
      small.unscaled /= 10;
      small.scale--;
    }
    return { scale: small.scale, value: smallDecimalBase64(small.unscaled) };
  }
  const { unscaled, scale } = stripTrailingZeros(parseDecimal(text, "numeric"));
  return { scale, value: twosComplementBytes(unscaled).toBase64() };
}

/** A fixed scale numeric: PostgreSQL prints exactly the column's scale digits. */
function toDecimalBytes(text: string): unknown {
  if (NUMERIC_SPECIALS.has(text)) return null;
  if (readSmallDecimal(text, SMALL_DECIMAL, false)) {
    return smallDecimalBase64(SMALL_DECIMAL.unscaled);
  }
  return twosComplementBytes(parseDecimal(text, "numeric").unscaled).toBase64();
}

// Decimals of up to nine digits, the common case, are read and written with
// numbers in reused buffers; conversion is synchronous, so one set serves all.

/** A decimal read by {@linkcode readSmallDecimal}. */
interface SmallDecimal {
  unscaled: number;
  scale: number;
}

const SMALL_DECIMAL: SmallDecimal = { unscaled: 0, scale: 0 };
/** Nine digits always fit 32-bit two's complement. */
const MAX_SMALL_DIGITS = 9;
const DOLLAR = 0x24;
const COMMA = 0x2c;
/** The shortest two's complement of a 32-bit integer, by its byte count. */
const SMALL_BYTES = [1, 2, 3, 4].map((length) => new Uint8Array(length));
const BYTE_MASK = 0xff;
const BITS_PER_BYTE = 8;

/**
 * Reads `-1234.56` (and with `money`, `-$1,234.56`) of at most nine digits
 * into `into`; false, leaving the text to the exact path, for anything else.
 */
function readSmallDecimal(text: string, into: SmallDecimal, money: boolean): boolean {
  let value = 0;
  let digits = 0;
  let scale = -1;
  let negative = false;
  for (let index = 0; index < text.length; index++) {
    const code = text.charCodeAt(index);
    if (code >= ZERO && code <= NINE) {
      if (++digits > MAX_SMALL_DIGITS) return false;
      value = value * 10 + code - ZERO;
      if (scale >= 0) scale++;
    } else if (code === DOT && scale < 0) {
      scale = 0;
    } else if (code === DASH && index === 0) {
      negative = true;
    } else if (!(money && (code === DOLLAR || code === COMMA))) {
      return false;
    }
  }
  if (digits === 0) return false;
  into.unscaled = negative ? -value : value;
  into.scale = scale < 0 ? 0 : scale;
  return true;
}

/** {@linkcode twosComplementBytes} of a 32-bit integer, as base64. */
function smallDecimalBase64(value: number): string {
  const length = value >= -0x80 && value < 0x80
    ? 1
    : value >= -0x8000 && value < 0x8000
    ? 2
    : value >= -0x800000 && value < 0x800000
    ? 3
    : 4;
  const bytes = SMALL_BYTES[length - 1];
  let rest = value;
  for (let index = length - 1; index >= 0; index--) {
    bytes[index] = rest & BYTE_MASK;
    rest >>= BITS_PER_BYTE;
  }
  return bytes.toBase64();
}

/** Java's names for the values BigDecimal cannot hold, as Debezium's string mode writes them. */
const SPECIAL_DECIMAL_NAMES: ReadonlyMap<string, string> = new Map([
  [NOT_A_NUMBER, "NAN"],
  ["Infinity", "POSITIVE_INFINITY"],
  ["-Infinity", "NEGATIVE_INFINITY"],
]);

function toDecimalString(text: string): string {
  return SPECIAL_DECIMAL_NAMES.get(text) ?? text;
}

/** Debezium drops the zeros at the end of the fraction of a variable scale decimal. */
function stripTrailingZeros(decimal: Decimal): Decimal {
  let { unscaled, scale } = decimal;
  while (scale > 0 && unscaled % 10n === 0n) {
    unscaled /= 10n;
    scale--;
  }
  return { unscaled, scale };
}

const MONEY_NOISE = /[$,\s]/g;

function money(options: DebeziumValueOptions): Scalar {
  const mode = options.decimalHandlingMode;
  if (mode === "double") {
    return { convert: (text) => Number(moneyText(text)), schema: { type: "double" } };
  }
  if (mode === "string") return { convert: moneyText, schema: STRING };
  const digits = options.moneyFractionDigits;
  return {
    convert: (text) => {
      const small = SMALL_DECIMAL;
      if (readSmallDecimal(text, small, true)) {
        const shift = digits - small.scale;
        const unscaled = shift >= 0 && shift < DECIMAL_SCALE.length
          ? small.unscaled * DECIMAL_SCALE[shift]
          : NaN;
        if (unscaled >= INT32_MIN && unscaled <= INT32_MAX) return smallDecimalBase64(unscaled);
      }
      const { unscaled, scale } = parseDecimal(moneyText(text), "money");
      return twosComplementBytes(rescale(unscaled, scale, digits)).toBase64();
    },
    schema: named("bytes", "org.apache.kafka.connect.data.Decimal", {
      parameters: { scale: String(digits) },
    }),
  };
}

const INT32_MIN = -0x80000000;
const INT32_MAX = 0x7fffffff;

/** `$1,234.56` (lc_monetary C or en_US) to `1234.56`. */
function moneyText(text: string): string {
  return text.replace(MONEY_NOISE, "");
}

/** An unscaled integer at another scale (digits beyond it are dropped). */
function rescale(unscaled: bigint, from: number, to: number): bigint {
  if (to >= from) return unscaled * 10n ** BigInt(to - from);
  return unscaled / 10n ** BigInt(from - to);
}

// ---------------------------------------------------------------- bytes

function bytea(mode: BinaryHandlingMode): Scalar {
  switch (mode) {
    case "bytes":
      return { convert: (text) => byteaBytes(text).toBase64(), schema: { type: "bytes" } };
    case "base64":
      return { convert: (text) => byteaBytes(text).toBase64(), schema: STRING };
    case "base64-url-safe":
      return {
        convert: (text) => byteaBytes(text).toBase64({ alphabet: "base64url" }),
        schema: STRING,
      };
    case "hex":
      return { convert: (text) => byteaBytes(text).toHex(), schema: STRING };
  }
}

const HEX_PREFIX = "\\x";

function byteaBytes(text: string): Uint8Array {
  if (!text.startsWith(HEX_PREFIX)) {
    throw new ValueConversionError("bytea", text, 'expected bytea_output "hex" (\\x…)');
  }
  try {
    return Uint8Array.fromHex(text.slice(HEX_PREFIX.length));
  } catch {
    throw new ValueConversionError("bytea", text, "invalid hexadecimal digits");
  }
}

const UTF8 = new TextEncoder();

/**
 * The placeholder of an unchanged bytea: its UTF-8 bytes, encoded as the mode
 * encodes bytes, except in hex mode where Debezium writes the placeholder as
 * is. (In base64 modes Debezium writes `null`, which reads as SQL NULL.)
 */
function unavailableBytes(options: DebeziumValueOptions): string {
  const bytes = UTF8.encode(options.unavailableValuePlaceholder);
  switch (options.binaryHandlingMode) {
    case "bytes":
    case "base64":
      return bytes.toBase64();
    case "base64-url-safe":
      return bytes.toBase64({ alphabet: "base64url" });
    case "hex":
      return options.unavailableValuePlaceholder;
  }
}

const BIT_LENGTH_UNLIMITED = 2_147_483_647;
const BIT_PATTERN = /^[01]*$/;

function bits(typeOid: number, typeModifier: number): Scalar {
  if (typeOid === OID.bit && typeModifier === 1) {
    return { convert: (text) => text === "1", schema: { type: "boolean" } };
  }
  const length = typeModifier > 0 ? typeModifier : BIT_LENGTH_UNLIMITED;
  return {
    convert: toBits,
    schema: named("bytes", "io.debezium.data.Bits", { parameters: { length: String(length) } }),
  };
}

/**
 * Debezium's `Bits`: Java's `BitSet.toByteArray()` of the bit string, the
 * last bit first: the fewest little-endian bytes, none for all zeros.
 */
function toBits(text: string): string {
  if (text.length <= MAX_SMALL_BITS) {
    let value = 0;
    for (let index = 0; index < text.length; index++) {
      const code = text.charCodeAt(index);
      if (code !== ZERO && code !== ONE) break;
      value = value * 2 + code - ZERO;
      if (index === text.length - 1) return smallBitsBase64(value);
    }
    if (text === "") return "";
  }
  if (!BIT_PATTERN.test(text)) throw new ValueConversionError("bit", text, "not a bit string");
  const value = text === "" ? 0n : BigInt(`0b${text}`);
  if (value === 0n) return "";
  const hex = value.toString(16);
  return Uint8Array.fromHex(hex.length % 2 === 0 ? hex : `0${hex}`).reverse().toBase64();
}

const MAX_SMALL_BITS = 31;
const ONE = 0x31;

/** Little-endian bytes of a non-negative 31-bit integer, the fewest, as base64. */
function smallBitsBase64(value: number): string {
  let length = 0;
  for (let rest = value; rest > 0; rest >>>= BITS_PER_BYTE) length++;
  if (length === 0) return "";
  const bytes = SMALL_BYTES[length - 1];
  let rest = value;
  for (let index = 0; index < length; index++) {
    bytes[index] = rest & BYTE_MASK;
    rest >>>= BITS_PER_BYTE;
  }
  return bytes.toBase64();
}

// ---------------------------------------------------------------- point

const POINT_PATTERN = /^\(([^,]+),([^)]+)\)$/;
const WKB_POINT_LENGTH = 21;
const WKB_LITTLE_ENDIAN = 1;
const WKB_POINT_TYPE = 1;

/** Reused for every point: conversion is synchronous. */
const WKB_POINT_BYTES = new Uint8Array(WKB_POINT_LENGTH);
const WKB_POINT = new DataView(WKB_POINT_BYTES.buffer);

const POINT_SCHEMA = named("struct", "io.debezium.data.geometry.Point", {
  fields: [
    { type: "double", optional: false, field: "x" },
    { type: "double", optional: false, field: "y" },
    { type: "bytes", optional: true, field: "wkb" },
    { type: "int32", optional: true, field: "srid" },
  ],
  doc: "Geometry (POINT)",
});

/** `(x,y)` to Debezium's Point: coordinates and their well-known binary, no SRID. */
function toPoint(text: string): unknown {
  const match = POINT_PATTERN.exec(text);
  if (match === null) throw new ValueConversionError("point", text, 'expected "(x,y)"');
  const x = Number(match[1]);
  const y = Number(match[2]);
  const wkb = WKB_POINT;
  wkb.setUint8(0, WKB_LITTLE_ENDIAN);
  wkb.setUint32(1, WKB_POINT_TYPE, true);
  wkb.setFloat64(5, x, true);
  wkb.setFloat64(13, y, true);
  return { x, y, wkb: WKB_POINT_BYTES.toBase64(), srid: null };
}

// ------------------------------------------------------ dates and times

const MICROS_PER_MILLI = 1000;
const MICROS_PER_SECOND = 1_000_000;
const SECONDS_PER_DAY = 86_400;
const SECONDS_PER_HOUR = 3600;
const SECONDS_PER_MINUTE = 60;
const FRACTION_DIGITS = 6;
const DEFAULT_PRECISION = 6;
const MILLISECOND_PRECISION = 3;
const INFINITY = "infinity";
const MINUS_INFINITY = "-infinity";
/** Debezium's stand-ins for infinite dates (days since the epoch). */
const DATE_INFINITY = -2_147_472_692;
const DATE_MINUS_INFINITY = -2_147_472_691;
/** PgJDBC's infinite timestamps, which Debezium writes as microseconds (or their thousandth). */
const TIMESTAMP_INFINITY_MICROS = 9_223_372_036_825_200_000n;
const TIMESTAMP_MINUS_INFINITY_MICROS = -9_223_372_036_832_400_000n;

const DATE_PATTERN = /^(\d{4,})-(\d\d)-(\d\d)( BC)?$/;
const TIMETZ_PATTERN = /^(\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?([+-])(\d\d)(?::(\d\d))?(?::(\d\d))?$/;
const TIMESTAMP_PATTERN = /^(\d{4,})-(\d\d)-(\d\d) (\d\d:\d\d:\d\d(?:\.\d{1,6})?)( BC)?$/;

/** A column's fractional-second precision from its type modifier (-1: the default 6). */
function precisionOf(typeModifier: number): number {
  return typeModifier < 0 ? DEFAULT_PRECISION : typeModifier;
}

function date(mode: TimePrecisionMode): Scalar {
  const name = mode === "connect" ? "org.apache.kafka.connect.data.Date" : "io.debezium.time.Date";
  return { convert: toEpochDay, schema: named("int32", name) };
}

function toEpochDay(text: string): number {
  const plain = text.length === PLAIN_DATE_LENGTH ? plainDateDays(text, 0) : NOT_PLAIN;
  if (plain !== NOT_PLAIN) return plain;
  if (text === INFINITY) return DATE_INFINITY;
  if (text === MINUS_INFINITY) return DATE_MINUS_INFINITY;
  const match = DATE_PATTERN.exec(text);
  if (match === null) throw new ValueConversionError("date", text, "expected ISO DateStyle text");
  return civilDays(match[1], match[2], match[3], match[4] !== undefined);
}

function civilDays(year: string, month: string, day: string, bc: boolean): number {
  const astronomical = bc ? 1 - Number(year) : Number(year);
  return daysFromCivil(astronomical, Number(month), Number(day));
}

/** `HH:MM:SS[.f]` to microseconds since midnight. */
function clockMicros(text: string, typeName: string): number {
  const micros = plainClockMicros(text, 0);
  if (micros === NOT_PLAIN) {
    throw new ValueConversionError(typeName, text, 'expected "HH:MM:SS"');
  }
  return micros;
}

// The common forms are read character by character: no match arrays or
// substrings per value on the hot path. Anything else takes the patterns.

/** What the plain readers return for text not in their form: no day or time is this. */
const NOT_PLAIN = Number.MIN_SAFE_INTEGER;
const ZERO = 0x30;
const NINE = 0x39;
const DASH = 0x2d;
const COLON = 0x3a;
const DOT = 0x2e;
const SPACE = 0x20;
const PLAIN_DATE_LENGTH = "YYYY-MM-DD".length;
const PLAIN_CLOCK_LENGTH = "HH:MM:SS".length;
const DECIMAL_SCALE = [1, 10, 100, 1_000, 10_000, 100_000, 1_000_000];

/** The number written by `length` digits at `start`, or NOT_PLAIN. */
function digitsAt(text: string, start: number, length: number): number {
  let value = 0;
  for (let index = start; index < start + length; index++) {
    const code = text.charCodeAt(index);
    if (code < ZERO || code > NINE) return NOT_PLAIN;
    value = value * 10 + code - ZERO;
  }
  return value;
}

/** Days since the epoch of an AD `YYYY-MM-DD` at `start`, or NOT_PLAIN. */
function plainDateDays(text: string, start: number): number {
  if (text.charCodeAt(start + 4) !== DASH || text.charCodeAt(start + 7) !== DASH) return NOT_PLAIN;
  const year = digitsAt(text, start, 4);
  const month = digitsAt(text, start + 5, 2);
  const day = digitsAt(text, start + 8, 2);
  if (year === NOT_PLAIN || month === NOT_PLAIN || day === NOT_PLAIN) return NOT_PLAIN;
  return daysFromCivil(year, month, day);
}

/** Microseconds since midnight of `HH:MM:SS[.f{1,6}]` from `start` to the end, or NOT_PLAIN. */
function plainClockMicros(text: string, start: number): number {
  const length = text.length - start;
  if (length < PLAIN_CLOCK_LENGTH) return NOT_PLAIN;
  if (text.charCodeAt(start + 2) !== COLON || text.charCodeAt(start + 5) !== COLON) {
    return NOT_PLAIN;
  }
  const hours = digitsAt(text, start, 2);
  const minutes = digitsAt(text, start + 3, 2);
  const seconds = digitsAt(text, start + 6, 2);
  if (hours === NOT_PLAIN || minutes === NOT_PLAIN || seconds === NOT_PLAIN) return NOT_PLAIN;
  let fraction = 0;
  if (length > PLAIN_CLOCK_LENGTH) {
    const digits = length - PLAIN_CLOCK_LENGTH - 1;
    if (text.charCodeAt(start + PLAIN_CLOCK_LENGTH) !== DOT) return NOT_PLAIN;
    if (digits < 1 || digits > FRACTION_DIGITS) return NOT_PLAIN;
    fraction = digitsAt(text, start + PLAIN_CLOCK_LENGTH + 1, digits);
    if (fraction === NOT_PLAIN) return NOT_PLAIN;
    fraction *= DECIMAL_SCALE[FRACTION_DIGITS - digits];
  }
  const wholeSeconds = hours * SECONDS_PER_HOUR + minutes * SECONDS_PER_MINUTE + seconds;
  return wholeSeconds * MICROS_PER_SECOND + fraction;
}

function time(typeModifier: number, mode: TimePrecisionMode): Scalar {
  const micros = mode === "adaptive_time_microseconds" ||
    (mode === "adaptive" && precisionOf(typeModifier) > MILLISECOND_PRECISION);
  if (micros) {
    return {
      convert: (text) => clockMicros(text, "time"),
      schema: named("int64", "io.debezium.time.MicroTime"),
    };
  }
  const name = mode === "connect" ? "org.apache.kafka.connect.data.Time" : "io.debezium.time.Time";
  return {
    convert: (text) => Math.floor(clockMicros(text, "time") / MICROS_PER_MILLI),
    schema: named("int32", name),
  };
}

/** timetz in UTC, as Java's ISO_OFFSET_TIME prints it: `HH:MM:SS[.fraction]Z`. */
function toZonedTime(text: string): string {
  const match = TIMETZ_PATTERN.exec(text);
  if (match === null) throw new ValueConversionError("timetz", text, 'expected "HH:MM:SS+HH"');
  const [, hours, minutes, seconds, digits = "", sign, offsetHours, offsetMinutes, offsetSeconds] =
    match;
  const offset = Number(offsetHours) * SECONDS_PER_HOUR +
    Number(offsetMinutes ?? 0) * SECONDS_PER_MINUTE + Number(offsetSeconds ?? 0);
  const local = Number(hours) * SECONDS_PER_HOUR + Number(minutes) * SECONDS_PER_MINUTE +
    Number(seconds);
  const utc = (((sign === "+" ? local - offset : local + offset) % SECONDS_PER_DAY) +
    SECONDS_PER_DAY) % SECONDS_PER_DAY;
  const fraction = digits.replace(TRAILING_ZEROS, "");
  return `${clock(utc)}${fraction === "" ? "" : `.${fraction}`}Z`;
}

const TRAILING_ZEROS = /0+$/;

function clock(secondOfDay: number): string {
  const hours = Math.floor(secondOfDay / SECONDS_PER_HOUR);
  const minutes = Math.floor((secondOfDay % SECONDS_PER_HOUR) / SECONDS_PER_MINUTE);
  return `${pad2(hours)}:${pad2(minutes)}:${pad2(secondOfDay % SECONDS_PER_MINUTE)}`;
}

function pad2(value: number): string {
  return value < 10 ? `0${value}` : String(value);
}

/**
 * Microseconds since the epoch of a `timestamp` text, exact: a number when a
 * double holds it (about 285 years around 1970), else a bigint.
 */
function timestampMicros(text: string): number | bigint {
  const days = text.charCodeAt(PLAIN_DATE_LENGTH) === SPACE ? plainDateDays(text, 0) : NOT_PLAIN;
  if (days !== NOT_PLAIN) {
    const clock = plainClockMicros(text, PLAIN_DATE_LENGTH + 1);
    const micros = days * MICROS_PER_DAY_NUMBER + clock;
    if (clock !== NOT_PLAIN && Number.isSafeInteger(micros)) return micros;
  }
  return exactTimestampMicros(text);
}

const MICROS_PER_DAY_NUMBER = SECONDS_PER_DAY * MICROS_PER_SECOND;

/** Microseconds since the epoch of a `timestamp` text, as a bigint. */
function exactTimestampMicros(text: string): bigint {
  if (text === INFINITY) return TIMESTAMP_INFINITY_MICROS;
  if (text === MINUS_INFINITY) return TIMESTAMP_MINUS_INFINITY_MICROS;
  const match = TIMESTAMP_PATTERN.exec(text);
  if (match === null) {
    throw new ValueConversionError("timestamp", text, "expected ISO DateStyle text");
  }
  const [, year, month, day, clockText, bc] = match;
  const days = civilDays(year, month, day, bc !== undefined);
  return BigInt(days) * BigInt(SECONDS_PER_DAY * MICROS_PER_SECOND) +
    BigInt(clockMicros(clockText, "timestamp"));
}

function timestamp(typeModifier: number, mode: TimePrecisionMode): Scalar {
  const millis = mode === "connect" || precisionOf(typeModifier) <= MILLISECOND_PRECISION;
  if (!millis) {
    return {
      convert: (text) => {
        const micros = timestampMicros(text);
        return typeof micros === "number" ? micros : exact(micros);
      },
      schema: named("int64", "io.debezium.time.MicroTimestamp"),
    };
  }
  const name = mode === "connect"
    ? "org.apache.kafka.connect.data.Timestamp"
    : "io.debezium.time.Timestamp";
  return {
    convert: (text) => {
      const micros = timestampMicros(text);
      if (typeof micros === "number") return Math.floor(micros / MICROS_PER_MILLI);
      return exact(floorDiv(micros, BigInt(MICROS_PER_MILLI)));
    },
    schema: named("int64", name),
  };
}

function floorDiv(value: bigint, divisor: bigint): bigint {
  const quotient = value / divisor;
  return value % divisor < 0n ? quotient - 1n : quotient;
}

const ZONED_TIMESTAMP_PATTERN = /^(.*T\d\d:\d\d:\d\d)\.(\d{6})Z$/;

/**
 * timestamptz in UTC with as many fraction digits as the column's precision
 * (Debezium's `ZonedTimestamp`); infinities as PostgreSQL spells them.
 */
function zonedTimestamp(typeModifier: number): Scalar {
  const precision = precisionOf(typeModifier);
  const utc = timestamptzToUtc;
  return {
    convert: (text) => {
      const iso = utc(text);
      if (iso === INFINITY || iso === MINUS_INFINITY || precision === DEFAULT_PRECISION) return iso;
      const match = ZONED_TIMESTAMP_PATTERN.exec(iso)!;
      const fraction = match[2].slice(0, precision);
      return `${match[1]}${fraction === "" ? "" : `.${fraction}`}Z`;
    },
    schema: named("string", "io.debezium.time.ZonedTimestamp"),
  };
}

// ------------------------------------------------------------- interval

/** Debezium's `MicroDuration` counts a month as 30.4375 days. */
const MICROS_PER_MONTH = 2_629_800_000_000n;
const MICROS_PER_DAY = BigInt(SECONDS_PER_DAY * MICROS_PER_SECOND);
const MONTHS_PER_YEAR = 12;
const INTERVAL_CLOCK_PATTERN = /^([+-])?(\d+):(\d\d):(\d\d)(?:\.(\d{1,6}))?$/;
const INTERVAL_MONTHS: Readonly<Record<string, number>> = {
  year: MONTHS_PER_YEAR,
  years: MONTHS_PER_YEAR,
  mon: 1,
  mons: 1,
};
const INTERVAL_DAY_UNITS = new Set(["day", "days"]);

/** An interval's fields as PostgreSQL keeps them; the clock's parts carry its sign. */
interface IntervalParts {
  months: number;
  days: number;
  hours: number;
  minutes: number;
  /** Whole seconds and microseconds, signed. */
  seconds: number;
  micros: number;
}

/** `1 year 2 mons -3 days 04:05:06.5` (IntervalStyle postgres) to its fields. */
function parseInterval(text: string): IntervalParts {
  const parts: IntervalParts = { months: 0, days: 0, hours: 0, minutes: 0, seconds: 0, micros: 0 };
  const words = text.split(" ");
  for (let index = 0; index < words.length; index++) {
    const word = words[index];
    const unit = words[index + 1];
    if (unit !== undefined && unit in INTERVAL_MONTHS) {
      parts.months += Number(word) * INTERVAL_MONTHS[unit];
      index++;
    } else if (unit !== undefined && INTERVAL_DAY_UNITS.has(unit)) {
      parts.days += Number(word);
      index++;
    } else {
      const match = INTERVAL_CLOCK_PATTERN.exec(word);
      if (match === null || index !== words.length - 1) {
        throw new ValueConversionError(
          "interval",
          text,
          'expected IntervalStyle "postgres" text like "1 year 2 mons 04:05:06"',
        );
      }
      const sign = match[1] === "-" ? -1 : 1;
      parts.hours = sign * Number(match[2]);
      parts.minutes = sign * Number(match[3]);
      parts.seconds = sign * Number(match[4]);
      parts.micros = sign * Number((match[5] ?? "").padEnd(FRACTION_DIGITS, "0"));
    }
  }
  return parts;
}

function interval(mode: IntervalHandlingMode): Scalar {
  if (mode === "string") {
    return { convert: toIsoInterval, schema: named("string", "io.debezium.time.Interval") };
  }
  return { convert: toMicroDuration, schema: named("int64", "io.debezium.time.MicroDuration") };
}

function toMicroDuration(text: string): unknown {
  const parts = parseInterval(text);
  const clockMicros = ((parts.hours * SECONDS_PER_HOUR + parts.minutes * SECONDS_PER_MINUTE +
    parts.seconds) * MICROS_PER_SECOND) + parts.micros;
  return exact(
    BigInt(parts.months) * MICROS_PER_MONTH + BigInt(parts.days) * MICROS_PER_DAY +
      BigInt(clockMicros),
  );
}

/** Debezium's `Interval`: `P{y}Y{m}M{d}DT{h}H{m}M{s}S`, every field, each with its sign. */
function toIsoInterval(text: string): string {
  const parts = parseInterval(text);
  const years = Math.trunc(parts.months / MONTHS_PER_YEAR);
  const months = parts.months % MONTHS_PER_YEAR;
  return `P${years}Y${months}M${parts.days}DT${parts.hours}H${parts.minutes}M` +
    `${secondsText(parts.seconds, parts.micros)}S`;
}

/** Seconds and microseconds of one sign as a plain decimal without trailing zeros. */
function secondsText(seconds: number, micros: number): string {
  if (micros === 0) return String(seconds);
  const negative = seconds < 0 || micros < 0;
  const fraction = String(Math.abs(micros)).padStart(FRACTION_DIGITS, "0").replace(
    TRAILING_ZEROS,
    "",
  );
  return `${negative ? "-" : ""}${Math.abs(seconds)}.${fraction}`;
}

// ---------------------------------------------- timestamptz to UTC text

const TIMESTAMPTZ_PATTERN =
  /^(\d{4,})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?([+-])(\d\d)(?::(\d\d))?(?::(\d\d))?( BC)?$/;

/** timestamptz text in any offset to `YYYY-MM-DDTHH:MM:SS.ffffffZ` (astronomical years). */
function timestamptzToUtc(text: string): string {
  if (text === INFINITY || text === MINUS_INFINITY) return text;
  const match = TIMESTAMPTZ_PATTERN.exec(text);
  if (match === null) {
    throw new ValueConversionError("timestamptz", text, "expected ISO DateStyle text");
  }
  const [, year, month, day, hour, minute, second, digits = "", sign, ...zone] = match;
  const [offsetHours, offsetMinutes = "0", offsetSeconds = "0", bc] = zone;
  const offset = Number(offsetHours) * SECONDS_PER_HOUR +
    Number(offsetMinutes) * SECONDS_PER_MINUTE + Number(offsetSeconds);
  const local = civilDays(year, month, day, bc !== undefined) * SECONDS_PER_DAY +
    Number(hour) * SECONDS_PER_HOUR + Number(minute) * SECONDS_PER_MINUTE + Number(second);
  const utc = sign === "+" ? local - offset : local + offset;
  const days = Math.floor(utc / SECONDS_PER_DAY);
  return `${civilDate(days)}T${clock(utc - days * SECONDS_PER_DAY)}.${
    digits.padEnd(FRACTION_DIGITS, "0")
  }Z`;
}

/** `YYYY-MM-DD` of days since the epoch (ISO-8601 astronomical years). */
function civilDate(days: number): string {
  const date = new Date(0);
  date.setUTCFullYear(1970, 0, 1 + days);
  const year = date.getUTCFullYear();
  const digits = String(Math.abs(year)).padStart(4, "0");
  return `${year < 0 ? "-" : ""}${digits}-${pad2(date.getUTCMonth() + 1)}-${
    pad2(date.getUTCDate())
  }`;
}
