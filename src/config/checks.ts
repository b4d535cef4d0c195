/**
 * Rules that span several entries of the config: one kind of source table,
 * at least one source and target, unique names, targets naming existing
 * sources, files that exist.
 *
 * They run on the interpolated document before the schema has accepted it,
 * reading it defensively, so that their issues are reported together with
 * the schema's rather than after the user fixed those.
 *
 * @module
 */
import { resolve } from "node:path";
import { formatPath, type IssueCollector, type PathSegment } from "./issues.ts";
import { DEFAULT_PG_HOST, DEFAULT_PG_PORT, DEFAULT_SLOT, DEFAULT_SOURCE_NAME } from "./schema.ts";

type Table = Record<string, unknown>;

interface NamedEntry {
  name: string;
  path: string;
  /** Whether the name came from interpolation and must not be shown. */
  secret: boolean;
}

/**
 * Checks the cross-entry rules of an interpolated document.
 *
 * @param baseDir the directory relative file paths are resolved against.
 */
export function checkDocument(document: unknown, collector: IssueCollector, baseDir: string): void {
  const root = asTable(document) ?? {};
  const sources = sourceEntries(root, collector);
  const targets = Array.isArray(root.targets) ? root.targets : [];
  // A `targets` that is not an array is a type error the schema reports.
  if (root.targets === undefined || (Array.isArray(root.targets) && targets.length === 0)) {
    collector.add("targets", "expected at least one [[targets]] table, found none");
  }
  const sourceNames = namedEntries(sources, collector);
  checkUnique("source", sourceNames, collector);
  checkUnique("target", namedEntries(targetEntries(targets), collector), collector);
  for (const [index, target] of targets.entries()) {
    checkSourceReferences(asTable(target), ["targets", index], sourceNames, collector);
  }
  for (const { table, path } of sources) {
    checkFile(table?.ssl_ca_file, [...path, "ssl_ca_file"], baseDir, collector);
  }
  checkSlotsUnique(sources, collector);
  const tls = asTable(asTable(root.kafka)?.tls);
  checkFile(tls?.ca_file, ["kafka", "tls", "ca_file"], baseDir, collector);
}

/** Resolves a file path from the config against the config file's directory. */
export function resolveConfigPath(baseDir: string, path: string): string {
  return resolve(baseDir, path);
}

interface Entry {
  table: Table | undefined;
  path: PathSegment[];
  defaultName?: string;
}

function sourceEntries(root: Table, collector: IssueCollector): Entry[] {
  const single = root.source;
  const many = root.sources;
  if (single !== undefined && many !== undefined) {
    collector.add("source", "expected either one [source] table or [[sources]] tables, found both");
  }
  if (single === undefined && (many === undefined || (Array.isArray(many) && many.length === 0))) {
    collector.add(
      "sources",
      "expected at least one [[sources]] table (or one [source]), found none",
    );
  }
  const entries: Entry[] = Array.isArray(many)
    ? many.map((item, index) => ({ table: asTable(item), path: ["sources", index] }))
    : [];
  if (single !== undefined) {
    entries.push({ table: asTable(single), path: ["source"], defaultName: DEFAULT_SOURCE_NAME });
  }
  return entries;
}

function targetEntries(targets: unknown[]): Entry[] {
  return targets.map((item, index) => ({ table: asTable(item), path: ["targets", index] }));
}

/** The string names of entries; entries without one are the schema's business. */
function namedEntries(entries: Entry[], collector: IssueCollector): NamedEntry[] {
  const named: NamedEntry[] = [];
  for (const { table, path, defaultName } of entries) {
    const name = table?.name ?? defaultName;
    const namePath = formatPath([...path, "name"]);
    if (typeof name === "string") {
      named.push({ name, path: namePath, secret: collector.isSecret(namePath) });
    }
  }
  return named;
}

function checkUnique(kind: string, entries: NamedEntry[], collector: IssueCollector): void {
  const firstUse = new Map<string, string>();
  for (const { name, path } of entries) {
    const earlier = firstUse.get(name);
    if (earlier === undefined) firstUse.set(name, path);
    else collector.mismatch(path, `a ${kind} name not used before`, name, `also ${earlier}`);
  }
}

/**
 * Slot names are unique per PostgreSQL server, not per database: two sources
 * on one server with one slot would take it from each other forever.
 */
function checkSlotsUnique(sources: Entry[], collector: IssueCollector): void {
  const firstUse = new Map<string, string>();
  for (const { table, path } of sources) {
    if (table === undefined) continue;
    const slot = typeof table.slot === "string" ? table.slot : DEFAULT_SLOT;
    const server = `${table.host ?? DEFAULT_PG_HOST}:${table.port ?? DEFAULT_PG_PORT}`;
    const where = formatPath([...path, "slot"]);
    const earlier = firstUse.get(`${server}/${slot}`);
    if (earlier === undefined) firstUse.set(`${server}/${slot}`, where);
    else {
      collector.mismatch(
        where,
        "a slot no other source uses on the same server",
        slot,
        `also ${earlier}`,
      );
    }
  }
}

function checkSourceReferences(
  target: Table | undefined,
  targetPath: PathSegment[],
  sources: NamedEntry[],
  collector: IssueCollector,
): void {
  const references = target?.sources;
  if (!Array.isArray(references)) return;
  const known = new Set(sources.map(({ name }) => name));
  const shown = [...new Set(sources.filter(({ secret }) => !secret).map(({ name }) => name))]
    .map((name) => JSON.stringify(name));
  const expected = shown.length === 0
    ? "the name of a source"
    : `the name of a source (${shown.join(", ")})`;
  for (const [index, reference] of references.entries()) {
    if (typeof reference === "string" && !known.has(reference)) {
      collector.mismatch(formatPath([...targetPath, "sources", index]), expected, reference);
    }
  }
}

function checkFile(
  value: unknown,
  path: PathSegment[],
  baseDir: string,
  collector: IssueCollector,
): void {
  if (typeof value !== "string" || value === "") return;
  const where = formatPath(path);
  try {
    const info = Deno.statSync(resolveConfigPath(baseDir, value));
    if (!info.isFile) collector.mismatch(where, "an existing file", value, "not a file");
  } catch (error) {
    const reason = error instanceof Deno.errors.NotFound
      ? "no such file"
      : error instanceof Error
      ? error.message
      : String(error);
    collector.mismatch(where, "an existing file", value, reason);
  }
}

function asTable(value: unknown): Table | undefined {
  const isTable = typeof value === "object" && value !== null && !Array.isArray(value) &&
    !(value instanceof Date);
  return isTable ? value as Table : undefined;
}
