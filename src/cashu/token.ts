/**
 * NUT-00 tokens (`cashuA` V3 JSON, `cashuB` V4 CBOR, `crawB` raw) and NUT-18 payment requests
 * (`creqA`). Decoders accept std or url-safe base64, padded or not, and a `cashu:` URI prefix.
 * @module
 */
import { Buffer } from 'node:buffer'
import { TurnpikeError } from '../Errors.ts'
import * as Cbor from './cbor.ts'

export type ProofDleq = { e: string; s: string; r?: string }
/** A proof in NUT-00 JSON form (hex strings). */
export type Proof = { amount: number; id: string; secret: string; C: string; dleq?: ProofDleq; witness?: string }
/** A single-mint token. */
export type Token = { mint: string; unit: string; memo?: string; proofs: Proof[] }

const MAX_TOKEN = 64 * 1024
const MAX_PROOFS = 256
const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array)
const HEX = /^[0-9a-f]*$/

function bad(why: string): never {
  throw new TurnpikeError('TURNPIKE_CREDENTIAL_MALFORMED', `invalid Cashu token: ${why}`)
}

function b64(s: string): Buffer {
  if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(s) || s.length % 4 === 1) bad('not base64')
  return Buffer.from(s, 'base64')
}

const hex = (b: unknown, what: string): string => (b instanceof Uint8Array ? Buffer.from(b).toString('hex') : bad(`${what} must be bytes`))
const str = (v: unknown, what: string): string => (typeof v === 'string' ? v : bad(`${what} must be a string`))
const amount = (v: unknown): number => (typeof v === 'number' && Number.isSafeInteger(v) && v > 0 ? v : bad('amount must be a positive integer'))

/** Normalises a mint URL for comparison: no trailing slash. */
export function normalizeMint(url: string): string {
  return url.trim().replace(/\/+$/, '')
}

function checkProof(p: Proof): Proof {
  if (!HEX.test(p.id) || p.id.length < 2) bad('keyset id must be hex')
  if (!/^0[23][0-9a-f]{64}$/.test(p.C)) bad('C must be a compressed point')
  if (p.secret.length === 0 || p.secret.length > 4096) bad('secret length')
  return p
}

function v3Proof(v: unknown): Proof {
  if (!isRecord(v)) bad('proof must be an object')
  const p: Proof = { amount: amount(v.amount), id: str(v.id, 'id').toLowerCase(), secret: str(v.secret, 'secret'), C: str(v.C, 'C').toLowerCase() }
  if (isRecord(v.dleq)) {
    const d = v.dleq
    p.dleq = { e: str(d.e, 'dleq.e').toLowerCase(), s: str(d.s, 'dleq.s').toLowerCase(), ...(d.r !== undefined ? { r: str(d.r, 'dleq.r').toLowerCase() } : {}) }
  }
  if (v.witness !== undefined) p.witness = typeof v.witness === 'string' ? v.witness : JSON.stringify(v.witness)
  return checkProof(p)
}

function fromV3(json: unknown): Token {
  if (!isRecord(json) || !Array.isArray(json.token) || json.token.length === 0) bad('V3 token has no entries')
  let mint: string | undefined
  const proofs: Proof[] = []
  for (const e of json.token) {
    if (!isRecord(e) || !Array.isArray(e.proofs)) bad('V3 entry without proofs')
    const m = normalizeMint(str(e.mint, 'mint'))
    if (mint !== undefined && m !== mint) bad('tokens from several mints are not accepted')
    mint = m
    for (const p of e.proofs) proofs.push(v3Proof(p))
  }
  return finish({ mint: mint!, unit: typeof json.unit === 'string' ? json.unit : 'sat', ...(typeof json.memo === 'string' ? { memo: json.memo } : {}), proofs })
}

function fromV4(v: Cbor.Value): Token {
  if (!isRecord(v) || !Array.isArray(v.t)) bad('V4 token has no keysets')
  const proofs: Proof[] = []
  for (const ks of v.t) {
    if (!isRecord(ks) || !Array.isArray(ks.p)) bad('V4 keyset entry without proofs')
    const id = hex(ks.i, 'i')
    for (const x of ks.p) {
      if (!isRecord(x)) bad('V4 proof must be a map')
      const p: Proof = { amount: amount(x.a), id, secret: str(x.s, 's'), C: hex(x.c, 'c') }
      if (isRecord(x.d)) p.dleq = { e: hex(x.d.e, 'd.e'), s: hex(x.d.s, 'd.s'), ...(x.d.r !== undefined ? { r: hex(x.d.r, 'd.r') } : {}) }
      if (x.w !== undefined) p.witness = str(x.w, 'w')
      proofs.push(checkProof(p))
    }
  }
  return finish({ mint: normalizeMint(str(v.m, 'm')), unit: str(v.u, 'u'), ...(typeof v.d === 'string' ? { memo: v.d } : {}), proofs })
}

