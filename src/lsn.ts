/**
 * Log sequence numbers: 64-bit WAL positions, kept as `bigint` and printed in
 * PostgreSQL's `X/Y` hexadecimal form.
 *
 * @module
 */

/** A WAL position. `0n` means "none yet". */
export type Lsn = bigint;

const HIGH_SHIFT = 32n;
const LOW_MASK = 0xffff_ffffn;
const LSN_PATTERN = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/;

/**
 * Formats an LSN as PostgreSQL prints it.
 *
 * @example
 * ```ts
 * formatLsn(0x16B3748n); // "0/16B3748"
 * ```
 */
export function formatLsn(lsn: Lsn): string {
  const high = (lsn >> HIGH_SHIFT).toString(16).toUpperCase();
  const low = (lsn & LOW_MASK).toString(16).toUpperCase();
  return `${high}/${low}`;
}

/**
 * Parses an LSN in `X/Y` form.
 *
 * @throws {RangeError} when the text is not an LSN.
 * @example
 * ```ts
 * parseLsn("0/16B3748"); // 23803720n
 * ```
 */
export function parseLsn(text: string): Lsn {
  const match = LSN_PATTERN.exec(text.trim());
  if (!match) throw new RangeError(`Invalid LSN "${text}": expected the form X/Y in hexadecimal`);
  return (BigInt(`0x${match[1]}`) << HIGH_SHIFT) | BigInt(`0x${match[2]}`);
}
