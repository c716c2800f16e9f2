/**
 * x402 v2 `exact` on Lightning (protocols.md §7): `PAYMENT-REQUIRED` with a Lightning entry on the
 * challenge's invoice, `PAYMENT-SIGNATURE` carrying only the invoice, settlement asked from the
 * backend (there is no preimage in this scheme), `PAYMENT-RESPONSE` on success.
 * @module
 */
import { Buffer } from 'node:buffer'
import * as Bolt11 from './Bolt11.ts'
import { is, TurnpikeError } from './Errors.ts'
import type { Backend } from './Lightning.ts'
import type { InvoiceRecord, Store } from './Store.ts'
import type { Outcome, Refused } from './internal/outcome.ts'
import { exposeHeaders } from './internal/problem.ts'

/** CAIP-2 ids (`bip122:` + the first 32 hex characters of the genesis block hash). */
export const networks = {
  mainnet: 'bip122:000000000019d6689c085ae165831e93',
  testnet: 'bip122:000000000933ea01ad0ee984209779ba',
  signet: 'bip122:00000008819873e925422c1ff0f99f7c',
  regtest: 'bip122:0f9188f13cb7b2c71f2a335e3a4fc328',
} as const

export type Requirements = {
  scheme: 'exact'
  network: string
  /** Millisatoshis, decimal string. */
  amount: string
  asset: 'BTC'
  payTo: 'anonymous'
  maxTimeoutSeconds: number
  extra: { paymentMethod: 'lightning'; invoice: string; [k: string]: unknown }
}

export type PaymentRequired = {
  x402Version: 2
  error?: string
  resource: { url: string; description?: string; mimeType?: string }
  accepts: Requirements[]
}

export type PaymentPayload = {
  x402Version: number
  accepted?: Record<string, unknown>
  payload: { invoice: string }
  [k: string]: unknown
}

export type SettleResponse = {
  success: boolean
  transaction: string
  network: string
  payer: string
  extra?: { invoice: string; settledAt?: string }
}

/** The network of a BOLT11 string from its prefix, without decoding it. */
export function networkOf(invoice: string): string {
  const s = invoice.slice(0, 6).toLowerCase()
  return s.startsWith('lnbcrt') ? networks.regtest : s.startsWith('lntbs') ? networks.signet : s.startsWith('lntb') ? networks.testnet : networks.mainnet
}

/** The `resource` member for a request: its URL (scheme from `X-Forwarded-Proto`, default http). */
export function resource(view: { host: string; path: string; header(name: string): readonly string[] | undefined }, description: string): PaymentRequired['resource'] {
  const proto = view.header('x-forwarded-proto')?.[0]?.split(',')[0]?.trim() === 'https' ? 'https' : 'http'
  return { url: `${proto}://${view.host || 'localhost'}${view.path}`, description, mimeType: '' }
}

/** The Lightning `accepts` entry for one invoice. */
export function requirements(invoice: { paymentRequest: string; amountMsat: bigint; createdAt: number; expiresAt: number }): Requirements {
  return {
    scheme: 'exact',
    network: networkOf(invoice.paymentRequest),
    amount: invoice.amountMsat.toString(),
    asset: 'BTC',
    payTo: 'anonymous',
    maxTimeoutSeconds: Math.max(1, Math.round((invoice.expiresAt - invoice.createdAt) / 1000)),
    extra: { paymentMethod: 'lightning', invoice: invoice.paymentRequest },
  }
}

const json = (v: unknown): string => Buffer.from(JSON.stringify(v), 'utf8').toString('base64')
const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)
const B64 = /^[A-Za-z0-9+/_-]+={0,2}$/

