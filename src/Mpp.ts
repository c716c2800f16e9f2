/**
 * The HTTP "Payment" authentication scheme (MPP) with the Lightning `charge` intent
 * (protocols.md §2): challenge serialisation and parsing, the stateless challenge id, the JCS
 * `request`, credentials, receipts, `Accept-Payment` and verification. Pure CPU; the caller claims
 * the payment hash in the store after {@link verify} succeeds.
 * @module
 */
import { Buffer } from 'node:buffer'
import { createHash, createHmac } from 'node:crypto'
import { is, TurnpikeError } from './Errors.ts'
import { equal } from './internal/constantTime.ts'
import { canonicalize } from './internal/jcs.ts'
import type { Outcome } from './internal/outcome.ts'

/** The auth-params of one `Payment` challenge, as on the wire (`request`/`opaque` stay b64url). */
export type Challenge = {
  id: string
  realm: string
  method: string
  intent: string
  request: string
  expires?: string
  digest?: string
  description?: string
  opaque?: string
}

/** A decoded `Authorization: Payment <b64url JSON>` credential. */
export type Credential = {
  challenge: Challenge
  source?: string
  payload: Record<string, unknown>
}

/** The Lightning charge request JSON carried (JCS, b64url) in the `request` param. */
export type ChargeRequest = {
  amount: string
  currency: string
  description?: string
  methodDetails: { invoice: string; network?: string; paymentHash?: string }
}

/** RFC 9457 problem types (§2.7), relative to {@link problemBase}. */
export const problems = {
  'payment-required': { title: 'Payment Required', status: 402 },
  'malformed-credential': { title: 'Malformed Credential', status: 402 },
  'invalid-challenge': { title: 'Invalid Challenge', status: 402 },
  'verification-failed': { title: 'Verification Failed', status: 402 },
  'payment-insufficient': { title: 'Payment Insufficient', status: 402 },
  'payment-expired': { title: 'Payment Expired', status: 402 },
  'method-unsupported': { title: 'Method Unsupported', status: 400 },
  'lightning/malformed-credential': { title: 'Malformed Credential', status: 402 },
  'lightning/unknown-challenge': { title: 'Unknown Challenge', status: 402 },
  'lightning/invalid-preimage': { title: 'Invalid Preimage', status: 402 },
  'lightning/expired-invoice': { title: 'Expired Invoice', status: 402 },
} as const

export type Problem = keyof typeof problems
export const problemBase = 'https://paymentauth.org/problems/'

const secretLabel = 'turnpike/mpp-challenge-id/v0'

/** The challenge-id HMAC key: HMAC-SHA256(master secret, label). The master secret is never used raw. */
export function deriveSecret(master: Uint8Array): Uint8Array {
  return new Uint8Array(createHmac('sha256', master).update(secretLabel).digest())
}

// ---- base64url (RFC 4648 §5), strict

/** b64url without padding. */
export function encodeBase64Url(bytes: Uint8Array | string): string {
  return (typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)).toString('base64url')
}

const B64URL = /^[A-Za-z0-9_-]*$/

/**
 * Strict b64url: padding optional but exact, no other alphabet, no whitespace, no dangling
 * character, zero trailing bits (one spelling per payload). Throws TURNPIKE_CREDENTIAL_MALFORMED.
 */
