/**
 * The in-flight budget: caps the messages and bytes handed to Kafka and not
 * yet acked (DESIGN invariant 4), fairly shared between sources.
 *
 * Each source draws from its own {@linkcode InflightAccount}. The budget is
 * advisory: {@linkcode InflightAccount.acquire} always succeeds, and the reader
 * checks {@linkcode InflightAccount.full} before pulling the next change,
 * awaiting {@linkcode InflightAccount.waitForRoom} when it is set. That way a
 * single message larger than the byte cap is still admitted when nothing else
 * is in flight (refusing it would deadlock), and the totals exceed a cap by at
 * most the last message each account admitted.
 *
 * Fairness: an account is *active* while it has messages in flight or is
 * waiting for room (from a wait until its next acquire, or until its idle
 * source gives the share up with {@linkcode InflightAccount.relinquish}).
 * Each active account is guaranteed `cap / active accounts` (its share) in
 * both dimensions. Below its share, an account is full only when the whole
 * budget is. Above its share, it may borrow free room only beyond the unused
 * shares of the other active accounts. So a source alone
 * uses the whole cap, and a source whose backlog filled the budget cannot
 * starve another: once the other one waits, the borrower is held back and
 * the room freed by its acks goes to the waiting source, up to its share.
 *
 * Checking {@linkcode InflightAccount.full} costs O(accounts): there is one
 * account per source, a handful at most.
 *
 * @module
 */

/** The caps of an {@linkcode InflightBudget}. */
export interface InflightLimits {
  /** Most messages in flight at once (a positive integer). */
  maxMessages: number;
  /** Most bytes in flight at once (a positive integer). */
  maxBytes: number;
}

/** Usage shared by the accounts of one budget. */
interface Pool {
  readonly maxMessages: number;
  readonly maxBytes: number;
  readonly accounts: InflightAccount[];
  messages: number;
  bytes: number;
  /** Accounts with an unresolved {@linkcode InflightAccount.waitForRoom} promise. */
  waiting: number;
}

const ROOM_NOW: Promise<void> = Promise.resolve();

/**
 * The in-flight budget of the whole connector.
 *
 * @example
 * ```ts
 * import { InflightBudget } from "./inflight.ts";
 *
 * const budget = new InflightBudget({ maxMessages: 10_000, maxBytes: 64 * 1024 * 1024 });
 * const orders = budget.account("orders_db");
 * // reader loop:
 * if (orders.full) await orders.waitForRoom();
 * orders.acquire(512); // a 512-byte message handed to the sink
 * // on its ack:
 * orders.release(512);
 * ```
 */
export class InflightBudget {
  readonly #pool: Pool;
  readonly #byName = new Map<string, InflightAccount>();

  /** @throws {RangeError} when a limit is not a positive integer. */
  constructor(limits: InflightLimits) {
    checkLimit(limits.maxMessages, "maxMessages");
    checkLimit(limits.maxBytes, "maxBytes");
    this.#pool = {
      maxMessages: limits.maxMessages,
      maxBytes: limits.maxBytes,
      accounts: [],
      messages: 0,
      bytes: 0,
      waiting: 0,
    };
  }

  /** The message cap. */
  get maxMessages(): number {
    return this.#pool.maxMessages;
  }

  /** The byte cap. */
  get maxBytes(): number {
    return this.#pool.maxBytes;
  }

  /** Messages in flight over all accounts. */
  get messages(): number {
    return this.#pool.messages;
  }

  /** Bytes in flight over all accounts. */
  get bytes(): number {
    return this.#pool.bytes;
  }

  /** Whether the totals are at or above either cap. */
  get full(): boolean {
    const pool = this.#pool;
    return pool.messages >= pool.maxMessages || pool.bytes >= pool.maxBytes;
  }

  /** Accounts with messages in flight or waiting for room. */
  get activeAccounts(): number {
    return this.#pool.accounts.filter((account) => account.active).length;
  }

  /** The account of source `name`, created on first use; the same name gives the same account. */
  account(name: string): InflightAccount {
    let account = this.#byName.get(name);
    if (account === undefined) {
      account = new InflightAccount(name, this.#pool);
      this.#byName.set(name, account);
      this.#pool.accounts.push(account);
    }
    return account;
  }
}

/**
 * One source's draw on an {@linkcode InflightBudget}; get it from
 * {@linkcode InflightBudget.account}.
 */
export class InflightAccount {
  readonly #pool: Pool;
  #messages = 0;
  #bytes = 0;
  /** Set by a wait, cleared by the next acquire: the account keeps its share meanwhile. */
  #wanting = false;
  #room: PromiseWithResolvers<void> | undefined = undefined;

