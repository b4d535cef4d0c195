/**
 * The durable progress record of a source: which slot on which server it
 * streamed from, and the last position it confirmed there. pg2kafka keeps one
 * per source (in a compacted Kafka topic, see `src/kafka/progress_store.ts`)
 * so that a later start can tell a brand-new source from one whose slot
 * vanished: only the first may create its slot without a snapshot.
 *
 * The record is JSON, keyed by the source name:
 *
 * ```json
 * {"source":"main","slot":"pg2kafka","database":"app",
 *  "system_identifier":"7301234567890123456","lsn":"0/16B3748",
 *  "written_at":"2026-11-30T01:02:03.456Z"}
 * ```
 *
 * @module
 */
import { formatLsn, type Lsn, parseLsn } from "../lsn.ts";

/** Where a source stood when it last confirmed a position to PostgreSQL. */
export interface ProgressRecord {
  /** The source's configured name (the record's key). */
  source: string;
  /** The replication slot it streams from. */
  slot: string;
  /** The database of that slot. */
  database: string;
  /** PostgreSQL's system identifier (IDENTIFY_SYSTEM), or "" when unknown. */
  systemIdentifier: string;
  /** The last LSN confirmed to the slot. */
  lsn: Lsn;
  /** When the record was written (ISO-8601). */
  writtenAt: string;
}

/**
 * Durable storage of progress records, one per source.
 *
 * @example
 * ```ts
 * const record = await store.read("main");
 * if (record !== null) console.log(`main streamed ${record.slot} up to ${formatLsn(record.lsn)}`);
 * await store.write({ ...record!, lsn: 0x16b3748n, writtenAt: new Date().toISOString() });
 * ```
 */
export interface ProgressStore {
  /**
   * The newest record of `source`, or null when none was ever written.
   *
   * @throws {Error} when the store cannot be read: then the caller cannot tell
   * a new source from one that streamed before, and must not guess.
   */
  read(source: string): Promise<ProgressRecord | null>;
  /** Replaces the record of `record.source`; resolves once it is durable. */
  write(record: ProgressRecord): Promise<void>;
}

/** The record's JSON form (snake_case, LSN as `X/Y`). */
interface ProgressJson {
  source: string;
  slot: string;
  database: string;
  system_identifier: string;
  lsn: string;
  written_at: string;
}

/**
 * Encodes a record as its Kafka key (the source name) and JSON value.
 *
 * @example
 * ```ts
 * encodeProgressRecord(record).key; // "main"
 * ```
 */
export function encodeProgressRecord(record: ProgressRecord): { key: string; value: string } {
  const json: ProgressJson = {
    source: record.source,
    slot: record.slot,
    database: record.database,
    system_identifier: record.systemIdentifier,
    lsn: formatLsn(record.lsn),
    written_at: record.writtenAt,
  };
  return { key: record.source, value: JSON.stringify(json) };
}

/**
 * Decodes a record's JSON value.
 *
 * @throws {Error} when the value is not a progress record, naming the field.
 */
export function decodeProgressRecord(value: string): ProgressRecord {
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(value);
  } catch (error) {
    throw new Error(`Progress record is not JSON: ${(error as Error).message}`);
  }
  const text = (field: keyof ProgressJson): string => {
    const found = json?.[field];
    if (typeof found !== "string") {
      throw new Error(`Progress record has no string field "${field}"`);
    }
    return found;
  };
  return {
    source: text("source"),
    slot: text("slot"),
    database: text("database"),
    systemIdentifier: text("system_identifier"),
    lsn: parseLsn(text("lsn")),
    writtenAt: text("written_at"),
  };
}
