/**
 * Converts column values from PostgreSQL's text output format to JSON-safe JS
 * values, by type OID. A converter is built once per column (when a Relation
 * message arrives) and then called for every value of that column.
 *
 * Conversions (every converter returns JSON-serialisable values):
 *
 * | PostgreSQL type | JS value |
 * |---|---|
 * | int2, int4, oid, xid, cid | `number` |
 * | float4, float8 | `number`; `"NaN"`, `"Infinity"`, `"-Infinity"` as those strings (JSON has no such numbers) |
 * | int8, numeric | `string` (exact) by default; `number` with `bigNumbers: "number"` (may lose precision; numeric `NaN`/`±Infinity` stay strings) |
 * | bool | `boolean` |
 * | json, jsonb | the parsed JSON value (numbers beyond 2^53 lose precision, as in any JSON parser; a JSON `null` is `null`, like SQL NULL); the JSON text with `jsonValues: "text"` |
 * | bytea | base64 `string` of the bytes |
 * | date | `"YYYY-MM-DD"`; `"infinity"`/`"-infinity"` as is; BC dates in ISO-8601 astronomical years: 44 BC is `"-0043-03-15"`, 1 BC is `"0000-…"` |
 * | time | `"HH:MM:SS.ffffff"` (always six fraction digits) |
 * | timetz | `"HH:MM:SS.ffffff+HH:MM"` (offset kept, `:SS` added for historical offsets) |
 * | timestamp | `"YYYY-MM-DDTHH:MM:SS.ffffff"` (no zone), years as for date |
 * | timestamptz | `"YYYY-MM-DDTHH:MM:SS.ffffffZ"` converted to UTC from whatever offset the server used |
 * | interval | ISO-8601 duration as PostgreSQL's `iso_8601` IntervalStyle prints it, e.g. `"P1Y2M3DT4H5M6.789S"`, `"P-1Y-2M3DT-4H"` (each field keeps its own sign) |
 * | arrays of any of these | nested JS arrays of converted elements (`NULL` → `null`); non-default lower bounds (`[0:1]={…}`) are dropped |
 * | everything else | the text as PostgreSQL sent it (text types, uuid, inet, cidr, macaddr, money, xml, bit, tsvector, ranges, geometry, enums, composites, …) |
 *
 * Domains over built-in types are converted like their base type when a Type
 * message names that base type (pgoutput announces a domain under the name of
 * its base type). Arrays of user-defined types stay text.
 *
 * The text forms assumed are those of a session with `DateStyle = ISO` (the
 * default) and `IntervalStyle = postgres` (the default) or `iso_8601`. Text in
 * another form throws {@linkcode ValueConversionError}, never a wrong value.
 *
 * @module
 */
import { ValueConversionError } from "./errors.ts";

/** Turns the text PostgreSQL sent for one value into a JSON-safe JS value. */
export type ValueConverter = (text: string) => unknown;

/** How values without an exact JSON number representation are converted. */
export interface ValueOptions {
  /**
   * int8 and numeric as `"string"` (exact, the default) or as `"number"`
   * (a JS double: digits beyond about 15 significant are rounded).
   */
  readonly bigNumbers?: "string" | "number";
  /**
   * json and jsonb as `"parsed"` (the JSON value, the default: a JSON `null`
   * reads the same as SQL NULL) or `"text"` (the JSON text as a string, so
   * `'null'` is `"null"` and SQL NULL is `null`).
   */
  readonly jsonValues?: "parsed" | "text";
}

/** What a built-in scalar type is converted as. */
type ScalarKind =
  | "integer"
  | "float"
  | "bigint"
  | "numeric"
  | "bool"
  | "json"
  | "bytea"
  | "date"
  | "time"
  | "timetz"
  | "timestamp"
  | "timestamptz"
  | "interval"
  | "text";

