/**
 * NUT-10 secrets and the NUT-11 (P2PK) / NUT-14 (HTLC) spending conditions: parsing, the lock a
 * gateway demands, and witness verification (SIG_INPUTS and SIG_ALL) as a mint performs it.
 * @module
 */
import { schnorr } from '@noble/curves/secp256k1.js'
import { sha256 } from '@noble/hashes/sha2.js'
import { bytesToHex, hexToBytes, utf8ToBytes } from '@noble/hashes/utils.js'

export type Secret = { kind: string; nonce: string; data: string; tags: string[][] }

/** A NUT-10 well-known secret, or undefined for a plain (random) secret. Never throws. */
export function parseSecret(secret: string): Secret | undefined {
  if (!secret.startsWith('[')) return undefined
  let v: unknown
  try {
    v = JSON.parse(secret)
  } catch {
    return undefined
  }
  if (!Array.isArray(v) || v.length !== 2 || typeof v[0] !== 'string') return undefined
  const body = v[1] as Record<string, unknown> | null
  if (typeof body !== 'object' || body === null || typeof body.data !== 'string' || typeof body.nonce !== 'string') return undefined
  const tags = body.tags ?? []
  // Some wallets (cashu-ts) write numeric tag values, e.g. ["locktime", 1700000000].
  const ok = (x: unknown) => typeof x === 'string' || (typeof x === 'number' && Number.isSafeInteger(x))
  if (!Array.isArray(tags) || !tags.every((t) => Array.isArray(t) && t.length > 0 && typeof t[0] === 'string' && t.every(ok))) return undefined
  return { kind: v[0], nonce: body.nonce, data: body.data, tags: (tags as unknown[][]).map((t) => t.map(String)) }
}

export type Conditions = {
  kind: string
  /** HTLC: the hash lock (hex). */
  hashLock?: string
  /** x-only keys (hex) of the main path. */
  pubkeys: string[]
  nSigs: number
  /** Unix seconds. */
  locktime?: number
  refund: string[]
  nSigsRefund: number
  sigflag: 'SIG_INPUTS' | 'SIG_ALL'
}

const xonly = (k: string) => (k.length === 66 ? k.slice(2) : k).toLowerCase()

function tag(s: Secret, key: string): string[] | undefined {
  const t = s.tags.find((x) => x[0] === key)
  return t?.slice(1)
}

function int(v: string[] | undefined, fallback: number): number {
  const n = v?.[0] === undefined ? Number.NaN : Number(v[0])
  return Number.isSafeInteger(n) && n >= 0 ? n : fallback
}

/** The spending conditions of a P2PK or HTLC secret. */
export function conditions(s: Secret): Conditions {
  const pubkeys = (tag(s, 'pubkeys') ?? []).map(xonly)
  const locktime = tag(s, 'locktime')
  return {
    kind: s.kind,
    ...(s.kind === 'HTLC' ? { hashLock: s.data.toLowerCase() } : {}),
    pubkeys: s.kind === 'P2PK' ? [xonly(s.data), ...pubkeys] : pubkeys,
    nSigs: Math.max(1, int(tag(s, 'n_sigs'), 1)),
    ...(locktime !== undefined ? { locktime: int(locktime, Number.MAX_SAFE_INTEGER) } : {}),
    refund: (tag(s, 'refund') ?? []).map(xonly),
    nSigsRefund: Math.max(1, int(tag(s, 'n_sigs_refund'), 1)),
    sigflag: tag(s, 'sigflag')?.[0] === 'SIG_ALL' ? 'SIG_ALL' : 'SIG_INPUTS',
  }
}

type Witness = { signatures: string[]; preimage?: string }

function parseWitness(w: string | undefined): Witness {
  if (w === undefined) return { signatures: [] }
  try {
    const v = JSON.parse(w) as Record<string, unknown>
    const sigs = Array.isArray(v.signatures) ? v.signatures.filter((x): x is string => typeof x === 'string') : []
    return { signatures: sigs, ...(typeof v.preimage === 'string' ? { preimage: v.preimage } : {}) }
  } catch {
    return { signatures: [] }
  }
}

/** Distinct keys among `keys` that signed sha256(message). */
function signers(keys: readonly string[], signatures: readonly string[], message: string): number {
  const digest = sha256(utf8ToBytes(message))
  let n = 0
  for (const k of new Set(keys)) {
    if (signatures.some((sig) => verifySchnorr(sig, digest, k))) n++
  }
  return n
}

function verifySchnorr(sig: string, digest: Uint8Array, key: string): boolean {
  try {
    return /^[0-9a-fA-F]{128}$/.test(sig) && schnorr.verify(hexToBytes(sig), digest, hexToBytes(key))
  } catch {
    return false
  }
}

/** Whether the witness satisfies the conditions for `message` at `now` (unix seconds). */
export function satisfied(c: Conditions, w: Witness, message: string, now: number): boolean {
  let main = signers(c.pubkeys, w.signatures, message) >= (c.pubkeys.length === 0 ? 0 : c.nSigs)
  if (c.hashLock !== undefined) {
    const pre = w.preimage
    main = main && pre !== undefined && /^[0-9a-fA-F]{64}$/.test(pre) && bytesToHex(sha256(hexToBytes(pre))) === c.hashLock
  }
  if (main) return true
  if (c.locktime === undefined || now < c.locktime) return false
  return c.refund.length === 0 || signers(c.refund, w.signatures, message) >= c.nSigsRefund
}

export type Input = { amount: number; id: string; secret: string; C: string; witness?: string }
export type Output = { amount: number; id?: string; B_: string }

/** The SIG_ALL message: every input's secret and C, then every output's amount and B_, then the quote. */
export function sigAllMessage(inputs: readonly Input[], outputs: readonly Output[], quote?: string): string {
  return inputs.map((p) => p.secret + p.C).join('') + outputs.map((o) => `${o.amount}${o.B_}`).join('') + (quote ?? '')
}

/**
 * Verifies the spending conditions of a swap or melt: each plain input passes, each SIG_INPUTS
 * input signs its own secret, and with SIG_ALL every input carries the same conditions and the
 * first one's witness signs {@link sigAllMessage}. `now` in unix seconds.
 */
export function verifyInputs(inputs: readonly Input[], outputs: readonly Output[], now: number, quote?: string): boolean {
  const secrets = inputs.map((p) => parseSecret(p.secret))
  const sigAll = secrets.some((s) => s && (s.kind === 'P2PK' || s.kind === 'HTLC') && conditions(s).sigflag === 'SIG_ALL')
  if (sigAll) {
    const first = secrets[0]
    if (!first || !secrets.every((s) => s && s.kind === first.kind && s.data === first.data && JSON.stringify(s.tags) === JSON.stringify(first.tags))) return false
    return satisfied(conditions(first), parseWitness(inputs[0]!.witness), sigAllMessage(inputs, outputs, quote), now)
  }
  return inputs.every((p, i) => {
    const s = secrets[i]
    if (!s || (s.kind !== 'P2PK' && s.kind !== 'HTLC')) return true
    return satisfied(conditions(s), parseWitness(p.witness), p.secret, now)
  })
}

/** Verifies one proof on its own (SIG_INPUTS semantics). */
export function verifyProof(p: Input, now: number): boolean {
  return verifyInputs([p], [], now)
}

/** BIP340 signature of sha256(message) with a private key (hex); for the gateway's redemption and tests. */
export function signMessage(message: string, privateKey: Uint8Array): string {
  return bytesToHex(schnorr.sign(sha256(utf8ToBytes(message)), privateKey))
}
