/**
 * Errors raised while turning the replication stream into change events.
 *
 * @module
 */

/**
 * The bytes of a pgoutput message, or the sequence of messages, break the
 * protocol: unknown message type, a field running past the end of the buffer,
 * an unterminated string, a change for a relation never announced, …
 *
 * The stream cannot safely continue past such an error: the connector should
 * stop (and restart from the slot's confirmed position) rather than skip data.
 *
 * @example
 * ```ts
 * throw new ProtocolError("Insert", 7, "needed 4 bytes at offset 7, 3 remain", "Truncated");
 * // ProtocolError: Truncated Insert message: needed 4 bytes at offset 7, 3 remain
 * ```
 */
export class ProtocolError extends Error {
  /** The pgoutput message kind, e.g. `"Insert"`, or `"unknown"`. */
  readonly messageKind: string;
  /** Byte offset in the message where the problem lies, when it has one. */
  readonly offset: number | undefined;

  /**
   * @param messageKind The message kind the error concerns, e.g. `"Update"`.
   * @param offset Byte offset of the problem inside the message, or `undefined`.
   * @param detail What went wrong, in words.
   * @param problem Leading word of the message: `"Truncated"`, `"Invalid"`, …
   */
  constructor(
    messageKind: string,
    offset: number | undefined,
    detail: string,
    problem = "Invalid",
  ) {
    super(`${problem} ${messageKind} message: ${detail}`);
    this.name = "ProtocolError";
    this.messageKind = messageKind;
    this.offset = offset;
  }
}

/**
 * A column value's text did not have the form its type promises, e.g. a
 * `timestamptz` that is not in ISO DateStyle. Usually a session setting of the
 * replication connection (DateStyle, IntervalStyle) differs from what the
 * converters expect.
 *
 * @example
 * ```ts
 * throw new ValueConversionError("bool", "yes", "expected t or f");
 * // ValueConversionError: Cannot convert bool value "yes": expected t or f
 * ```
 */
export class ValueConversionError extends Error {
  /** Name of the PostgreSQL type being converted. */
  readonly typeName: string;
  /** The text PostgreSQL sent. */
  readonly text: string;
  /** What the text should have looked like. */
  readonly detail: string;

  /**
   * @param typeName The PostgreSQL type name, e.g. `"timestamptz"`.
   * @param text The text PostgreSQL sent (shortened in the message).
   * @param detail What the text should have looked like.
   * @param context Where the value came from, e.g. `column "ts" of public.t`.
   */
  constructor(typeName: string, text: string, detail: string, context?: string) {
    const where = context === undefined ? "" : ` in ${context}`;
    super(`Cannot convert ${typeName} value ${quoteShort(text)}${where}: ${detail}`);
    this.name = "ValueConversionError";
    this.typeName = typeName;
    this.text = text;
    this.detail = detail;
  }
}

const QUOTED_TEXT_LIMIT = 60;

function quoteShort(text: string): string {
  const shown = text.length > QUOTED_TEXT_LIMIT ? `${text.slice(0, QUOTED_TEXT_LIMIT)}…` : text;
  return JSON.stringify(shown);
}