function unjson(value: string, code: 'TURNPIKE_CREDENTIAL_MALFORMED' | 'TURNPIKE_CHALLENGE_MALFORMED', what: string): Record<string, unknown> {
  const s = value.trim()
  if (s.length > 16 * 1024 || !B64.test(s)) throw new TurnpikeError(code, `${what} is not base64`)
  let v: unknown
  try {
    v = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(Buffer.from(s, 'base64')))
  } catch {
    throw new TurnpikeError(code, `${what} is not base64 JSON`)
  }
  if (!isRecord(v)) throw new TurnpikeError(code, `${what} is not a JSON object`)
  return v
}

/** `PAYMENT-REQUIRED` value: std base64 of the JSON. */
export function encodeRequired(p: PaymentRequired): string {
  return json(p)
}

/** Decodes `PAYMENT-REQUIRED` (client side, tests). Throws TURNPIKE_CHALLENGE_MALFORMED. */
export function decodeRequired(value: string): PaymentRequired {
  const v = unjson(value, 'TURNPIKE_CHALLENGE_MALFORMED', 'PAYMENT-REQUIRED')
  if (!Array.isArray(v.accepts) || v.accepts.length === 0) throw new TurnpikeError('TURNPIKE_CHALLENGE_MALFORMED', 'PAYMENT-REQUIRED offers nothing')
  return v as unknown as PaymentRequired
}

/** `PAYMENT-SIGNATURE` value for an invoice (client side, tests). */
export function encodeSignature(accepted: Requirements, invoice = accepted.extra.invoice): string {
  return json({ x402Version: 2, accepted, payload: { invoice } })
}

/**
 * Decodes a `PAYMENT-SIGNATURE` (or v1 `X-PAYMENT`) value: std or url-safe base64 of a JSON object
 * with `payload.invoice`; when `accepted.extra.invoice` is present it must name the same invoice.
 * Throws TURNPIKE_CREDENTIAL_MALFORMED.
 */
export function parseSignature(value: string): PaymentPayload {
  const v = unjson(value, 'TURNPIKE_CREDENTIAL_MALFORMED', 'PAYMENT-SIGNATURE')
  const payload = v.payload
  if (!isRecord(payload) || typeof payload.invoice !== 'string' || payload.invoice.length === 0) {
    throw new TurnpikeError('TURNPIKE_CREDENTIAL_MALFORMED', 'PAYMENT-SIGNATURE has no payload.invoice')
  }
  if (v.accepted !== undefined) {
    if (!isRecord(v.accepted)) throw new TurnpikeError('TURNPIKE_CREDENTIAL_MALFORMED', 'accepted must be an object')
    const extra = v.accepted.extra
    if (v.accepted.scheme !== undefined && v.accepted.scheme !== 'exact') throw new TurnpikeError('TURNPIKE_CREDENTIAL_MALFORMED', 'only the exact scheme is accepted')
    if (isRecord(extra) && extra.invoice !== undefined && extra.invoice !== payload.invoice) {
      throw new TurnpikeError('TURNPIKE_CREDENTIAL_MALFORMED', 'payload.invoice differs from accepted.extra.invoice')
    }
  }
  return { ...v, x402Version: typeof v.x402Version === 'number' ? v.x402Version : 1, payload: { invoice: payload.invoice } }
}

/** `PAYMENT-RESPONSE` value. */
export function encodeResponse(r: SettleResponse): string {
  return json(r)
}

/** Decodes a `PAYMENT-RESPONSE` (client side, tests). Throws TURNPIKE_CHALLENGE_MALFORMED. */
export function decodeResponse(value: string): SettleResponse {
  return unjson(value, 'TURNPIKE_CHALLENGE_MALFORMED', 'PAYMENT-RESPONSE') as unknown as SettleResponse
}

export type AcceptParameters = {
  readonly route: { readonly name: string; readonly priceMsat: bigint }
  readonly store: Store
  readonly backend: Backend
  /** Unix milliseconds. */
  readonly now: number
  /** Bound on the settlement lookup (ms). */
  readonly lookupTimeoutMs: number
  /** How long after the invoice's expiry a settled invoice may still be redeemed (seconds). */
  readonly graceSeconds: number
  /** `Retry-After` for an invoice still in flight (seconds). */
  readonly retryAfterSeconds?: number
  /** Echoed in the `PAYMENT-REQUIRED` of a pending answer. */
  readonly resource: PaymentRequired['resource']
}

