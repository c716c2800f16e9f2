/**
 * A Core Lightning simulator (backends.md §2, §10): one node behind both clnrest (`POST /v1/<method>`,
 * `Rune` header: 403 missing, 401 invalid; 201 on success; 500 with lightningd's code on RPC errors;
 * 404 for unknown methods) and the `lightning-rpc` unix socket (JSON-RPC 2.0, every response ending
 * in `"\n\n"`). Methods: invoice, listinvoices (incl. index/start), waitinvoice (blocking; 903 on
 * expiry), wait (invoices created/updated), getinfo. Paid-only fields appear only when paid.
 * @module
 */
import { existsSync, unlinkSync } from 'node:fs'
import type { IncomingMessage, ServerResponse } from 'node:http'
import net from 'node:net'
import { randomBytes } from '@noble/hashes/utils.js'
import type { Network } from '../../src/Bolt11.ts'
import { createNode, readBody, sendJson, serve, type SimInvoice, type SimNode, type SimServer, type TlsMaterial } from './common.ts'

export type ClnSimulatorOptions = {
  tls?: TlsMaterial
  network?: Network
  /** Also listen on this unix socket path (JSON-RPC). */
  socketPath?: string
  /** Quirk for defensive tests: list `payment_preimage` on unpaid invoices too (real CLN does not). */
  leakPreimage?: boolean
}

export type ClnSimulator = SimServer & {
  readonly node: SimNode
  /** A rune allowed every method. */
  readonly rune: string
  /** A rune restricted to invoice/listinvoices/waitinvoice/wait (the gateway rune of backends.md). */
  readonly invoiceRune: string
  readonly socketPath: string | undefined
  /** Socket-side faults. */
  readonly socketFaults: { hang: boolean; garbageNext: boolean }
  pay(paymentRequest: string): { preimage: string; paymentHash: string }
  cancel(paymentHash: string): void
  expire(paymentHash: string): void
  /** Requests currently blocked in waitinvoice/wait. */
  waiting(): number
}

class RpcFailure extends Error {
  readonly code: number
  constructor(code: number, message: string) {
    super(message)
    this.code = code
  }
}

const b64url = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64url')

