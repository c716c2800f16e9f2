/**
 * LND over its REST gateway: `POST /v1/invoices`, `GET /v1/invoice/{hex}`, the
 * `/v1/invoices/subscribe` and `/v2/invoices/subscribe/{b64url}` NDJSON streams, `GET /v1/getinfo`.
 * Auth is the hex macaroon in `Grpc-Metadata-macaroon`; TLS trusts only the node's `tls.cert`.
 * Settlement comes from `state == "SETTLED"`, never from `r_preimage`, which LND fills for open
 * invoices too (backends.md §1).
 * @module
 */
import { Buffer } from 'node:buffer'
import { TurnpikeError } from '../Errors.ts'
import type { Backend, CreateInvoiceParameters, Invoice, InvoiceState, NodeInfo } from '../Lightning.ts'
import { macaroonHex, readMacaroonFile, readPemFile } from './internal/credentials.ts'
import {
  backendError,
  checkTimeout,
  checkUrl,
  delay,
  isTlsError,
  join,
  jsonObject,
  malformed,
  ndjson,
  nodeSaid,
  openStream,
  send,
  statusError,
  unavailable,
  unknownInvoice,
  type Fetch,
  type HttpContext,
  type HttpResult,
} from './internal/http.ts'
import { checkCreate, int, normalizeHash, settledPreimage, verifyInvoice } from './internal/invoice.ts'
import { checkPem, pinnedFetch, type PinnedFetch } from './internal/tls.ts'

/** Options of {@link lnd}. */
export type LndParameters = {
  /** REST base URL (default `https://127.0.0.1:8080`). */
  readonly url?: string | undefined
  /** The macaroon as hex or bytes (`invoice.macaroon` or one baked with `invoices:read invoices:write`). */
  readonly macaroon?: string | Uint8Array | undefined
  /** Path of the macaroon file (binary as lnd writes it, or hex); alternative to `macaroon`. */
  readonly macaroonFile?: string | undefined
  /** The node's `tls.cert` (PEM), pinned as the only trust anchor. */
  readonly tlsCert?: string | Uint8Array | undefined
  /** Path of `tls.cert`; re-read when verification fails (lnd regenerates expired certs). */
  readonly tlsCertFile?: string | undefined
  /**
   * Transport override. Without it: a pinned client when a certificate is given, otherwise
   * `globalThis.fetch` (the system trust store, for hosted nodes with public certificates).
   */
  readonly fetch?: Fetch | undefined
  /** Per-call timeout in ms (default 10 000). */
  readonly timeoutMs?: number | undefined
  /** Clock in unix ms (default `Date.now`), for expiry of open invoices. */
  readonly now?: (() => number) | undefined
}

/** The LND backend: a {@link Backend} plus LND's per-invoice stream. */
export type LndBackend = Backend & {
  /**
   * Follows one invoice over `/v2/invoices/subscribe/{hash}`: the current state first, then each
   * transition; ends after settled or canceled. An unknown hash waits silently (LND's behaviour).
   */
  subscribeInvoice(paymentHash: string, o: { signal: AbortSignal }): AsyncIterable<InvoiceState>
}

const name = 'lnd'
/** LND answers bad macaroons with HTTP 500; these texts mean "credentials", not "node down". */
const authFailure = /macaroon|verification failed|permission denied|cannot get macaroon|invalid auth/i
const maxBackoffMs = 30_000

/**
 * Creates an LND REST backend.
 * @example
 * const backend = lnd({ url: 'https://127.0.0.1:8080', macaroonFile: 'invoice.macaroon', tlsCertFile: 'tls.cert' })
 */