function refused(detail: string): Refused {
  return { ok: false, code: 'TURNPIKE_PAYMENT_INVALID', detail, challenge: true }
}

/**
 * Verifies a `PAYMENT-SIGNATURE`: the invoice decodes, was issued by this gateway for this route
 * at exactly its price (store), is settled according to the backend (bounded lookup), and is
 * within its redemption window. A paid outcome claims `l402:<payment hash>`, shared with L402 and
 * MPP. An unsettled, unexpired invoice is answered 402 + `Retry-After` naming the same invoice.
 * Rejects with TURNPIKE_BACKEND_UNAVAILABLE (or the store's error) when settlement cannot be known.
 */
export async function accept(value: string, p: AcceptParameters): Promise<Outcome> {
  let invoice: Bolt11.Invoice
  let pr: string
  try {
    pr = parseSignature(value).payload.invoice.trim()
    invoice = Bolt11.decode(pr)
  } catch (e) {
    if (!is(e)) throw e
    return refused(e.message)
  }
  const record: InvoiceRecord | undefined = await p.store.getInvoice(invoice.paymentHash)
  if (record === undefined || record.paymentRequest.toLowerCase() !== pr.toLowerCase()) return refused('this invoice was not issued by this gateway')
  if (record.route !== p.route.name) return refused('this invoice was issued for another resource')
  if (record.amountMsat !== p.route.priceMsat || invoice.amountMsat !== p.route.priceMsat) return refused(`this resource costs ${p.route.priceMsat} msat`)
  const expiresAt = invoice.expiresAt * 1000
  if (p.now >= expiresAt + p.graceSeconds * 1000) return refused('the invoice has expired')
  let state
  try {
    state = await p.backend.lookupInvoice(invoice.paymentHash, { signal: AbortSignal.timeout(p.lookupTimeoutMs) })
  } catch (e) {
    if (is(e, 'TURNPIKE_INVOICE_UNKNOWN')) return refused('the Lightning backend does not know this invoice')
    if (is(e) && e.status >= 500) throw e
    throw new TurnpikeError('TURNPIKE_BACKEND_UNAVAILABLE', 'Could not confirm the payment with the Lightning backend; retry with the same PAYMENT-SIGNATURE', { cause: e, retryAfter: 2 })
  }
  if (state.status === 'open' && p.now < expiresAt) {
    const again: PaymentRequired = { x402Version: 2, error: 'payment not settled yet', resource: p.resource, accepts: [requirements({ ...record, expiresAt })] }
    return {
      ok: false,
      challenge: false,
      code: 'TURNPIKE_PAYMENT_PENDING',
      detail: 'The invoice is not settled yet; retry with the same PAYMENT-SIGNATURE',
      headers: [
        ['retry-after', String(p.retryAfterSeconds ?? 2)],
        ['payment-required', encodeRequired(again)],
        ['access-control-expose-headers', exposeHeaders],
      ],
    }
  }
  if (state.status !== 'settled') return refused(`the invoice is ${state.status === 'open' ? 'expired' : state.status}`)
  if (state.amountMsat !== undefined && state.amountMsat < p.route.priceMsat) return refused('the invoice was paid for less than the price')
  const response = encodeResponse({
    success: true,
    transaction: invoice.paymentHash,
    network: networkOf(pr),
    payer: 'anonymous',
    extra: { invoice: pr, ...(state.settledAt !== undefined ? { settledAt: new Date(state.settledAt).toISOString() } : {}) },
  })
  return {
    ok: true,
    scheme: 'x402',
    claimKey: `l402:${invoice.paymentHash}`,
    paymentHash: invoice.paymentHash,
    responseHeaders: [['payment-response', response]],
    replayed: refused('this invoice was already used'),
  }
}
