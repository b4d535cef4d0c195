/**
 * Leaf validators of the config schema: durations, sizes, bounded numbers,
 * names, identifiers, `host:port`, table lists and topics. Each failure is
 * a custom issue whose `params` say what was expected (and, in `detail`,
 * why the value is not that); `validate.ts` words it, adding what was
 * found, so that no message prints a value that may be a secret.
 *
 * @module
 */
import { z } from "zod";
import { readDuration, readSize, type UnitReading } from "./units.ts";
import { IDENTIFIER_PATTERN, readTableName, type TableName } from "./tables.ts";
import { TOPIC_RULE, topicNameProblem, topicTemplateProblem } from "./topics.ts";

/** The `params` of a custom issue raised by the config schema. */
export type CustomIssueParams =
  | { expected: string; detail?: string }
  | { message: string };

/** PostgreSQL's rule for replication slot names. */
export const SLOT_PATTERN = /^[a-z0-9_]{1,63}$/;
/** Source and target names: they appear in metrics labels and topic names. */
export const NAME_PATTERN = /^[A-Za-z0-9_.-]{1,63}$/;
/** The largest TCP port. */
export const MAX_PORT = 65_535;

/** A `host:port` pair; IPv6 hosts are written in brackets: `[::1]:9092`. */
export interface HostPort {
  /** The host, without brackets. */
  host: string;
  port: number;
}

/** Marks a rejected leaf value, with an optional explanation. */
class Rejected {
  constructor(readonly detail?: string) {}
}

/**
 * A leaf whose failures say `expected ${expected}`; `accept` converts the
 * value or returns a `Rejected`.
 */
function leaf<T>(expected: string, accept: (value: unknown) => T | Rejected) {
  return z.unknown().transform((value, context): T => {
    const result = accept(value);
    if (!(result instanceof Rejected)) return result;
    const params: CustomIssueParams = { expected, detail: result.detail };
    context.issues.push({ code: "custom", input: value, message: expected, params });
    return z.NEVER;
  });
}

/** A string leaf checked by `problemOf`, which returns why the text is invalid. */
function checkedString(expected: string, problemOf: (text: string) => string | undefined) {
  return leaf(expected, (value) => {
    if (typeof value !== "string") return new Rejected();
    const problem = problemOf(value);
    return problem === undefined ? value : new Rejected(problem);
  });
}

/**
 * Lets a table's refinement run when its other keys are invalid, as long
 * as `keys` (the ones it reads) and the table itself are fine, so that all
 * problems are reported at once.
 */
export function whenValid(...keys: string[]): z.core.$ZodSuperRefineParams {
  return {
    when: (payload) =>
      !payload.issues.some((issue) => {
        const [key] = issue.path ?? [];
        return key === undefined ? issue.code !== "unrecognized_keys" : keys.includes(String(key));
      }),
  };
}

/** A free-form custom issue, for refinements over several keys. */
export function refinementIssue(path: (string | number)[], message: string) {
  const params: CustomIssueParams = { message };
  return { code: "custom" as const, path, message, params, input: undefined };
}

function fromReading(value: unknown, read: (text: string) => UnitReading): number | Rejected {
  if (typeof value === "number") return new Rejected("a plain number is ambiguous: add a unit");
  if (typeof value !== "string") return new Rejected();
  const reading = read(value);
  return reading.ok ? reading.value : new Rejected(reading.reason);
}

/** A duration with units, in milliseconds; zero only when `allowZero`. */
export function duration(allowZero = false) {
  return leaf(`a duration such as "500ms", "10s" or "1m30s"`, (value) => {
    const ms = fromReading(value, readDuration);
    return ms === 0 && !allowZero ? new Rejected("must be longer than zero") : ms;
  });
}

const SIZE_EXPECTED = `a size such as "512B", "64KiB" or "1MiB"`;

/** A size with units, in bytes, at least one byte. */
export function size() {
  return leaf(SIZE_EXPECTED, (value) => {
    const bytes = fromReading(value, readSize);
    return bytes === 0 ? new Rejected("must be at least 1B") : bytes;
  });
}

