/**
 * The bench's workload: a table of realistic columns (bigint key, int,
 * numeric, text, timestamptz and a payload of configurable width) and a
 * per-run PL/pgSQL procedure that commits transactions of a given size and
 * insert/update/delete mix server-side, so the writer is never what limits
 * a throughput run. Change counts come from PostgreSQL's row counts: exact.
 *
 * @module
 */
import type { Sql } from "postgres";
import type { OperationMix } from "./options.ts";

/** Slots of one period of the operation sequence: the mix is in whole percent. */
const SEQUENCE_SLOTS = 100;
/** Seeded rows beyond those that deletes consume, which updates cycle over. */
const UPDATE_POOL_ROWS = 10_000;
/** Transactions committed by one CALL of a full-speed write. */
const TRANSACTIONS_PER_CALL = 500;
/** Transactions at most in one CALL of a paced write, so pacing stays smooth. */
const MAX_PACED_TRANSACTIONS_PER_CALL = 50;
/** How often a paced writer checks whether it is behind its schedule. */
const PACE_TICK_MS = 2;
const MS_PER_SECOND = 1_000;
const PAYLOAD_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789";

/** One operation of the workload. */
export type WorkloadOp = "insert" | "update" | "delete";

/** Row changes of each kind in each transaction of one cycle of the workload. */
export interface TransactionPlan {
  readonly inserts: readonly number[];
  readonly updates: readonly number[];
  readonly deletes: readonly number[];
}

/**
 * The workload's operations over 100 slots, spread evenly by smooth weighted
 * round robin: each operation appears exactly its percentage of times and
 * never in long runs.
 *
 * @example
 * ```ts
 * operationSequence({ insert: 50, update: 50, delete: 0 }).slice(0, 4);
 * // ["insert", "update", "insert", "update"]
 * ```
 */
export function operationSequence(mix: OperationMix): WorkloadOp[] {
  const ops: WorkloadOp[] = ["insert", "update", "delete"];
  const credit = [0, 0, 0];
  const sequence: WorkloadOp[] = [];
  for (let slot = 0; slot < SEQUENCE_SLOTS; slot++) {
    let best = 0;
    for (let i = 0; i < ops.length; i++) {
      credit[i] += mix[ops[i]];
      if (credit[i] > credit[best]) best = i;
    }
    credit[best] -= SEQUENCE_SLOTS;
    sequence.push(ops[best]);
  }
  return sequence;
}

function greatestCommonDivisor(a: number, b: number): number {
  return b === 0 ? a : greatestCommonDivisor(b, a % b);
}

/**
 * Splits the operation sequence into transactions of `txSize` changes, over
 * the shortest cycle of transactions after which the sequence repeats.
 *
 * @example
 * ```ts
 * planTransactions(1, { insert: 50, update: 50, delete: 0 }).inserts.length; // 100
 * planTransactions(10, { insert: 60, update: 30, delete: 10 }).inserts.length; // 10
 * ```
 */
export function planTransactions(txSize: number, mix: OperationMix): TransactionPlan {
  const sequence = operationSequence(mix);
  const cycle = SEQUENCE_SLOTS / greatestCommonDivisor(SEQUENCE_SLOTS, txSize);
  const plan = { inserts: [] as number[], updates: [] as number[], deletes: [] as number[] };
  let next = 0;
  for (let tx = 0; tx < cycle; tx++) {
    const counts = { insert: 0, update: 0, delete: 0 };
    for (let change = 0; change < txSize; change++) {
      counts[sequence[next]]++;
      next = (next + 1) % SEQUENCE_SLOTS;
    }
    plan.inserts.push(counts.insert);
    plan.updates.push(counts.update);
    plan.deletes.push(counts.delete);
  }
  return plan;
}

/**
 * How many deletes writing `changes` changes plans at most: the seeded rows
 * they consume, so updates never hit a deleted row.
 */
