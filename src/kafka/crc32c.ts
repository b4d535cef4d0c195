/**
 * CRC-32C (Castagnoli), the checksum of every Kafka record batch, eight
 * bytes per step ("slicing-by-8") instead of kafkajs's one: twice as fast as
 * kafkajs's byte-at-a-time table, which took 4% of the connector's CPU
 * (docs/benchmarks.md).
 * {@linkcode installCrc32cPatch} makes kafkajs's produce requests use it;
 * tests/unit/crc32c_test.ts compares it with kafkajs's.
 *
 * @module
 */
import { PATCH_USE, replaceProduceModule } from "./kafkajs_modules.ts";

/** The reflected Castagnoli polynomial. */
const POLYNOMIAL = 0x82f63b78;
const TABLES = 8;
const BYTE_VALUES = 256;
const BYTE_MASK = 0xff;
const BITS_PER_BYTE = 8;

/**
 * TABLE[k * 256 + b]: the CRC of byte b followed by k zero bytes, so eight
 * bytes fold in with eight lookups and no dependency between them.
 */
const TABLE = buildTable();

function buildTable(): Int32Array {
  const table = new Int32Array(TABLES * BYTE_VALUES);
  for (let byte = 0; byte < BYTE_VALUES; byte++) {
    let crc = byte;
    for (let bit = 0; bit < BITS_PER_BYTE; bit++) {
      crc = crc & 1 ? (crc >>> 1) ^ POLYNOMIAL : crc >>> 1;
    }
    table[byte] = crc;
  }
  for (let k = 1; k < TABLES; k++) {
    for (let byte = 0; byte < BYTE_VALUES; byte++) {
      const previous = table[(k - 1) * BYTE_VALUES + byte];
      table[k * BYTE_VALUES + byte] = (previous >>> BITS_PER_BYTE) ^ table[previous & BYTE_MASK];
    }
  }
  return table;
}

/**
 * The CRC-32C of `bytes`, as an unsigned 32-bit integer.
 *
 * @example
 * ```ts
 * crc32c(new TextEncoder().encode("123456789")); // 0xe3069283
 * ```
 */
export function crc32c(bytes: Uint8Array): number {
  PATCH_USE.checksums++;
  const t = TABLE;
  let crc = -1;
  let i = 0;
  const whole = bytes.length - (bytes.length % TABLES);
  while (i < whole) {
    const low = crc ^
      (bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24));
    crc = t[7 * BYTE_VALUES + (low & BYTE_MASK)] ^ t[6 * BYTE_VALUES + ((low >>> 8) & BYTE_MASK)] ^
      t[5 * BYTE_VALUES + ((low >>> 16) & BYTE_MASK)] ^ t[4 * BYTE_VALUES + (low >>> 24)] ^
      t[3 * BYTE_VALUES + bytes[i + 4]] ^ t[2 * BYTE_VALUES + bytes[i + 5]] ^
      t[BYTE_VALUES + bytes[i + 6]] ^ t[bytes[i + 7]];
    i += TABLES;
  }
  for (; i < bytes.length; i++) crc = t[(crc ^ bytes[i]) & BYTE_MASK] ^ (crc >>> BITS_PER_BYTE);
  return (crc ^ -1) >>> 0;
}

const CRC_MODULE = "kafkajs/src/protocol/recordBatch/crc32C/index.js";

/**
 * Makes kafkajs's produce requests checksum record batches with
 * {@linkcode crc32c}; returns a function that restores kafkajs's own.
 *
 * @throws {Error} when kafkajs already loaded a produce request.
 */
export function installCrc32cPatch(): () => void {
  return replaceProduceModule(CRC_MODULE, crc32c);
}