/** Built-in scalar types: OID, name, conversion, OID of the array type (0 if none listed). */
const BUILTIN_SCALARS: readonly (readonly [number, string, ScalarKind, number])[] = [
  [16, "bool", "bool", 1000],
  [17, "bytea", "bytea", 1001],
  [18, "char", "text", 1002],
  [19, "name", "text", 1003],
  [20, "int8", "bigint", 1016],
  [21, "int2", "integer", 1005],
  [22, "int2vector", "text", 1006],
  [23, "int4", "integer", 1007],
  [24, "regproc", "text", 1008],
  [25, "text", "text", 1009],
  [26, "oid", "integer", 1028],
  [27, "tid", "text", 1010],
  [28, "xid", "integer", 1011],
  [29, "cid", "integer", 1012],
  [30, "oidvector", "text", 1013],
  [114, "json", "json", 199],
  [142, "xml", "text", 143],
  [600, "point", "text", 1017],
  [601, "lseg", "text", 1018],
  [602, "path", "text", 1019],
  [603, "box", "text", 1020],
  [604, "polygon", "text", 1027],
  [628, "line", "text", 629],
  [650, "cidr", "text", 651],
  [700, "float4", "float", 1021],
  [701, "float8", "float", 1022],
  [718, "circle", "text", 719],
  [774, "macaddr8", "text", 775],
  [790, "money", "text", 791],
  [829, "macaddr", "text", 1040],
  [869, "inet", "text", 1041],
  [1033, "aclitem", "text", 1034],
  [1042, "bpchar", "text", 1014],
  [1043, "varchar", "text", 1015],
  [1082, "date", "date", 1182],
  [1083, "time", "time", 1183],
  [1114, "timestamp", "timestamp", 1115],
  [1184, "timestamptz", "timestamptz", 1185],
  [1186, "interval", "interval", 1187],
  [1266, "timetz", "timetz", 1270],
  [1560, "bit", "text", 1561],
  [1562, "varbit", "text", 1563],
  [1700, "numeric", "numeric", 1231],
  [1790, "refcursor", "text", 2201],
  [2205, "regclass", "text", 2210],
  [2206, "regtype", "text", 2211],
  [2950, "uuid", "text", 2951],
  [2970, "txid_snapshot", "text", 2949],
  [3220, "pg_lsn", "text", 3221],
  [3614, "tsvector", "text", 3643],
  [3615, "tsquery", "text", 3645],
  [3802, "jsonb", "json", 3807],
  [3904, "int4range", "text", 3905],
  [3906, "numrange", "text", 3907],
  [3908, "tsrange", "text", 3909],
  [3910, "tstzrange", "text", 3911],
  [3912, "daterange", "text", 3913],
  [3926, "int8range", "text", 3927],
  [4072, "jsonpath", "text", 4073],
  [4451, "int4multirange", "text", 6150],
  [4532, "nummultirange", "text", 6151],
  [4533, "tsmultirange", "text", 6152],
  [4534, "tstzmultirange", "text", 6153],
  [4535, "datemultirange", "text", 6155],
  [4536, "int8multirange", "text", 6157],
  [5069, "xid8", "text", 271],
];

const BOX_OID = 603;
const ARRAY_DELIMITER = ",";
/** `box` is the only built-in type whose array elements are separated by `;`. */
const BOX_ARRAY_DELIMITER = ";";

interface ScalarType {
  readonly name: string;
  readonly kind: ScalarKind;
}

const SCALARS = new Map<number, ScalarType>();
const ARRAY_ELEMENTS = new Map<number, number>();
const OIDS_BY_NAME = new Map<string, number>();
for (const [oid, name, kind, arrayOid] of BUILTIN_SCALARS) {
  SCALARS.set(oid, { name, kind });
  OIDS_BY_NAME.set(name, oid);
  ARRAY_ELEMENTS.set(arrayOid, oid);
  OIDS_BY_NAME.set(`_${name}`, arrayOid);
}

/**
 * Name of a built-in type, e.g. `"int4"` for 23 and `"int4[]"` for 1007.
 *
 * @returns the name, or `undefined` for an OID that is not a known built-in.
 */
export function builtinTypeName(typeOid: number): string | undefined {
  const scalar = SCALARS.get(typeOid);
  if (scalar !== undefined) return scalar.name;
  const element = ARRAY_ELEMENTS.get(typeOid);
  return element === undefined ? undefined : `${SCALARS.get(element)?.name}[]`;
}

/**
 * OID of a built-in type by its `pg_catalog` name (`"int4"`, or `"_int4"` for its array).
 *
 * @returns the OID, or `undefined` when the name is not a known built-in type.
 */
export function builtinTypeOid(name: string): number | undefined {
  return OIDS_BY_NAME.get(name);
}

