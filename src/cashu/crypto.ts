/**
 * Cashu BDHKE on secp256k1 (NUT-00), keyset ids (NUT-02) and DLEQ proofs (NUT-12), on
 * `@noble/curves` v2. Verification is what the gateway needs; blinding, signing and proving serve the
 * test mint and tests.
 * @module
 */
import { secp256k1 } from '@noble/curves/secp256k1.js'
import { hmac } from '@noble/hashes/hmac.js'
import { sha256 } from '@noble/hashes/sha2.js'
import { bytesToHex, concatBytes, hexToBytes, utf8ToBytes } from '@noble/hashes/utils.js'
import { TurnpikeError } from '../Errors.ts'

export type Point = InstanceType<typeof secp256k1.Point>
const P = secp256k1.Point
export const N = P.Fn.ORDER
const DST = utf8ToBytes('Secp256k1_HashToCurve_Cashu_')
const DST_R = utf8ToBytes('Cashu_DLEQ_R_v1')

/** A point from compressed (or uncompressed) hex; throws TURNPIKE_CREDENTIAL_MALFORMED. */
export function point(hex: string): Point {
  try {
    return P.fromHex(hex)
  } catch {
    throw new TurnpikeError('TURNPIKE_CREDENTIAL_MALFORMED', 'not a secp256k1 point')
  }
}

/** Scalar from 32-byte big-endian hex, in [1, n). */
export function scalar(hex: string): bigint {
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) throw new TurnpikeError('TURNPIKE_CREDENTIAL_MALFORMED', 'not a 32-byte scalar')
  const x = BigInt('0x' + hex)
  if (x === 0n || x >= N) throw new TurnpikeError('TURNPIKE_CREDENTIAL_MALFORMED', 'scalar out of range')
  return x
}

const toHex32 = (x: bigint) => x.toString(16).padStart(64, '0')

/** NUT-00 `hash_to_curve`: the first `02‖SHA256(SHA256(DST‖x)‖counter_le32)` that is a point. */
export function hashToCurve(message: Uint8Array): Point {
  const h = sha256(concatBytes(DST, message))
  const counter = new Uint8Array(4)
  const view = new DataView(counter.buffer)
  for (let c = 0; c < 0x10000; c++) {
    view.setUint32(0, c, true)
    try {
      return P.fromHex('02' + bytesToHex(sha256(concatBytes(h, counter))))
    } catch {
      // not on the curve: next counter
    }
  }
  throw new TurnpikeError('TURNPIKE_INTERNAL', 'hash_to_curve found no point')
}

/** `Y` of a proof: hash_to_curve of the secret's UTF-8 bytes. */
export function proofY(secret: string): Point {
  return hashToCurve(utf8ToBytes(secret))
}

/** `B_ = Y + r·G`. */
export function blind(secret: Uint8Array, r: bigint): Point {
  return hashToCurve(secret).add(P.BASE.multiply(r))
}

/** `C = C_ − r·K`. */
export function unblind(C_: Point, r: bigint, K: Point): Point {
  return C_.subtract(K.multiply(r))
}

/** The mint's blind signature `C_ = k·B_`. */
export function sign(B_: Point, k: bigint): Point {
  return B_.multiply(k)
}

/** NUT-12 `hash_e`: SHA256 over the concatenated uncompressed hex of the points. */
export function hashE(points: readonly Point[]): Uint8Array {
  return sha256(utf8ToBytes(points.map((p) => p.toHex(false)).join('')))
}

/** NUT-12 deterministic nonce: HMAC-SHA256(a, "Cashu_DLEQ_R_v1"‖A‖B_‖C_‖ctr) as a scalar. */
export function dleqNonce(a: bigint, A: Point, B_: Point, C_: Point): bigint {
  const base = concatBytes(DST_R, A.toBytes(false), B_.toBytes(false), C_.toBytes(false))
  const key = hexToBytes(toHex32(a))
  for (let ctr = 0; ctr < 256; ctr++) {
    let r = BigInt('0x' + bytesToHex(hmac(sha256, key, concatBytes(base, Uint8Array.of(ctr)))))
    if (r >= N) r -= N
    if (r !== 0n) return r
  }
  throw new TurnpikeError('TURNPIKE_INTERNAL', 'DLEQ nonce derivation failed')
}

export type Dleq = { e: string; s: string }

/** The mint's DLEQ proof that `C_ = a·B_` for `A = a·G`. */
export function proveDleq(a: bigint, B_: Point, C_: Point): Dleq {
  const A = P.BASE.multiply(a)
  const r = dleqNonce(a, A, B_, C_)
  const e = hashE([P.BASE.multiply(r), B_.multiply(r), A, C_])
  const s = (r + BigInt('0x' + bytesToHex(e)) * a) % N
  return { e: bytesToHex(e), s: toHex32(s) }
}

/** Checks a DLEQ on a blind signature: `R1 = s·G − e·A`, `R2 = s·B_ − e·C_`, `e == hash_e(R1,R2,A,C_)`. */
export function verifyDleq(d: Dleq, A: Point, B_: Point, C_: Point): boolean {
  try {
    const e = scalarOrZero(d.e)
    const s = scalarOrZero(d.s)
    if (e === 0n || s === 0n) return false
    const R1 = P.BASE.multiply(s).subtract(A.multiply(e))
    const R2 = B_.multiply(s).subtract(C_.multiply(e))
    return bytesToHex(hashE([R1, R2, A, C_])) === d.e.toLowerCase()
  } catch {
    return false
  }
}

/** Checks a proof's DLEQ (carrying the blinding factor `r`): `B_ = Y + r·G`, `C_ = C + r·A`. */
export function verifyProofDleq(secret: string, C: Point, d: Dleq & { r: string }, A: Point): boolean {
  try {
    const r = scalar(d.r)
    const B_ = proofY(secret).add(P.BASE.multiply(r))
    const C_ = C.add(A.multiply(r))
    return verifyDleq(d, A, B_, C_)
  } catch {
    return false
  }
}

function scalarOrZero(hex: string): bigint {
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) return 0n
  const x = BigInt('0x' + hex)
  return x >= N ? 0n : x
}

/** NUT-02 keyset ids: v1 `00`‖sha256(sorted keys)[0..7]; v2 `01`‖sha256(keys ‖ unit ‖ fee ‖ expiry). */
export function keysetId(keys: Readonly<Record<string, string>>, v2?: { unit: string; inputFeePpk?: number; finalExpiry?: number }): string {
  const sorted = Object.entries(keys).sort((a, b) => (BigInt(a[0]) < BigInt(b[0]) ? -1 : BigInt(a[0]) > BigInt(b[0]) ? 1 : 0))
  if (!v2) return '00' + bytesToHex(sha256(concatBytes(...sorted.map(([, k]) => hexToBytes(k))))).slice(0, 14)
  let pre = sorted.map(([a, k]) => `${a}:${k}`).join(',') + `|unit:${v2.unit}`
  if (v2.inputFeePpk) pre += `|input_fee_ppk:${v2.inputFeePpk}`
  if (v2.finalExpiry) pre += `|final_expiry:${v2.finalExpiry}`
  return '01' + bytesToHex(sha256(utf8ToBytes(pre)))
}

/** The compressed public key of a scalar, hex. */
export function publicKey(k: bigint): string {
  return P.BASE.multiply(k).toHex(true)
}
