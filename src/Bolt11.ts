/**
 * BOLT #11 invoices on `@noble/curves` and `@scure/base`: decode (with signature checks), encode and
 * sign (with libsecp256k1 as WASM when the optional `tiny-secp256k1` is installed, see
 * `internal/secp256k1.ts`). Follows `protocols.md` §6.
 * @module
 */
import { secp256k1 } from '@noble/curves/secp256k1.js'
import { sha256 } from '@noble/hashes/sha2.js'
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js'
import { bech32 } from '@scure/base'
import { TurnpikeError } from './Errors.ts'
import { signer } from './internal/secp256k1.ts'

/** Bitcoin network an invoice is for. */
export type Network = 'mainnet' | 'testnet' | 'signet' | 'regtest'

/** One hop of a private route hint (`r` field). */
export type RouteHop = {
  pubkey: string
  /** `block x tx x output`, as in BOLT #7. */
  shortChannelId: string
  feeBaseMsat: number
  feeProportionalMillionths: number
  cltvExpiryDelta: number
}

/** An on-chain fallback (`f` field): version 0–16 segwit program, 17 P2PKH hash, 18 P2SH hash. */
export type Fallback = { version: number; program: string }

/** A decoded, signature-checked BOLT11 invoice. Hex fields are lowercase. */
export type Invoice = {
  network: Network
  /** Undefined for "any amount" invoices. */
  amountMsat: bigint | undefined
  /** Unix seconds. */
  timestamp: number
  /** Seconds (3600 when the `x` field is absent). */
  expiry: number
  /** Unix seconds: `timestamp + expiry`. */
  expiresAt: number
  paymentHash: string
  /** Always present: BOLT11 readers must refuse invoices without `s`. */
  paymentSecret: string
  description: string | undefined
  descriptionHash: string | undefined
  /** 33-byte compressed node key: the `n` field, or recovered from the signature. */
  payee: string
  /** Blocks (18 when the `c` field is absent). */
  minFinalCltvExpiry: number
  /** Set feature bit numbers, ascending (empty when the `9` field is absent). */
  features: number[]
  routeHints: RouteHop[][]
  fallbacks: Fallback[]
  metadata: string | undefined
  /** `r ‖ s`, 64 bytes hex, as transmitted (may be high-S when there is no `n` field). */
  signature: string
  recoveryId: number
}

/** Parameters of {@link encode}. */
export type EncodeParameters = {
  network: Network
  /** Omit for an "any amount" invoice; otherwise > 0. */
  amountMsat?: bigint | undefined
  /** Unix seconds. */
  timestamp: number
  paymentHash: string
  paymentSecret: string
  /** Exactly one of `description` and `descriptionHash`; neither means an empty description. */
  description?: string | undefined
  descriptionHash?: string | undefined
  /** Seconds; the `x` field is written only when given. */
  expiry?: number | undefined
  /** Blocks; the `c` field is written only when given. */
  minFinalCltvExpiry?: number | undefined
  /** Feature bit numbers (default `[8, 14]`: var_onion_optin and payment_secret, required). */
  features?: readonly number[] | undefined
  privateKey: Uint8Array
  /** Writes the `n` field (payee key), so readers verify instead of recovering. */
  includePayee?: boolean | undefined
}

const prefixes = { mainnet: 'lnbc', testnet: 'lntb', signet: 'lntbs', regtest: 'lnbcrt' } as const
const currencies: Readonly<Record<string, Network>> = {
  bc: 'mainnet',
  tb: 'testnet',
  tbs: 'signet',
  bcrt: 'regtest',
}
/** Millisatoshis per unit; `p` (0.1 msat) is handled apart. */
const multipliers: Readonly<Record<string, bigint>> = {
  '': 100_000_000_000n,
  m: 100_000_000n,
  u: 100_000n,
  n: 100n,
}
/** Feature pairs BOLT #9 assigns to invoices (context 9): even bits we may be required to know. */
const knownFeatures = new Set([8, 9, 14, 15, 16, 17, 24, 25, 48, 49])
const tags = { p: 1, r: 3, '9': 5, x: 6, f: 9, d: 13, s: 16, n: 19, h: 23, c: 24, m: 27 } as const
const signatureWords = 104
const maxFieldWords = 1023
const utf8 = new TextDecoder('utf-8', { fatal: true })
const utf8Encoder = new TextEncoder()

/** The human-readable prefix for a network, without amount. */
export function hrpPrefix(network: Network): string {
  const prefix = prefixes[network]
  if (prefix === undefined) throw new TypeError(`unknown network ${String(network)}`)
  return prefix
}

