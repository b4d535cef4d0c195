/**
 * Durations and sizes written with units in the config (`"1m30s"`,
 * `"64MiB"`), resolved to milliseconds and bytes.
 *
 * A plain number is never accepted: `linger = 5` could mean milliseconds or
 * seconds, and `batch_max_bytes = 1` could mean bytes or MiB.
 *
 * @module
 */

/** The outcome of reading a value with units: the number, or why it is not one. */
export type UnitReading = { ok: true; value: number } | { ok: false; reason: string };

const MILLIS_PER_SECOND = 1_000;
const SECONDS_PER_MINUTE = 60;
const MINUTES_PER_HOUR = 60;

/** Duration units, largest first: a duration names them in this order. */
const DURATION_UNITS: ReadonlyMap<string, number> = new Map([
  ["h", MINUTES_PER_HOUR * SECONDS_PER_MINUTE * MILLIS_PER_SECOND],
  ["m", SECONDS_PER_MINUTE * MILLIS_PER_SECOND],
  ["s", MILLIS_PER_SECOND],
  ["ms", 1],
]);

const KILO = 1_000;
const KIBI = 1_024;

/** Size units: decimal (kB, MB, GB) and binary (KiB, MiB, GiB). */
const SIZE_UNITS: ReadonlyMap<string, number> = new Map([
  ["B", 1],
  ["kB", KILO],
  ["MB", KILO ** 2],
  ["GB", KILO ** 3],
  ["KiB", KIBI],
  ["MiB", KIBI ** 2],
  ["GiB", KIBI ** 3],
]);

/**
 * The longest duration (2^31 - 1 ms, about 24.8 days): the longest delay a
 * timer takes. Deno, as browsers and Node, fires a longer one after 1 ms, so
 * a longer duration would turn a heartbeat or a backoff into a busy loop.
 */
export const MAX_DURATION_MS = 2 ** 31 - 1;
/** {@linkcode MAX_DURATION_MS} written as a duration. */
export const MAX_DURATION_TEXT = "596h31m23.647s";

const DURATION_UNIT_LIST = "ms, s, m or h";
const SIZE_UNIT_LIST = "B, kB, MB, GB, KiB, MiB or GiB";

/** A decimal number followed by letters: one component such as `30s`. */
const COMPONENT = /(\d+(?:\.\d+)?)([A-Za-z]*)/y;

/**
 * Reads a duration such as `"500ms"`, `"10s"`, `"5m"`, `"1h"` or `"1m30s"`
 * without throwing. Components go from the largest unit to the smallest,
 * each unit at most once; the total must be a whole number of milliseconds.
 *
 * @example
 * ```ts
 * import { readDuration } from "./units.ts";
 *
 * readDuration("1m30s"); // { ok: true, value: 90000 }
 * readDuration("90"); // { ok: false, reason: "missing unit; use ms, s, m or h" }
 * readDuration("600h").ok; // false: longer than a timer can wait
 * ```
 */
export function readDuration(text: string): UnitReading {
  if (text === "") return { ok: false, reason: "the value is empty" };
  const units = [...DURATION_UNITS.keys()];
  let total = 0;
  let previousUnitIndex = -1;
  COMPONENT.lastIndex = 0;
  while (COMPONENT.lastIndex < text.length) {
    const start = COMPONENT.lastIndex;
    const match = COMPONENT.exec(text);
    if (match === null) {
      return { ok: false, reason: `expected a number at character ${start + 1}` };
    }
    const [, amount, unit] = match;
    if (unit === "") return missingUnit(text, COMPONENT.lastIndex, DURATION_UNIT_LIST);
    const unitIndex = units.indexOf(unit);
    if (unitIndex === -1) {
      return { ok: false, reason: `unknown unit "${unit}"; use ${DURATION_UNIT_LIST}` };
    }
    if (unitIndex <= previousUnitIndex) {
      return { ok: false, reason: "units must go from largest to smallest, each at most once" };
    }
    previousUnitIndex = unitIndex;
    total += Number(amount) * DURATION_UNITS.get(unit)!;
  }
  if (total > MAX_DURATION_MS) {
    return {
      ok: false,
      reason: `longer than ${MAX_DURATION_TEXT} (about 24.8 days), the longest delay a timer takes`,
    };
  }
  return wholeNumber(total, "milliseconds");
}

/**
 * Reads a size such as `"512B"`, `"64KiB"`, `"1MiB"` or `"10MB"` without
 * throwing. Units are case-sensitive; the total must be whole bytes.
 *
 * @example
 * ```ts
 * import { readSize } from "./units.ts";
 *
 * readSize("64KiB"); // { ok: true, value: 65536 }
 * readSize("1mb"); // { ok: false, reason: 'unknown unit "mb"; use B, kB, MB, GB, KiB, MiB or GiB' }
 * ```
 */
export function readSize(text: string): UnitReading {
  if (text === "") return { ok: false, reason: "the value is empty" };
  COMPONENT.lastIndex = 0;
  const match = COMPONENT.exec(text);
  if (match === null) return { ok: false, reason: "expected a number at character 1" };
  const [, amount, unit] = match;
  if (unit === "") return missingUnit(text, COMPONENT.lastIndex, SIZE_UNIT_LIST);
  if (COMPONENT.lastIndex !== text.length) {
    return { ok: false, reason: `unexpected text after "${match[0]}"` };
  }
  const bytesPerUnit = SIZE_UNITS.get(unit);
  if (bytesPerUnit === undefined) {
    return { ok: false, reason: `unknown unit "${unit}"; use ${SIZE_UNIT_LIST}` };
  }
  return wholeNumber(Number(amount) * bytesPerUnit, "bytes");
}

/**
 * Parses a duration with units into milliseconds.
 *
 * @example
 * ```ts
 * import { parseDuration } from "./units.ts";
 *
 * parseDuration("1m30s"); // 90000
 * parseDuration("250ms"); // 250
 * ```
 *
 * @throws {RangeError} when the text is not a duration, naming the reason.
 */
export function parseDuration(text: string): number {
  const reading = readDuration(text);
  if (!reading.ok) throw new RangeError(`Invalid duration "${text}": ${reading.reason}`);
  return reading.value;
}

/**
 * Parses a size with units into bytes.
 *
 * @example
 * ```ts
 * import { parseSize } from "./units.ts";
 *
 * parseSize("64KiB"); // 65536
 * parseSize("1MB"); // 1000000
 * ```
 *
 * @throws {RangeError} when the text is not a size, naming the reason.
 */
export function parseSize(text: string): number {
  const reading = readSize(text);
  if (!reading.ok) throw new RangeError(`Invalid size "${text}": ${reading.reason}`);
  return reading.value;
}

function missingUnit(text: string, position: number, units: string): UnitReading {
  if (position === text.length) return { ok: false, reason: `missing unit; use ${units}` };
  return {
    ok: false,
    reason: `unexpected ${JSON.stringify(text[position])} at character ${position + 1}`,
  };
}

/** Tolerance for binary floating point error in `amount * unit` (`1.1 * 1000` is not 1100). */
const ROUNDING_TOLERANCE = 1e-9;

function wholeNumber(value: number, unitName: string): UnitReading {
  const rounded = Math.round(value);
  if (!Number.isSafeInteger(rounded)) return { ok: false, reason: "the value is too large" };
  if (Math.abs(value - rounded) > ROUNDING_TOLERANCE * Math.max(1, rounded)) {
    return { ok: false, reason: `the value must be a whole number of ${unitName}` };
  }
  return { ok: true, value: rounded };
}
