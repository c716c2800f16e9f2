/**
 * Core Lightning, over clnrest (`POST /v1/<method>`, `Rune` header, 201 on success) or the
 * `lightning-rpc` unix socket (JSON-RPC 2.0). Uses `invoice`, `listinvoices`, `waitinvoice`,
 * `wait` and `getinfo`. Settlement = `status == "paid"` (backends.md §2).
 * @module
 */
import { randomBytes } from 'node:crypto'
import { TurnpikeError } from '../Errors.ts'
import type { Backend, CreateInvoiceParameters, Invoice, InvoiceState, NodeInfo } from '../Lightning.ts'
import { readPemFile, readSecretFile } from './internal/credentials.ts'
import {
  backendError,
  checkTimeout,
  checkUrl,
  delay,
  join,
  json,
  malformed,
  send,
  statusError,
  unknownInvoice,
  type Fetch,
  type HttpContext,
} from './internal/http.ts'
import { checkCreate, int, normalizeHash, settledPreimage, verifyInvoice } from './internal/invoice.ts'
import { RpcError, socketCall } from './internal/jsonrpc.ts'
import { checkPem, pinnedFetch, type PinnedFetch } from './internal/tls.ts'

/** Options of {@link cln}: `url` + rune for clnrest, or `socket` for the unix socket. */
export type ClnParameters = {
  /** clnrest base URL, e.g. `https://127.0.0.1:3010`. */
  readonly url?: string | undefined
  /** The rune (base64url text); alternative: `runeFile`. */
  readonly rune?: string | undefined
  readonly runeFile?: string | undefined
  /** clnrest's CA (`ca.pem`, PEM), pinned for https. */
  readonly tlsCert?: string | Uint8Array | undefined
  readonly tlsCertFile?: string | undefined
  /** Path of `<lightning-dir>/<network>/lightning-rpc`. */
  readonly socket?: string | undefined
  readonly fetch?: Fetch | undefined
  /** Per-call timeout in ms (default 10 000); waits (`waitinvoice`, `wait`) are not bounded by it. */
  readonly timeoutMs?: number | undefined
  /** Invoice labels are `<labelPrefix>-<random>` (default `turnpike`). */
  readonly labelPrefix?: string | undefined
  readonly now?: (() => number) | undefined
}

export type ClnBackend = Backend & {
  /**
   * Blocks (`waitinvoice`) until the invoice is paid, then resolves its settled state; rejects with
   * TURNPIKE_INVOICE_EXPIRED when it expires first and TURNPIKE_INVOICE_UNKNOWN for an unknown hash.
   */
  waitInvoice(paymentHash: string, o?: { signal?: AbortSignal }): Promise<InvoiceState>
}

const name = 'cln'
/** lightningd error codes (lightning-invoice(7), lightning-waitinvoice(7)). */
const codes = { duplicateLabel: 900, expired: 903, labelNotFound: -1 } as const

/**
 * Creates a Core Lightning backend.
 * @example
 * const backend = cln({ url: 'https://127.0.0.1:3010', runeFile: 'rune', tlsCertFile: 'ca.pem' })
 * const local = cln({ socket: '/home/cln/.lightning/bitcoin/lightning-rpc' })
 */