/** A size, or `""` for "not set" (`null`). */
export function optionalSize() {
  return leaf(`${SIZE_EXPECTED}, or "" for the default`, (value) => {
    if (value === "") return null;
    const bytes = fromReading(value, readSize);
    return bytes === 0 ? new Rejected("must be at least 1B") : bytes;
  });
}

/** An integer in `[min, max]`. */
export function integer(min: number, max = Number.MAX_SAFE_INTEGER) {
  const expected = max === Number.MAX_SAFE_INTEGER
    ? `an integer of at least ${min}`
    : `an integer from ${min} to ${max}`;
  return leaf(expected, (value) => {
    const ok = typeof value === "number" && Number.isInteger(value) && value >= min && value <= max;
    return ok ? value as number : new Rejected();
  });
}

/** A number in `[min, max]`, fractions allowed. */
export function numberBetween(min: number, max: number, expected: string) {
  return leaf(expected, (value) => {
    const ok = typeof value === "number" && value >= min && value <= max;
    return ok ? value as number : new Rejected();
  });
}

/** A non-empty string. */
export const nonEmptyString = () => z.string().min(1);

/** A string matching `pattern`. */
function matching(pattern: RegExp, expected: string) {
  return leaf(expected, (value) => {
    return typeof value === "string" && pattern.test(value) ? value : new Rejected();
  });
}

/** A source or target name. */
export const name = () =>
  matching(NAME_PATTERN, "a name (letters, digits, '.', '_' or '-', at most 63 characters)");

/** A replication slot name. */
export const slotName = () =>
  matching(SLOT_PATTERN, "a slot name (lowercase letters, digits and _, at most 63 characters)");

/** A publication (or other SQL) identifier; `what` names it in messages. */
export const identifier = (what: string) =>
  matching(
    IDENTIFIER_PATTERN,
    `${what} (a letter or _, then letters, digits, _ or $, at most 63 characters)`,
  );

/**
 * Reads `host:port`; the port must be at least `minPort` (0 lets the
 * system choose, for listening sockets).
 */
export function readHostPort(text: string, minPort = 1): HostPort | undefined {
  const match = /^\[([^\]]+)\]:(\d+)$/.exec(text) ?? /^([^:\[\]]+):(\d+)$/.exec(text);
  if (match === null) return undefined;
  const port = Number(match[2]);
  return port >= minPort && port <= MAX_PORT ? { host: match[1], port } : undefined;
}

/** A `host:port` string, resolved to its parts (the text kept as written). */
export function hostPort(example: string, minPort = 1) {
  return leaf(`"host:port" such as "${example}"`, (value) => {
    const parsed = typeof value === "string" ? readHostPort(value, minPort) : undefined;
    return parsed === undefined ? new Rejected() : { text: value as string, ...parsed };
  });
}

/** A table name or pattern, read by `read`. */
export function tableLeaf(
  expected: string,
  read: (text: string) => ReturnType<typeof readTableName>,
) {
  return leaf(expected, (value) => {
    if (typeof value !== "string") return new Rejected();
    const reading = read(value);
    return reading.ok ? reading.value : new Rejected(reading.reason);
  });
}

const ALL_TABLES = "*";

/** A source's `tables`: exact names, or `["*"]` for a publication FOR ALL TABLES. */
export function publicationTables() {
  const entry = leaf(`a table name such as "public.orders", or "*"`, (value) => {
    if (value === ALL_TABLES) return ALL_TABLES;
    if (typeof value !== "string") return new Rejected();
    const reading = readTableName(value);
    return reading.ok ? reading.value : new Rejected(reading.reason);
  });
  return z.array(entry).transform((entries, context): "all" | TableName[] => {
    if (!entries.includes(ALL_TABLES)) return entries as TableName[];
    if (entries.length > 1) {
      const message = `expected "*" (FOR ALL TABLES) alone, found it combined with table names`;
      context.issues.push(refinementIssue([], message));
    }
    return "all";
  });
}

/** A topic template with `{source}`, `{schema}`, `{table}` and `{op}` placeholders. */
export const topicTemplate = () =>
  checkedString(
    "a topic template with only the placeholders {source}, {schema}, {table}, {op}",
    topicTemplateProblem,
  );

/** A plain topic name. */
export const topicName = () => checkedString(`a topic name (${TOPIC_RULE})`, topicNameProblem);
