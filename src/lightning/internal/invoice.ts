/**
 * Checks shared by the backends: what a node returns for a fresh invoice is decoded and compared
 * with what was asked, so a confused or hostile node cannot make the gateway mint a token for a
 * payment hash that is not the invoice's.
 * @module
 */
import { sha256 } from '@noble/hashes/sha2.js'
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js'
import { bech32 } from '@scure/base'
import type * as Bolt11 from '../../Bolt11.ts'
import { TurnpikeError } from '../../Errors.ts'
import type { CreateInvoiceParameters, Invoice } from '../../Lightning.ts'
import { malformed } from './http.ts'

const hexHash = /^[0-9a-fA-F]{64}$/

/** Lowercase 64-hex payment hash, or TURNPIKE_BAD_REQUEST. */
export function normalizeHash(paymentHash: string): string {
  if (typeof paymentHash !== 'string' || !hexHash.test(paymentHash)) {
    throw new TurnpikeError('TURNPIKE_BAD_REQUEST', 'payment hash must be 32 bytes of hex')
  }
  return paymentHash.toLowerCase()
}

/** Validates CreateInvoiceParameters the same way for every backend. */
export function checkCreate(p: CreateInvoiceParameters): void {
  if (typeof p.amountMsat !== 'bigint' || p.amountMsat <= 0n) {
    throw new TurnpikeError('TURNPIKE_BAD_REQUEST', 'amountMsat must be a bigint > 0')
  }
  if (!Number.isSafeInteger(p.expirySeconds) || p.expirySeconds <= 0) {
    throw new TurnpikeError('TURNPIKE_BAD_REQUEST', 'expirySeconds must be a positive integer')
  }
  if (p.description !== undefined && typeof p.description !== 'string') {
    throw new TurnpikeError('TURNPIKE_BAD_REQUEST', 'description must be a string')
  }
}

/** Refuses amounts that are not whole satoshis, for sat-denominated backends. */
export function wholeSats(name: string, amountMsat: bigint): bigint {
  if (amountMsat % 1000n !== 0n) {
    throw new TurnpikeError(
      'TURNPIKE_BAD_REQUEST',
      `${name} invoices whole satoshis only; ${amountMsat} msat is not a whole number of sats (price routes in sats)`,
    )
  }
  return amountMsat / 1000n
}

/** The BOLT11 fields the challenge path relies on. */
export type InvoiceFields = { network: Bolt11.Network; amountMsat: bigint | undefined; timestamp: number; expiry: number; paymentHash: string }

const multipliers: Readonly<Record<string, bigint>> = { '': 100_000_000_000n, m: 100_000_000n, u: 100_000n, n: 100n }
const currencies: Readonly<Record<string, Bolt11.Network>> = { bc: 'mainnet', tb: 'testnet', tbs: 'signet', bcrt: 'regtest' }

/**
 * Reads network, amount, timestamp, expiry and payment hash from a BOLT11 string without checking
 * its signature (that recovery costs ~1.5 ms of CPU per invoice with @noble/curves; a payer's wallet
 * checks it anyway, and `turnpike doctor` does the full `Bolt11.decode`). Throws on anything that is
 * not a well-formed invoice.
 */