/**
 * Builds the converter for values of one type. Call it once per column.
 *
 * @param typeOid The column's type OID (from the Relation message).
 * @param options Conversion choices, see {@linkcode ValueOptions}.
 * @example
 * ```ts
 * const toInt4Array = converterFor(1007);
 * toInt4Array("{1,2,NULL}"); // [1, 2, null]
 * converterFor(20)("9223372036854775807"); // "9223372036854775807"
 * ```
 */
export function converterFor(typeOid: number, options: ValueOptions = {}): ValueConverter {
  const scalar = SCALARS.get(typeOid);
  if (scalar !== undefined) return scalarConverter(scalar, options);
  const elementOid = ARRAY_ELEMENTS.get(typeOid);
  if (elementOid === undefined) return keepText;
  const element = scalarConverter(SCALARS.get(elementOid)!, options);
  const delimiter = elementOid === BOX_OID ? BOX_ARRAY_DELIMITER : ARRAY_DELIMITER;
  const typeName = builtinTypeName(typeOid)!;
  return (text) => parseArrayLiteral(text, delimiter, element, typeName);
}

function scalarConverter(scalar: ScalarType, options: ValueOptions): ValueConverter {
  const bigAsNumber = options.bigNumbers === "number";
  switch (scalar.kind) {
    case "integer":
      return (text) => toInteger(text, scalar.name);
    case "float":
      return (text) => toFloat(text, scalar.name);
    case "bigint":
      return bigAsNumber ? (text) => toInteger(text, scalar.name) : keepText;
    case "numeric":
      return bigAsNumber ? (text) => toFloat(text, scalar.name) : keepText;
    case "bool":
      return toBoolean;
    case "json":
      return options.jsonValues === "text" ? keepText : (text) => toJson(text, scalar.name);
    case "bytea":
      return toBase64;
    case "date":
      return toIsoDate;
    case "time":
      return toIsoTime;
    case "timetz":
      return toIsoTimeWithZone;
    case "timestamp":
      return toIsoTimestamp;
    case "timestamptz":
      return toIsoUtcTimestamp;
    case "interval":
      return toIsoDuration;
    case "text":
      return keepText;
  }
}

function keepText(text: string): string {
  return text;
}

function toInteger(text: string, typeName: string): number {
  const value = Number(text);
  if (!Number.isInteger(value)) throw new ValueConversionError(typeName, text, "not an integer");
  return value;
}

/** Finite numbers as numbers; NaN and ±Infinity as PostgreSQL spells them, since JSON cannot. */
function toFloat(text: string, typeName: string): number | string {
  const value = Number(text);
  if (Number.isFinite(value)) return value;
  if (text === "NaN" || text === "Infinity" || text === "-Infinity") return text;
  throw new ValueConversionError(typeName, text, "not a number");
}

function toBoolean(text: string): boolean {
  if (text === "t") return true;
  if (text === "f") return false;
  throw new ValueConversionError("bool", text, 'expected "t" or "f"');
}

function toJson(text: string, typeName: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ValueConversionError(typeName, text, `invalid JSON (${(error as Error).message})`);
  }
}

// ---------------------------------------------------------------- bytea

const HEX_PREFIX = "\\x";
const BACKSLASH = 0x5c;
const OCTAL_ESCAPE_LENGTH = 4;
const OCTAL_RADIX = 8;
const OCTAL_ESCAPE_PATTERN = /^[0-3][0-7]{2}$/;
/** The escape output format writes every byte from 0x80 up as an octal escape. */
const ASCII_LIMIT = 0x80;

/** bytea in `hex` output (`\x0102`) or the older `escape` output (`a\001\\`) to base64. */
function toBase64(text: string): string {
  if (text.startsWith(HEX_PREFIX)) {
    try {
      return Uint8Array.fromHex(text.slice(HEX_PREFIX.length)).toBase64();
    } catch {
      throw new ValueConversionError("bytea", text, "invalid hexadecimal digits");
    }
  }
  return unescapeBytea(text).toBase64();
}

