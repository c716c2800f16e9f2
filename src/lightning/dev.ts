/**
 * The built-in dev node: an in-process simulated Lightning node that issues real signed BOLT11
 * invoices and settles them through a test hook (`pay`). Used by tests, the zero-config local setup
 * and the docs; the reference implementation of the backend contract.
 * @module
 */
import { linkSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { secp256k1 } from '@noble/curves/secp256k1.js'
import { hmac } from '@noble/hashes/hmac.js'
import { sha256 } from '@noble/hashes/sha2.js'
import { bytesToHex, hexToBytes, randomBytes, utf8ToBytes } from '@noble/hashes/utils.js'
import * as Bolt11 from '../Bolt11.ts'
import type { Network } from '../Bolt11.ts'
import { TurnpikeError } from '../Errors.ts'
import { signer } from '../internal/secp256k1.ts'
import type { Backend, CreateInvoiceParameters, Invoice, InvoiceState, NodeInfo } from '../Lightning.ts'
import { subscription } from './internal/subscription.ts'

/** The dev backend: a {@link Backend} plus the node key and payer-side test hooks. */
export type DevBackend = Backend & {
  /** 33-byte compressed node key, hex; the payee of every invoice. */
  readonly pubkey: string
  readonly network: Network
  /**
   * Pays an invoice this node issued (stateless: works after a restart with the same key).
   * @remarks Rejects with `TURNPIKE_BOLT11_MALFORMED`, `TURNPIKE_BAD_REQUEST` (not issued by this
   * node), `TURNPIKE_INVOICE_EXPIRED` (expired or canceled) or `TURNPIKE_INVOICE_ALREADY_PAID`.
   */
  pay(paymentRequest: string): Promise<{ preimage: string; paymentHash: string }>
  /** Cancels an open invoice; rejects with `TURNPIKE_INVOICE_UNKNOWN` or `TURNPIKE_INVOICE_ALREADY_PAID`. */
  cancel(paymentHash: string): Promise<void>
}

/** Options of {@link dev}. */
export type DevParameters = {
  /** Node key; mutually exclusive with `dataDir`. Default: `dataDir`'s key, else a random one. */
  readonly privateKey?: Uint8Array | undefined
  /** Directory holding `dev-node.key`, created on first use. */
  readonly dataDir?: string | undefined
  /** Default `'regtest'`. */
  readonly network?: Network | undefined
  /** Clock in unix ms (default `Date.now`). */
  readonly now?: (() => number) | undefined
}

type Tracked = {
  paymentRequest: string
  amountMsat: bigint
  createdAt: number
  expiresAt: number
  status: 'open' | 'settled' | 'canceled'
  preimage?: string
  settledAt?: number
}

const keyFileName = 'dev-node.key'
const preimageTag = utf8ToBytes('turnpike-dev-preimage')
/** Features 8 and 14 (var_onion_optin, payment_secret) as required bits, per protocols.md §6.1. */
const features = [8, 14] as const
const minFinalCltvExpiry = 80
/** A `d` field holds at most 1023 words = 639 bytes. */
const maxDescriptionBytes = 639
/** Tracked invoices are forgotten this long after they expire. */
const retentionMs = 24 * 60 * 60 * 1000
const pruneEveryMs = 60_000
/** Hard cap on tracked invoices; the oldest go first. */
const maxTracked = 100_000

/**
 * Creates a dev node. Invoices are signed with the node key and carry no `n` field (like LND and
 * CLN), so readers recover the payee from the signature. The preimage is
 * HMAC-SHA256(nodeKey, 'turnpike-dev-preimage' ‖ paymentSecret), so `pay` needs no stored state;
 * invoice states live in memory only (a restart forgets settled and canceled marks).
 * @example
 * const backend = dev({ dataDir: '.turnpike' })
 * const invoice = await backend.createInvoice({ amountMsat: 10_000n, expirySeconds: 600 })
 * await backend.pay(invoice.paymentRequest)
 */
export function dev(o: DevParameters = {}): DevBackend {
  if (o.privateKey !== undefined && o.dataDir !== undefined) {
    throw new TypeError('dev() takes privateKey or dataDir, not both')
  }
  const key =
    o.privateKey !== undefined
      ? checkKey(o.privateKey).slice() // a copy: the keyed HMAC below must not go stale
      : o.dataDir !== undefined
        ? loadOrCreateNodeKey(o.dataDir).key
        : secp256k1.utils.randomSecretKey()
  const network = o.network ?? 'regtest'
  Bolt11.hrpPrefix(network) // validates
  const now = o.now ?? Date.now
  const pubkey = bytesToHex(secp256k1.getPublicKey(key, true))
  // Load the invoice signer now (the WASM one takes ~15 ms once) rather than on the first invoice.
  signer()
  // HMAC keyed once: each preimage clones it instead of re-deriving the inner and outer pads.
  const preimageMac = hmac.create(sha256, key)
  const tracked = new Map<string, Tracked>()
  const listeners = new Set<(s: InvoiceState) => void>()
  const closers = new Set<() => void>()
  let lastPrune = Number.NEGATIVE_INFINITY
  let closed = false

  function derivePreimage(paymentSecret: Uint8Array): Uint8Array {
    return preimageMac.clone().update(preimageTag).update(paymentSecret).digest()
  }

  function prune(t: number): void {
    if (t - lastPrune >= pruneEveryMs) {
      lastPrune = t
      for (const [hash, e] of tracked) if (t > e.expiresAt + retentionMs) tracked.delete(hash)
    }
    for (const hash of tracked.keys()) {
      if (tracked.size < maxTracked) break
      tracked.delete(hash)
    }
  }

  function view(paymentHash: string, e: Tracked, t: number): InvoiceState {
    if (e.status === 'settled') {
      return { paymentHash, status: 'settled', preimage: e.preimage!, amountMsat: e.amountMsat, settledAt: e.settledAt! }
    }
    // An open invoice never carries its preimage, although this node knows it.
    const status = e.status === 'open' && t >= e.expiresAt ? 'expired' : e.status
    return { paymentHash, status, amountMsat: e.amountMsat }
  }

  function ensureOpen(): void {
    if (closed) throw new TurnpikeError('TURNPIKE_BACKEND_UNAVAILABLE', 'dev node is closed')
  }

  function emit(state: InvoiceState): void {
    for (const listener of listeners) listener(state)
  }

  return {
    name: 'dev',
    pubkey,
    network,

    async createInvoice(p: CreateInvoiceParameters): Promise<Invoice> {
      ensureOpen()
      p.signal?.throwIfAborted()
      if (typeof p.amountMsat !== 'bigint' || p.amountMsat <= 0n) badRequest('amountMsat must be a bigint > 0')
      if (!Number.isSafeInteger(p.expirySeconds) || p.expirySeconds <= 0) {
        badRequest('expirySeconds must be a positive integer')
      }
      const description = p.description ?? ''
      if (typeof description !== 'string' || utf8ToBytes(description).length > maxDescriptionBytes) {
        badRequest(`description must be a string of at most ${maxDescriptionBytes} UTF-8 bytes`)
      }
      const t = now()
      prune(t)
      const timestamp = Math.floor(t / 1000)
      const paymentSecret = randomBytes(32)
      const paymentHash = bytesToHex(sha256(derivePreimage(paymentSecret)))
      const paymentRequest = Bolt11.encode({
        network,
        amountMsat: p.amountMsat,
        timestamp,
        paymentHash,
        paymentSecret: bytesToHex(paymentSecret),
        description,
        expiry: p.expirySeconds,
        minFinalCltvExpiry,
        features,
        privateKey: key,
      })
      // Report the times the invoice itself carries (whole seconds).
      const createdAt = timestamp * 1000
      const expiresAt = createdAt + p.expirySeconds * 1000
      tracked.set(paymentHash, { paymentRequest, amountMsat: p.amountMsat, createdAt, expiresAt, status: 'open' })
      return { paymentRequest, paymentHash, amountMsat: p.amountMsat, createdAt, expiresAt }
    },

    async lookupInvoice(paymentHash: string, lo?: { signal?: AbortSignal }): Promise<InvoiceState> {
      ensureOpen()
      lo?.signal?.throwIfAborted()
      const hash = normalizeHash(paymentHash)
      const e = tracked.get(hash)
      if (e === undefined) throw new TurnpikeError('TURNPIKE_INVOICE_UNKNOWN', 'unknown payment hash')
      return view(hash, e, now())
    },

    subscribe(so: { signal: AbortSignal }): AsyncIterable<InvoiceState> {
      return subscription(so.signal, listeners, closers)
    },

    async getInfo(): Promise<NodeInfo> {
      return { pubkey, network, alias: 'turnpike-dev' }
    },

    async close(): Promise<void> {
      closed = true
      for (const close of closers) close()
    },

    async pay(paymentRequest: string): Promise<{ preimage: string; paymentHash: string }> {
      ensureOpen()
      const inv = Bolt11.decode(paymentRequest)
      if (inv.payee !== pubkey) badRequest('invoice was not issued by this node')
      if (inv.network !== network) badRequest(`invoice is for ${inv.network}, this node runs on ${network}`)
      const preimage = derivePreimage(hexToBytes(inv.paymentSecret))
      if (bytesToHex(sha256(preimage)) !== inv.paymentHash) badRequest('invoice was not issued by this dev node')
      if (inv.amountMsat === undefined) badRequest('amountless invoices are not supported')
      const t = now()
      let e = tracked.get(inv.paymentHash)
      if (e?.status === 'settled') throw new TurnpikeError('TURNPIKE_INVOICE_ALREADY_PAID', 'invoice already paid')
      if (e?.status === 'canceled') throw new TurnpikeError('TURNPIKE_INVOICE_EXPIRED', 'invoice canceled')
      if (t >= inv.expiresAt * 1000) throw new TurnpikeError('TURNPIKE_INVOICE_EXPIRED', 'invoice expired')
      if (e === undefined) {
        // Issued before a restart (or pruned): the invoice itself carries everything needed.
        prune(t)
        e = {
          paymentRequest,
          amountMsat: inv.amountMsat,
          createdAt: inv.timestamp * 1000,
          expiresAt: inv.expiresAt * 1000,
          status: 'open',
        }
        tracked.set(inv.paymentHash, e)
      }
      e.status = 'settled'
      e.preimage = bytesToHex(preimage)
      e.settledAt = t
      emit(view(inv.paymentHash, e, t))
      return { preimage: e.preimage, paymentHash: inv.paymentHash }
    },

    async cancel(paymentHash: string): Promise<void> {
      ensureOpen()
      const hash = normalizeHash(paymentHash)
      const e = tracked.get(hash)
      if (e === undefined) throw new TurnpikeError('TURNPIKE_INVOICE_UNKNOWN', 'unknown payment hash')
      if (e.status === 'settled') throw new TurnpikeError('TURNPIKE_INVOICE_ALREADY_PAID', 'invoice already paid')
      if (e.status === 'canceled') return
      e.status = 'canceled'
      emit(view(hash, e, now()))
    },
  }
}

/**
 * Loads `<dataDir>/dev-node.key` (hex), or creates it (mode 0600, directory 0700) with a fresh key.
 * @example
 * const { key, created } = loadOrCreateNodeKey('.turnpike')
 */
export function loadOrCreateNodeKey(dataDir: string): { key: Uint8Array; created: boolean } {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 })
  const file = join(dataDir, keyFileName)
  const existing = readKeyFile(file)
  if (existing !== undefined) return { key: existing, created: false }
  const key = secp256k1.utils.randomSecretKey()
  // Write a private temporary file, then hard-link it into place: the key file appears atomically
  // and complete, and a concurrent creator loses cleanly with EEXIST.
  const tmp = `${file}.${bytesToHex(randomBytes(6))}.tmp`
  writeFileSync(tmp, `${bytesToHex(key)}\n`, { mode: 0o600, flag: 'wx' })
  try {
    linkSync(tmp, file)
  } catch (e) {
    if ((e as { code?: string }).code !== 'EEXIST') throw e
    return { key: readKeyFile(file)!, created: false }
  } finally {
    unlinkSync(tmp)
  }
  return { key, created: true }
}

function readKeyFile(file: string): Uint8Array | undefined {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (e) {
    if ((e as { code?: string }).code === 'ENOENT') return undefined
    throw e
  }
  const hex = text.trim()
  if (!/^[0-9a-fA-F]{64}$/.test(hex) || !secp256k1.utils.isValidSecretKey(hexToBytes(hex.toLowerCase()))) {
    throw new Error(`${file} does not hold a valid secp256k1 private key (64 hex characters); fix or remove it`)
  }
  return hexToBytes(hex.toLowerCase())
}

function checkKey(key: Uint8Array): Uint8Array {
  if (!(key instanceof Uint8Array) || !secp256k1.utils.isValidSecretKey(key)) {
    throw new TypeError('dev(): privateKey must be a valid 32-byte secp256k1 private key')
  }
  return key
}

function normalizeHash(paymentHash: string): string {
  if (typeof paymentHash !== 'string' || !/^[0-9a-fA-F]{64}$/.test(paymentHash)) {
    badRequest('payment hash must be 32 bytes of hex')
  }
  return paymentHash.toLowerCase()
}

function badRequest(message: string): never {
  throw new TurnpikeError('TURNPIKE_BAD_REQUEST', message)
}