export function decodeBase64Url(s: string): Uint8Array {
  let body = s
  const pad = s.length - s.replace(/=+$/, '').length
  if (pad > 0) {
    body = s.slice(0, -pad)
    if (pad > 2 || (s.length & 3) !== 0) malformed('invalid base64url padding')
  }
  if (!B64URL.test(body)) malformed('invalid base64url character')
  const rest = body.length & 3
  if (rest === 1 || (pad > 0 && 4 - rest !== pad)) malformed('invalid base64url length')
  const bytes = Buffer.from(body, 'base64url')
  if (bytes.toString('base64url') !== body) malformed('non-zero trailing bits in base64url')
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

function malformed(why: string): never {
  throw new TurnpikeError('TURNPIKE_CREDENTIAL_MALFORMED', why)
}

const utf8 = new TextDecoder('utf-8', { fatal: true })

function jsonOf(bytes: Uint8Array, what: string): unknown {
  try {
    return JSON.parse(utf8.decode(bytes))
  } catch {
    return malformed(`${what} is not UTF-8 JSON`)
  }
}

// ---- challenge id

/** `b64url(HMAC-SHA256(secret, realm|method|intent|request|expires|digest|opaque))`, absent slots empty. */
export function challengeId(secret: Uint8Array, c: Omit<Challenge, 'id'>): string {
  const input = [c.realm, c.method, c.intent, c.request, c.expires ?? '', c.digest ?? '', c.opaque ?? ''].join('|')
  return createHmac('sha256', secret).update(input, 'utf8').digest('base64url')
}

// ---- challenge serialisation

const order = ['id', 'realm', 'method', 'intent', 'request', 'expires', 'digest', 'description', 'opaque'] as const
// A quoted-string admits HTAB, SP, VCHAR and obs-text; nothing else can be carried.
const QDTEXT = /^[\t\x20-\x7e\x80-\u{10ffff}]*$/u

/** RFC 9110 quoted-string: escapes only `\` and `"`. */
export function quote(v: string): string {
  if (!QDTEXT.test(v)) throw new TurnpikeError('TURNPIKE_BAD_REQUEST', 'auth-param value contains a control character')
  return `"${v.replace(/[\\"]/g, '\\$&')}"`
}

/** One `WWW-Authenticate: Payment …` value, parameters in the draft's order, every value quoted. */
export function serializeChallenge(c: Challenge): string {
  const parts: string[] = []
  for (const k of order) {
    const v = c[k]
    if (v !== undefined) parts.push(`${k}=${quote(v)}`)
  }
  return `Payment ${parts.join(', ')}`
}

// ---- challenge parsing (client side, and for tests)

const TCHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/
const isWs = (c: string | undefined) => c === ' ' || c === '\t' || c === '\r' || c === '\n'
const known = new Set<string>(order)
const required = ['id', 'realm', 'method', 'intent', 'request'] as const

/**
 * Every complete `Payment` challenge in a (possibly fetch-joined) `WWW-Authenticate` value:
 * splits by scheme token, skips other schemes' parameters and incomplete offers, tolerates empty
 * list elements, keeps the first of a repeated parameter, ignores unknown parameters.
 * Throws TURNPIKE_CHALLENGE_MALFORMED when no complete Payment challenge is present.
 */
export function parseChallenges(header: string): Challenge[] {
  const found: Record<string, string>[] = []
  let cur: Record<string, string> | undefined
  const n = header.length
  let i = 0
  while (i < n) {
    const ch = header[i]
    if (isWs(ch) || ch === ',') {
      i++
      continue
    }
    const start = i
    while (i < n && TCHAR.test(header[i]!)) i++
    if (i === start) {
      i++ // stray character
      continue
    }
    const name = header.slice(start, i)
    let j = i
    while (isWs(header[j])) j++
    if (header[j] !== '=') {
      cur = name.toLowerCase() === 'payment' ? {} : undefined
      if (cur) found.push(cur)
      continue
    }
    i = j + 1
    while (header[i] === ' ' || header[i] === '\t') i++
    let value: string
    if (header[i] === '"') {
      value = ''
      i++
      while (i < n && header[i] !== '"') {
        if (header[i] === '\\' && i + 1 < n) i++
        value += header[i]
        i++
      }
      i++ // closing quote
    } else if (header[i] === '=' || header[i] === ',' || i >= n) {
      while (header[i] === '=') i++ // token68 padding, e.g. `Basic abc==`
      continue
    } else {
      const vs = i
      while (i < n && header[i] !== ',' && !isWs(header[i])) i++
      value = header.slice(vs, i)
    }
    const key = name.toLowerCase()
    if (cur && known.has(key) && !(key in cur)) cur[key] = value
  }
  const out = found.filter((c) => required.every((k) => typeof c[k] === 'string' && c[k] !== '')) as Challenge[]
  if (out.length === 0) throw new TurnpikeError('TURNPIKE_CHALLENGE_MALFORMED', 'no complete Payment challenge')
  return out
}

// ---- request

/** The `request` param: b64url (no padding) of the JCS serialisation. */
export function encodeRequest(r: ChargeRequest | Record<string, unknown>): string {
  return encodeBase64Url(canonicalize(r))
}

/** Decodes a `request` param into its JSON object. Throws TURNPIKE_CREDENTIAL_MALFORMED. */
export function decodeRequest(request: string): Record<string, unknown> {
  const v = jsonOf(decodeBase64Url(request), 'request')
  if (!isRecord(v)) malformed('request is not a JSON object')
  return v
}

// ---- credentials

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)
const SCHEME = /^[ \t]*payment[ \t]+/i
const MAX_CREDENTIAL = 16 * 1024

