/**
 * Value semantics of the filter language at evaluation time: equality,
 * ordering, numeric strings and type names. Row values are JSON-like:
 * string, number, bigint, boolean, null, arrays and plain objects.
 *
 * @module
 */

/**
 * A decimal number as PostgreSQL prints int8 and numeric (and as floats may
 * print): optional sign, digits with an optional fraction, optional exponent,
 * or `NaN` / `Infinity`. No surrounding spaces.
 */
const DECIMAL_STRING = /^(?:[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|[+-]?Infinity|NaN)$/;
const INTEGER_STRING = /^[+-]?\d+$/;
/** Integer strings up to this many characters convert to `number` exactly. */
const MAX_EXACT_INTEGER_STRING_LENGTH = 15;

/** Whether `text` is a decimal number that compares numerically with a number. */
export function isDecimalString(text: string): boolean {
  return DECIMAL_STRING.test(text);
}

/** The type of a value as error messages name it. */
export function typeName(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "list";
  switch (typeof value) {
    case "bigint":
      return "number";
    case "string":
    case "number":
    case "boolean":
      return typeof value;
    default:
      return "object";
  }
}

/** The article for a type name, for messages such as "a string" or "an object". */
export function withArticle(name: string): string {
  return name === "null" ? "null" : /^[aeiou]/.test(name) ? `an ${name}` : `a ${name}`;
}

function isNumeric(value: unknown): value is number | bigint {
  return typeof value === "number" || typeof value === "bigint";
}

function compareNativeNumbers(a: number, b: number): number {
  if (a === b) return 0;
  if (a < b) return -1;
  return a > b ? 1 : NaN;
}

function isIntegral(value: number | bigint | string): boolean {
  if (typeof value === "bigint") return true;
  if (typeof value === "number") return Number.isInteger(value);
  return INTEGER_STRING.test(value);
}

function needsExactComparison(value: number | bigint | string): boolean {
  return typeof value === "bigint" ||
    (typeof value === "string" && value.length > MAX_EXACT_INTEGER_STRING_LENGTH);
}

/**
 * Compares two numbers given as `number`, `bigint` or decimal strings:
 * negative, zero or positive, or `NaN` when either is NaN. Integers compare
 * exactly whatever their size; other values compare as doubles.
 */
export function compareNumbers(a: number | bigint | string, b: number | bigint | string): number {
  if (typeof a === "number" && typeof b === "number") return compareNativeNumbers(a, b);
  if ((needsExactComparison(a) || needsExactComparison(b)) && isIntegral(a) && isIntegral(b)) {
    const x = BigInt(a);
    const y = BigInt(b);
    return x === y ? 0 : x < y ? -1 : 1;
  }
  return compareNativeNumbers(Number(a), Number(b));
}

/**
 * Orders two non-null values for `<`, `<=`, `>`, `>=`: strings by UTF-16 code
 * units, numbers numerically, a number and a decimal string numerically.
 * Returns `undefined` for any other pair (the caller raises a runtime error)
 * and `NaN` when a NaN is involved (every ordering is then false).
 */
export function compareOrdered(a: unknown, b: unknown): number | undefined {
  if (typeof a === "string" && typeof b === "string") return a === b ? 0 : a < b ? -1 : 1;
  if (isNumeric(a)) {
    if (isNumeric(b) || (typeof b === "string" && isDecimalString(b))) return compareNumbers(a, b);
  } else if (isNumeric(b) && typeof a === "string" && isDecimalString(a)) {
    return compareNumbers(a, b);
  }
  return undefined;
}

/**
 * Equality of `==`: null equals only null; a number equals a decimal string
 * of the same value; lists and objects compare element by element with the
 * same rule; values of different types are unequal (never an error).
 */
export function looseEquals(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a === null || b === null) return false;
  if (isNumeric(a)) return numericEquals(a, b);
  if (isNumeric(b)) return numericEquals(b, a);
  if (typeof a === "object" && typeof b === "object") return structureEquals(a, b, looseEquals);
  return false;
}

function numericEquals(a: number | bigint, b: unknown): boolean {
  if (isNumeric(b) || (typeof b === "string" && isDecimalString(b))) {
    return compareNumbers(a, b) === 0;
  }
  return false;
}

/**
 * Equality of `changed()`: the same types and the same values, deeply
 * (`"5"` differs from `5`; NaN equals NaN since the value did not change).
 */
export function strictEquals(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a === "number" && typeof b === "number") return Number.isNaN(a) && Number.isNaN(b);
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  return structureEquals(a, b, strictEquals);
}

/** Compares two lists or two plain objects, member by member with `equals`. */
function structureEquals(
  a: object,
  b: object,
  equals: (x: unknown, y: unknown) => boolean,
): boolean {
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    for (let index = 0; index < a.length; index++) {
      if (!equals(a[index], b[index])) return false;
    }
    return true;
  }
  const left = a as Record<string, unknown>;
  const right = b as Record<string, unknown>;
  const keys = Object.keys(left);
  if (keys.length !== Object.keys(right).length) return false;
  for (const key of keys) {
    if (!Object.hasOwn(right, key) || !equals(left[key], right[key])) return false;
  }
  return true;
}

/** Whether `list` has an element `==` to `value`. */
export function listIncludes(list: readonly unknown[], value: unknown): boolean {
  for (let index = 0; index < list.length; index++) {
    if (looseEquals(list[index], value)) return true;
  }
  return false;
}

/**
 * Converts a decimal string to a number; integers beyond the safe range
 * become `bigint` so they stay exact.
 *
 * @example
 * ```ts
 * parseDecimal("10.50"); // 10.5
 * parseDecimal("12345678901234567890"); // 12345678901234567890n
 * ```
 */
export function parseDecimal(text: string): number | bigint {
  const value = Number(text);
  if (INTEGER_STRING.test(text) && !Number.isSafeInteger(value)) return BigInt(text);
  return value;
}
