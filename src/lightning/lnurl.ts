/**
 * LNURL-pay backend (LUD-06 payRequest, LUD-16 Lightning Address, LUD-21 verify): invoices from
 * any Lightning Address provider, settlement through the service's `verify` URL. Formats:
 * `protocols.md` §5, `backends.md` §7.
 *
 * The service writes the invoice, so turnpike checks it: a valid signed BOLT11 for exactly the
 * requested msat, whose `h` is sha256(metadata) (an invoice with a plain `d` is accepted), plus a
 * `verify` URL; a service without LUD-21 is refused since settlement could not be checked. The
 * service also chooses the description (its metadata) and the expiry: `description` and
 * `expirySeconds` cannot be passed on, and the reported times are the invoice's own.
 * @module
 */
import { sha256 } from '@noble/hashes/sha2.js'
import { bytesToHex, hexToBytes, utf8ToBytes } from '@noble/hashes/utils.js'
import { bech32 } from '@scure/base'
import * as Bolt11 from '../Bolt11.ts'
import type { Network } from '../Bolt11.ts'
import { TurnpikeError } from '../Errors.ts'
import type { Backend, CreateInvoiceParameters, Invoice, InvoiceState } from '../Lightning.ts'

/** Options of {@link lnurl}. */
export type LnurlParameters = {
  /** `name@domain` (LUD-16), `lnurl1…` (LUD-01), `lnurlp://…` (LUD-17) or the https payRequest URL. */
  readonly address: string
  /** Default: the global `fetch`. */
  readonly fetch?: typeof fetch | undefined
  /** Per HTTP request (default 10 000). */
  readonly timeoutMs?: number | undefined
  /**
   * Allow plain `http:` for loopback hosts (`localhost`, 127.0.0.0/8, `[::1]`) only: tests and a
   * service on the same machine. Every other URL must be https.
   */
  readonly allowHttpLoopback?: boolean | undefined
  /** How long the payRequest parameters are reused (default 10 minutes). */
  readonly cacheMs?: number | undefined
  /** Refuse invoices for another network (default: accept any). */
  readonly network?: Network | undefined
  /** Clock in unix ms (default `Date.now`). */
  readonly now?: (() => number) | undefined
}

type PayRequest = { callback: string; minSendable: bigint; maxSendable: bigint; metadataHash: string; at: number }
type Tracked = { verify: string; paymentRequest: string; amountMsat: bigint; expiresAt: number }

const maxBodyBytes = 256 * 1024
const maxTracked = 100_000
const usernameRe = /^[a-z0-9\-_.+]+$/

/**
 * Resolves an address to the https URL of its payRequest endpoint.
 * @example
 * resolveAddress('alice@example.com') // 'https://example.com/.well-known/lnurlp/alice'
 */
export function resolveAddress(address: string, o: { allowHttpLoopback?: boolean | undefined } = {}): string {
  if (typeof address !== 'string' || address.trim() === '') throw new TypeError('LNURL address must be a non-empty string')
  let a = address.trim()
  if (/^lightning:/i.test(a)) a = a.slice(10)
  const at = a.indexOf('@')
  if (at > 0 && !a.includes('/')) {
    const user = a.slice(0, at).toLowerCase()
    const domain = a.slice(at + 1).toLowerCase()
    if (!usernameRe.test(user)) throw new TypeError('Lightning Address username may only hold a-z, 0-9, -, _, . and +')
    const base = checkUrl(`https://${domain}/`, o, 'Lightning Address domain')
    const url = new URL(`/.well-known/lnurlp/${user}`, base)
    if (o.allowHttpLoopback === true && isLoopback(url.hostname)) url.protocol = 'http:'
    return url.href
  }
  if (/^lnurl1/i.test(a)) {
    let decoded
    try {
      decoded = bech32.decode(a.toLowerCase() as `${string}1${string}`, false)
    } catch {
      throw new TypeError('LNURL is not valid bech32')
    }
    if (decoded.prefix !== 'lnurl') throw new TypeError('LNURL must have the lnurl prefix')
    return checkUrl(new TextDecoder().decode(bech32.fromWords(decoded.words)), o, 'LNURL')
  }
  if (/^lnurlp:\/\//i.test(a)) {
    const u = new URL(`https://${a.slice(9)}`)
    if (u.hostname.endsWith('.onion') || (o.allowHttpLoopback === true && isLoopback(u.hostname))) u.protocol = 'http:'
    return checkUrl(u.href, o, 'LNURL')
  }
  return checkUrl(a, o, 'LNURL address')
}