  /** @internal Use {@linkcode InflightBudget.account}. */
  constructor(readonly name: string, pool: Pool) {
    this.#pool = pool;
  }

  /** Messages of this account in flight. */
  get messages(): number {
    return this.#messages;
  }

  /** Bytes of this account in flight. */
  get bytes(): number {
    return this.#bytes;
  }

  /**
   * Whether this account holds its share: it has messages in flight, or it
   * waited for room and has not acquired since.
   */
  get active(): boolean {
    return this.#messages > 0 || this.#wanting;
  }

  /** Whether this account should stop admitting messages until {@linkcode waitForRoom} resolves. */
  get full(): boolean {
    const pool = this.#pool;
    let sharers = 1;
    for (const other of pool.accounts) if (other !== this && other.active) sharers++;
    const shareMessages = pool.maxMessages / sharers;
    const shareBytes = pool.maxBytes / sharers;
    let reservedMessages = 0;
    let reservedBytes = 0;
    for (const other of pool.accounts) {
      if (other === this || !other.active) continue;
      reservedMessages += Math.max(0, shareMessages - other.#messages);
      reservedBytes += Math.max(0, shareBytes - other.#bytes);
    }
    return exceeds(
      pool.messages,
      pool.maxMessages,
      this.#messages,
      shareMessages,
      reservedMessages,
    ) ||
      exceeds(pool.bytes, pool.maxBytes, this.#bytes, shareBytes, reservedBytes);
  }

  /**
   * Admits one message of `bytes`, always (see the module notes).
   *
   * @throws {RangeError} when `bytes` is not a non-negative integer.
   */
  acquire(bytes: number): void {
    checkBytes(bytes, "acquire");
    this.#messages++;
    this.#bytes += bytes;
    this.#pool.messages++;
    this.#pool.bytes += bytes;
    this.#wanting = false;
  }

  /**
   * Returns one message of `bytes` (acked or dead-lettered) and wakes the
   * accounts that now have room.
   *
   * @throws {Error} when this account holds no message or fewer bytes.
   */
  release(bytes: number): void {
    checkBytes(bytes, "release");
    if (this.#messages === 0 || bytes > this.#bytes) {
      throw new Error(
        `In-flight account "${this.name}" cannot release a message of ${bytes} bytes: ` +
          `it holds ${this.#messages} message(s) of ${this.#bytes} bytes`,
      );
    }
    this.#messages--;
    this.#bytes -= bytes;
    this.#pool.messages--;
    this.#pool.bytes -= bytes;
    if (this.#pool.waiting > 0) this.#wakeAccountsWithRoom();
  }

  /**
   * Gives up the share this account kept since its last wait, now that its
   * source has read everything there was (its stream went idle). Without this
   * an account whose last change made it wait would stay active after its
   * messages were acked, and hold the other sources to their shares for as
   * long as it stays quiet. Does nothing while a wait is pending.
   */
  relinquish(): void {
    if (!this.#wanting || this.#room !== undefined) return;
    this.#wanting = false;
    if (this.#pool.waiting > 0) this.#wakeAccountsWithRoom();
  }

  /**
   * Resolves once this account is no longer {@linkcode full}; at once when it
   * is not. Concurrent callers share one promise.
   */
  waitForRoom(): Promise<void> {
    if (this.#room) return this.#room.promise;
    if (!this.full) return ROOM_NOW;
    this.#wanting = true;
    this.#room = Promise.withResolvers<void>();
    this.#pool.waiting++;
    return this.#room.promise;
  }

  #wakeAccountsWithRoom(): void {
    for (const account of this.#pool.accounts) {
      if (account.#room === undefined || account.full) continue;
      account.#room.resolve();
      account.#room = undefined;
      this.#pool.waiting--;
    }
  }
}

/**
 * Whether an account holding `own` of a dimension must stop: below its share
 * only a full budget stops it; above, the others' unused shares count as used.
 */
function exceeds(
  total: number,
  cap: number,
  own: number,
  share: number,
  reservedByOthers: number,
): boolean {
  return total + (own < share ? 0 : reservedByOthers) >= cap;
}

function checkLimit(value: number, name: string): void {
  if (!(Number.isSafeInteger(value) && value > 0)) {
    throw new RangeError(`In-flight budget ${name} must be a positive integer, got ${value}`);
  }
}

function checkBytes(bytes: number, action: string): void {
  if (!(Number.isSafeInteger(bytes) && bytes >= 0)) {
    throw new RangeError(
      `In-flight account cannot ${action} a message of ${bytes} bytes: ` +
        "expected a non-negative integer",
    );
  }
}
