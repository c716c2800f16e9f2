/**
 * Eclair's HTTP API: HTTP Basic with an empty user and the API password, form-encoded `POST`s,
 * `/createinvoice`, `/getreceivedinfo`, `/getinfo`. Settlement = `status.type == "received"`;
 * `paymentPreimage` is present for pending invoices too and proves nothing (backends.md §3).
 * @module
 */
import type { Backend, CreateInvoiceParameters, Invoice, InvoiceState, NodeInfo } from '../Lightning.ts'
import { readSecretFile } from './internal/credentials.ts'
import {
  basicAuth,
  checkTimeout,
  checkUrl,
  form,
  join,
  jsonObject,
  malformed,
  send,
  statusError,
  unknownInvoice,
  type Fetch,
  type HttpContext,
  type HttpResult,
} from './internal/http.ts'
import { checkCreate, int, normalizeHash, settledPreimage, verifyInvoice } from './internal/invoice.ts'

/** Options of {@link eclair}. */
export type EclairParameters = {
  /** API base URL (default `http://127.0.0.1:8080`). */
  readonly url?: string | undefined
  /** The API password (`eclair.api.password`); alternative: `passwordFile`. */
  readonly password?: string | undefined
  readonly passwordFile?: string | undefined
  readonly fetch?: Fetch | undefined
  /** Per-call timeout in ms (default 10 000). Eclair delays bad-credential answers by 1 s. */
  readonly timeoutMs?: number | undefined
}

const name = 'eclair'

/**
 * Creates an Eclair backend.
 * @example
 * const backend = eclair({ url: 'http://127.0.0.1:8080', passwordFile: '/run/secrets/eclair' })
 */
export function eclair(o: EclairParameters): Backend {
  if (typeof o !== 'object' || o === null) throw new TypeError('eclair() requires options { url, password | passwordFile }')
  const url = checkUrl(o.url ?? 'http://127.0.0.1:8080', 'eclair(): url')
  if ((o.password === undefined) === (o.passwordFile === undefined)) throw new TypeError('eclair() requires exactly one of password and passwordFile')
  const password = o.password ?? readSecretFile(o.passwordFile!, 'Eclair API password')
  if (typeof password !== 'string' || password === '') throw new TypeError('eclair(): password must be a non-empty string')
  const ctx: HttpContext = { name, timeoutMs: checkTimeout(o.timeoutMs, 'eclair(): timeoutMs'), fetch: o.fetch ?? ((u, i) => globalThis.fetch(u, i)) }
  const headers = { authorization: basicAuth('', password), 'content-type': 'application/x-www-form-urlencoded' }

  function post(method: string, fields: Record<string, string | number | bigint | undefined>, signal?: AbortSignal): Promise<HttpResult> {
    return send(ctx, { url: join(url, `/${method}`), method: 'POST', headers, body: form(fields), signal, what: `POST /${method}` })
  }

  return {
    name,

    async createInvoice(p: CreateInvoiceParameters): Promise<Invoice> {
      checkCreate(p)
      const what = 'POST /createinvoice'
      const r = await post('createinvoice', { description: p.description ?? '', amountMsat: p.amountMsat, expireIn: p.expirySeconds }, p.signal)
      if (r.status !== 200) throw statusError(name, r, what)
      const inv = jsonObject(name, r, what)
      return verifyInvoice(name, what, inv.serialized, inv.paymentHash, p.amountMsat)
    },

    async lookupInvoice(paymentHash: string, lo?: { signal?: AbortSignal }): Promise<InvoiceState> {
      const hash = normalizeHash(paymentHash)
      const what = 'POST /getreceivedinfo'
      const r = await post('getreceivedinfo', { paymentHash: hash }, lo?.signal)
      if (r.status === 404) throw unknownInvoice()
      if (r.status !== 200) throw statusError(name, r, what)
      const info = jsonObject(name, r, what)
      const status = info.status as { type?: unknown; amount?: unknown; receivedAt?: { unix?: unknown } } | undefined
      if (typeof status !== 'object' || status === null) malformed(name, what, 'status')
      const invoice = info.invoice as { paymentHash?: unknown; amount?: unknown } | undefined
      if (typeof invoice?.paymentHash === 'string' && invoice.paymentHash.toLowerCase() !== hash) malformed(name, what, 'invoice.paymentHash')
      const requested = int(invoice?.amount)
      const amount = requested !== undefined ? { amountMsat: requested } : {}
      switch (status.type) {
        case 'received': {
          const received = int(status.amount)
          const at = int(status.receivedAt?.unix)
          return {
            paymentHash: hash,
            status: 'settled',
            preimage: settledPreimage(name, what, info.paymentPreimage, hash),
            ...(received !== undefined ? { amountMsat: received } : amount),
            ...(at !== undefined ? { settledAt: Number(at) * 1000 } : {}),
          }
        }
        case 'pending':
          return { paymentHash: hash, status: 'open', ...amount } // paymentPreimage is there, unpaid
        case 'expired':
          return { paymentHash: hash, status: 'expired', ...amount }
        default:
          return malformed(name, what, 'status.type')
      }
    },

    async getInfo(): Promise<NodeInfo> {
      const what = 'POST /getinfo'
      const r = await post('getinfo', {})
      if (r.status !== 200) throw statusError(name, r, what)
      const info = jsonObject(name, r, what)
      if (typeof info.nodeId !== 'string') malformed(name, what, 'nodeId')
      const network = typeof info.network === 'string' ? info.network : 'unknown'
      return { pubkey: info.nodeId, network, ...(typeof info.alias === 'string' && info.alias !== '' ? { alias: info.alias } : {}) }
    },
  }
}
