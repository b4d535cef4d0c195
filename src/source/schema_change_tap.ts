/**
 * Picks schema changes out of the replication stream for a source that
 * reports them: `pg2kafka.ddl` logical messages of pg2kafka's event trigger
 * (`via = "trigger"`), or Relation messages whose columns differ from the
 * ones the session last saw of that table (`via = "relation"`). See
 * `src/pipeline/schema_change.ts` for the messages.
 *
 * @module
 */
import { logger } from "../telemetry/log.ts";
import { formatLsn, type Lsn } from "../lsn.ts";
import {
  DDL_MESSAGE_PREFIX,
  DdlMessageError,
  ddlSchemaChange,
  relationSchemaChange,
  type SchemaChange,
  type SchemaChangePosition,
  type SchemaChangeVia,
} from "../pipeline/schema_change.ts";
import type { CachedRelation, ChangeDecoder } from "./changes.ts";
import type { PgOutputMessage } from "./pgoutput.ts";

const log = logger("source");

/**
 * Watches one session's messages. Call {@linkcode before} with each message
 * before the decoder applies it and {@linkcode after} once it has.
 */
export class SchemaChangeTap {
  readonly #via: SchemaChangeVia;
  readonly #decoder: ChangeDecoder;
  /** The relation a Relation message is about to replace. */
  #previous: CachedRelation | undefined;

  constructor(via: SchemaChangeVia, decoder: ChangeDecoder) {
    this.#via = via;
    this.#decoder = decoder;
  }

  /** Remembers what a Relation message replaces. */
  before(message: PgOutputMessage): void {
    if (this.#via === "relation" && message.tag === "relation") {
      this.#previous = this.#decoder.relations.get(message.relationId);
    }
  }

  /** The schema change `message` (now applied) reports, or null. */
  after(message: PgOutputMessage, walStart: Lsn): SchemaChange | null {
    if (this.#via === "relation" && message.tag === "relation") {
      const previous = this.#previous;
      this.#previous = undefined;
      const next = this.#decoder.relations.get(message.relationId)!;
      return relationSchemaChange(previous, next, this.#position(walStart, "Relation"));
    }
    if (this.#via !== "trigger" || message.tag !== "message") return null;
    if (message.prefix !== DDL_MESSAGE_PREFIX) return null;
    if (!message.transactional) {
      log.warn(
        "Ignored a non-transactional {prefix} message at {lsn}: pg2kafka's trigger " +
          "writes transactional ones",
        { prefix: DDL_MESSAGE_PREFIX, lsn: formatLsn(walStart) },
      );
      return null;
    }
    try {
      return ddlSchemaChange(message.content, this.#position(walStart, "Message"));
    } catch (error) {
      if (!(error instanceof DdlMessageError)) throw error;
      log.error("Skipped a schema-change message pg2kafka cannot read: {error}", {
        error: error.message,
      });
      return null;
    }
  }

  #position(lsn: Lsn, kind: string): SchemaChangePosition {
    const transaction = this.#decoder.transaction;
    if (transaction === null) throw new Error(`Protocol error: ${kind} outside a transaction`);
    return {
      lsn,
      commitLsn: transaction.commitLsn,
      xid: transaction.xid,
      commitTimeMicros: transaction.commitTimeMicros,
    };
  }
}