/** Decodes and checks a BOLT11 invoice; throws `TURNPIKE_BOLT11_MALFORMED` on anything invalid. */
export function decode(invoice: string): Invoice {
  if (typeof invoice !== 'string') malformed('invoice must be a string')
  const lower = invoice.toLowerCase()
  if (invoice !== lower && invoice !== invoice.toUpperCase()) malformed('mixed upper and lower case')
  let hrp: string
  let words: number[]
  try {
    const decoded = bech32.decode(lower, false)
    hrp = decoded.prefix
    words = decoded.words
  } catch (cause) {
    return malformed('invalid bech32 encoding', cause)
  }
  const { network, amountMsat } = parseHrp(hrp)
  if (words.length < 7 + signatureWords) malformed('too short for timestamp and signature')

  const end = words.length - signatureWords
  const timestamp = readUint(words, 0, 7)
  const out = {
    paymentHash: undefined as string | undefined,
    paymentSecret: undefined as string | undefined,
    description: undefined as string | undefined,
    descriptionHash: undefined as string | undefined,
    payee: undefined as Uint8Array | undefined,
    expiry: undefined as number | undefined,
    minFinalCltvExpiry: undefined as number | undefined,
    features: undefined as number[] | undefined,
    metadata: undefined as string | undefined,
    routeHints: [] as RouteHop[][],
    fallbacks: [] as Fallback[],
  }
  let i = 7
  while (i < end) {
    if (i + 3 > end) malformed('truncated field header')
    const tag = words[i]!
    const length = words[i + 1]! * 32 + words[i + 2]!
    const start = i + 3
    i = start + length
    if (i > end) malformed('field runs into the signature')
    const data = words.slice(start, i)
    // The first well-formed occurrence of a field wins; BOLT11 says to skip p, h, s and n fields
    // of the wrong length, unknown tags and fallbacks of unknown version.
    switch (tag) {
      case tags.p:
        if (length === 52 && out.paymentHash === undefined) out.paymentHash = bytesToHex(toBytes(data))
        break
      case tags.s:
        if (length === 52 && out.paymentSecret === undefined) out.paymentSecret = bytesToHex(toBytes(data))
        break
      case tags.h:
        if (length === 52 && out.descriptionHash === undefined) out.descriptionHash = bytesToHex(toBytes(data))
        break
      case tags.n:
        if (length === 53 && out.payee === undefined) out.payee = toBytes(data)
        break
      case tags.d:
        if (out.description === undefined) out.description = parseText(data)
        break
      case tags.x:
        if (out.expiry === undefined) out.expiry = readUint(data, 0, length)
        break
      case tags.c:
        if (out.minFinalCltvExpiry === undefined) out.minFinalCltvExpiry = readUint(data, 0, length)
        break
      case tags['9']:
        if (out.features === undefined) out.features = parseFeatures(data)
        break
      case tags.m:
        if (out.metadata === undefined) out.metadata = bytesToHex(toBytes(data))
        break
      case tags.r:
        out.routeHints.push(parseRoute(toBytes(data)))
        break
      case tags.f: {
        const version = data[0]
        if (version !== undefined && version <= 18) {
          out.fallbacks.push({ version, program: bytesToHex(toBytes(data.slice(1))) })
        }
        break
      }
      default:
        break // unknown tags are skipped
    }
  }
  if (out.paymentHash === undefined) malformed('no payment hash (p) field')
  if (out.paymentSecret === undefined) malformed('no payment secret (s) field')
  const features = out.features ?? []
  for (const bit of features) {
    if (bit % 2 === 0 && !knownFeatures.has(bit)) malformed(`unknown required feature bit ${bit}`)
  }

  const sig = toBytes(words.slice(end))
  const recoveryId = sig[64]!
  const rs = sig.subarray(0, 64)
  if (recoveryId > 3) malformed('invalid recovery id')
  const digest = sha256(signingData(hrp, words.slice(0, end)))
  let payee: Uint8Array
  if (out.payee !== undefined) {
    // With `n`, verify against it and require low-S (BOLT11: readers must reject high-S here).
    let ok = false
    try {
      ok = secp256k1.verify(rs, digest, out.payee, { prehash: false, lowS: true, format: 'compact' })
    } catch {
      ok = false
    }
    if (!ok) malformed('signature does not verify against the n field')
    payee = out.payee
  } else {
    // Without `n`, recover the key; high-S is accepted and the transmitted recovery id is used
    // as is (no normalisation), so a malleated signature recovers to whatever key it commits to.
    try {
      payee = secp256k1.recoverPublicKey(concat([recoveryId], rs), digest, { prehash: false })
    } catch (cause) {
      return malformed('no public key can be recovered from the signature', cause)
    }
  }

  const expiry = out.expiry ?? 3600
  return {
    network,
    amountMsat,
    timestamp,
    expiry,
    expiresAt: timestamp + expiry,
    paymentHash: out.paymentHash,
    paymentSecret: out.paymentSecret,
    description: out.description,
    descriptionHash: out.descriptionHash,
    payee: bytesToHex(payee),
    minFinalCltvExpiry: out.minFinalCltvExpiry ?? 18,
    features,
    routeHints: out.routeHints,
    fallbacks: out.fallbacks,
    metadata: out.metadata,
    signature: bytesToHex(rs),
    recoveryId,
  }
}