export function plannedDeletes(changes: number, txSize: number, mix: OperationMix): number {
  const plan = planTransactions(txSize, mix);
  const transactions = Math.ceil(changes / txSize);
  const perCycle = plan.deletes.reduce((sum, n) => sum + n, 0);
  return Math.ceil(transactions / plan.deletes.length) * perCycle;
}

/** A deterministic payload of `width` characters (no quotes, safe in a literal). */
export function payloadOf(width: number): string {
  let text = "";
  for (let i = 0; i < width; i++) {
    text += PAYLOAD_ALPHABET[(i * 7 + (i >> 3)) % PAYLOAD_ALPHABET.length];
  }
  return text;
}

/** The shape of a workload. */
export interface WorkloadSpec {
  /** Unquoted table name in schema public; also names the procedure. */
  readonly table: string;
  readonly width: number;
  readonly txSize: number;
  readonly mix: OperationMix;
  /** Row changes the runs of this table will write at most (sizes the seed). */
  readonly plannedChanges: number;
}

/** What a write committed. */
export interface WriteResult {
  /** Row changes committed. */
  readonly changes: number;
  /** Transactions committed. */
  readonly transactions: number;
  /** Wall time of the write, in milliseconds. */
  readonly elapsedMs: number;
  /** When the write started, in milliseconds since the Unix epoch. */
  readonly startedAt: number;
}

interface CallState {
  pos: number;
  delete_next: string;
  update_next: string;
  changes: string;
}

/** A benchmark table with its write procedure; create it with {@linkcode Workload.create}. */
export class Workload {
  readonly spec: WorkloadSpec;
  readonly #sql: Sql;
  #pos = 1;
  #deleteNext = 1n;
  #updateNext: bigint;

  private constructor(sql: Sql, spec: WorkloadSpec, updateFirst: bigint) {
    this.#sql = sql;
    this.spec = spec;
    this.#updateNext = updateFirst;
  }

  /**
   * Creates the table, seeds the rows that updates and deletes will touch
   * (before any slot exists, so the seed is not part of the stream) and
   * creates the write procedure.
   */
  static async create(sql: Sql, spec: WorkloadSpec): Promise<Workload> {
    const deletes = plannedDeletes(spec.plannedChanges, spec.txSize, spec.mix);
    const updateFirst = deletes + 1;
    const seed = deletes + UPDATE_POOL_ROWS;
    const table = `"${spec.table}"`;
    await sql.unsafe(`CREATE TABLE ${table} (
      id bigserial PRIMARY KEY,
      counter integer NOT NULL DEFAULT 0,
      status text NOT NULL,
      amount numeric(12, 2) NOT NULL,
      payload text NOT NULL,
      updated_at timestamptz NOT NULL DEFAULT now())`);
    await sql.unsafe(
      `INSERT INTO ${table} (status, amount, payload)
       SELECT 'new', 0, '${payloadOf(spec.width)}' FROM generate_series(1, ${seed})`,
    );
    await sql.unsafe(procedureSql(spec, updateFirst, seed));
    return new Workload(sql, spec, BigInt(updateFirst));
  }

  /** Commits `transactions` transactions of the workload in one round trip. */
  async call(transactions: number): Promise<number> {
    const [state] = await this.#sql.unsafe<CallState[]>(
      `CALL "${this.spec.table}_write"($1, $2, $3, $4, 0)`,
      [transactions, this.#pos, String(this.#deleteNext), String(this.#updateNext)],
    );
    this.#pos = state.pos;
    this.#deleteNext = BigInt(state.delete_next);
    this.#updateNext = BigInt(state.update_next);
    return Number(state.changes);
  }

  /** Writes at least `changes` changes as fast as PostgreSQL commits them. */
  async writeAll(changes: number): Promise<WriteResult> {
    const startedAt = Date.now();
    const started = performance.now();
    const transactions = Math.ceil(changes / this.spec.txSize);
    let written = 0;
    for (let done = 0; done < transactions; done += TRANSACTIONS_PER_CALL) {
      written += await this.call(Math.min(TRANSACTIONS_PER_CALL, transactions - done));
    }
    return { changes: written, transactions, elapsedMs: performance.now() - started, startedAt };
  }

