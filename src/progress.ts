/**
 * Positions of exactly-once delivery, shared by the pipeline (which marks
 * them) and the sinks that write atomically (which store them with what
 * they write): where a source's changes stand in the destination, and where
 * in the change stream a destination transaction may end.
 *
 * A change is placed by its transaction's commit LSN (Begin's final LSN,
 * unique per transaction and growing in commit order) and its ordinal among
 * the transaction's changes: the stream replays a transaction's changes in
 * the same order every time, and an LSN alone is not enough (one WAL record
 * can carry several rows).
 *
 * @module
 */
import type { Lsn } from "./lsn.ts";

/** How far a source's changes are in Kafka. */
export interface ResumePoint {
  /** Commit end LSN of the last PostgreSQL transaction wholly in Kafka. */
  readonly lsn: Lsn;
  /** The PostgreSQL transaction after it that is only partly in Kafka, or null. */
  readonly partial: PartialTransaction | null;
}

/** The first changes of a PostgreSQL transaction cut across Kafka transactions. */
export interface PartialTransaction {
  /** The transaction's commit LSN (Begin's final LSN). */
  readonly commitLsn: Lsn;
  /** How many of its changes (in stream order) are in Kafka. */
  readonly changes: number;
  /** The LSN of the last of them (informative). */
  readonly changeLsn: Lsn;
}

/**
 * A point in the change stream where a Kafka transaction may end: after the
 * messages of a whole change, or of a whole PostgreSQL transaction.
 */
export interface StreamPosition {
  readonly commitLsn: Lsn;
  /** Changes of the transaction handed so far. */
  readonly changes: number;
  /** LSN of the last change handed. */
  readonly changeLsn: Lsn;
  /** The commit end LSN once the whole transaction is handed, else null. */
  readonly endLsn: Lsn | null;
}

/** The resume point of everything up to and including `position`. */
export function resumePointAt(position: StreamPosition, previous: ResumePoint): ResumePoint {
  if (position.endLsn !== null) return { lsn: position.endLsn, partial: null };
  return {
    lsn: previous.lsn,
    partial: {
      commitLsn: position.commitLsn,
      changes: position.changes,
      changeLsn: position.changeLsn,
    },
  };
}

/** Whether two resume points are the same (to tell whether a commit went through). */
export function sameResumePoint(a: ResumePoint, b: ResumePoint): boolean {
  if (a.lsn !== b.lsn) return false;
  if (a.partial === null || b.partial === null) return a.partial === b.partial;
  return a.partial.commitLsn === b.partial.commitLsn && a.partial.changes === b.partial.changes;
}