export function cln(o: ClnParameters): ClnBackend {
  if (typeof o !== 'object' || o === null) throw new TypeError('cln() requires options { url, rune | runeFile } or { socket }')
  if ((o.url === undefined) === (o.socket === undefined)) throw new TypeError('cln() requires exactly one of url (clnrest) and socket (lightning-rpc)')
  const timeoutMs = checkTimeout(o.timeoutMs, 'cln(): timeoutMs')
  const now = o.now ?? Date.now
  const prefix = o.labelPrefix ?? 'turnpike'
  let rpc: (method: string, params: Record<string, unknown>, c?: { signal?: AbortSignal | undefined; timeoutMs?: number }) => Promise<unknown>
  let pinned: PinnedFetch | undefined
  if (o.socket !== undefined) {
    if (typeof o.socket !== 'string' || o.socket === '') throw new TypeError('cln(): socket must be a path')
    if (o.rune !== undefined || o.runeFile !== undefined) throw new TypeError('cln(): the unix socket takes no rune')
    const path = o.socket
    rpc = (method, params, c) => socketCall(name, path, method, params, { timeoutMs: c?.timeoutMs ?? timeoutMs, signal: c?.signal })
  } else {
    const url = checkUrl(o.url, 'cln(): url')
    if ((o.rune === undefined) === (o.runeFile === undefined)) throw new TypeError('cln() with url requires exactly one of rune and runeFile')
    const rune = o.rune !== undefined ? o.rune.trim() : readSecretFile(o.runeFile!, 'rune')
    if (!/^[A-Za-z0-9_=+/-]+$/.test(rune)) throw new TypeError('cln(): the rune must be base64 text')
    if (o.tlsCert !== undefined && o.tlsCertFile !== undefined) throw new TypeError('cln() takes tlsCert or tlsCertFile, not both')
    const pem =
      o.tlsCert !== undefined ? checkPem(o.tlsCert, 'cln(): tlsCert') : o.tlsCertFile !== undefined ? checkPem(readPemFile(o.tlsCertFile), `cln(): tlsCertFile ${o.tlsCertFile}`) : undefined
    if (pem !== undefined && o.fetch === undefined) {
      if (!url.startsWith('https:')) throw new TypeError('cln(): a TLS certificate was given but the url is http:; use https://')
      pinned = pinnedFetch(pem)
    }
    const ctx: HttpContext = { name, timeoutMs, fetch: o.fetch ?? pinned ?? ((u, i) => globalThis.fetch(u, i)) }
    rpc = async (method, params, c) => {
      const what = `POST /v1/${method}`
      const r = await send(ctx, {
        url: join(url, `/v1/${method}`),
        method: 'POST',
        headers: { rune, 'content-type': 'application/json' },
        body: JSON.stringify(params),
        signal: c?.signal,
        ...(c?.timeoutMs !== undefined ? { timeoutMs: c.timeoutMs } : {}),
        what,
      })
      if (r.status === 201 || r.status === 200) return json(name, r, what)
      if (r.status === 500) {
        // An RPC error carries lightningd's code; anything else is a broken or overloaded server.
        let body: { code?: unknown; message?: unknown } | undefined
        try {
          body = JSON.parse(r.text) as typeof body
        } catch {
          body = undefined
        }
        if (typeof body?.code === 'number' && typeof body.message === 'string') throw new RpcError(body.code, body.message)
      }
      throw statusError(name, r, what)
    }
  }

  /** Calls and maps RPC errors that the caller does not handle to TURNPIKE_BACKEND_ERROR. */
  async function call(method: string, params: Record<string, unknown>, c?: { signal?: AbortSignal | undefined; timeoutMs?: number }): Promise<Record<string, unknown>> {
    let result: unknown
    try {
      result = await rpc(method, params, c)
    } catch (e) {
      if (e instanceof RpcError) throw backendError(name, `${method} failed (code ${e.code})`, new Error(`${method}: ${e.code} ${e.message}`, { cause: e }))
      throw e
    }
    if (typeof result !== 'object' || result === null || Array.isArray(result)) malformed(name, method, 'result')
    return result as Record<string, unknown>
  }

  function state(inv: Record<string, unknown>, what: string, expected?: string): InvoiceState {
    const hash = typeof inv.payment_hash === 'string' ? inv.payment_hash.toLowerCase() : undefined
    if (hash === undefined || !/^[0-9a-f]{64}$/.test(hash)) return malformed(name, what, 'payment_hash')
    if (expected !== undefined && hash !== expected) malformed(name, what, 'payment_hash (not the requested invoice)')
    const amount = msat(inv.amount_msat)
    switch (inv.status) {
      case 'paid': {
        const received = msat(inv.amount_received_msat)
        const paidAt = int(inv.paid_at)
        return {
          paymentHash: hash,
          status: 'settled',
          preimage: settledPreimage(name, what, inv.payment_preimage, hash),
          ...(received !== undefined ? { amountMsat: received } : amount !== undefined ? { amountMsat: amount } : {}),
          ...(paidAt !== undefined ? { settledAt: Number(paidAt) * 1000 } : {}),
        }
      }
      case 'expired':
        return { paymentHash: hash, status: 'expired', ...(amount !== undefined ? { amountMsat: amount } : {}) }
      case 'unpaid': {
        // Never look at payment_preimage here: only the status proves payment.
        const expiresAt = int(inv.expires_at)
        const expired = expiresAt !== undefined && now() >= Number(expiresAt) * 1000
        return { paymentHash: hash, status: expired ? 'expired' : 'open', ...(amount !== undefined ? { amountMsat: amount } : {}) }
      }
      default:
        return malformed(name, what, 'status')
    }
  }

  async function find(hash: string, signal?: AbortSignal): Promise<Record<string, unknown>> {
    const r = await call('listinvoices', { payment_hash: hash }, { signal })
    if (!Array.isArray(r.invoices)) malformed(name, 'listinvoices', 'invoices')
    const inv = (r.invoices as unknown[]).find((i) => (i as { payment_hash?: unknown })?.payment_hash === hash)
    if (inv === undefined) throw unknownInvoice()
    if (typeof inv !== 'object' || inv === null) malformed(name, 'listinvoices', 'invoices[]')
    return inv as Record<string, unknown>
  }

  async function* changes(signal: AbortSignal): AsyncGenerator<InvoiceState> {
    let backoff = 500
    let index: bigint | undefined
    while (!signal.aborted) {
      try {
        if (index === undefined) {
          // nextvalue 0 answers at once with the current "updated" index: start from there.
          const w = await call('wait', { subsystem: 'invoices', indexname: 'updated', nextvalue: 0 }, { signal })
          index = int(w.updated) ?? 0n
        }
        await call('wait', { subsystem: 'invoices', indexname: 'updated', nextvalue: Number(index + 1n) }, { signal, timeoutMs: Infinity })
        const r = await call('listinvoices', { index: 'updated', start: Number(index + 1n) }, { signal })
        if (!Array.isArray(r.invoices)) malformed(name, 'listinvoices', 'invoices')
        backoff = 500
        for (const inv of r.invoices as Record<string, unknown>[]) {
          const u = int(inv?.updated_index)
          if (u !== undefined && u > index) index = u
          if (inv?.status === 'unpaid') continue
          yield state(inv, 'listinvoices')
        }
      } catch (e) {
        if (signal.aborted) return
        if (!(e instanceof TurnpikeError && e.code === 'TURNPIKE_BACKEND_UNAVAILABLE')) throw e
        await delay(backoff, signal)
        backoff = Math.min(30_000, backoff * 2)
      }
    }
  }

  return {
    name,

    async createInvoice(p: CreateInvoiceParameters): Promise<Invoice> {
      checkCreate(p)
      const what = 'invoice'
      const label = `${prefix}-${randomBytes(16).toString('hex')}`
      const amount = p.amountMsat <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(p.amountMsat) : `${p.amountMsat}msat`
      const r = await call('invoice', { amount_msat: amount, label, description: p.description ?? '', expiry: p.expirySeconds }, { signal: p.signal })
      return verifyInvoice(name, what, r.bolt11, r.payment_hash, p.amountMsat)
    },

    async lookupInvoice(paymentHash: string, lo?: { signal?: AbortSignal }): Promise<InvoiceState> {
      const hash = normalizeHash(paymentHash)
      return state(await find(hash, lo?.signal), 'listinvoices', hash)
    },

    subscribe(so: { signal: AbortSignal }): AsyncIterable<InvoiceState> {
      return changes(so.signal)
    },

    async waitInvoice(paymentHash: string, wo?: { signal?: AbortSignal }): Promise<InvoiceState> {
      const hash = normalizeHash(paymentHash)
      const inv = await find(hash, wo?.signal)
      const s = state(inv, 'listinvoices', hash)
      if (s.status === 'settled') return s
      if (s.status === 'expired') throw new TurnpikeError('TURNPIKE_INVOICE_EXPIRED', 'invoice expired')
      if (typeof inv.label !== 'string') malformed(name, 'listinvoices', 'label')
      let r: unknown
      try {
        r = await rpc('waitinvoice', { label: inv.label }, { signal: wo?.signal, timeoutMs: Infinity })
      } catch (e) {
        if (e instanceof RpcError && e.code === codes.expired) throw new TurnpikeError('TURNPIKE_INVOICE_EXPIRED', 'invoice expired')
        if (e instanceof RpcError && e.code === codes.labelNotFound) throw unknownInvoice()
        if (e instanceof RpcError) throw backendError(name, `waitinvoice failed (code ${e.code})`, e)
        throw e
      }
      if (typeof r !== 'object' || r === null) malformed(name, 'waitinvoice', 'result')
      return state(r as Record<string, unknown>, 'waitinvoice', hash)
    },

    async getInfo(): Promise<NodeInfo> {
      const r = await call('getinfo', {})
      if (typeof r.id !== 'string') malformed(name, 'getinfo', 'id')
      const network = r.network === 'bitcoin' ? 'mainnet' : typeof r.network === 'string' ? r.network : 'unknown'
      return { pubkey: r.id, network, ...(typeof r.alias === 'string' && r.alias !== '' ? { alias: r.alias } : {}) }
    },

    async close(): Promise<void> {
      pinned?.close()
    },
  }
}

/** CLN msat fields: integers, or `"1000msat"` strings from older versions. */
function msat(v: unknown): bigint | undefined {
  if (typeof v === 'string' && /^\d+msat$/.test(v)) return BigInt(v.slice(0, -4))
  return int(v)
}
