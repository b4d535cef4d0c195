/**
 * The parts of kafkajs's internal protocol `Encoder` (a CommonJS class,
 * shipped without types) that src/kafka/kafkajs_encoder.ts and
 * src/kafka/kafkajs_record.ts use.
 *
 * @module
 */

/** kafkajs's 64-bit integer wrapper (src/utils/long.js). */
export interface KafkajsLong {
  and(other: bigint | number): KafkajsLong;
  or(other: bigint | number): KafkajsLong;
  notEquals(other: bigint | number): boolean;
  shiftRightUnsigned(bits: number): KafkajsLong;
  toInt(): number;
}

/** kafkajs's protocol encoder (src/protocol/encoder.js). */
declare class Encoder {
  constructor(initialSize?: number);
  static nextPowerOfTwo(value: number): number;
  static encodeZigZag64(value: unknown): KafkajsLong;
  static sizeOfVarInt(value: number): number;
  static sizeOfVarLong(value: number): number;
  /** The bytes written so far are `buf[0, offset)`. */
  buf: Uint8Array;
  offset: number;
  writeInt8(value: number): Encoder;
  writeVarInt(value: number): Encoder;
  writeVarLong(value: unknown): Encoder;
  writeVarIntString(value: string | null): Encoder;
  writeVarIntBytes(value: unknown): Encoder;
  readonly buffer: Uint8Array;
}

export default Encoder;
