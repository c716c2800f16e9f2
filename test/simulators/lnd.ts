/**
 * An LND REST simulator (backends.md §1, §10): HTTPS with a throwaway self-signed cert (or plain
 * HTTP), macaroons in `Grpc-Metadata-macaroon` (HTTP 500 rpcStatus on a missing or bad one),
 * grpc-gateway JSON (snake_case, every field present, int64 as strings, bytes as std base64),
 * `/v1/invoices`, `/v1/invoice/{hex}`, `/v2/invoices/lookup`, `/v1/getinfo`, and the NDJSON streams
 * `/v2/invoices/subscribe/{b64url}` and `/v1/invoices/subscribe`. `r_preimage` is filled for open
 * invoices, as LND does. Every JSON answer is recorded in `sent` for validation against the swagger.
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { bytesToHex, randomBytes } from '@noble/hashes/utils.js'
import type { Network } from '../../src/Bolt11.ts'
import { createNode, readBody, serve, type SimInvoice, type SimNode, type SimServer, type TlsMaterial } from './common.ts'

export type LndPermission = 'info:read' | 'invoices:read' | 'invoices:write'

export type LndSimulatorOptions = {
  /** HTTPS with this certificate; plain HTTP when omitted. */
  tls?: TlsMaterial
  network?: Network
  /** Extra macaroons (hex) and their permissions; an admin macaroon is always made. */
  macaroons?: Record<string, readonly LndPermission[]>
}

/** One JSON document the simulator sent: the swagger route, the status and the body. */
export type SentDocument = { route: string; status: number; body: unknown; stream?: boolean }

export type LndSimulator = SimServer & {
  readonly node: SimNode
  /** Admin macaroon (all permissions), hex. */
  readonly macaroon: string
  /** A macaroon with only invoices:read and invoices:write, hex (like `invoice.macaroon`). */
  readonly invoiceMacaroon: string
  readonly sent: SentDocument[]
  pay(paymentRequest: string): { preimage: string; paymentHash: string }
  cancel(paymentHash: string): void
  expire(paymentHash: string): void
  /** Marks an invoice ACCEPTED (a held HTLC): not settled. */
  accept(paymentHash: string): void
  /** Open subscription streams right now. */
  streams(): number
  /** Cuts every open stream (a node restart, a proxy timeout). */
  dropStreams(): void
}

const b64 = (hex: string): string => Buffer.from(hex, 'hex').toString('base64')
const all: readonly LndPermission[] = ['info:read', 'invoices:read', 'invoices:write']