/**
 * Decodes one `Payment <token>` value. Canonical bytes are not required (clients use plain
 * `JSON.stringify`); `source` and the optional echoes are optional. Throws TURNPIKE_CREDENTIAL_MALFORMED.
 */
export function parseCredential(value: string): Credential {
  const m = SCHEME.exec(value)
  if (!m) malformed('not a Payment credential')
  const token = value.slice(m[0].length).trim()
  if (token.length === 0) malformed('empty Payment credential')
  if (token.length > MAX_CREDENTIAL) malformed('Payment credential too large')
  const v = jsonOf(decodeBase64Url(token), 'credential')
  if (!isRecord(v)) malformed('credential is not a JSON object')
  const c = v.challenge
  if (!isRecord(c)) malformed('credential has no challenge')
  const challenge: Record<string, string> = {}
  for (const k of order) {
    const x = c[k]
    if (x === undefined || x === null) continue
    if (typeof x !== 'string') malformed(`challenge.${k} must be a string`)
    challenge[k] = x
  }
  for (const k of required) if (!challenge[k]) malformed(`challenge.${k} is missing`)
  if (!isRecord(v.payload)) malformed('credential has no payload')
  if (v.source !== undefined && typeof v.source !== 'string') malformed('source must be a string')
  const out: Credential = { challenge: challenge as Challenge, payload: v.payload }
  if (typeof v.source === 'string') out.source = v.source
  return out
}

/** `Payment <b64url JSON>` for a credential (client side and tests). */
export function serializeCredential(c: Credential): string {
  return `Payment ${encodeBase64Url(JSON.stringify(c))}`
}

const SPLIT = /,[ \t]*(?=(?:L402|LSAT|Payment|Bearer|Basic|Digest|Cashu|Negotiate|DPoP|Token)(?:[ \t]|$))/i
const MAYBE = /payment/i

/**
 * The distinct `Payment` credential values among all `Authorization` lines (fetch-joined or not).
 * Cheap when none is present.
 */
export function findCredentials(lines: readonly string[] | undefined): string[] {
  const out: string[] = []
  if (!lines) return out
  for (const line of lines) {
    if (!MAYBE.test(line)) continue
    for (const seg of line.includes(',') ? line.split(SPLIT) : [line]) {
      if (!SCHEME.test(seg)) continue
      const t = seg.trim().replace(/[ \t]+/, ' ')
      const norm = 'Payment ' + t.slice(t.indexOf(' ') + 1)
      if (!out.includes(norm)) out.push(norm)
      if (out.length > 4) return out
    }
  }
  return out
}

// ---- receipts

export type Receipt = {
  status: 'success'
  method: string
  /** RFC 3339. */
  timestamp: string
  /** The payment hash (never the preimage). */
  reference: string
  challengeId?: string
}

/** `Payment-Receipt` value: b64url of the JSON object, members in the given order; bigints as integers. */
export function serializeReceipt(r: Receipt | Record<string, unknown>): string {
  const json = JSON.stringify(r, (_k, v: unknown) => (typeof v === 'bigint' ? `\u0000${v}\u0000` : v)).replace(/"\\u0000(-?\d+)\\u0000"/g, '$1')
  return encodeBase64Url(json)
}

/** Decodes a `Payment-Receipt` (or need-top-up event); integers beyond 2^53 come back as bigint. */
export function parseReceipt(value: string): Record<string, unknown> {
  const bytes = decodeBase64Url(value.trim())
  let v: unknown
  try {
    v = JSON.parse(utf8.decode(bytes), ((_k: string, x: unknown, ctx?: { source?: string }) =>
      typeof x === 'number' && !Number.isSafeInteger(x) && ctx?.source !== undefined && /^-?\d+$/.test(ctx.source) ? BigInt(ctx.source) : x) as (k: string, v: unknown) => unknown)
  } catch {
    malformed('receipt is not JSON')
  }
  if (!isRecord(v)) malformed('receipt is not a JSON object')
  return v
}

// ---- Accept-Payment (§2.8)

export type AcceptRange = { method: string; intent: string; q: number }
const RANGE = /^([a-z0-9-]+|\*)\/([a-z0-9-]+|\*)$/
const QVALUE = /^(?:0(?:\.\d{0,3})?|1(?:\.0{0,3})?)$/