  /** Writes `ratePerSecond` changes a second for `seconds`, in whole transactions. */
  async writePaced(ratePerSecond: number, seconds: number): Promise<WriteResult> {
    const startedAt = Date.now();
    const started = performance.now();
    const txPerMs = ratePerSecond / this.spec.txSize / MS_PER_SECOND;
    const total = Math.ceil(txPerMs * seconds * MS_PER_SECOND);
    let committed = 0;
    let written = 0;
    while (committed < total) {
      const due = Math.min(total, Math.floor((performance.now() - started) * txPerMs));
      if (due <= committed) {
        await new Promise((resolve) => setTimeout(resolve, PACE_TICK_MS));
        continue;
      }
      const batch = Math.min(due - committed, MAX_PACED_TRANSACTIONS_PER_CALL);
      written += await this.call(batch);
      committed += batch;
    }
    return {
      changes: written,
      transactions: committed,
      elapsedMs: performance.now() - started,
      startedAt,
    };
  }
}

function procedureSql(spec: WorkloadSpec, updateFirst: number, updateLast: number): string {
  const plan = planTransactions(spec.txSize, spec.mix);
  const array = (values: readonly number[]) => `ARRAY[${values.join(",")}]::int[]`;
  const table = `"${spec.table}"`;
  return `CREATE PROCEDURE "${spec.table}_write"(tx_count int, INOUT pos int,
      INOUT delete_next bigint, INOUT update_next bigint, INOUT changes bigint)
    LANGUAGE plpgsql AS $proc$
    DECLARE
      inserts int[] := ${array(plan.inserts)};
      updates int[] := ${array(plan.updates)};
      deletes int[] := ${array(plan.deletes)};
      statuses text[] := ARRAY['new', 'paid', 'shipped'];
      n bigint;
    BEGIN
      FOR i IN 1..tx_count LOOP
        IF inserts[pos] > 0 THEN
          INSERT INTO ${table} (status, amount, payload)
          SELECT statuses[1 + g % 3], (g % 100000) / 100.0, '${payloadOf(spec.width)}'
          FROM generate_series(1, inserts[pos]) AS g;
          changes := changes + inserts[pos];
        END IF;
        IF updates[pos] > 0 THEN
          IF update_next + updates[pos] - 1 > ${updateLast} THEN update_next := ${updateFirst}; END IF;
          UPDATE ${table} SET counter = counter + 1, status = 'paid', updated_at = now()
          WHERE id >= update_next AND id < update_next + updates[pos];
          GET DIAGNOSTICS n = ROW_COUNT;
          changes := changes + n;
          update_next := update_next + updates[pos];
        END IF;
        IF deletes[pos] > 0 THEN
          DELETE FROM ${table} WHERE id >= delete_next AND id < delete_next + deletes[pos];
          GET DIAGNOSTICS n = ROW_COUNT;
          changes := changes + n;
          delete_next := delete_next + deletes[pos];
        END IF;
        COMMIT;
        pos := pos % ${plan.inserts.length} + 1;
      END LOOP;
    END $proc$`;
}

/** Writes one transaction of `rows` inserts (the `huge` part). */
export async function writeOneTransaction(
  sql: Sql,
  table: string,
  rows: number,
  width: number,
): Promise<WriteResult> {
  const startedAt = Date.now();
  const started = performance.now();
  await sql.unsafe(
    `INSERT INTO "${table}" (status, amount, payload)
     SELECT 'new', (g % 100000) / 100.0, '${
      payloadOf(width)
    }' FROM generate_series(1, ${rows}) AS g`,
  );
  return { changes: rows, transactions: 1, elapsedMs: performance.now() - started, startedAt };
}