export async function startLndSimulator(o: LndSimulatorOptions = {}): Promise<LndSimulator> {
  const node = createNode({ network: o.network ?? 'regtest' })
  const macaroon = bytesToHex(randomBytes(48))
  const invoiceMacaroon = bytesToHex(randomBytes(48))
  const macaroons = new Map<string, readonly LndPermission[]>([
    [macaroon, all],
    [invoiceMacaroon, ['invoices:read', 'invoices:write']],
    ...Object.entries(o.macaroons ?? {}),
  ])
  const accepted = new Set<string>()
  const sent: SentDocument[] = []
  const openStreams = new Set<ServerResponse>()
  const addListeners = new Set<(inv: SimInvoice) => void>()
  const acceptListeners = new Set<(inv: SimInvoice) => void>()

  function invoiceJson(inv: SimInvoice): Record<string, unknown> {
    const settled = inv.status === 'settled'
    const state = settled ? 'SETTLED' : inv.status === 'canceled' ? 'CANCELED' : accepted.has(inv.paymentHash) ? 'ACCEPTED' : 'OPEN'
    const paid = settled || state === 'ACCEPTED' ? (inv.amountPaidMsat ?? inv.amountMsat) : 0n
    const settleSeconds = inv.settledAtMs === undefined ? 0 : Math.floor(inv.settledAtMs / 1000)
    return {
      memo: inv.description,
      r_preimage: b64(inv.preimage), // present for unpaid invoices too: not a proof of payment
      r_hash: b64(inv.paymentHash),
      value: String(inv.amountMsat / 1000n),
      value_msat: String(inv.amountMsat),
      settled,
      creation_date: String(inv.createdAt),
      settle_date: String(settleSeconds),
      payment_request: inv.paymentRequest,
      description_hash: '',
      expiry: String(inv.expiry),
      fallback_addr: '',
      cltv_expiry: '80',
      route_hints: [],
      private: false,
      add_index: String(inv.addIndex),
      settle_index: String(inv.settleIndex ?? 0),
      amt_paid: String(paid),
      amt_paid_sat: String(paid / 1000n),
      amt_paid_msat: String(paid),
      state,
      htlcs: paid > 0n
        ? [
            {
              chan_id: '124244814004224',
              htlc_index: '0',
              amt_msat: String(paid),
              accept_height: 113,
              accept_time: String(settleSeconds || Math.floor(node.now() / 1000)),
              resolve_time: String(settleSeconds),
              expiry_height: 193,
              state: settled ? 'SETTLED' : 'ACCEPTED',
              custom_records: {},
              mpp_total_amt_msat: String(paid),
              amp: null,
              custom_channel_data: '',
            },
          ]
        : [],
      features: {
        '8': { name: 'tlv-onion', is_required: true, is_known: true },
        '14': { name: 'payment-addr', is_required: true, is_known: true },
      },
      is_keysend: false,
      payment_addr: b64(inv.paymentSecret),
      is_amp: false,
      amp_invoice_state: {},
      is_blinded: false,
      blinded_path_config: null,
    }
  }

  function reply(res: ServerResponse, route: string, status: number, body: unknown): void {
    sent.push({ route, status, body })
    const text = JSON.stringify(body)
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
    res.end(text)
  }

  /** grpc status → HTTP status, as grpc-gateway maps them. */
  function rpcError(res: ServerResponse, route: string, code: number, message: string): void {
    const http = code === 5 ? 404 : code === 3 ? 400 : code === 16 ? 401 : code === 7 ? 403 : code === 12 ? 501 : code === 14 ? 503 : 500
    reply(res, route, http, { code, message, details: [] })
  }

  /** The macaroon check LND runs before every RPC: HTTP 500 with code 2 on failure. */
  function authorize(req: IncomingMessage, res: ServerResponse, route: string, need: LndPermission): boolean {
    const h = req.headers['grpc-metadata-macaroon']
    const hex = Array.isArray(h) ? h[0] : h
    if (hex === undefined || hex === '') {
      rpcError(res, route, 2, 'expected 1 macaroon, got 0')
      return false
    }
    if (!/^(?:[0-9a-fA-F]{2})+$/.test(hex)) {
      rpcError(res, route, 2, 'cannot get macaroon: encoding/hex: invalid byte')
      return false
    }
    const perms = macaroons.get(hex.toLowerCase())
    if (perms === undefined) {
      rpcError(res, route, 2, 'verification failed: signature mismatch after caveat verification')
      return false
    }
    if (!perms.includes(need)) {
      rpcError(res, route, 2, 'permission denied')
      return false
    }
    return true
  }

  function int64(v: unknown): bigint | undefined {
    if (v === undefined || v === null) return 0n
    if (typeof v === 'number' && Number.isSafeInteger(v)) return BigInt(v)
    if (typeof v === 'string' && /^-?\d+$/.test(v)) return BigInt(v)
    return undefined
  }

  function startStream(res: ServerResponse): void {
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' })
    openStreams.add(res)
    res.on('close', () => openStreams.delete(res))
  }

  function streamLine(res: ServerResponse, route: string, inv: SimInvoice): void {
    const body = { result: invoiceJson(inv) }
    sent.push({ route, status: 200, body, stream: true })
    res.write(`${JSON.stringify(body)}\n`)
  }

  async function handler(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const u = new URL(req.url ?? '/', 'http://x')
    const method = req.method ?? 'GET'
    const path = u.pathname

    if (method === 'POST' && path === '/v1/invoices') {
      const route = 'POST /v1/invoices'
      if (!authorize(req, res, route, 'invoices:write')) return
      let body: Record<string, unknown>
      try {
        body = JSON.parse((await readBody(req)) || '{}') as Record<string, unknown>
        if (typeof body !== 'object' || body === null) throw new Error('not an object')
      } catch {
        return rpcError(res, route, 3, 'invalid character looking for beginning of value')
      }
      const value = int64(body.value)
      const valueMsat = int64(body.value_msat)
      const expiry = int64(body.expiry)
      if (value === undefined || valueMsat === undefined || expiry === undefined) {
        return rpcError(res, route, 3, 'proto: syntax error (line 1:1): invalid value for int64 field')
      }
      if (value !== 0n && valueMsat !== 0n) return rpcError(res, route, 2, 'value and value_msat are mutually exclusive')
      const memo = body.memo ?? ''
      if (typeof memo !== 'string') return rpcError(res, route, 3, 'proto: invalid value for string field memo')
      if (memo.length > 1024) return rpcError(res, route, 2, 'memo too large: 1025 bytes (maxsize=1024)')
      let preimage: string | undefined
      if (typeof body.r_preimage === 'string' && body.r_preimage !== '') {
        preimage = Buffer.from(body.r_preimage, 'base64').toString('hex')
        if (preimage.length !== 64) return rpcError(res, route, 2, 'payment preimage must be exactly 32 bytes')
      }
      let inv: SimInvoice
      try {
        inv = node.issue({
          amountMsat: valueMsat !== 0n ? valueMsat : value * 1000n,
          description: memo,
          expiry: expiry === 0n ? 86400 : Number(expiry),
          ...(preimage ? { preimage } : {}),
        })
      } catch (e) {
        return rpcError(res, route, 2, (e as Error).message)
      }
      for (const l of addListeners) l(inv)
      return reply(res, route, 200, {
        r_hash: b64(inv.paymentHash),
        payment_request: inv.paymentRequest,
        add_index: String(inv.addIndex),
        payment_addr: b64(inv.paymentSecret),
      })
    }

    if (method === 'GET' && path.startsWith('/v1/invoice/')) {
      const route = 'GET /v1/invoice/{r_hash_str}'
      if (!authorize(req, res, route, 'invoices:read')) return
      const hex = decodeURIComponent(path.slice('/v1/invoice/'.length))
      if (!/^[0-9a-fA-F]*$/.test(hex) || hex.length % 2 !== 0) return rpcError(res, route, 2, 'encoding/hex: invalid byte')
      if (hex.length !== 64) return rpcError(res, route, 2, `payment hash must be exactly 32 bytes, is instead ${hex.length / 2}`)
      const inv = node.find(hex)
      if (inv === undefined) return rpcError(res, route, 5, 'unable to locate invoice')
      return reply(res, route, 200, invoiceJson(inv))
    }

    if (method === 'GET' && path === '/v2/invoices/lookup') {
      const route = 'GET /v2/invoices/lookup'
      if (!authorize(req, res, route, 'invoices:read')) return
      const hex = Buffer.from(u.searchParams.get('payment_hash') ?? '', 'base64url').toString('hex')
      if (hex.length !== 64) return rpcError(res, route, 2, `payment hash must be exactly 32 bytes, is instead ${hex.length / 2}`)
      const inv = node.find(hex)
      if (inv === undefined) return rpcError(res, route, 5, 'unable to locate invoice')
      return reply(res, route, 200, invoiceJson(inv))
    }

    if (method === 'GET' && path.startsWith('/v2/invoices/subscribe/')) {
      const route = 'GET /v2/invoices/subscribe/{r_hash}'
      if (!authorize(req, res, route, 'invoices:read')) return
      const raw = path.slice('/v2/invoices/subscribe/'.length)
      // Path-embedded bytes must be base64url: a %2F never routes.
      if (!/^[A-Za-z0-9_-]+={0,2}$/.test(raw)) return rpcError(res, route, 5, 'Not Found')
      const hash = Buffer.from(raw, 'base64url').toString('hex')
      if (hash.length !== 64) return rpcError(res, route, 2, `payment hash must be exactly 32 bytes, is instead ${hash.length / 2}`)
      startStream(res)
      let sentState = ''
      const push = (inv: SimInvoice): void => {
        const state = String(invoiceJson(inv).state)
        if (state === sentState) return
        sentState = state
        streamLine(res, route, inv)
        if (state === 'SETTLED' || state === 'CANCELED') {
          off()
          res.end()
        }
      }
      const onInvoice = (inv: SimInvoice): void => {
        if (inv.paymentHash === hash && !res.writableEnded) push(inv)
      }
      const offChange = node.onChange(onInvoice)
      addListeners.add(onInvoice)
      acceptListeners.add(onInvoice)
      const off = (): void => {
        offChange()
        addListeners.delete(onInvoice)
        acceptListeners.delete(onInvoice)
      }
      res.on('close', off)
      const existing = node.find(hash)
      if (existing !== undefined) push(existing) // first message = current state; unknown → silent wait
      return
    }

    if (method === 'GET' && path === '/v1/invoices/subscribe') {
      const route = 'GET /v1/invoices/subscribe'
      if (!authorize(req, res, route, 'invoices:read')) return
      const addIndex = Number(u.searchParams.get('add_index') ?? 0)
      const settleIndex = Number(u.searchParams.get('settle_index') ?? 0)
      startStream(res)
      const invoices = [...node.invoices.values()]
      if (addIndex > 0) for (const inv of invoices.filter((i) => i.addIndex > addIndex).sort((a, b) => a.addIndex - b.addIndex)) streamLine(res, route, inv)
      if (settleIndex > 0) {
        for (const inv of invoices.filter((i) => (i.settleIndex ?? 0) > settleIndex).sort((a, b) => a.settleIndex! - b.settleIndex!)) {
          streamLine(res, route, inv)
        }
      }
      const offChange = node.onChange((inv) => inv.status === 'settled' && !res.writableEnded && streamLine(res, route, inv))
      const onAdd = (inv: SimInvoice): void => {
        if (!res.writableEnded) streamLine(res, route, inv)
      }
      addListeners.add(onAdd)
      res.on('close', () => {
        offChange()
        addListeners.delete(onAdd)
      })
      return
    }

    if (method === 'GET' && path === '/v1/getinfo') {
      const route = 'GET /v1/getinfo'
      if (!authorize(req, res, route, 'info:read')) return
      return reply(res, route, 200, {
        version: '0.19.2-beta commit=v0.19.2-beta',
        commit_hash: '0000000000000000000000000000000000000000',
        identity_pubkey: node.pubkey,
        alias: 'turnpike-lnd-sim',
        color: '#3399ff',
        num_pending_channels: 0,
        num_active_channels: 1,
        num_inactive_channels: 0,
        num_peers: 1,
        block_height: 150,
        block_hash: '0'.repeat(64),
        best_header_timestamp: String(Math.floor(node.now() / 1000)),
        synced_to_chain: true,
        synced_to_graph: true,
        testnet: node.network === 'testnet',
        chains: [{ chain: 'bitcoin', network: node.network }],
        uris: [],
        features: {},
        require_htlc_interceptor: false,
        store_final_htlc_resolutions: false,
        wallet_synced: true,
        graph_cache_status: 'GRAPH_CACHE_STATUS_LOADED',
      })
    }

    // grpc-gateway's answers for unknown routes and methods.
    const known = ['/v1/invoices', '/v1/getinfo', '/v2/invoices/lookup', '/v1/invoices/subscribe']
    if (known.includes(path)) return reply(res, `${method} ${path}`, 405, { code: 12, message: 'Method Not Allowed', details: [] })
    return reply(res, `${method} ${path}`, 404, { code: 5, message: 'Not Found', details: [] })
  }

  const server = await serve(handler, o.tls)
  const sim: LndSimulator = {
    ...server,
    node,
    macaroon,
    invoiceMacaroon,
    sent,
    pay(paymentRequest) {
      const inv = node.pay(paymentRequest)
      accepted.delete(inv.paymentHash)
      return { preimage: inv.preimage, paymentHash: inv.paymentHash }
    },
    cancel: (h) => void node.cancel(h),
    expire: (h) => void node.expire(h),
    accept(h) {
      accepted.add(h)
      const inv = node.find(h)
      if (inv) for (const l of acceptListeners) l(inv)
    },
    streams: () => openStreams.size,
    dropStreams() {
      for (const s of openStreams) s.destroy()
    },
    close: async () => {
      for (const s of openStreams) s.destroy()
      await server.close()
    },
  }
  return sim
}
