/**
 * Held events of one transaction, in memory up to a size, then in a spill
 * file: a transaction target whose `where` uses `tx.*` cannot decide an event
 * before the Commit, and a transaction of a million rows must not need a
 * million rows of memory (DESIGN invariant 4).
 *
 * Events are JSON text. Below `limitBytes` (counted as UTF-16 code units,
 * like {@linkcode approximateBytes}) they stay in memory; past it, every held
 * event goes to a file of its own, and later ones follow through a write
 * buffer, so memory holds at most `limitBytes` plus one buffer. At the Commit
 * {@linkcode HeldEvents.drain} gives them back in order, a chunk at a time.
 *
 * A spill file lives in `<dir>/<source>/`, readable by its owner only (it
 * holds row data), and is removed once drained or discarded. A process that
 * dies leaves its files behind: {@linkcode removeLeftovers} clears a source's
 * folder at start-up; a file still open elsewhere keeps its data on POSIX
 * systems, so no live transaction loses its events to that.
 *
 * File format: records of a 4-byte little-endian length and that many bytes
 * of UTF-8.
 *
 * @module
 */
import { join } from "node:path";
import { approximateBytes } from "./message.ts";

/** Where and past what size held events spill. */
export interface SpillSettings {
  /** Bytes of held events kept in memory before they spill. */
  readonly limitBytes: number;
  /** The spill folder (absolute); each source writes to a folder of its own in it. */
  readonly dir: string;
}

/** Size of the write buffer and of each read back from a spill file. */
const CHUNK_BYTES = 1024 * 1024;
const LENGTH_BYTES = 4;
/** Most UTF-8 bytes one UTF-16 code unit encodes to. */
const UTF8_BYTES_PER_UNIT = 3;
const SPILL_SUFFIX = ".spill";
const OWNER_ONLY_FILE = 0o600;
const OWNER_ONLY_DIR = 0o700;

const encoder = new TextEncoder();

/**
 * The spill folder of `source` in `dir`.
 *
 * @example
 * ```ts
 * sourceSpillDir("/var/tmp/pg2kafka-spill", "orders_db"); // "/var/tmp/pg2kafka-spill/orders_db"
 * ```
 */
export function sourceSpillDir(dir: string, source: string): string {
  return join(dir, source);
}

/**
 * Removes the spill files a previous run of `source` left in `dir` (after a
 * crash); returns how many.
 */