/** Parses `Accept-Payment` lines; undefined when absent or malformed (then it is ignored). */
export function parseAcceptPayment(lines: readonly string[] | undefined): AcceptRange[] | undefined {
  if (!lines || lines.length === 0) return undefined
  const out: AcceptRange[] = []
  for (const el of lines.join(',').split(',')) {
    const parts = el.split(';').map((p) => p.trim())
    const range = parts[0]!.toLowerCase()
    if (range === '' && parts.length === 1) continue // empty list element
    const m = RANGE.exec(range)
    if (!m) return undefined
    let q = 1
    for (const p of parts.slice(1)) {
      const [k, v] = p.split('=').map((s) => s.trim())
      if (k?.toLowerCase() !== 'q') continue
      if (v === undefined || !QVALUE.test(v)) return undefined
      q = Number(v)
    }
    out.push({ method: m[1]!, intent: m[2]!, q })
  }
  return out.length > 0 ? out : undefined
}

/** The q the most specific matching range gives `method/intent`, or undefined when none matches. */
export function preference(ranges: readonly AcceptRange[], method: string, intent: string): number | undefined {
  let best = -1
  let q: number | undefined
  for (const r of ranges) {
    if ((r.method !== '*' && r.method !== method) || (r.intent !== '*' && r.intent !== intent)) continue
    const specificity = (r.method === '*' ? 0 : 2) + (r.intent === '*' ? 0 : 1)
    if (specificity > best) {
      best = specificity
      q = r.q
    }
  }
  return q
}

// ---- the Lightning charge offer and its verification

/** Whole seconds, `YYYY-MM-DDTHH:MM:SSZ`. */
export function rfc3339(unixMs: number): string {
  return new Date(Math.floor(unixMs / 1000) * 1000).toISOString().replace('.000Z', 'Z')
}

/** `mainnet|testnet|signet|regtest` from a BOLT11 prefix, without decoding. */
export function networkOf(invoice: string): string {
  const s = invoice.slice(0, 6).toLowerCase()
  return s.startsWith('lnbcrt') ? 'regtest' : s.startsWith('lntbs') ? 'signet' : s.startsWith('lntb') ? 'testnet' : 'mainnet'
}

export type OfferParameters = {
  readonly secret: Uint8Array
  readonly realm: string
  readonly invoice: { readonly paymentRequest: string; readonly paymentHash: string; readonly expiresAt: number }
  /** Whole satoshis. */
  readonly amountSat: bigint
  readonly description?: string
}

/** The challenge for one invoice: `expires` is the invoice's expiry, the id binds everything. */
export function offer(p: OfferParameters): Challenge {
  const request = encodeRequest({
    amount: p.amountSat.toString(),
    currency: 'sat',
    ...(p.description ? { description: p.description } : {}),
    methodDetails: { invoice: p.invoice.paymentRequest, network: networkOf(p.invoice.paymentRequest), paymentHash: p.invoice.paymentHash },
  })
  const c = { realm: p.realm, method: 'lightning', intent: 'charge', request, expires: rfc3339(p.invoice.expiresAt) }
  return { id: challengeId(p.secret, c), ...c }
}

export type VerifyParameters = {
  readonly secret: Uint8Array
  /** The route's price in whole satoshis. */
  readonly amountSat: bigint
  /** The route's description: binds the challenge to the route it was issued for. */
  readonly description?: string
  /** Unix milliseconds. */
  readonly now: number
  /** How long after `expires` a paid credential is still honoured (money safety), seconds. */
  readonly graceSeconds: number
}

export type Verified = { ok: true; paymentHash: string; challengeId: string }
export type Refused = { ok: false; problem: Problem; detail: string; challengeId?: string }

const HEX64 = /^[0-9a-fA-F]{64}$/
const LOWER_HEX64 = /^[0-9a-f]{64}$/
const AMOUNT = /^[1-9][0-9]{0,17}$/

/**
 * Verifies a decoded credential for a route: the echoed challenge carries our id (HMAC recomputed
 * from the echoed fields, constant time), is a lightning charge for the route's price and
 * description, the preimage hashes to the bound payment hash, and it has not expired. Never throws
 * for credential content; the caller must then claim `paymentHash` once.
 */