/** Builds and signs an invoice (RFC 6979, low-S); the amount takes its shortest exact form. */
export function encode(p: EncodeParameters): string {
  const hrp = hrpPrefix(p.network) + (p.amountMsat === undefined ? '' : formatAmount(p.amountMsat))
  if (!Number.isSafeInteger(p.timestamp) || p.timestamp < 0 || p.timestamp >= 2 ** 35) {
    throw new TypeError('timestamp must be an integer in [0, 2^35)')
  }
  if (p.description !== undefined && p.descriptionHash !== undefined) {
    throw new TypeError('give description or descriptionHash, not both')
  }
  const words: number[] = uintWords(p.timestamp, 7)
  pushField(words, tags.p, bytesToWords(hex32(p.paymentHash, 'paymentHash')))
  pushField(words, tags.s, bytesToWords(hex32(p.paymentSecret, 'paymentSecret')))
  if (p.descriptionHash !== undefined) {
    pushField(words, tags.h, bytesToWords(hex32(p.descriptionHash, 'descriptionHash')))
  } else {
    pushField(words, tags.d, bytesToWords(utf8Encoder.encode(p.description ?? '')))
  }
  if (p.expiry !== undefined) pushField(words, tags.x, uintWords(nonNegative(p.expiry, 'expiry')))
  if (p.minFinalCltvExpiry !== undefined) {
    pushField(words, tags.c, uintWords(nonNegative(p.minFinalCltvExpiry, 'minFinalCltvExpiry')))
  }
  if (p.includePayee === true) {
    pushField(words, tags.n, bytesToWords(secp256k1.getPublicKey(p.privateKey, true)))
  }
  const features = p.features ?? [8, 14]
  if (features.length > 0) pushField(words, tags['9'], featureWords(features))
  return signWords(hrp, words, p.privateKey)
}

/** The bytes BOLT11 signs: `utf8(hrp)` ‖ the data words packed 5 bits at a time, zero-padded. */
export function signingData(hrp: string, words: readonly number[]): Uint8Array {
  const prefix = utf8Encoder.encode(hrp)
  const out = new Uint8Array(prefix.length + Math.ceil((words.length * 5) / 8))
  out.set(prefix)
  let acc = 0
  let bits = 0
  let j = prefix.length
  for (const w of words) {
    acc = ((acc << 5) | w) & 0xfff
    bits += 5
    if (bits >= 8) {
      bits -= 8
      out[j++] = (acc >> bits) & 0xff
    }
  }
  if (bits > 0) out[j] = (acc << (8 - bits)) & 0xff
  return out
}

/** Signs pre-built data words (timestamp and tagged fields, in any order) and returns the invoice. */
export function signWords(hrp: string, words: readonly number[], privateKey: Uint8Array): string {
  if (!(privateKey instanceof Uint8Array) || !secp256k1.utils.isValidSecretKey(privateKey)) {
    throw new TypeError('privateKey must be a valid 32-byte secp256k1 secret key')
  }
  for (const w of words) {
    if (!Number.isInteger(w) || w < 0 || w > 31) throw new TypeError('words must be 5-bit integers')
  }
  const digest = sha256(signingData(hrp, words))
  const { signature, recoveryId } = signer().sign(digest, privateKey)
  // BOLT11 transmits r ‖ s ‖ recovery id.
  const tail = new Uint8Array(65)
  tail.set(signature)
  tail[64] = recoveryId
  return bech32.encode(hrp, [...words, ...bytesToWords(tail)], false)
}

function malformed(message: string, cause?: unknown): never {
  throw new TurnpikeError('TURNPIKE_BOLT11_MALFORMED', message, cause === undefined ? {} : { cause })
}

