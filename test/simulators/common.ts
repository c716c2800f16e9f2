/**
 * Shared parts of the node simulators: a signing node with per-invoice state (real BOLT11 invoices,
 * a preimage per invoice, open → settled | canceled, expiry), test hooks outside the node's API
 * (pay, cancel, expire, fail next, latency, hang), HTTP(S) servers on loopback and throwaway TLS
 * certificates made with `openssl`.
 * @module
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import http, { type IncomingMessage, type ServerResponse } from 'node:http'
import https from 'node:https'
import type { AddressInfo, Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { secp256k1 } from '@noble/curves/secp256k1.js'
import { sha256 } from '@noble/hashes/sha2.js'
import { bytesToHex, randomBytes } from '@noble/hashes/utils.js'
import * as Bolt11 from '../../src/Bolt11.ts'
import type { Network } from '../../src/Bolt11.ts'

export type SimStatus = 'open' | 'settled' | 'canceled'

/** One invoice as a simulated node keeps it. Times in unix seconds unless named `…Ms`. */
export type SimInvoice = {
  readonly paymentHash: string
  readonly preimage: string
  readonly paymentSecret: string
  readonly paymentRequest: string
  readonly amountMsat: bigint
  readonly description: string
  /** Unix seconds (the invoice timestamp). */
  createdAt: number
  readonly expiry: number
  status: SimStatus
  /** Unix ms. */
  settledAtMs?: number
  amountPaidMsat?: bigint
  /** Per-node counters, as nodes keep them (LND add/settle index, CLN created/updated index). */
  readonly addIndex: number
  settleIndex?: number
  /** 0 until the first change. */
  updatedIndex: number
  /** Backend-specific extras (CLN label, phoenixd externalId…). */
  readonly extra: Record<string, string>
}

export type IssueParameters = {
  amountMsat: bigint
  description?: string
  expiry: number
  preimage?: string
  extra?: Record<string, string>
}

export type SimNode = {
  readonly privateKey: Uint8Array
  readonly pubkey: string
  readonly network: Network
  readonly invoices: Map<string, SimInvoice>
  now(): number
  issue(p: IssueParameters): SimInvoice
  find(paymentHash: string): SimInvoice | undefined
  /** True when open and past its expiry. */
  isExpired(inv: SimInvoice): boolean
  /** Pays an invoice by BOLT11 or hash; throws when unknown, not open or expired. */
  pay(invoiceOrHash: string, amountMsat?: bigint): SimInvoice
  cancel(paymentHash: string): SimInvoice
  /** Moves the invoice's creation back so that it is expired now. */
  expire(paymentHash: string): SimInvoice
  /** Called on every state change (pay, cancel). */
  onChange(listener: (inv: SimInvoice) => void): () => void
  lastSettleIndex(): number
  lastUpdatedIndex(): number
}

/** The BOLT #11 example key (bolt11-vectors.json `privateKeyHex`) is one option; by default a random key. */
export function createNode(o: { network?: Network; privateKey?: Uint8Array; now?: () => number } = {}): SimNode {
  const privateKey = o.privateKey ?? secp256k1.utils.randomSecretKey()
  const network = o.network ?? 'regtest'
  const nowMs = o.now ?? Date.now
  const invoices = new Map<string, SimInvoice>()
  const listeners = new Set<(inv: SimInvoice) => void>()
  let addIndex = 0
  let settleIndex = 0
  let updatedIndex = 0
  const now = (): number => nowMs()
  const emit = (inv: SimInvoice): void => {
    for (const l of listeners) l(inv)
  }
  const node: SimNode = {
    privateKey,
    pubkey: bytesToHex(secp256k1.getPublicKey(privateKey, true)),
    network,
    invoices,
    now,
    issue(p) {
      const preimage = p.preimage ?? bytesToHex(randomBytes(32))
      const paymentHash = bytesToHex(sha256(Buffer.from(preimage, 'hex')))
      if (invoices.has(paymentHash)) throw new Error('invoice with payment hash already exists')
      const paymentSecret = bytesToHex(randomBytes(32))
      const createdAt = Math.floor(now() / 1000)
      const description = p.description ?? ''
      const paymentRequest = Bolt11.encode({
        network,
        amountMsat: p.amountMsat,
        timestamp: createdAt,
        paymentHash,
        paymentSecret,
        description,
        expiry: p.expiry,
        minFinalCltvExpiry: 80,
        features: [8, 14],
        privateKey,
      })
      const inv: SimInvoice = {
        paymentHash,
        preimage,
        paymentSecret,
        paymentRequest,
        amountMsat: p.amountMsat,
        description,
        createdAt,
        expiry: p.expiry,
        status: 'open',
        addIndex: ++addIndex,
        updatedIndex: 0, // CLN: no updated_index until the invoice changes
        extra: { ...p.extra },
      }
      invoices.set(paymentHash, inv)
      return inv
    },
    find: (h) => invoices.get(h.toLowerCase()),
    isExpired: (inv) => inv.status === 'open' && now() >= (inv.createdAt + inv.expiry) * 1000,
    pay(invoiceOrHash, amountMsat) {
      const hash = /^[0-9a-f]{64}$/i.test(invoiceOrHash) ? invoiceOrHash.toLowerCase() : Bolt11.decode(invoiceOrHash).paymentHash
      const inv = invoices.get(hash)
      if (inv === undefined) throw new Error('simulator: unknown invoice')
      if (inv.status !== 'open') throw new Error(`simulator: invoice is ${inv.status}`)
      if (node.isExpired(inv)) throw new Error('simulator: invoice expired')
      inv.status = 'settled'
      inv.settledAtMs = now()
      inv.amountPaidMsat = amountMsat ?? inv.amountMsat
      inv.settleIndex = ++settleIndex
      inv.updatedIndex = ++updatedIndex
      emit(inv)
      return inv
    },
    cancel(hash) {
      const inv = invoices.get(hash.toLowerCase())
      if (inv === undefined) throw new Error('simulator: unknown invoice')
      if (inv.status !== 'open') throw new Error(`simulator: invoice is ${inv.status}`)
      inv.status = 'canceled'
      inv.updatedIndex = ++updatedIndex
      emit(inv)
      return inv
    },
    expire(hash) {
      const inv = invoices.get(hash.toLowerCase())
      if (inv === undefined) throw new Error('simulator: unknown invoice')
      inv.createdAt = Math.floor(now() / 1000) - inv.expiry - 1
      inv.updatedIndex = ++updatedIndex
      emit(inv)
      return inv
    },
    onChange(listener) {
      listeners.add(listener)
      return () => listeners.delete(listener)
    },
    lastSettleIndex: () => settleIndex,
    lastUpdatedIndex: () => updatedIndex,
  }
  return node
}

