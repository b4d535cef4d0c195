/**
 * Durable progress records of sources (see record.ts).
 *
 * @module
 */
export {
  decodeProgressRecord,
  encodeProgressRecord,
  type ProgressRecord,
  type ProgressStore,
} from "./record.ts";