function unescapeBytea(text: string): Uint8Array {
  const bytes: number[] = [];
  for (let index = 0; index < text.length; index++) {
    const code = text.charCodeAt(index);
    if (code >= ASCII_LIMIT) {
      throw new ValueConversionError("bytea", text, `non-ASCII character at ${index}`);
    } else if (code !== BACKSLASH) {
      bytes.push(code);
    } else if (text.charCodeAt(index + 1) === BACKSLASH) {
      bytes.push(BACKSLASH);
      index++;
    } else {
      const octal = text.slice(index + 1, index + OCTAL_ESCAPE_LENGTH);
      if (!OCTAL_ESCAPE_PATTERN.test(octal)) {
        throw new ValueConversionError("bytea", text, `invalid escape at character ${index}`);
      }
      bytes.push(parseInt(octal, OCTAL_RADIX));
      index += OCTAL_ESCAPE_LENGTH - 1;
    }
  }
  return Uint8Array.from(bytes);
}

// ------------------------------------------------------ dates and times

const INFINITY = "infinity";
const MINUS_INFINITY = "-infinity";
const FRACTION_DIGITS = 6;
const ZERO_FRACTION = ".000000";
const ISO_TIME_LENGTH = "HH:MM:SS".length;
const DATE_LENGTH = "YYYY-MM-DD".length;
const UTC_OFFSET = "+00";

/** The common case, an AD date, needs no change. */
const PLAIN_DATE_PATTERN = /^\d{4,}-\d\d-\d\d$/;
const DATE_PATTERN = /^(\d{4,})-(\d\d)-(\d\d)( BC)?$/;
const TIME_PATTERN = /^\d\d:\d\d:\d\d(?:\.\d{1,6})?$/;
const TIMETZ_PATTERN = /^(\d\d:\d\d:\d\d)(?:\.(\d{1,6}))?([+-]\d\d)(?::(\d\d))?(?::(\d\d))?$/;
const TIMESTAMP_PATTERN = /^(\d{4,})-(\d\d-\d\d) (\d\d:\d\d:\d\d)(?:\.(\d{1,6}))?( BC)?$/;
/** The common cases, AD and (for timestamptz) UTC, only need the "T" and six fraction digits. */
const PLAIN_TIMESTAMP_PATTERN = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d{1,6})?$/;
const PLAIN_UTC_TIMESTAMP_PATTERN = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d{1,6})?\+00$/;
const TIMESTAMPTZ_PATTERN =
  /^(\d{4,})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?([+-])(\d\d)(?::(\d\d))?(?::(\d\d))?( BC)?$/;

function isInfinite(text: string): boolean {
  return text === INFINITY || text === MINUS_INFINITY;
}

/** Six fraction digits from the 0–6 PostgreSQL printed (trailing zeros are trimmed). */
function fraction(digits: string | undefined): string {
  return digits === undefined ? ZERO_FRACTION : `.${digits.padEnd(FRACTION_DIGITS, "0")}`;
}

/** ISO-8601 year text from PostgreSQL's year and era: 1 BC is year 0, 2 BC is -1. */
function isoYear(yearText: string, isBc: boolean): string {
  if (!isBc) return yearText;
  return formatYear(1 - Number(yearText));
}

function formatYear(year: number): string {
  const digits = String(Math.abs(year)).padStart(4, "0");
  return year < 0 ? `-${digits}` : digits;
}

function toIsoDate(text: string): string {
  if (PLAIN_DATE_PATTERN.test(text) || isInfinite(text)) return text;
  const match = DATE_PATTERN.exec(text);
  if (match === null) throw dateStyleError("date", text, "YYYY-MM-DD");
  return `${isoYear(match[1], match[4] !== undefined)}-${match[2]}-${match[3]}`;
}

function toIsoTime(text: string): string {
  if (!TIME_PATTERN.test(text)) throw dateStyleError("time", text, "HH:MM:SS");
  return padClock(text);
}

/** `HH:MM:SS[.f]` to `HH:MM:SS.ffffff`. */
function padClock(clock: string): string {
  if (clock.length === ISO_TIME_LENGTH) return clock + ZERO_FRACTION;
  return clock.padEnd(ISO_TIME_LENGTH + ZERO_FRACTION.length, "0");
}

function toIsoTimeWithZone(text: string): string {
  const match = TIMETZ_PATTERN.exec(text);
  if (match === null) throw dateStyleError("timetz", text, "HH:MM:SS+HH");
  const [, clock, digits, hours, minutes, seconds] = match;
  const offset = `${hours}:${minutes ?? "00"}${seconds === undefined ? "" : `:${seconds}`}`;
  return `${clock}${fraction(digits)}${offset}`;
}