export function verify(cred: Credential, p: VerifyParameters): Verified | Refused {
  const c = cred.challenge
  const refuse = (problem: Problem, detail: string): Refused => ({ ok: false, problem, detail, challengeId: c.id })
  if (c.method !== 'lightning' || c.intent !== 'charge') return refuse('method-unsupported', `${c.method}/${c.intent} is not offered here`)
  if (!equal(Buffer.from(challengeId(p.secret, c)), Buffer.from(c.id))) {
    return refuse('invalid-challenge', 'the challenge was not issued by this server or was altered')
  }
  let req: Record<string, unknown>
  try {
    req = decodeRequest(c.request)
  } catch (e) {
    if (!is(e)) throw e
    return refuse('malformed-credential', e.message)
  }
  const details = req.methodDetails
  const hash = isRecord(details) ? details.paymentHash : undefined
  if (typeof req.amount !== 'string' || !AMOUNT.test(req.amount) || typeof hash !== 'string' || !LOWER_HEX64.test(hash)) {
    return refuse('malformed-credential', 'the echoed request is not a lightning charge')
  }
  if (req.currency !== 'sat' || BigInt(req.amount) !== p.amountSat) {
    return refuse('payment-insufficient', `this resource costs ${p.amountSat} sat`)
  }
  if ((req.description ?? '') !== (p.description ?? '')) return refuse('invalid-challenge', 'the challenge was issued for another resource')
  const preimage = cred.payload.preimage
  if (typeof preimage !== 'string' || !HEX64.test(preimage)) return refuse('lightning/malformed-credential', 'payload.preimage must be 64 hex characters')
  const expires = c.expires === undefined ? Number.POSITIVE_INFINITY : Date.parse(c.expires)
  if (Number.isNaN(expires)) return refuse('malformed-credential', 'expires is not an RFC 3339 timestamp')
  const paid = createHash('sha256').update(Buffer.from(preimage, 'hex')).digest('hex') === hash
  if (!paid) {
    return p.now >= expires ? refuse('payment-expired', 'the challenge has expired') : refuse('lightning/invalid-preimage', 'the preimage does not match the payment hash')
  }
  if (p.now >= expires + p.graceSeconds * 1000) return refuse('payment-expired', 'the challenge has expired')
  return { ok: true, paymentHash: hash, challengeId: c.id }
}

/** The RFC 9457 members for a problem type. */
export function problemMembers(problem: Problem, detail: string): { type: string; title: string; status: number; detail: string } {
  const p = problems[problem]
  return { type: problemBase + problem, title: p.title, status: p.status, detail }
}

// ---- gateway glue

/**
 * Decides on the `Payment` credentials of a request (from {@link findCredentials}): several
 * different ones → 400; undecodable → 402 `malformed-credential`; otherwise {@link verify}. A paid
 * outcome claims `l402:<payment hash>`, the key L402 uses, so one invoice pays once across schemes.
 */
export function accept(values: readonly string[], p: VerifyParameters): Outcome {
  const refused = (problem: Problem, detail: string): Outcome => ({
    ok: false,
    code: problem === 'method-unsupported' ? 'TURNPIKE_PAYMENT_METHOD_UNSUPPORTED' : 'TURNPIKE_PAYMENT_INVALID',
    detail,
    type: problemBase + problem,
    title: problems[problem].title,
    challenge: problems[problem].status === 402,
  })
  if (values.length > 1) {
    return { ok: false, code: 'TURNPIKE_PAYMENT_METHOD_UNSUPPORTED', detail: 'send one Payment credential per request', type: problemBase + 'malformed-credential', title: problems['malformed-credential'].title, challenge: false }
  }
  let cred: Credential
  try {
    cred = parseCredential(values[0] ?? '')
  } catch (e) {
    if (!is(e)) throw e
    return refused('malformed-credential', e.message)
  }
  const r = verify(cred, p)
  if (!r.ok) return refused(r.problem, r.detail)
  const receipt = serializeReceipt({ status: 'success', method: 'lightning', timestamp: rfc3339(p.now), reference: r.paymentHash, challengeId: r.challengeId })
  return {
    ok: true,
    scheme: 'payment',
    claimKey: `l402:${r.paymentHash}`,
    paymentHash: r.paymentHash,
    responseHeaders: [
      ['payment-receipt', receipt],
      ['cache-control', 'private'],
    ],
    replayed: { ok: false, challenge: true, code: 'TURNPIKE_PAYMENT_INVALID', type: problemBase + 'lightning/unknown-challenge', title: problems['lightning/unknown-challenge'].title, detail: 'this challenge was already used' },
  }
}
