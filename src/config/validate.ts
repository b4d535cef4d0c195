/**
 * Runs the zod schema and words its issues the config's way:
 * `path: expected …, found …`, unknown keys with a "did you mean" hint, and
 * interpolated values never shown.
 *
 * @module
 */
import type { z } from "zod";
import type { CustomIssueParams } from "./leaves.ts";
import { configSchema, type ValidatedConfig } from "./schema.ts";
import { formatPath, type IssueCollector, type PathSegment } from "./issues.ts";
import { allowedKeysAt } from "./schema_keys.ts";

/** Arrays of tables, which a user may mistakenly write as a single `[table]`. */
const ARRAYS_OF_TABLES = new Set(["sources", "targets"]);

/** How different an unknown key may be from an allowed one to be suggested. */
const MAX_SUGGESTION_DISTANCE = 2;

/**
 * Validates an interpolated TOML document against the schema. Issues go to
 * `collector`; the result is `undefined` when there were any.
 */
export function validateDocument(
  document: unknown,
  collector: IssueCollector,
): ValidatedConfig | undefined {
  const result = configSchema.safeParse(document, { reportInput: true });
  if (result.success) return result.data;
  for (const issue of result.error.issues) reportIssue(issue, collector);
  return undefined;
}

function reportIssue(issue: z.core.$ZodIssue, collector: IssueCollector): void {
  const segments = issue.path as PathSegment[];
  const path = formatPath(segments);
  switch (issue.code) {
    case "custom": {
      const params = issue.params as CustomIssueParams;
      if ("message" in params) collector.add(path, params.message);
      else collector.mismatch(path, params.expected, issue.input, params.detail);
      return;
    }
    case "invalid_type":
      return collector.mismatch(path, typeName(issue.expected), issue.input, arrayHint(issue));
    case "invalid_value": {
      const options = issue.values.map((value) => JSON.stringify(value)).join(", ");
      return collector.mismatch(path, `one of ${options}`, issue.input);
    }
    case "too_small":
      return collector.mismatch(path, minimumText(issue), issue.input);
    case "unrecognized_keys":
      for (const key of issue.keys) {
        collector.add(formatPath([...segments, key]), unknownKeyMessage(segments, key));
      }
      return;
    default:
      // Issues the schema does not raise today; zod's own wording never quotes the value.
      return collector.add(path, issue.message);
  }
}

function typeName(expected: string): string {
  switch (expected) {
    case "object":
      return "a table";
    case "boolean":
      return "true or false";
    case "int":
      return "an integer";
    case "array":
      return "an array";
    default:
      return `a ${expected}`;
  }
}

function arrayHint(issue: z.core.$ZodIssueInvalidType): string | undefined {
  const [key] = issue.path;
  const isTable = typeof issue.input === "object" && !Array.isArray(issue.input);
  if (issue.path.length !== 1 || !ARRAYS_OF_TABLES.has(String(key)) || !isTable) return undefined;
  return `write [[${String(key)}]], with double brackets, for each entry`;
}

function minimumText(issue: z.core.$ZodIssueTooSmall): string {
  const minimum = Number(issue.minimum);
  if (issue.origin === "string") {
    return minimum === 1 ? "a non-empty string" : `at least ${minimum} characters`;
  }
  if (issue.origin === "array") return `at least ${minimum} ${minimum === 1 ? "entry" : "entries"}`;
  return `a value of at least ${minimum}`;
}

function unknownKeyMessage(tablePath: PathSegment[], key: string): string {
  const allowed = allowedKeysAt(configSchema, tablePath) ?? [];
  const closest = allowed
    .map((candidate) => ({ candidate, distance: editDistance(key, candidate) }))
    .sort((a, b) => a.distance - b.distance)[0];
  if (closest !== undefined && closest.distance <= MAX_SUGGESTION_DISTANCE) {
    return `unknown key, did you mean ${closest.candidate}?`;
  }
  return `unknown key, expected one of: ${allowed.join(", ")}`;
}

/** Levenshtein distance, for suggesting the key a typo was meant to be. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min(previous[j] + 1, current[j - 1] + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length];
}