function toIsoTimestamp(text: string): string {
  if (PLAIN_TIMESTAMP_PATTERN.test(text)) {
    return `${text.slice(0, DATE_LENGTH)}T${padClock(text.slice(DATE_LENGTH + 1))}`;
  }
  if (isInfinite(text)) return text;
  const match = TIMESTAMP_PATTERN.exec(text);
  if (match === null) throw dateStyleError("timestamp", text, "YYYY-MM-DD HH:MM:SS");
  const [, year, monthDay, clock, digits, bc] = match;
  return `${isoYear(year, bc !== undefined)}-${monthDay}T${clock}${fraction(digits)}`;
}

const SECONDS_PER_MINUTE = 60;
const SECONDS_PER_HOUR = 3600;
const SECONDS_PER_DAY = 86_400;

/** timestamptz in any offset to UTC. Offsets are whole seconds, so the fraction never changes. */
function toIsoUtcTimestamp(text: string): string {
  if (PLAIN_UTC_TIMESTAMP_PATTERN.test(text)) {
    const clock = text.slice(DATE_LENGTH + 1, -UTC_OFFSET.length);
    return `${text.slice(0, DATE_LENGTH)}T${padClock(clock)}Z`;
  }
  if (isInfinite(text)) return text;
  const match = TIMESTAMPTZ_PATTERN.exec(text);
  if (match === null) throw dateStyleError("timestamptz", text, "YYYY-MM-DD HH:MM:SS+HH");
  const [, yearText, month, day, hour, minute, second, digits, sign, ...zone] = match;
  const [offsetHours, offsetMinutes = "0", offsetSeconds = "0", bc] = zone;
  const year = Number(isoYear(yearText, bc !== undefined));
  const offset = Number(offsetHours) * SECONDS_PER_HOUR +
    Number(offsetMinutes) * SECONDS_PER_MINUTE + Number(offsetSeconds);
  if (offset === 0) {
    return `${formatYear(year)}-${month}-${day}T${hour}:${minute}:${second}${fraction(digits)}Z`;
  }
  const localSeconds = daysFromCivil(year, Number(month), Number(day)) * SECONDS_PER_DAY +
    Number(hour) * SECONDS_PER_HOUR + Number(minute) * SECONDS_PER_MINUTE + Number(second);
  const utcSeconds = sign === "+" ? localSeconds - offset : localSeconds + offset;
  return `${formatUtcSeconds(utcSeconds)}${fraction(digits)}Z`;
}

function formatUtcSeconds(totalSeconds: number): string {
  const days = Math.floor(totalSeconds / SECONDS_PER_DAY);
  const secondOfDay = totalSeconds - days * SECONDS_PER_DAY;
  const [year, month, day] = civilFromDays(days);
  const hour = Math.floor(secondOfDay / SECONDS_PER_HOUR);
  const minute = Math.floor((secondOfDay % SECONDS_PER_HOUR) / SECONDS_PER_MINUTE);
  const second = secondOfDay % SECONDS_PER_MINUTE;
  return `${formatYear(year)}-${pad2(month)}-${pad2(day)}T${pad2(hour)}:${pad2(minute)}:${
    pad2(second)
  }`;
}

function pad2(value: number): string {
  return value < 10 ? `0${value}` : String(value);
}

// Proleptic Gregorian calendar arithmetic valid for any year (H. Hinnant, "chrono-Compatible
// Low-Level Date Algorithms"); Date.UTC would remap years 0–99 and stops at ±275760.
const DAYS_PER_ERA = 146_097;
const YEARS_PER_ERA = 400;
const DAYS_FROM_0000_03_01_TO_EPOCH = 719_468;

/**
 * Days from 1970-01-01 to a date of the proleptic Gregorian calendar, for any
 * year (ISO-8601 astronomical: 1 BC is year 0).
 *
 * @example
 * ```ts
 * daysFromCivil(2024, 2, 29); // 19782
 * ```
 */
export function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / YEARS_PER_ERA);
  const yearOfEra = y - era * YEARS_PER_ERA;
  const dayOfYear = Math.floor((153 * (month > 2 ? month - 3 : month + 9) + 2) / 5) + day - 1;
  const dayOfEra = yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) +
    dayOfYear;
  return era * DAYS_PER_ERA + dayOfEra - DAYS_FROM_0000_03_01_TO_EPOCH;
}