function parseHrp(hrp: string): { network: Network; amountMsat: bigint | undefined } {
  const m = /^ln(bcrt|bc|tbs|tb)([0-9]*)([munp]?)$/.exec(hrp)
  if (m === null) malformed('unknown prefix or amount')
  const network = currencies[m[1]!]!
  const digits = m[2]!
  const unit = m[3]!
  if (digits === '') {
    if (unit !== '') malformed('multiplier without amount')
    return { network, amountMsat: undefined }
  }
  // BOLT11 forbids leading zeros (and so a zero amount).
  if (digits.startsWith('0')) malformed('amount has a leading zero')
  const value = BigInt(digits)
  let amountMsat: bigint
  if (unit === 'p') {
    // Pico-bitcoin is 0.1 msat: anything not a multiple of 10 is sub-millisatoshi.
    if (value % 10n !== 0n) malformed('sub-millisatoshi amount')
    amountMsat = value / 10n
  } else {
    amountMsat = value * multipliers[unit]!
  }
  return { network, amountMsat }
}

function formatAmount(amountMsat: bigint): string {
  if (typeof amountMsat !== 'bigint' || amountMsat <= 0n) throw new TypeError('amountMsat must be a bigint > 0')
  for (const unit of ['', 'm', 'u', 'n'] as const) {
    const per = multipliers[unit]!
    if (amountMsat % per === 0n) return `${amountMsat / per}${unit}`
  }
  return `${amountMsat * 10n}p`
}

function readUint(words: readonly number[], start: number, count: number): number {
  let v = 0n
  for (let k = start; k < start + count; k++) v = (v << 5n) | BigInt(words[k]!)
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) malformed('integer field too large')
  return Number(v)
}

function parseText(data: readonly number[]): string {
  try {
    return utf8.decode(toBytes(data))
  } catch (cause) {
    return malformed('description is not valid UTF-8', cause)
  }
}

function parseFeatures(data: readonly number[]): number[] {
  const bits: number[] = []
  for (let k = 0; k < data.length; k++) {
    const w = data[data.length - 1 - k]!
    for (let b = 0; b < 5; b++) if ((w >> b) & 1) bits.push(k * 5 + b)
  }
  return bits
}

function parseRoute(bytes: Uint8Array): RouteHop[] {
  if (bytes.length === 0 || bytes.length % 51 !== 0) malformed('route hint is not a whole number of hops')
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const hops: RouteHop[] = []
  for (let o = 0; o < bytes.length; o += 51) {
    const scid = view.getBigUint64(o + 33)
    hops.push({
      pubkey: bytesToHex(bytes.subarray(o, o + 33)),
      shortChannelId: `${scid >> 40n}x${(scid >> 16n) & 0xffffffn}x${scid & 0xffffn}`,
      feeBaseMsat: view.getUint32(o + 41),
      feeProportionalMillionths: view.getUint32(o + 45),
      cltvExpiryDelta: view.getUint16(o + 49),
    })
  }
  return hops
}

/** 5-bit words to bytes, dropping the trailing padding bits. */
function toBytes(words: readonly number[]): Uint8Array {
  const out = new Uint8Array(Math.floor((words.length * 5) / 8))
  let acc = 0
  let bits = 0
  let j = 0
  for (const w of words) {
    acc = ((acc << 5) | w) & 0xfff
    bits += 5
    if (bits >= 8) {
      bits -= 8
      if (j < out.length) out[j++] = (acc >> bits) & 0xff
    }
  }
  return out
}

function bytesToWords(bytes: Uint8Array): number[] {
  return bech32.toWords(bytes)
}

/** Minimal big-endian words (BOLT11 writers use the shortest form; 0 is no words). */
function uintWords(value: number, width?: number): number[] {
  const out: number[] = []
  let v = BigInt(value)
  while (v > 0n) {
    out.unshift(Number(v & 31n))
    v >>= 5n
  }
  if (width !== undefined) while (out.length < width) out.unshift(0)
  return out
}

function featureWords(bits: readonly number[]): number[] {
  let v = 0n
  for (const b of bits) {
    if (!Number.isInteger(b) || b < 0 || b >= maxFieldWords * 5) throw new TypeError(`bad feature bit ${b}`)
    v |= 1n << BigInt(b)
  }
  const out: number[] = []
  while (v > 0n) {
    out.unshift(Number(v & 31n))
    v >>= 5n
  }
  return out
}

function pushField(words: number[], tag: number, data: readonly number[]): void {
  if (data.length > maxFieldWords) throw new TypeError(`field ${tag} is longer than ${maxFieldWords} words`)
  words.push(tag, data.length >> 5, data.length & 31, ...data)
}

function hex32(value: string, name: string): Uint8Array {
  if (typeof value !== 'string' || !/^[0-9a-fA-F]{64}$/.test(value)) throw new TypeError(`${name} must be 32 bytes of hex`)
  return hexToBytes(value.toLowerCase())
}

function nonNegative(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value < 0) throw new TypeError(`${name} must be a non-negative integer`)
  return value
}

function concat(head: ArrayLike<number>, tail: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(head.length + tail.length)
  out.set(head)
  out.set(tail, head.length)
  return out
}
