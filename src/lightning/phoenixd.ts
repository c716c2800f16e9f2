/**
 * phoenixd's HTTP API with the limited-access password (create invoices and read payments, never
 * pay): form `POST /createinvoice`, `GET /payments/incoming/{hash}`, `GET /getinfo`. Errors are
 * plain text. Settlement = `isPaid`; `preimage` is always present and proves nothing.
 *
 * Units: phoenixd invoices whole satoshis (`amountSat`). A price that is not a whole number of sats
 * is refused with TURNPIKE_BAD_REQUEST rather than rounded (rounding up would charge more than the
 * advertised price, down would give it away); the config rejects such prices at startup.
 * Descriptions longer than phoenixd's 128 characters are cut to 128.
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
} from './internal/http.ts'
import { checkCreate, int, normalizeHash, settledPreimage, verifyInvoice, wholeSats } from './internal/invoice.ts'

/** Options of {@link phoenixd}. */
export type PhoenixdParameters = {
  /** API base URL (default `http://127.0.0.1:9740`). */
  readonly url?: string | undefined
  /** `http-password-limited-access` from phoenix.conf; alternative: `passwordFile`. */
  readonly password?: string | undefined
  readonly passwordFile?: string | undefined
  readonly fetch?: Fetch | undefined
  /** Per-call timeout in ms (default 10 000). */
  readonly timeoutMs?: number | undefined
}

const name = 'phoenixd'
const maxDescription = 128

/**
 * Creates a phoenixd backend.
 * @example
 * const backend = phoenixd({ url: 'http://127.0.0.1:9740', passwordFile: '/run/secrets/phoenixd-limited' })
 */
export function phoenixd(o: PhoenixdParameters): Backend {
  if (typeof o !== 'object' || o === null) throw new TypeError('phoenixd() requires options { url, password | passwordFile }')
  const url = checkUrl(o.url ?? 'http://127.0.0.1:9740', 'phoenixd(): url')
  if ((o.password === undefined) === (o.passwordFile === undefined)) throw new TypeError('phoenixd() requires exactly one of password and passwordFile')
  const password = o.password ?? readSecretFile(o.passwordFile!, 'phoenixd password')
  if (typeof password !== 'string' || password === '') throw new TypeError('phoenixd(): password must be a non-empty string')
  const ctx: HttpContext = { name, timeoutMs: checkTimeout(o.timeoutMs, 'phoenixd(): timeoutMs'), fetch: o.fetch ?? ((u, i) => globalThis.fetch(u, i)) }
  const auth = basicAuth('', password)

  return {
    name,

    async createInvoice(p: CreateInvoiceParameters): Promise<Invoice> {
      checkCreate(p)
      const amountSat = wholeSats(name, p.amountMsat)
      const what = 'POST /createinvoice'
      const description = [...(p.description ?? '')].slice(0, maxDescription).join('')
      const r = await send(ctx, {
        url: join(url, '/createinvoice'),
        method: 'POST',
        headers: { authorization: auth, 'content-type': 'application/x-www-form-urlencoded' },
        body: form({ description, amountSat, expirySeconds: p.expirySeconds }),
        signal: p.signal,
        what,
      })
      if (r.status !== 200) throw statusError(name, r, what)
      const inv = jsonObject(name, r, what)
      return verifyInvoice(name, what, inv.serialized, inv.paymentHash, p.amountMsat)
    },

    async lookupInvoice(paymentHash: string, lo?: { signal?: AbortSignal }): Promise<InvoiceState> {
      const hash = normalizeHash(paymentHash)
      const what = 'GET /payments/incoming/{paymentHash}'
      const r = await send(ctx, { url: join(url, `/payments/incoming/${hash}`), headers: { authorization: auth }, signal: lo?.signal, what })
      // 404 "Not found" is an unknown payment; other 404 texts mean a wrong URL (e.g. "Unknown endpoint").
      if (r.status === 404 && /^\s*not found\s*$/i.test(r.text)) throw unknownInvoice()
      if (r.status !== 200) throw statusError(name, r, what)
      const pay = jsonObject(name, r, what)
      if (typeof pay.paymentHash === 'string' && pay.paymentHash.toLowerCase() !== hash) malformed(name, what, 'paymentHash')
      const requestedSat = int(pay.requestedSat)
      const amount = requestedSat !== undefined ? { amountMsat: requestedSat * 1000n } : {}
      if (pay.isPaid === true) {
        const receivedSat = int(pay.receivedSat)
        const completedAt = int(pay.completedAt)
        return {
          paymentHash: hash,
          status: 'settled',
          preimage: settledPreimage(name, what, pay.preimage, hash),
          // receivedSat can be below requestedSat when on-the-fly channel funding took a fee.
          ...(receivedSat !== undefined ? { amountMsat: receivedSat * 1000n } : amount),
          ...(completedAt !== undefined ? { settledAt: Number(completedAt) } : {}),
        }
      }
      if (pay.isPaid !== false) malformed(name, what, 'isPaid')
      return { paymentHash: hash, status: pay.isExpired === true ? 'expired' : 'open', ...amount }
    },

    async getInfo(): Promise<NodeInfo> {
      const what = 'GET /getinfo'
      const r = await send(ctx, { url: join(url, '/getinfo'), headers: { authorization: auth }, what })
      if (r.status !== 200) throw statusError(name, r, what)
      const info = jsonObject(name, r, what)
      if (typeof info.nodeId !== 'string') malformed(name, what, 'nodeId')
      return { pubkey: info.nodeId, network: typeof info.chain === 'string' ? info.chain : 'unknown' }
    },
  }
}
