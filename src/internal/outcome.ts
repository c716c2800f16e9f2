/**
 * What a non-L402 scheme (MPP, x402, Cashu) concluded about a credential; the gateway core turns
 * it into a decision (claim once, allow, fresh challenge or problem).
 * @module
 */
import type { Code } from '../Errors.ts'
import type { HeaderLines } from '../RequestView.ts'

export type Paid = {
  readonly ok: true
  /** Store key claimed exactly once before the request may pass (absent: the scheme claimed already). */
  readonly claimKey?: string
  /** Claim lifetime override (ms); default: the gateway's payment-hash claim TTL. */
  readonly claimTtlMs?: number
  /** Lowercase hex, when the payment was a Lightning invoice. */
  readonly paymentHash?: string
  /** Added to the 2xx reply (receipts). */
  readonly responseHeaders: HeaderLines
  /** The scheme that was used, for logs. */
  readonly scheme: string
  /** The refusal to answer with when the claim was already taken (replay). */
  readonly replayed?: Refused
}

export type Refused = {
  readonly ok: false
  readonly code: Code
  readonly detail: string
  /** RFC 9457 type (e.g. a paymentauth.org problem); default: the code's turnpike type. */
  readonly type?: string
  readonly title?: string
  /** Answer with a fresh challenge (402) rather than a plain problem. */
  readonly challenge: boolean
  /** Extra reply headers (Retry-After, PAYMENT-REQUIRED for the same invoice, …). */
  readonly headers?: HeaderLines
  /** Extra problem members (e.g. `challengeId`). */
  readonly members?: Readonly<Record<string, unknown>>
}

export type Outcome = Paid | Refused