export function readInvoiceFields(invoice: string): InvoiceFields {
  const lower = invoice.toLowerCase()
  if (invoice !== lower && invoice !== invoice.toUpperCase()) throw new Error('mixed case')
  const { prefix, words } = bech32.decode(lower as `${string}1${string}`, false)
  const m = /^ln(bcrt|bc|tbs|tb)(?:([1-9][0-9]*)([munp]?))?$/.exec(prefix)
  if (m === null) throw new Error('unknown prefix or amount')
  let amountMsat: bigint | undefined
  if (m[2] !== undefined) {
    const value = BigInt(m[2])
    if (m[3] === 'p') {
      if (value % 10n !== 0n) throw new Error('sub-millisatoshi amount')
      amountMsat = value / 10n
    } else amountMsat = value * multipliers[m[3] ?? '']!
  }
  const end = words.length - 104 // signature
  if (end < 7) throw new Error('too short')
  const uint = (from: number, to: number): number => {
    let n = 0
    for (let i = from; i < to; i++) n = n * 32 + words[i]!
    return n
  }
  const timestamp = uint(0, 7)
  let expiry: number | undefined
  let paymentHash: string | undefined
  for (let i = 7; i < end; ) {
    if (i + 3 > end) throw new Error('truncated field')
    const tag = words[i]!
    const length = words[i + 1]! * 32 + words[i + 2]!
    const start = i + 3
    i = start + length
    if (i > end) throw new Error('field runs into the signature')
    if (tag === 1 && length === 52 && paymentHash === undefined) paymentHash = bytesToHex(bech32.fromWordsUnsafe(words.slice(start, i))!.subarray(0, 32))
    else if (tag === 6 && expiry === undefined) expiry = uint(start, i)
  }
  if (paymentHash === undefined) throw new Error('no payment hash')
  return { network: currencies[m[1]!]!, amountMsat, timestamp, expiry: expiry ?? 3600, paymentHash }
}

/**
 * Reads the node's BOLT11 and checks it against the reported hash and the requested amount, so the
 * token minted for it binds the hash the payer will reveal a preimage for. Times come from the
 * invoice itself (whole seconds).
 */
export function verifyInvoice(name: string, what: string, paymentRequest: unknown, paymentHash: unknown, amountMsat: bigint): Invoice {
  if (typeof paymentRequest !== 'string') malformed(name, what, 'payment request')
  if (typeof paymentHash !== 'string' || !hexHash.test(paymentHash)) malformed(name, what, 'payment hash')
  let d: InvoiceFields
  try {
    d = readInvoiceFields(paymentRequest)
  } catch (e) {
    throw new TurnpikeError('TURNPIKE_BACKEND_ERROR', `Lightning backend error (${name}: returned an invalid BOLT11 invoice)`, { cause: e, retryAfter: 5 })
  }
  const hash = paymentHash.toLowerCase()
  if (d.paymentHash !== hash) {
    throw new TurnpikeError('TURNPIKE_BACKEND_ERROR', `Lightning backend error (${name}: the invoice does not carry the reported payment hash)`, { retryAfter: 5 })
  }
  if (d.amountMsat !== amountMsat) {
    throw new TurnpikeError('TURNPIKE_BACKEND_ERROR', `Lightning backend error (${name}: the invoice amount differs from the requested one)`, {
      cause: new Error(`${what}: asked ${amountMsat} msat, invoice says ${String(d.amountMsat)}`),
      retryAfter: 5,
    })
  }
  const createdAt = d.timestamp * 1000
  return { paymentRequest, paymentHash: hash, amountMsat, createdAt, expiresAt: createdAt + d.expiry * 1000 }
}

/** Reads a non-negative integer from a JSON number or decimal string; undefined otherwise. */
export function int(v: unknown): bigint | undefined {
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return BigInt(v)
  if (typeof v === 'string' && /^\d{1,20}$/.test(v)) return BigInt(v)
  return undefined
}

/**
 * The settlement proof check: a settled state must carry a preimage hashing to the payment hash.
 * Returns the lowercase preimage; a mismatch means a broken node → TURNPIKE_BACKEND_ERROR.
 */
export function settledPreimage(name: string, what: string, preimage: unknown, paymentHash: string): string {
  if (typeof preimage !== 'string' || !hexHash.test(preimage)) malformed(name, what, 'preimage')
  const p = preimage.toLowerCase()
  if (bytesToHex(sha256(hexToBytes(p))) !== paymentHash) {
    throw new TurnpikeError('TURNPIKE_BACKEND_ERROR', `Lightning backend error (${name}: the preimage does not match the payment hash)`, { retryAfter: 5 })
  }
  return p
}