function isLoopback(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127(\.\d{1,3}){3}$/.test(hostname)
}

function checkUrl(v: unknown, o: { allowHttpLoopback?: boolean | undefined }, what: string): string {
  let u: URL
  try {
    u = new URL(String(v))
  } catch {
    throw new TypeError(`${what} is not a URL`)
  }
  if (u.username !== '' || u.password !== '') throw new TypeError(`${what} must not carry credentials`)
  if (u.protocol === 'https:') return u.href
  if (u.protocol === 'http:' && (u.hostname.endsWith('.onion') || (o.allowHttpLoopback === true && isLoopback(u.hostname)))) return u.href
  throw new TypeError(`${what} must be https${o.allowHttpLoopback === true ? ' (or http on a loopback host)' : ''}`)
}

/**
 * Creates an LNURL-pay backend. No `subscribe`: LUD-21 has no push channel, so
 * `waitForSettlement` polls `lookupInvoice`. Lookups only work for invoices this instance created
 * (the verify URL is kept in memory).
 * @example
 * const backend = lnurl({ address: 'paywall@getalby.com' })
 */
export function lnurl(o: LnurlParameters): Backend {
  const url = resolveAddress(o.address, o)
  const fetchImpl = o.fetch ?? globalThis.fetch
  const timeoutMs = o.timeoutMs ?? 10_000
  if (!Number.isSafeInteger(timeoutMs) || timeoutMs <= 0) throw new TypeError('lnurl(): timeoutMs must be a positive integer')
  const cacheMs = o.cacheMs ?? 10 * 60_000
  const now = o.now ?? Date.now
  const tracked = new Map<string, Tracked>()
  let cached: PayRequest | undefined
  let closed = false

  async function getJson(target: string, signal: AbortSignal | undefined, what: string): Promise<Record<string, unknown>> {
    if (closed) throw new TurnpikeError('TURNPIKE_BACKEND_UNAVAILABLE', 'the LNURL backend is closed')
    signal?.throwIfAborted()
    const deadline = AbortSignal.timeout(timeoutMs)
    const s = signal === undefined ? deadline : AbortSignal.any([signal, deadline])
    let res: Response
    let text: string
    try {
      res = await fetchImpl(target, { headers: { accept: 'application/json' }, signal: s })
      text = await readCapped(res, maxBodyBytes)
    } catch (e) {
      if (signal?.aborted === true) throw signal.reason
      if (e instanceof TurnpikeError) throw e
      const message = deadline.aborted ? `the LNURL service did not answer the ${what} within ${timeoutMs} ms` : `cannot reach the LNURL service (${what})`
      throw new TurnpikeError('TURNPIKE_BACKEND_UNAVAILABLE', message, { cause: e, retryAfter: 5 })
    }
    try {
      checkUrl(res.url || target, o, 'LNURL redirect target')
    } catch (cause) {
      throw new TurnpikeError('TURNPIKE_BACKEND_ERROR', `the LNURL service redirected the ${what} to a refused URL`, { cause })
    }
    let body: unknown
    try {
      body = JSON.parse(text)
    } catch (cause) {
      // LUD-01: status codes carry no meaning, the JSON body does. No JSON: judge by the status.
      const transient = res.status >= 500 || res.status === 429
      throw new TurnpikeError(transient ? 'TURNPIKE_BACKEND_UNAVAILABLE' : 'TURNPIKE_BACKEND_ERROR',
        `the LNURL service answered the ${what} with HTTP ${res.status} and no JSON`, transient ? { cause, retryAfter: 5 } : { cause })
    }
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw new TurnpikeError('TURNPIKE_BACKEND_ERROR', `the LNURL service's ${what} answer is not a JSON object`)
    }
    return body as Record<string, unknown>
  }

  function serviceError(body: Record<string, unknown>, what: string): TurnpikeError {
    const cause = new Error(`LNURL ERROR: ${String(body.reason ?? '').slice(0, 300)}`)
    return new TurnpikeError('TURNPIKE_BACKEND_ERROR', `the LNURL service refused the ${what}`, { cause })
  }

  async function payRequest(signal: AbortSignal | undefined): Promise<PayRequest> {
    if (cached !== undefined && now() - cached.at < cacheMs) return cached
    const body = await getJson(url, signal, 'payRequest')
    if (body.status === 'ERROR') throw serviceError(body, 'payRequest')
    const bad = (why: string): never => {
      throw new TurnpikeError('TURNPIKE_BACKEND_ERROR', `the LNURL service's payRequest is invalid: ${why}`)
    }
    if (body.tag !== 'payRequest') bad('tag is not payRequest')
    let callback = ''
    try {
      callback = checkUrl(body.callback, o, 'callback')
    } catch (e) {
      bad((e as Error).message)
    }
    const min = toMsat(body.minSendable)
    const max = toMsat(body.maxSendable)
    if (min === undefined || max === undefined || min < 1n || min > max) bad('minSendable/maxSendable')
    if (typeof body.metadata !== 'string') bad('metadata is not a string')
    try {
      const m: unknown = JSON.parse(body.metadata as string)
      if (!Array.isArray(m) || !m.some((e) => Array.isArray(e) && e[0] === 'text/plain')) throw new Error()
    } catch {
      bad('metadata must be a JSON array with a text/plain entry')
    }
    cached = { callback, minSendable: min!, maxSendable: max!, metadataHash: bytesToHex(sha256(utf8ToBytes(body.metadata as string))), at: now() }
    return cached
  }

  function remember(hash: string, t: Tracked): void {
    const nowMs = now()
    if (tracked.size >= maxTracked) {
      for (const [h, e] of tracked) if (nowMs > e.expiresAt + 86_400_000) tracked.delete(h)
      for (const h of tracked.keys()) {
        if (tracked.size < maxTracked) break
        tracked.delete(h)
      }
    }
    tracked.set(hash, t)
  }

  return {
    name: 'lnurl',

    async createInvoice(p: CreateInvoiceParameters): Promise<Invoice> {
      if (typeof p.amountMsat !== 'bigint' || p.amountMsat <= 0n) badRequest('amountMsat must be a bigint > 0')
      if (!Number.isSafeInteger(p.expirySeconds) || p.expirySeconds <= 0) badRequest('expirySeconds must be a positive integer')
      const pr = await payRequest(p.signal)
      if (p.amountMsat < pr.minSendable || p.amountMsat > pr.maxSendable) {
        throw new TurnpikeError('TURNPIKE_BACKEND_ERROR',
          `${p.amountMsat} msat is outside what the LNURL service accepts (${pr.minSendable}–${pr.maxSendable} msat)`)
      }
      // LUD-06: append with & when the callback already has a query (do not re-encode it).
      const target = `${pr.callback}${pr.callback.includes('?') ? '&' : '?'}amount=${p.amountMsat}`
      let body: Record<string, unknown>
      try {
        body = await getJson(target, p.signal, 'invoice request')
        if (body.status === 'ERROR') throw serviceError(body, 'invoice request')
      } catch (e) {
        cached = undefined // parameters may have changed: discover again next time
        throw e
      }
      const invalid = (why: string, cause?: unknown): never => {
        throw new TurnpikeError('TURNPIKE_BACKEND_ERROR', `the LNURL service's invoice is refused: ${why}`, cause === undefined ? {} : { cause })
      }
      if (typeof body.pr !== 'string') invalid('no pr')
      let d: Bolt11.Invoice | undefined
      try {
        d = Bolt11.decode(body.pr as string)
      } catch (cause) {
        invalid('not a valid BOLT11 invoice', cause)
      }
      const inv = d!
      if (inv.amountMsat !== p.amountMsat) invalid(`amount ${String(inv.amountMsat ?? 'any')} msat instead of ${p.amountMsat}`)
      if (inv.descriptionHash !== undefined && inv.descriptionHash !== pr.metadataHash) invalid('description hash is not sha256(metadata)')
      if (o.network !== undefined && inv.network !== o.network) invalid(`invoice is for ${inv.network}`)
      let verify = ''
      try {
        verify = checkUrl(body.verify, o, 'verify URL')
      } catch (cause) {
        invalid(body.verify === undefined ? 'the service has no LUD-21 verify URL, so settlement could not be checked' : 'bad verify URL', cause)
      }
      const createdAt = inv.timestamp * 1000
      const expiresAt = inv.expiresAt * 1000
      remember(inv.paymentHash, { verify, paymentRequest: body.pr as string, amountMsat: p.amountMsat, expiresAt })
      return { paymentRequest: body.pr as string, paymentHash: inv.paymentHash, amountMsat: p.amountMsat, createdAt, expiresAt }
    },

    async lookupInvoice(paymentHash: string, lo?: { signal?: AbortSignal }): Promise<InvoiceState> {
      if (typeof paymentHash !== 'string' || !/^[0-9a-fA-F]{64}$/.test(paymentHash)) badRequest('payment hash must be 32 bytes of hex')
      const hash = paymentHash.toLowerCase()
      const t = tracked.get(hash)
      if (t === undefined) throw new TurnpikeError('TURNPIKE_INVOICE_UNKNOWN', 'unknown payment hash (not issued by this LNURL backend instance)')
      const body = await getJson(t.verify, lo?.signal, 'verify request')
      if (body.status === 'ERROR') {
        if (typeof body.reason === 'string' && /not\s*found/i.test(body.reason)) {
          throw new TurnpikeError('TURNPIKE_INVOICE_UNKNOWN', 'the LNURL service does not know this invoice')
        }
        throw serviceError(body, 'verify request')
      }
      const bad = (why: string): never => {
        throw new TurnpikeError('TURNPIKE_BACKEND_ERROR', `the LNURL verify answer is invalid: ${why}`)
      }
      if (body.status !== 'OK') bad('status is not OK')
      if (typeof body.settled !== 'boolean') bad('settled is not a boolean')
      if (typeof body.pr === 'string' && body.pr.toLowerCase() !== t.paymentRequest.toLowerCase()) bad('it is about another invoice')
      if (body.settled === true) {
        const preimage = typeof body.preimage === 'string' ? body.preimage.toLowerCase() : ''
        if (!/^[0-9a-f]{64}$/.test(preimage) || bytesToHex(sha256(hexToBytes(preimage))) !== hash) {
          bad('settled without a preimage matching the payment hash')
        }
        return { paymentHash: hash, status: 'settled', preimage, amountMsat: t.amountMsat }
      }
      // Not settled: a preimage the service may show is ignored.
      return { paymentHash: hash, status: now() >= t.expiresAt ? 'expired' : 'open', amountMsat: t.amountMsat }
    },

    async close(): Promise<void> {
      closed = true
      tracked.clear()
    },
  }
}

function toMsat(v: unknown): bigint | undefined {
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return BigInt(v)
  if (typeof v === 'string' && /^\d{1,18}$/.test(v)) return BigInt(v)
  return undefined
}

async function readCapped(res: Response, max: number): Promise<string> {
  if (res.body === null) return ''
  const reader = res.body.getReader()
  const chunks: Uint8Array[] = []
  let size = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    size += value.byteLength
    if (size > max) {
      await reader.cancel().catch(() => {})
      throw new TurnpikeError('TURNPIKE_BACKEND_ERROR', 'the LNURL service answered with an oversized body')
    }
    chunks.push(value)
  }
  return Buffer.concat(chunks).toString('utf8')
}

function badRequest(message: string): never {
  throw new TurnpikeError('TURNPIKE_BAD_REQUEST', message)
}