export function lnd(o: LndParameters): LndBackend {
  if (typeof o !== 'object' || o === null) throw new TypeError('lnd() requires options { url, macaroon | macaroonFile, tlsCert | tlsCertFile }')
  const url = checkUrl(o.url ?? 'https://127.0.0.1:8080', 'lnd(): url')
  if ((o.macaroon === undefined) === (o.macaroonFile === undefined)) {
    throw new TypeError('lnd() requires exactly one of macaroon (hex) and macaroonFile')
  }
  const macaroon = o.macaroon !== undefined ? macaroonHex(o.macaroon, 'lnd(): macaroon') : readMacaroonFile(o.macaroonFile!)
  if (o.tlsCert !== undefined && o.tlsCertFile !== undefined) throw new TypeError('lnd() takes tlsCert or tlsCertFile, not both')
  const timeoutMs = checkTimeout(o.timeoutMs, 'lnd(): timeoutMs')
  const now = o.now ?? Date.now
  const https = url.startsWith('https:')
  let pem =
    o.tlsCert !== undefined
      ? checkPem(o.tlsCert, 'lnd(): tlsCert')
      : o.tlsCertFile !== undefined
        ? checkPem(readPemFile(o.tlsCertFile), `lnd(): tlsCertFile ${o.tlsCertFile}`)
        : undefined
  if (pem !== undefined && !https && o.fetch === undefined) {
    throw new TypeError('lnd(): a TLS certificate was given but the url is http:; use https://')
  }
  let pinned: PinnedFetch | undefined = pem !== undefined && o.fetch === undefined ? pinnedFetch(pem) : undefined
  const ctx = (): HttpContext => ({ name, timeoutMs, fetch: o.fetch ?? pinned ?? ((u, i) => globalThis.fetch(u, i)) })
  const headers = { 'grpc-metadata-macaroon': macaroon }

  /** lnd may have regenerated its certificate: re-read the file once and retry with the new pin. */
  function reloadCert(e: unknown): boolean {
    if (o.tlsCertFile === undefined || pinned === undefined || !isTlsError(e)) return false
    let fresh: string
    try {
      fresh = checkPem(readPemFile(o.tlsCertFile), 'tlsCertFile')
    } catch {
      return false
    }
    if (fresh === pem) return false
    pinned.close()
    pem = fresh
    pinned = pinnedFetch(fresh)
    return true
  }

  async function call(what: string, path: string, init: { method?: string; body?: unknown; signal?: AbortSignal | undefined } = {}): Promise<HttpResult> {
    const p = {
      url: join(url, path),
      method: init.method ?? 'GET',
      headers: init.body === undefined ? headers : { ...headers, 'content-type': 'application/json' },
      ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
      signal: init.signal,
      what,
    }
    try {
      return await send(ctx(), p)
    } catch (e) {
      if (e instanceof TurnpikeError && reloadCert(e.cause)) return send(ctx(), p)
      throw e
    }
  }

  /** Maps a non-200 answer: rpcStatus bodies, auth failures (HTTP 500 in LND) and the rest. */
  function failure(r: HttpResult, what: string): TurnpikeError {
    let message = ''
    try {
      const body = JSON.parse(r.text) as { message?: unknown }
      if (typeof body?.message === 'string') message = body.message
    } catch {
      // not an rpcStatus
    }
    if (authFailure.test(message)) return backendError(name, 'the node rejected the macaroon', nodeSaid(what, r.status, r.text))
    return statusError(name, r, what)
  }

  function state(inv: Record<string, unknown>, what: string, expected?: string): InvoiceState {
    const hash = b64ToHex(inv.r_hash)
    if (hash === undefined || hash.length !== 64) malformed(name, what, 'r_hash')
    if (expected !== undefined && hash !== expected) malformed(name, what, 'r_hash (not the requested invoice)')
    const value = int(inv.value_msat)
    switch (inv.state) {
      case 'SETTLED': {
        const preimage = settledPreimage(name, what, b64ToHex(inv.r_preimage), hash)
        const paid = int(inv.amt_paid_msat)
        const settleDate = int(inv.settle_date)
        return {
          paymentHash: hash,
          status: 'settled',
          preimage,
          ...(paid !== undefined && paid > 0n ? { amountMsat: paid } : value !== undefined ? { amountMsat: value } : {}),
          ...(settleDate !== undefined && settleDate > 0n ? { settledAt: Number(settleDate) * 1000 } : {}),
        }
      }
      case 'CANCELED':
        return { paymentHash: hash, status: 'canceled', ...(value !== undefined ? { amountMsat: value } : {}) }
      case 'OPEN':
      case 'ACCEPTED': {
        // ACCEPTED (hold invoices) is not settled: the HTLC can still be cancelled.
        const created = int(inv.creation_date)
        const expiry = int(inv.expiry)
        const expired = inv.state === 'OPEN' && created !== undefined && expiry !== undefined && now() >= Number(created + expiry) * 1000
        return { paymentHash: hash, status: expired ? 'expired' : 'open', ...(value !== undefined ? { amountMsat: value } : {}) }
      }
      default:
        return malformed(name, what, 'state')
    }
  }

  async function* settlements(signal: AbortSignal): AsyncGenerator<InvoiceState> {
    let settleIndex = 0n
    let backoff = 500
    while (!signal.aborted) {
      const what = 'GET /v1/invoices/subscribe'
      try {
        const query = settleIndex > 0n ? `?settle_index=${settleIndex}` : ''
        const res = await openStream(ctx(), { url: join(url, `/v1/invoices/subscribe${query}`), headers, signal, what })
        backoff = 500
        for await (const line of ndjson(name, res.body!, what)) {
          const inv = streamResult(line, what)
          const s = state(inv, what)
          const idx = int(inv.settle_index)
          if (idx !== undefined && idx > settleIndex) settleIndex = idx
          yield s
        }
      } catch (e) {
        if (signal.aborted) return
        if (e instanceof TurnpikeError && e.code === 'TURNPIKE_BACKEND_UNAVAILABLE') {
          // transient: reconnect below, replaying settles after the last one seen
        } else throw e
      }
      await delay(backoff, signal)
      backoff = Math.min(maxBackoffMs, backoff * 2)
    }
  }

  /** Unwraps one `{"result": …}` line; `{"error": …}` lines end the stream. */
  function streamResult(line: unknown, what: string): Record<string, unknown> {
    if (typeof line !== 'object' || line === null) malformed(name, what, 'stream line')
    const l = line as { result?: unknown; error?: unknown }
    if (l.error !== undefined && l.error !== null) {
      const msg = typeof (l.error as { message?: unknown }).message === 'string' ? (l.error as { message: string }).message : ''
      if (authFailure.test(msg)) throw backendError(name, 'the node rejected the macaroon', new Error(`${what}: ${msg}`))
      throw unavailable(name, 'the stream failed', new Error(`${what}: ${JSON.stringify(l.error)}`))
    }
    if (typeof l.result !== 'object' || l.result === null) malformed(name, what, 'result')
    return l.result as Record<string, unknown>
  }

  return {
    name,

    async createInvoice(p: CreateInvoiceParameters): Promise<Invoice> {
      checkCreate(p)
      const what = 'POST /v1/invoices'
      const body: Record<string, string> = { value_msat: String(p.amountMsat), expiry: String(p.expirySeconds) }
      if (p.description !== undefined) body.memo = p.description
      const r = await call(what, '/v1/invoices', { method: 'POST', body, signal: p.signal })
      if (r.status !== 200) throw failure(r, what)
      const res = jsonObject(name, r, what)
      return verifyInvoice(name, what, res.payment_request, b64ToHex(res.r_hash), p.amountMsat)
    },

    async lookupInvoice(paymentHash: string, lo?: { signal?: AbortSignal }): Promise<InvoiceState> {
      const hash = normalizeHash(paymentHash)
      const what = 'GET /v1/invoice/{r_hash_str}'
      const r = await call(what, `/v1/invoice/${hash}`, { signal: lo?.signal })
      if (r.status === 404) return Promise.reject(unknownInvoice())
      if (r.status !== 200) throw failure(r, what)
      return state(jsonObject(name, r, what), what, hash)
    },

    subscribe(so: { signal: AbortSignal }): AsyncIterable<InvoiceState> {
      return settlements(so.signal)
    },

    async *subscribeInvoice(paymentHash: string, so: { signal: AbortSignal }): AsyncGenerator<InvoiceState> {
      const hash = normalizeHash(paymentHash)
      const what = 'GET /v2/invoices/subscribe/{r_hash}'
      const path = `/v2/invoices/subscribe/${Buffer.from(hash, 'hex').toString('base64url')}`
      const res = await openStream(ctx(), { url: join(url, path), headers, signal: so.signal, what })
      for await (const line of ndjson(name, res.body!, what)) {
        const s = state(streamResult(line, what), what, hash)
        yield s
        if (s.status === 'settled' || s.status === 'canceled') return
      }
    },

    async getInfo(): Promise<NodeInfo> {
      const what = 'GET /v1/getinfo'
      const r = await call(what, '/v1/getinfo')
      if (r.status !== 200) throw failure(r, what)
      const info = jsonObject(name, r, what)
      if (typeof info.identity_pubkey !== 'string') malformed(name, what, 'identity_pubkey')
      const chain = Array.isArray(info.chains) ? (info.chains[0] as { network?: unknown } | undefined) : undefined
      const network = typeof chain?.network === 'string' ? chain.network : info.testnet === true ? 'testnet' : 'unknown'
      return { pubkey: info.identity_pubkey, network, ...(typeof info.alias === 'string' && info.alias !== '' ? { alias: info.alias } : {}) }
    },

    async close(): Promise<void> {
      pinned?.close()
    },
  }
}

/** Std or url-safe base64 bytes → lowercase hex; undefined when not a string. */
function b64ToHex(v: unknown): string | undefined {
  if (typeof v !== 'string' || !/^[A-Za-z0-9+/_-]*={0,2}$/.test(v)) return undefined
  return Buffer.from(v, 'base64').toString('hex')
}