function civilFromDays(days: number): [number, number, number] {
  const shifted = days + DAYS_FROM_0000_03_01_TO_EPOCH;
  const era = Math.floor(shifted / DAYS_PER_ERA);
  const dayOfEra = shifted - era * DAYS_PER_ERA;
  const yearOfEra = Math.floor(
    (dayOfEra - Math.floor(dayOfEra / 1460) + Math.floor(dayOfEra / 36524) -
      Math.floor(dayOfEra / (DAYS_PER_ERA - 1))) / 365,
  );
  const dayOfYear = dayOfEra -
    (365 * yearOfEra + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100));
  const monthIndex = Math.floor((5 * dayOfYear + 2) / 153);
  const day = dayOfYear - Math.floor((153 * monthIndex + 2) / 5) + 1;
  const month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9;
  const year = yearOfEra + era * YEARS_PER_ERA + (month <= 2 ? 1 : 0);
  return [year, month, day];
}

function dateStyleError(typeName: string, text: string, form: string): ValueConversionError {
  return new ValueConversionError(
    typeName,
    text,
    `expected ISO DateStyle text like "${form}" (is the session DateStyle ISO?)`,
  );
}

// ------------------------------------------------------------- interval

const INTERVAL_NUMBER_PATTERN = /^[+-]?\d+$/;
const INTERVAL_TIME_PATTERN = /^([+-])?(\d+):(\d\d):(\d\d)(?:\.(\d{1,6}))?$/;
const ISO_DURATION_PREFIX = "P";
const ZERO_DURATION = "PT0S";
const INTERVAL_UNITS: Readonly<Record<string, string>> = {
  year: "Y",
  years: "Y",
  mon: "M",
  mons: "M",
  day: "D",
  days: "D",
};

/**
 * interval in the `postgres` IntervalStyle (`1 year 2 mons -3 days 04:05:06.5`) to the
 * ISO-8601 duration PostgreSQL's `iso_8601` style prints (`P1Y2M-3DT4H5M6.5S`).
 */
function toIsoDuration(text: string): string {
  if (text.startsWith(ISO_DURATION_PREFIX) || isInfinite(text)) return text;
  const words = text.split(" ");
  let date = "";
  let time = "";
  for (let index = 0; index < words.length; index += 2) {
    const unit = INTERVAL_UNITS[words[index + 1]];
    if (unit !== undefined && INTERVAL_NUMBER_PATTERN.test(words[index])) {
      date += `${Number(words[index])}${unit}`;
    } else if (index === words.length - 1 && words[index].includes(":")) {
      time = isoDurationTime(words[index], text);
    } else {
      throw new ValueConversionError(
        "interval",
        text,
        'expected IntervalStyle "postgres" or "iso_8601" text like "1 year 2 mons 04:05:06"',
      );
    }
  }
  return date === "" && time === "" ? ZERO_DURATION : `P${date}${time}`;
}

function isoDurationTime(clock: string, text: string): string {
  const match = INTERVAL_TIME_PATTERN.exec(clock);
  if (match === null) {
    throw new ValueConversionError("interval", text, `invalid time part "${clock}"`);
  }
  const [, signText, hours, minutes, seconds, digits] = match;
  const sign = signText === "-" ? "-" : "";
  let time = "";
  if (Number(hours) !== 0) time += `${sign}${Number(hours)}H`;
  if (Number(minutes) !== 0) time += `${sign}${Number(minutes)}M`;
  if (Number(seconds) !== 0 || digits !== undefined) {
    time += `${sign}${Number(seconds)}${digits === undefined ? "" : `.${digits}`}S`;
  }
  return time === "" ? "" : `T${time}`;
}

// ---------------------------------------------------------------- arrays

const OPEN_BRACE = 0x7b; // {
const CLOSE_BRACE = 0x7d; // }
const QUOTE = 0x22; // "
const ESCAPE = 0x5c; // \
const SPACE = 0x20;
const DIMENSIONS_START = "[";
const DIMENSIONS_END = "=";
const NULL_ELEMENT = "NULL";

/**
 * Parses PostgreSQL array text (`{1,2,NULL}`, `{{1,2},{3,4}}`, `{"a,b","c\"d"}`,
 * `[0:1]={x,y}`) into nested JS arrays, converting each non-NULL element.
 * Dimension decorations (non-default lower bounds) are dropped.
 *
 * @param text The array text.
 * @param delimiter The element type's delimiter: `,` (`;` for box).
 * @param element Converter for each element's text.
 * @param typeName Named in errors.
 * @throws {ValueConversionError} when the text is not a well-formed array literal.
 * @example
 * ```ts
 * parseArrayLiteral('{"a,b",NULL,"NULL"}', ",", (text) => text, "text[]");
 * // ["a,b", null, "NULL"]
 * ```
 */
