/**
 * Reading the key structure back out of the zod schema: the keys allowed at
 * a path (for "did you mean" hints) and every key path (so a test can
 * check that the example config documents them all).
 *
 * @module
 */
import type { z } from "zod";
import type { PathSegment } from "./issues.ts";

type Schema = z.core.$ZodType;

/** Wrappers whose inner schema carries the structure. */
const WRAPPERS = new Set(["optional", "default", "prefault", "nullable", "readonly", "catch"]);

function unwrap(schema: Schema): Schema {
  let current = schema;
  for (;;) {
    const def = current._zod.def as z.core.$ZodTypeDef & Record<string, unknown>;
    if (WRAPPERS.has(def.type)) current = def.innerType as Schema;
    else if (def.type === "pipe") current = def.in as Schema;
    else return current;
  }
}

function shapeOf(schema: Schema): Record<string, Schema> | undefined {
  const def = unwrap(schema)._zod.def as z.core.$ZodTypeDef & Record<string, unknown>;
  return def.type === "object" ? def.shape as Record<string, Schema> : undefined;
}

function elementOf(schema: Schema): Schema | undefined {
  const def = unwrap(schema)._zod.def as z.core.$ZodTypeDef & Record<string, unknown>;
  return def.type === "array" ? def.element as Schema : undefined;
}

/**
 * The keys the table at `path` allows, or `undefined` when the path does
 * not lead to a table in the schema.
 */
export function allowedKeysAt(schema: Schema, path: readonly PathSegment[]): string[] | undefined {
  let current: Schema | undefined = schema;
  for (const segment of path) {
    if (current === undefined) return undefined;
    current = typeof segment === "number" ? elementOf(current) : shapeOf(current)?.[segment];
  }
  const shape = current === undefined ? undefined : shapeOf(current);
  return shape === undefined ? undefined : Object.keys(shape);
}

/**
 * Every key path of the schema, tables of arrays marked with `[]`:
 * `kafka.retry.jitter`, `targets[].where`. Tables themselves are listed
 * too (`kafka.retry`).
 *
 * @example
 * ```ts
 * import { z } from "zod";
 * import { schemaKeyPaths } from "./schema_keys.ts";
 *
 * schemaKeyPaths(z.object({ a: z.array(z.object({ b: z.string() })) })); // ["a", "a[].b"]
 * ```
 */
export function schemaKeyPaths(schema: Schema, prefix = ""): string[] {
  const shape = shapeOf(schema);
  if (shape === undefined) return [];
  const paths: string[] = [];
  for (const [key, child] of Object.entries(shape)) {
    const path = prefix === "" ? key : `${prefix}.${key}`;
    paths.push(path);
    const element = elementOf(child);
    paths.push(...schemaKeyPaths(element ?? child, element === undefined ? path : `${path}[]`));
  }
  return paths;
}
