/**
 * The Lightning backend contract. Implementations live in `lightning/` and pass
 * `lightning/conformance.ts`.
 * @module
 */

/** A fresh invoice. */
export type Invoice = {
  /** BOLT11 string, signed by the backend's node. */
  readonly paymentRequest: string
  /** Lowercase hex; MUST equal the invoice's `p` field. */
  readonly paymentHash: string
  readonly amountMsat: bigint
  /** Unix milliseconds. */
  readonly createdAt: number
  /** Unix milliseconds (createdAt + expiry). */
  readonly expiresAt: number
}

export type InvoiceStatus = 'open' | 'settled' | 'expired' | 'canceled'

export type InvoiceState = {
  readonly paymentHash: string
  readonly status: InvoiceStatus
  /** Present only when settled (lowercase hex). */
  readonly preimage?: string
  readonly amountMsat?: bigint
  /** Unix milliseconds. */
  readonly settledAt?: number
}

export type CreateInvoiceParameters = {
  readonly amountMsat: bigint
  readonly description?: string
  /** Seconds. */
  readonly expirySeconds: number
  readonly signal?: AbortSignal
}

export type NodeInfo = { readonly pubkey: string; readonly network: string; readonly alias?: string }

/** A Lightning node or wallet the gateway can invoice through. */
export type Backend = {
  readonly name: string
  /**
   * Creates an invoice. MUST return a signed BOLT11 whose payment hash equals `paymentHash`.
   * MUST reject with `TURNPIKE_BACKEND_UNAVAILABLE` (or `TURNPIKE_BACKEND_ERROR`) on failure.
   */
  createInvoice(p: CreateInvoiceParameters): Promise<Invoice>
  /**
   * Looks an invoice up. MUST derive `settled` from the node's state, never from the presence of
   * a preimage (an unpaid invoice's preimage is known to its node).
   */
  lookupInvoice(paymentHash: string, o?: { signal?: AbortSignal }): Promise<InvoiceState>
  /** Optional: settlement updates as they happen. */
  subscribe?(o: { signal: AbortSignal }): AsyncIterable<InvoiceState>
  /** Optional. */
  getInfo?(): Promise<NodeInfo>
  close?(): Promise<void>
}