/** A canned answer that replaces the next request(s), whatever they are. */
export type CannedResponse = { status: number; body: string; contentType?: string }

/** Fault injection, outside the node's API. */
export type Faults = {
  /** The next `times` requests (default 1) get this answer instead of the node's. */
  failNext(r: CannedResponse, times?: number): void
  /** Delay before every answer, in ms. */
  latencyMs: number
  /** Accept requests and never answer. */
  hang: boolean
  /** Requests served (including faulted ones). */
  readonly requests: number
}

export type SimServer = {
  readonly url: string
  readonly port: number
  readonly faults: Faults
  close(): Promise<void>
}

export type TlsMaterial = { cert: string; key: string }

/**
 * Serves `handler` on 127.0.0.1 (HTTPS when `tls` is given), applying the faults first.
 * `close()` also drops open connections (streams, hung requests).
 */
export async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void | Promise<void>, tls?: TlsMaterial): Promise<SimServer> {
  let queue: CannedResponse[] = []
  let requests = 0
  const faults: Faults = {
    failNext(r, times = 1) {
      for (let i = 0; i < times; i++) queue.push(r)
    },
    latencyMs: 0,
    hang: false,
    get requests() {
      return requests
    },
  }
  const sockets = new Set<Socket>()
  const listener = (req: IncomingMessage, res: ServerResponse): void => {
    requests++
    if (faults.hang) return // never answer; the client's timeout must fire
    const go = (): void => {
      const canned = queue.shift()
      if (canned !== undefined) {
        req.resume()
        res.writeHead(canned.status, { 'content-type': canned.contentType ?? 'application/json' })
        res.end(canned.body)
        return
      }
      Promise.resolve(handler(req, res)).catch((e: unknown) => {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' })
        res.end(`simulator bug: ${String(e)}`)
      })
    }
    if (faults.latencyMs > 0) setTimeout(go, faults.latencyMs)
    else go()
  }
  const server = tls ? https.createServer({ cert: tls.cert, key: tls.key }, listener) : http.createServer(listener)
  server.on('connection', (s: Socket) => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const { port } = server.address() as AddressInfo
  return {
    url: `${tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    port,
    faults,
    close: () =>
      new Promise<void>((resolve) => {
        queue = []
        server.close(() => resolve())
        for (const s of sockets) s.destroy()
      }),
  }
}

/** Reads a request body as text (bounded). */
export function readBody(req: IncomingMessage, limit = 1 << 20): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    req.on('data', (c: Buffer) => {
      size += c.length
      if (size > limit) reject(new Error('body too large'))
      else chunks.push(c)
    })
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
    req.on('error', reject)
  })
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
  res.end(text)
}

export function sendText(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=UTF-8', 'content-length': Buffer.byteLength(text) })
  res.end(text)
}

/** Parses `Authorization: Basic …` → the password (user ignored), or undefined. */
export function basicPassword(req: IncomingMessage): { user: string; password: string } | undefined {
  const h = req.headers.authorization
  if (h === undefined || !/^Basic\s+/i.test(h)) return undefined
  const decoded = Buffer.from(h.replace(/^Basic\s+/i, ''), 'base64').toString('utf8')
  const i = decoded.indexOf(':')
  if (i < 0) return undefined
  return { user: decoded.slice(0, i), password: decoded.slice(i + 1) }
}

let opensslChecked: boolean | undefined

/** True when an `openssl` binary is available (TLS tests skip otherwise). */
export function hasOpenssl(): boolean {
  if (opensslChecked === undefined) {
    try {
      execFileSync('openssl', ['version'], { stdio: 'ignore' })
      opensslChecked = true
    } catch {
      opensslChecked = false
    }
  }
  return opensslChecked
}

/**
 * A throwaway self-signed ECDSA P-256 certificate for `127.0.0.1` and `localhost`, like lnd's
 * `tls.cert`, made with `openssl`. Throws when openssl is missing (check {@link hasOpenssl}).
 */
export function selfSignedCert(cn = 'turnpike simulator'): TlsMaterial {
  const dir = mkdtempSync(join(tmpdir(), 'turnpike-cert-'))
  try {
    const key = join(dir, 'tls.key')
    const cert = join(dir, 'tls.cert')
    execFileSync(
      'openssl',
      [
        'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
        '-keyout', key, '-out', cert, '-days', '2', '-subj', `/O=lnd/CN=${cn}`,
        '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
      ],
      { stdio: 'ignore' },
    )
    return { cert: readFileSync(cert, 'utf8'), key: readFileSync(key, 'utf8') }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** Unix seconds → `{iso, unix}` as Eclair writes timestamps. */
export function eclairTime(unixSeconds: number): { iso: string; unix: number } {
  return { iso: new Date(unixSeconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z'), unix: unixSeconds }
}
