/**
 * LNbits with a wallet's invoice/read key (`X-Api-Key`): `POST /api/v1/payments` with
 * `"out": false` (it defaults to true: a forgotten flag would try to pay), and
 * `GET /api/v1/payments/{hash}`. Settlement = `paid == true`; LNbits returns the preimage of
 * pending invoices, even without a key, so it proves nothing (backends.md §5).
 *
 * Units: LNbits invoices whole satoshis here (`unit: "sat"`); non-whole-sat prices are refused,
 * as with phoenixd.
 * @module
 */
import type { Backend, CreateInvoiceParameters, Invoice, InvoiceState } from '../Lightning.ts'
import { readSecretFile } from './internal/credentials.ts'
import {
  checkTimeout,
  checkUrl,
  join,
  jsonObject,
  malformed,
  send,
  statusError,
  unknownInvoice,
  type Fetch,
  type HttpContext,
} from './internal/http.ts'
import { checkCreate, int, normalizeHash, settledPreimage, verifyInvoice, wholeSats } from './internal/invoice.ts'

/** Options of {@link lnbits}. */
export type LnbitsParameters = {
  /** The LNbits instance, e.g. `https://lnbits.example.com`. */
  readonly url: string
  /** The wallet's invoice/read key (never the admin key); alternative: `apiKeyFile`. */
  readonly apiKey?: string | undefined
  readonly apiKeyFile?: string | undefined
  readonly fetch?: Fetch | undefined
  /** Per-call timeout in ms (default 10 000). */
  readonly timeoutMs?: number | undefined
  readonly now?: (() => number) | undefined
}

const name = 'lnbits'

/**
 * Creates an LNbits backend.
 * @example
 * const backend = lnbits({ url: 'https://lnbits.example.com', apiKeyFile: '/run/secrets/lnbits-invoice-key' })
 */
export function lnbits(o: LnbitsParameters): Backend {
  if (typeof o !== 'object' || o === null) throw new TypeError('lnbits() requires options { url, apiKey | apiKeyFile }')
  const url = checkUrl(o.url, 'lnbits(): url')
  if ((o.apiKey === undefined) === (o.apiKeyFile === undefined)) throw new TypeError('lnbits() requires exactly one of apiKey and apiKeyFile')
  const apiKey = o.apiKey ?? readSecretFile(o.apiKeyFile!, 'LNbits API key')
  if (typeof apiKey !== 'string' || !/^[\x21-\x7e]+$/.test(apiKey)) throw new TypeError('lnbits(): apiKey must be a non-empty token')
  const ctx: HttpContext = { name, timeoutMs: checkTimeout(o.timeoutMs, 'lnbits(): timeoutMs'), fetch: o.fetch ?? ((u, i) => globalThis.fetch(u, i)) }
  const now = o.now ?? Date.now

  return {
    name,

    async createInvoice(p: CreateInvoiceParameters): Promise<Invoice> {
      checkCreate(p)
      const amount = wholeSats(name, p.amountMsat)
      const what = 'POST /api/v1/payments'
      const body = { out: false, amount: Number(amount), unit: 'sat', memo: p.description ?? '', expiry: p.expirySeconds }
      const r = await send(ctx, {
        url: join(url, '/api/v1/payments'),
        method: 'POST',
        headers: { 'x-api-key': apiKey, 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: p.signal,
        what,
      })
      if (r.status !== 201 && r.status !== 200) throw statusError(name, r, what)
      const payment = jsonObject(name, r, what)
      // Pre-1.0 LNbits answers { payment_hash, payment_request }; 1.x adds the Payment model's bolt11.
      return verifyInvoice(name, what, payment.payment_request ?? payment.bolt11, payment.payment_hash, p.amountMsat)
    },

    async lookupInvoice(paymentHash: string, lo?: { signal?: AbortSignal }): Promise<InvoiceState> {
      const hash = normalizeHash(paymentHash)
      const what = 'GET /api/v1/payments/{payment_hash}'
      // The key is optional here but adds `details` (amount, expiry).
      const r = await send(ctx, { url: join(url, `/api/v1/payments/${hash}`), headers: { 'x-api-key': apiKey }, signal: lo?.signal, what })
      if (r.status === 404) throw unknownInvoice()
      if (r.status !== 200) throw statusError(name, r, what)
      const res = jsonObject(name, r, what)
      const details = (typeof res.details === 'object' && res.details !== null ? res.details : {}) as Record<string, unknown>
      if (typeof details.payment_hash === 'string' && details.payment_hash.toLowerCase() !== hash) malformed(name, what, 'details.payment_hash')
      const msat = int(details.amount)
      const amount = msat !== undefined ? { amountMsat: msat } : {}
      if (res.paid === true) {
        return { paymentHash: hash, status: 'settled', preimage: settledPreimage(name, what, res.preimage ?? details.preimage, hash), ...amount }
      }
      if (res.paid !== false) malformed(name, what, 'paid')
      if (res.status === 'failed' || details.status === 'failed') return { paymentHash: hash, status: 'canceled', ...amount }
      const expiry = timeOf(details.expiry)
      return { paymentHash: hash, status: expiry !== undefined && now() >= expiry ? 'expired' : 'open', ...amount }
    },
  }
}

/** LNbits times: ISO-8601 strings (1.x, naive UTC) or unix seconds (older). */
function timeOf(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isFinite(v)) return v * 1000
  if (typeof v !== 'string') return undefined
  const t = Date.parse(/[zZ]|[+-]\d\d:?\d\d$/.test(v) ? v : `${v}Z`)
  return Number.isNaN(t) ? undefined : t
}
