/**
 * One line of `pg2kafka check`: what every check returns.
 *
 * @module
 */

/** The outcome of one check: `unreachable` when the system did not answer at all. */
export type CheckStatus = "ok" | "warn" | "skip" | "fail" | "unreachable";

/** One check's result, printed as one line. */
export interface CheckLine {
  readonly status: CheckStatus;
  /** What was checked: `config`, `postgres <source>`, `kafka`. */
  readonly subject: string;
  readonly text: string;
}
