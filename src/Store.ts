/**
 * The state store contract. Implementations live in `store/` and pass `store/conformance.ts`.
 * @module
 */

/** An invoice the gateway issued in a challenge. Amounts are bigint millisatoshis. */
export type InvoiceRecord = {
  /** Lowercase hex. */
  readonly paymentHash: string
  readonly paymentRequest: string
  readonly amountMsat: bigint
  /** Route name the challenge was for. */
  readonly route: string
  /** Lowercase hex of the 32-byte token id in the macaroon identifier. */
  readonly tokenId: string
  /** Unix milliseconds. */
  readonly createdAt: number
  /** Unix milliseconds; the row MAY be pruned after this. */
  readonly expiresAt: number
}

/**
 * Where the gateway keeps shared state.
 *
 * @remarks
 * Every method MUST reject with a `TurnpikeError` of code `TURNPIKE_STORE_UNAVAILABLE` when the
 * underlying database cannot be reached, so callers fail closed.
 */
export type Store = {
  readonly name: string
  /**
   * Records the first use of `key` until `expiresAt` (unix ms).
   * Resolves `true` for exactly one caller per key, `false` for every other, even under
   * concurrency and across processes sharing the same database. MUST be atomic.
   * A claim whose `expiresAt` has passed MAY be pruned; it MUST NOT be re-grantable before then.
   */
  claim(key: string, expiresAt: number): Promise<boolean>
  /** Undoes a claim so the same key can be claimed again (used when the upstream failed). */
  release(key: string): Promise<void>
  /** Records an issued invoice. Idempotent per payment hash. */
  putInvoice(record: InvoiceRecord): Promise<void>
  /** The invoice with this payment hash (lowercase hex), or undefined. */
  getInvoice(paymentHash: string): Promise<InvoiceRecord | undefined>
  /** Deletes expired claims, invoices, buckets and values; resolves the number of rows removed. */
  prune(now?: number): Promise<number>
  close(): Promise<void>
  /**
   * Takes `limit.cost` (default 1) tokens from the token bucket `key`, atomically, even across
   * processes sharing the database. A bucket never seen (or pruned) is full. Optional: rate limits
   * need it, every built-in store has it.
   */
  take?(key: string, limit: BucketLimit, now?: number): Promise<TakeResult>
  /**
   * Stores `value` under `key` until `expiresAt` (unix ms) unless a live value is there already;
   * resolves `true` when this call wrote it. Optional: challenge reuse needs it.
   */
  putValue?(key: string, value: string, expiresAt: number): Promise<boolean>
  /** The live value under `key`, or undefined. */
  getValue?(key: string): Promise<string | undefined>
  /** Deletes the value under `key` (no-op when absent). */
  deleteValue?(key: string): Promise<void>
  /**
   * Issued invoices, newest first (`createdAt`, then `paymentHash`, descending), filtered and paged.
   * Optional: the admin API's transactions and revenue need it. Not on any request path.
   */
  listInvoices?(q: InvoiceQuery): Promise<InvoicePage>
  /**
   * Credit bundles (access/credits.ts): atomically draws `amount` (a positive safe integer) from the
   * balance `account`. An account never seen (or expired) starts at `initial` and lives until
   * `expiresAt` (unix ms). Resolves the balance left, or undefined when it holds less than `amount`
   * (nothing is taken then). MUST never overdraw, even across processes sharing the database.
   */
  debit?(account: string, amount: number, initial: number, expiresAt: number): Promise<number | undefined>
  /** Gives `amount` back to a live `account` (a failed upstream); a no-op when the account is gone. */
  refund?(account: string, amount: number): Promise<void>
  /** Revokes a token id (lowercase hex) until `expiresAt` (unix ms). Idempotent; a later expiry wins. */
  revoke?(tokenId: string, expiresAt: number): Promise<void>
  /** Every live revoked token id. Bounded: entries expire with the tokens they revoke. */
  listRevoked?(): Promise<readonly string[]>
}

/** The query of {@link Store.listInvoices}. */
export type InvoiceQuery = {
  readonly route?: string | undefined
  /** Unix ms, inclusive. */
  readonly since?: number | undefined
  /** Unix ms, exclusive. */
  readonly until?: number | undefined
  /** Page size, 1–1000. */
  readonly limit: number
  /** `next` of the previous page. */
  readonly cursor?: string | undefined
}

/** One page of {@link Store.listInvoices}; `next` is set when more rows may follow. */
export type InvoicePage = { readonly invoices: readonly InvoiceRecord[]; readonly next?: string }

/** A token bucket: holds up to `capacity` tokens and gains `refillPerSecond` tokens a second. */
export type BucketLimit = {
  /** Finite, > 0. */
  readonly capacity: number
  /** Finite, > 0. */
  readonly refillPerSecond: number
  /** Tokens to take, > 0 and ≤ capacity. Default 1. */
  readonly cost?: number
}

/** The answer of {@link Store.take}. */
export type TakeResult = {
  readonly allowed: boolean
  /** Tokens left after this call (may be fractional). */
  readonly remaining: number
  /** 0 when allowed; otherwise ms until `cost` tokens will be there. */
  readonly retryAfterMs: number
}