function finish(t: Token): Token {
  if (t.proofs.length === 0) bad('no proofs')
  if (t.proofs.length > MAX_PROOFS) bad('too many proofs')
  if (!/^https?:\/\//i.test(t.mint)) bad('mint must be an http(s) URL')
  return t
}

/** Decodes `cashuA…`, `cashuB…` (optionally `cashu:`-prefixed). Throws TURNPIKE_CREDENTIAL_MALFORMED. */
export function decode(value: string): Token {
  let s = value.trim()
  if (s.length > MAX_TOKEN) bad('too large')
  if (/^cashu:/i.test(s) && !/^cashu[AB]/.test(s)) s = s.slice(6)
  if (s.startsWith('cashuA')) {
    let json: unknown
    try {
      json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(b64(s.slice(6))))
    } catch (e) {
      if (e instanceof TurnpikeError) throw e
      bad('V3 payload is not JSON')
    }
    return fromV3(json)
  }
  if (s.startsWith('cashuB')) return fromV4(Cbor.decode(b64(s.slice(6))))
  return bad('unknown token prefix')
}

/** Decodes the raw binary form: ASCII `crawB` + CBOR. */
export function decodeRaw(bytes: Uint8Array): Token {
  if (Buffer.from(bytes.subarray(0, 5)).toString('latin1') !== 'crawB') bad('unknown raw prefix')
  return fromV4(Cbor.decode(bytes.subarray(5)))
}

function v4Value(t: Token): Cbor.Value {
  const groups = new Map<string, Proof[]>()
  for (const p of t.proofs) groups.set(p.id, [...(groups.get(p.id) ?? []), p])
  return {
    t: [...groups].map(([id, ps]) => ({
      i: Buffer.from(id, 'hex'),
      p: ps.map((p) => ({
        a: p.amount,
        s: p.secret,
        c: Buffer.from(p.C, 'hex'),
        ...(p.dleq ? { d: { e: Buffer.from(p.dleq.e, 'hex'), s: Buffer.from(p.dleq.s, 'hex'), ...(p.dleq.r ? { r: Buffer.from(p.dleq.r, 'hex') } : {}) } } : {}),
        ...(p.witness !== undefined ? { w: p.witness } : {}),
      })),
    })),
    ...(t.memo !== undefined ? { d: t.memo } : {}),
    m: t.mint,
    u: t.unit,
  }
}

/** `cashuB` + base64url (no padding) of the V4 CBOR. */
export function encodeV4(t: Token): string {
  return 'cashuB' + Buffer.from(Cbor.encode(v4Value(t))).toString('base64url')
}

/** `crawB` + V4 CBOR. */
export function encodeRaw(t: Token): Uint8Array {
  return Buffer.concat([Buffer.from('crawB', 'latin1'), Cbor.encode(v4Value(t))])
}

/** `cashuA` + base64url of the V3 JSON (deprecated; for tests and old wallets). */
export function encodeV3(t: Token): string {
  const json = { token: [{ mint: t.mint, proofs: t.proofs }], unit: t.unit, ...(t.memo !== undefined ? { memo: t.memo } : {}) }
  return 'cashuA' + Buffer.from(JSON.stringify(json)).toString('base64url')
}

/** Sum of the proofs' amounts. */
export function total(t: Token): number {
  return t.proofs.reduce((a, p) => a + p.amount, 0)
}

// ---- NUT-18 payment requests

export type Nut10 = { k: string; d: string; t?: string[][] }
export type Transport = { t: string; a: string; g?: string[][] }
export type PaymentRequest = { i?: string; a?: number; u?: string; s?: boolean; m?: string[]; d?: string; t?: Transport[]; nut10?: Nut10 }

/** `creqA` + base64url (no padding) of the CBOR map, members in NUT-18 order. */
export function encodeRequest(r: PaymentRequest): string {
  const v: Record<string, Cbor.Value> = {}
  for (const k of ['i', 'a', 'u', 's', 'm', 'd', 't', 'nut10'] as const) if (r[k] !== undefined) v[k] = r[k] as Cbor.Value
  return 'creqA' + Buffer.from(Cbor.encode(v)).toString('base64url')
}

/** Decodes a `creqA…` request. Throws TURNPIKE_CHALLENGE_MALFORMED. */
export function decodeRequest(value: string): PaymentRequest {
  const s = value.trim()
  if (!s.startsWith('creqA')) throw new TurnpikeError('TURNPIKE_CHALLENGE_MALFORMED', 'not a creqA payment request')
  let v: Cbor.Value
  try {
    v = Cbor.decode(b64(s.slice(5)))
  } catch (e) {
    throw new TurnpikeError('TURNPIKE_CHALLENGE_MALFORMED', e instanceof Error ? e.message : 'invalid payment request')
  }
  if (!isRecord(v)) throw new TurnpikeError('TURNPIKE_CHALLENGE_MALFORMED', 'payment request is not a map')
  const out: Record<string, unknown> = {}
  for (const [k, x] of Object.entries(v)) if (x !== undefined) out[k] = x
  if (Array.isArray(out.t)) out.t = (out.t as Record<string, unknown>[]).map((t) => Object.fromEntries(Object.entries(t).filter(([, x]) => x !== undefined)))
  return out as PaymentRequest
}