export async function startClnSimulator(o: ClnSimulatorOptions = {}): Promise<ClnSimulator> {
  const node = createNode({ network: o.network ?? 'regtest' })
  const rune = b64url(randomBytes(40))
  const invoiceRune = b64url(randomBytes(40))
  const runes = new Map<string, readonly string[] | undefined>([
    [rune, undefined],
    [invoiceRune, ['invoice', 'listinvoices', 'waitinvoice', 'waitanyinvoice', 'wait', 'listclnrest-notifications']],
  ])
  let waiters = 0
  let payIndex = 0
  const payIndexes = new Map<string, number>()
  const waitListeners = new Set<() => void>()
  node.onChange((inv) => {
    if (inv.status === 'settled' && !payIndexes.has(inv.paymentHash)) payIndexes.set(inv.paymentHash, ++payIndex)
    for (const l of [...waitListeners]) l()
  })
  const byLabel = (label: string): SimInvoice | undefined => [...node.invoices.values()].find((i) => i.extra.label === label)
  const status = (inv: SimInvoice): 'paid' | 'expired' | 'unpaid' =>
    inv.status === 'settled' ? 'paid' : inv.status === 'canceled' || node.isExpired(inv) ? 'expired' : 'unpaid'

  function entry(inv: SimInvoice): Record<string, unknown> {
    const s = status(inv)
    const e: Record<string, unknown> = {
      label: inv.extra.label,
      bolt11: inv.paymentRequest,
      payment_hash: inv.paymentHash,
      amount_msat: Number(inv.amountMsat),
      status: s,
      description: inv.description,
      expires_at: inv.createdAt + inv.expiry,
      created_index: inv.addIndex,
    }
    if (inv.updatedIndex > 0) e.updated_index = inv.updatedIndex
    if (s === 'paid') {
      e.pay_index = payIndexes.get(inv.paymentHash)
      e.amount_received_msat = Number(inv.amountPaidMsat ?? inv.amountMsat)
      e.paid_at = Math.floor(inv.settledAtMs! / 1000)
      e.payment_preimage = inv.preimage
    } else if (o.leakPreimage === true) {
      e.payment_preimage = inv.preimage
    }
    return e
  }

  /** Resolves when `ready()` turns true after a node change, or on `signal`. */
  function until(ready: () => boolean, signal: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (ready()) return resolve()
      waiters++
      const l = (): void => {
        if (!ready()) return
        cleanup()
        resolve()
      }
      const cleanup = (): void => {
        waiters--
        waitListeners.delete(l)
        signal.removeEventListener('abort', onAbort)
      }
      const onAbort = (): void => {
        cleanup()
        reject(new Error('client went away'))
      }
      waitListeners.add(l)
      signal.addEventListener('abort', onAbort, { once: true })
    })
  }

  function amountOf(v: unknown): bigint {
    if (typeof v === 'number' && Number.isSafeInteger(v) && v > 0) return BigInt(v)
    if (typeof v === 'string') {
      const m = /^(\d+)(msat|sat)?$/.exec(v)
      if (m) return BigInt(m[1]!) * (m[2] === 'sat' ? 1000n : 1n)
    }
    throw new RpcFailure(-32602, "amount_msat: should be a millisatoshi amount: invalid token '" + JSON.stringify(v) + "'")
  }

  async function rpc(method: string, params: Record<string, unknown>, signal: AbortSignal): Promise<unknown> {
    switch (method) {
      case 'invoice': {
        const amountMsat = amountOf(params.amount_msat)
        const label = params.label
        if (typeof label !== 'string' && typeof label !== 'number') throw new RpcFailure(-32602, "missing required parameter: label")
        if (typeof params.description !== 'string') throw new RpcFailure(-32602, 'missing required parameter: description')
        if (byLabel(String(label)) !== undefined) throw new RpcFailure(900, `Duplicate label '${String(label)}'`)
        const expiry = params.expiry === undefined ? 604800 : Number(params.expiry)
        if (!Number.isSafeInteger(expiry) || expiry <= 0) throw new RpcFailure(-32602, 'expiry: should be an unsigned 64 bit integer')
        const inv = node.issue({ amountMsat, description: params.description, expiry, extra: { label: String(label) } })
        for (const l of [...waitListeners]) l()
        return { payment_hash: inv.paymentHash, expires_at: inv.createdAt + inv.expiry, bolt11: inv.paymentRequest, payment_secret: inv.paymentSecret, created_index: inv.addIndex }
      }
      case 'listinvoices': {
        const selectors = ['label', 'invstring', 'payment_hash', 'offer_id'].filter((k) => params[k] !== undefined)
        if (selectors.length > 1) throw new RpcFailure(-32602, 'Can only specify one of {label}, {invstring}, {payment_hash} or {offer_id}')
        let list = [...node.invoices.values()]
        if (typeof params.label === 'string') list = list.filter((i) => i.extra.label === params.label)
        if (typeof params.payment_hash === 'string') {
          if (!/^[0-9a-f]{64}$/.test(params.payment_hash)) throw new RpcFailure(-32602, 'payment_hash: should be a 32 byte hex value')
          list = list.filter((i) => i.paymentHash === params.payment_hash)
        }
        if (params.index !== undefined) {
          const start = Number(params.start ?? 0)
          if (params.index === 'created') list = list.filter((i) => i.addIndex >= start).sort((a, b) => a.addIndex - b.addIndex)
          else if (params.index === 'updated') list = list.filter((i) => i.updatedIndex > 0 && i.updatedIndex >= start).sort((a, b) => a.updatedIndex - b.updatedIndex)
          else throw new RpcFailure(-32602, "index: should be 'created' or 'updated'")
          if (params.limit !== undefined) list = list.slice(0, Number(params.limit))
        }
        return { invoices: list.map(entry) }
      }
      case 'waitinvoice': {
        const inv = byLabel(String(params.label))
        if (inv === undefined) throw new RpcFailure(-1, 'Label not found')
        let timer: NodeJS.Timeout | undefined
        if (status(inv) === 'unpaid') {
          // wake up at expiry as lightningd does
          timer = setTimeout(() => {
            for (const l of [...waitListeners]) l()
          }, Math.max(0, (inv.createdAt + inv.expiry) * 1000 - node.now()) + 5)
        }
        try {
          await until(() => status(inv) !== 'unpaid', signal)
        } finally {
          clearTimeout(timer)
        }
        if (status(inv) === 'expired') throw new RpcFailure(903, 'invoice expired during wait')
        return entry(inv)
      }
      case 'wait': {
        if (params.subsystem !== 'invoices') throw new RpcFailure(-32602, 'subsystem: must be invoices, forwards or sendpays')
        const name = params.indexname
        if (name !== 'created' && name !== 'updated') throw new RpcFailure(-32602, 'indexname: must be created, updated or deleted')
        const next = Number(params.nextvalue)
        if (!Number.isSafeInteger(next) || next < 0) throw new RpcFailure(-32602, 'nextvalue: should be an unsigned 64 bit integer')
        const current = (): number => (name === 'created' ? node.invoices.size : node.lastUpdatedIndex())
        await until(() => current() >= next, signal)
        const out: Record<string, unknown> = { subsystem: 'invoices', [name]: Math.max(next, 0) === 0 ? current() : next }
        const changed = [...node.invoices.values()].find((i) => (name === 'created' ? i.addIndex : i.updatedIndex) === next)
        if (changed !== undefined) out.details = { status: status(changed), label: changed.extra.label, description: changed.description, bolt11: changed.paymentRequest }
        return out
      }
      case 'getinfo':
        return {
          id: node.pubkey,
          alias: 'turnpike-cln-sim',
          color: '02ab12',
          num_peers: 1,
          num_pending_channels: 0,
          num_active_channels: 1,
          num_inactive_channels: 0,
          address: [],
          binding: [{ type: 'ipv4', address: '127.0.0.1', port: 9735 }],
          version: 'v25.05',
          blockheight: 150,
          network: node.network === 'mainnet' ? 'bitcoin' : node.network,
          fees_collected_msat: 0,
          'lightning-dir': `/home/cln/.lightning/${node.network}`,
          our_features: { init: '08a0000a8a5961', node: '88a0000a8a5961', channel: '', invoice: '02000002024100' },
        }
      default:
        throw new RpcFailure(-32601, `Unknown command '${method}'`)
    }
  }

  async function handler(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const m = /^\/v1\/([a-z0-9_-]+)$/i.exec(new URL(req.url ?? '/', 'http://x').pathname)
    if (req.method !== 'POST' || m === null) return sendJson(res, 404, { code: -32601, message: 'Not found' })
    const method = m[1]!
    const header = req.headers.rune
    const r = Array.isArray(header) ? header[0] : header
    if (r === undefined || r === '') return sendJson(res, 403, { code: 1501, message: 'Not authorized: Missing rune' })
    if (!runes.has(r)) return sendJson(res, 401, { code: 1502, message: 'Rune is not valid' })
    const allowed = runes.get(r)
    if (allowed !== undefined && !allowed.includes(method)) {
      return sendJson(res, 401, { code: 1502, message: `Not permitted: method is not one of ${allowed.join(', ')}` })
    }
    let params: Record<string, unknown>
    try {
      const text = await readBody(req)
      params = text.trim() === '' ? {} : (JSON.parse(text) as Record<string, unknown>)
    } catch {
      return sendJson(res, 500, { code: -32700, message: 'Parse error' })
    }
    const ac = new AbortController()
    res.on('close', () => ac.abort())
    try {
      const result = await rpc(method, params, ac.signal)
      sendJson(res, 201, result)
    } catch (e) {
      if (!(e instanceof RpcFailure)) return
      sendJson(res, e.code === -32601 ? 404 : 500, { code: e.code, message: e.message })
    }
  }

  const server = await serve(handler, o.tls)
  const socketFaults = { hang: false, garbageNext: false }
  let socketServer: net.Server | undefined
  const sockets = new Set<net.Socket>()
  if (o.socketPath !== undefined) {
    if (existsSync(o.socketPath)) unlinkSync(o.socketPath)
    socketServer = net.createServer((conn) => {
      sockets.add(conn)
      const ac = new AbortController()
      conn.on('close', () => {
        sockets.delete(conn)
        ac.abort()
      })
      conn.on('error', () => {})
      let buffer = ''
      conn.setEncoding('utf8')
      conn.on('data', (chunk: string) => {
        buffer += chunk
        let msg: { jsonrpc?: unknown; id?: unknown; method?: unknown; params?: unknown }
        try {
          msg = JSON.parse(buffer) as typeof msg
        } catch {
          return // wait for the rest of the object
        }
        buffer = ''
        if (socketFaults.hang) return
        if (socketFaults.garbageNext) {
          socketFaults.garbageNext = false
          conn.write('{"jsonrpc":"2.0","id":\n\n')
          return
        }
        const reply = (body: Record<string, unknown>): void => {
          if (!conn.destroyed) conn.write(`${JSON.stringify({ jsonrpc: '2.0', id: msg.id, ...body })}\n\n`)
        }
        const params = (msg.params ?? {}) as Record<string, unknown>
        if (typeof msg.method !== 'string' || typeof params !== 'object' || Array.isArray(params)) {
          return reply({ error: { code: -32600, message: 'Invalid request' } })
        }
        rpc(msg.method, params, ac.signal).then(
          (result) => reply({ result }),
          (e: unknown) => {
            if (e instanceof RpcFailure) reply({ error: { code: e.code, message: e.message } })
          },
        )
      })
    })
    await new Promise<void>((resolve) => socketServer!.listen(o.socketPath, resolve))
  }

  return {
    ...server,
    node,
    rune,
    invoiceRune,
    socketPath: o.socketPath,
    socketFaults,
    pay(paymentRequest) {
      const inv = node.pay(paymentRequest)
      return { preimage: inv.preimage, paymentHash: inv.paymentHash }
    },
    cancel: (h) => void node.cancel(h),
    expire: (h) => void node.expire(h),
    waiting: () => waiters,
    async close() {
      for (const s of sockets) s.destroy()
      if (socketServer) await new Promise<void>((r) => socketServer!.close(() => r()))
      await server.close()
    },
  }
}