export function parseArrayLiteral(
  text: string,
  delimiter: string,
  element: ValueConverter,
  typeName: string,
): unknown[] {
  const parser = new ArrayLiteralParser(text, delimiter, element, typeName);
  return parser.parse();
}

/** Recursive-descent parser over char codes; one instance per array value. */
class ArrayLiteralParser {
  readonly #text: string;
  readonly #delimiter: number;
  readonly #element: ValueConverter;
  readonly #typeName: string;
  #position = 0;

  constructor(text: string, delimiter: string, element: ValueConverter, typeName: string) {
    this.#text = text;
    this.#delimiter = delimiter.charCodeAt(0);
    this.#element = element;
    this.#typeName = typeName;
  }

  parse(): unknown[] {
    if (this.#text.startsWith(DIMENSIONS_START)) {
      const end = this.#text.indexOf(DIMENSIONS_END);
      if (end < 0) throw this.#error("unterminated dimension decoration");
      this.#position = end + 1;
    }
    const result = this.#parseLevel();
    this.#skipSpaces();
    if (this.#position !== this.#text.length) throw this.#error("text after the closing brace");
    return result;
  }

  #parseLevel(): unknown[] {
    this.#skipSpaces();
    this.#expect(OPEN_BRACE);
    const items: unknown[] = [];
    this.#skipSpaces();
    if (this.#peek() === CLOSE_BRACE) {
      this.#position++;
      return items;
    }
    for (;;) {
      items.push(this.#parseItem());
      this.#skipSpaces();
      const separator = this.#peek();
      if (separator === CLOSE_BRACE) {
        this.#position++;
        return items;
      }
      if (separator !== this.#delimiter) {
        const delimiter = String.fromCharCode(this.#delimiter);
        throw this.#error(`expected "${delimiter}" or "}" at character ${this.#position}`);
      }
      this.#position++;
    }
  }

  #parseItem(): unknown {
    this.#skipSpaces();
    const next = this.#peek();
    if (next === OPEN_BRACE) return this.#parseLevel();
    if (next === QUOTE) return this.#element(this.#parseQuoted());
    const raw = this.#parseUnquoted();
    return raw.toUpperCase() === NULL_ELEMENT ? null : this.#element(raw);
  }

  /** A quoted element: backslash escapes the next character, whatever it is. */
  #parseQuoted(): string {
    const text = this.#text;
    let value = "";
    let start = this.#position + 1;
    for (let index = start; index < text.length; index++) {
      const code = text.charCodeAt(index);
      if (code === QUOTE) {
        this.#position = index + 1;
        return value + text.slice(start, index);
      }
      if (code === ESCAPE) {
        value += text.slice(start, index) + text.charAt(index + 1);
        start = ++index + 1;
      }
    }
    throw this.#error("unterminated quoted element");
  }

  #parseUnquoted(): string {
    const text = this.#text;
    const start = this.#position;
    let index = start;
    for (; index < text.length; index++) {
      const code = text.charCodeAt(index);
      if (code === this.#delimiter || code === CLOSE_BRACE) break;
      if (code === OPEN_BRACE || code === QUOTE) {
        throw this.#error(`unexpected "${text[index]}" at character ${index}`);
      }
    }
    if (index === text.length) throw this.#error("missing closing brace");
    this.#position = index;
    const raw = text.slice(start, index).trim();
    if (raw === "") throw this.#error(`empty element at character ${start}`);
    return raw;
  }

  #peek(): number {
    return this.#text.charCodeAt(this.#position);
  }

  #expect(code: number): void {
    if (this.#peek() !== code) {
      const expected = String.fromCharCode(code);
      throw this.#error(`expected "${expected}" at character ${this.#position}`);
    }
    this.#position++;
  }

  #skipSpaces(): void {
    while (this.#peek() === SPACE) this.#position++;
  }

  #error(detail: string): ValueConversionError {
    return new ValueConversionError(this.#typeName, this.#text, `malformed array: ${detail}`);
  }
}