export async function removeLeftovers(dir: string, source: string): Promise<number> {
  const folder = sourceSpillDir(dir, source);
  let removed = 0;
  try {
    for await (const entry of Deno.readDir(folder)) {
      if (!entry.isFile || !entry.name.endsWith(SPILL_SUFFIX)) continue;
      await Deno.remove(join(folder, entry.name)).catch(ignoreNotFound);
      removed++;
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return removed;
}

function ignoreNotFound(error: unknown): void {
  if (!(error instanceof Deno.errors.NotFound)) throw error;
}

/** The events a transaction target holds until the Commit. */
export class HeldEvents {
  readonly #settings: SpillSettings;
  /** Names the spill file: `<target>.<xid>.<random>.spill` in the source's folder. */
  readonly #source: string;
  readonly #target: string;
  #memory: string[] = [];
  #memoryBytes = 0;
  #file: SpillFile | null = null;
  #count = 0;

  /** Creates an empty holder for target `target` of source `source`. */
  constructor(settings: SpillSettings, source: string, target: string) {
    this.#settings = settings;
    this.#source = source;
    this.#target = target;
  }

  /** Events held. */
  get length(): number {
    return this.#count;
  }

  /** Whether the events went to a file (then {@linkcode drain} must be awaited). */
  get spilled(): boolean {
    return this.#file !== null;
  }

  /** Bytes written to the spill file so far (0 when nothing spilled). */
  get spilledBytes(): number {
    return this.#file?.size ?? 0;
  }

  /**
   * Holds one event.
   *
   * @throws {Deno.errors.PermissionDenied} and other file errors when the spill file cannot be written.
   */
  push(json: string, xid: number): void {
    this.#count++;
    if (this.#file !== null) return this.#file.append(json);
    this.#memory.push(json);
    this.#memoryBytes += approximateBytes(json);
    if (this.#memoryBytes > this.#settings.limitBytes) this.#spill(xid);
  }

  /**
   * Takes the events held in memory and empties the holder; only when
   * nothing spilled.
   */
  takeInMemory(): string[] {
    if (this.#file !== null) throw new Error("Held events spilled: drain them instead");
    const events = this.#memory;
    this.#reset();
    return events;
  }

  /**
   * Gives the held events back in order, a chunk at a time, then removes the
   * spill file and empties the holder (also when the caller stops early).
   */
  async *drain(): AsyncGenerator<string[]> {
    const file = this.#file;
    const memory = this.#memory;
    this.#reset();
    if (file === null) {
      if (memory.length > 0) yield memory;
      return;
    }
    try {
      yield* file.read();
    } finally {
      file.discard();
    }
  }

  /** Drops the held events and removes the spill file (a session that ended). */
  discard(): void {
    this.#file?.discard();
    this.#reset();
  }

  #reset(): void {
    this.#memory = [];
    this.#memoryBytes = 0;
    this.#file = null;
    this.#count = 0;
  }

  #spill(xid: number): void {
    const folder = sourceSpillDir(this.#settings.dir, this.#source);
    const name = `${this.#target}.${xid}.${crypto.randomUUID()}${SPILL_SUFFIX}`;
    const file = new SpillFile(folder, name);
    for (const json of this.#memory) file.append(json);
    this.#file = file;
    this.#memory = [];
    this.#memoryBytes = 0;
  }
}

/** One spill file, written through a buffer, read back a chunk at a time. */
class SpillFile {
  readonly path: string;
  readonly #file: Deno.FsFile;
  readonly #buffer = new Uint8Array(CHUNK_BYTES);
  #buffered = 0;
  #written = 0;
  #discarded = false;

  constructor(folder: string, name: string) {
    Deno.mkdirSync(folder, { recursive: true, mode: OWNER_ONLY_DIR });
    this.path = join(folder, name);
    this.#file = Deno.openSync(this.path, {
      read: true,
      write: true,
      createNew: true,
      mode: OWNER_ONLY_FILE,
    });
  }

  /** Bytes written, buffered ones included. */
  get size(): number {
    return this.#written + this.#buffered;
  }

  append(json: string): void {
    const worst = LENGTH_BYTES + json.length * UTF8_BYTES_PER_UNIT;
    if (this.#buffered + worst > CHUNK_BYTES) this.#flush();
    if (worst > CHUNK_BYTES) {
      // Larger than the buffer: written on its own.
      const bytes = encoder.encode(json);
      this.#writeAll(lengthPrefix(bytes.length));
      this.#writeAll(bytes);
      return;
    }
    const at = this.#buffered;
    const { written } = encoder.encodeInto(json, this.#buffer.subarray(at + LENGTH_BYTES));
    new DataView(this.#buffer.buffer).setUint32(at, written, true);
    this.#buffered = at + LENGTH_BYTES + written;
  }

  /** Reads the records back from the start, decoded, a chunk's worth per batch. */
  async *read(): AsyncGenerator<string[]> {
    this.#flush();
    await this.#file.seek(0, Deno.SeekMode.Start);
    const decoder = new TextDecoder();
    let chunk = new Uint8Array(CHUNK_BYTES);
    let filled = 0;
    while (true) {
      const read = await this.#file.read(chunk.subarray(filled));
      if (read === null) break;
      filled += read;
      const view = new DataView(chunk.buffer, chunk.byteOffset, filled);
      const events: string[] = [];
      let at = 0;
      while (at + LENGTH_BYTES <= filled) {
        const length = view.getUint32(at, true);
        if (at + LENGTH_BYTES + length > filled) break;
        events.push(decoder.decode(chunk.subarray(at + LENGTH_BYTES, at + LENGTH_BYTES + length)));
        at += LENGTH_BYTES + length;
      }
      const needed = at + LENGTH_BYTES <= filled
        ? LENGTH_BYTES + view.getUint32(at, true)
        : LENGTH_BYTES;
      // Keep the partial record at the start; grow the chunk for a record larger than it.
      const rest = chunk.subarray(at, filled);
      if (needed > chunk.length) {
        const larger = new Uint8Array(needed);
        larger.set(rest);
        chunk = larger;
      } else {
        chunk.copyWithin(0, at, filled);
      }
      filled = rest.length;
      if (events.length > 0) yield events;
    }
    if (filled > 0) throw new Error(`Spill file ${this.path} ends inside a record`);
  }

  discard(): void {
    if (this.#discarded) return;
    this.#discarded = true;
    this.#file.close();
    try {
      Deno.removeSync(this.path);
    } catch (error) {
      ignoreNotFound(error);
    }
  }

  #flush(): void {
    if (this.#buffered === 0) return;
    this.#writeAll(this.#buffer.subarray(0, this.#buffered));
    this.#buffered = 0;
  }

  #writeAll(bytes: Uint8Array): void {
    let at = 0;
    while (at < bytes.length) at += this.#file.writeSync(bytes.subarray(at));
    this.#written += bytes.length;
  }
}

function lengthPrefix(length: number): Uint8Array {
  const bytes = new Uint8Array(LENGTH_BYTES);
  new DataView(bytes.buffer).setUint32(0, length, true);
  return bytes;
}
