/**
 * Checks shared by the backends: what a node returns for a fresh invoice is decoded and compared
 * with what was asked, so a confused or hostile node cannot make the gateway mint a token for a
 * payment hash that is not the invoice's.
 * @module
 */
import { sha256 } from '@noble/hashes/sha2.js'
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js'
import * as Bolt11 from '../../Bolt11.ts'
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

/**
 * Decodes the node's BOLT11 and checks it against the reported hash and the requested amount.
 * Times come from the invoice itself (whole seconds).
 */
export function verifyInvoice(name: string, what: string, paymentRequest: unknown, paymentHash: unknown, amountMsat: bigint): Invoice {
  if (typeof paymentRequest !== 'string') malformed(name, what, 'payment request')
  if (typeof paymentHash !== 'string' || !hexHash.test(paymentHash)) malformed(name, what, 'payment hash')
  let d: Bolt11.Invoice
  try {
    d = Bolt11.decode(paymentRequest)
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
