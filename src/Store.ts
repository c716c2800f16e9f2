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
  /** Deletes expired claims and invoices; resolves the number of rows removed. */
  prune(now?: number): Promise<number>
  close(): Promise<void>
}
