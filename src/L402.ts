/**
 * L402 challenge and credential grammar (protocols.md §1.2–1.3, clients.md §3–4, §7).
 * @module
 */
import { is, TurnpikeError } from './Errors.ts'
import { decodeAny } from './internal/base64.ts'
import { fromHex } from './internal/hex.ts'
import * as Macaroon from './Macaroon.ts'

/** A parsed `Authorization: L402|LSAT <tokens>:<preimage>` credential. */
export type Credential = {
  readonly scheme: 'L402' | 'LSAT'
  /** Macaroon binaries, one per comma-separated token. */
  readonly tokens: readonly Uint8Array[]
  readonly preimage: Uint8Array
}

/** A challenge read by the lenient client-side parser. */
export type Challenge = {
  scheme: 'L402' | 'LSAT'
  macaroon?: string
  token?: string
  invoice?: string
  version?: string
}

const B64 = /^[A-Za-z0-9+/_=-]+$/
const BECH32 = /^[A-Za-z0-9]+$/

/**
 * The `WWW-Authenticate` values, in order: optional `LSAT` line (Aperture compatibility, first), then
 * `L402 macaroon="T", invoice="P"` with `, version="0", token="T"` appended when `spec` (default true).
 * `macaroon` first and adjacent to `invoice` is what lnget, l402-requests and Fewsats need.
 */
export function challenge(p: { macaroon: string; invoice: string; lsat?: boolean; spec?: boolean }): string[] {
  if (!B64.test(p.macaroon)) throw new TypeError('challenge: macaroon must be base64')
  if (!BECH32.test(p.invoice)) throw new TypeError('challenge: invoice must be a bech32 string')
  const params = `macaroon="${p.macaroon}", invoice="${p.invoice}"`
  const l402 = p.spec === false ? `L402 ${params}` : `L402 ${params}, version="0", token="${p.macaroon}"`
  return p.lsat ? [`LSAT ${params}`, l402] : [l402]
}

// Fetch-style Headers join repeated lines with ", ": split only where a scheme token follows,
// never on the commas between multiple tokens (`L402 tok1,tok2:preimage`).
const SPLIT =
  /,[ \t]*(?=(?:L402|LSAT|Payment|Bearer|Basic|Digest|Cashu|Negotiate|NTLM|HOBA|Mutual|DPoP|GNAP|Token|AWS4-HMAC-SHA256)(?:[ \t]|$))/i
const SCHEME = /^[ \t]*(L402|LSAT)[ \t]+/i
const MAX_TOKENS = 8

/** One L402/LSAT segment: a Credential, null when malformed, undefined when another scheme. */
function parseSegment(seg: string): Credential | null | undefined {
  const m = SCHEME.exec(seg)
  if (!m) return undefined
  const rest = seg.slice(m[0].length)
  const colon = rest.lastIndexOf(':')
  if (colon < 0) return null
  const hex = rest.slice(colon + 1).trim()
  if (hex.length !== 64) return null
  let preimage: Uint8Array
  try {
    preimage = fromHex(hex)
  } catch {
    return null
  }
  const tokens: Uint8Array[] = []
  for (const raw of rest.slice(0, colon).split(',')) {
    const t = raw.trim()
    if (t.length === 0) continue
    try {
      tokens.push(decodeAny(t))
    } catch {
      continue // a bad token next to good ones does not void the credential
    }
    if (tokens.length === MAX_TOKENS) break
  }
  if (tokens.length === 0) return null
  const scheme = (m[1] as string).toUpperCase() === 'LSAT' ? 'LSAT' : 'L402'
  return { scheme, tokens, preimage }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

function sameCredential(a: Credential, b: Credential): boolean {
  if (!sameBytes(a.preimage, b.preimage) || a.tokens.length !== b.tokens.length) return false
  for (let i = 0; i < a.tokens.length; i++) {
    if (!sameBytes(a.tokens[i] as Uint8Array, b.tokens[i] as Uint8Array)) return false
  }
  return true
}

/**
 * Every L402/LSAT credential in the `Authorization` lines (each line may be fetch-joined), deduped
 * (scheme aside) and capped at `max` (default 8), at most 8 tokens each. Other schemes are ignored.
 * Returns [] without any L402/LSAT credential; throws TURNPIKE_CREDENTIAL_MALFORMED when some were
 * present but none parses.
 */
export function parseAuthorization(lines: readonly string[] | undefined, o?: { max?: number }): Credential[] {
  const out: Credential[] = []
  if (!lines) return out
  const max = o?.max ?? 8
  let seen = false
  for (const line of lines) {
    const segs = line.includes(',') ? line.split(SPLIT) : [line]
    for (const seg of segs) {
      const c = parseSegment(seg)
      if (c === undefined) continue
      seen = true
      if (c === null || out.some((x) => sameCredential(x, c))) continue
      out.push(c)
      if (out.length >= max) return out
    }
  }
  if (seen && out.length === 0) throw new TurnpikeError('TURNPIKE_CREDENTIAL_MALFORMED', 'malformed L402 credential')
  return out
}

/**
 * Aperture's `Macaroon:` / `Grpc-Metadata-Macaroon:` carrier: a hex V2 macaroon whose client-added
 * first-party caveat `preimage=<64 hex>` holds the preimage (the last one wins). The token is the
 * macaroon as sent, preimage caveat included (its signature covers it). Throws TURNPIKE_CREDENTIAL_MALFORMED.
 */
export function parseMacaroonHeader(hex: string): Credential {
  let bytes: Uint8Array
  let m: Macaroon.Macaroon
  try {
    bytes = fromHex(hex.trim())
    m = Macaroon.decode(bytes)
  } catch (e) {
    if (!is(e)) throw e
    throw new TurnpikeError('TURNPIKE_CREDENTIAL_MALFORMED', e.message)
  }
  let value: string | undefined
  for (const c of Macaroon.firstPartyCaveats(m)) if (c.startsWith('preimage=')) value = c.slice(9)
  if (value === undefined) {
    throw new TurnpikeError('TURNPIKE_CREDENTIAL_MALFORMED', 'macaroon carries no preimage caveat')
  }
  if (value.length !== 64) {
    throw new TurnpikeError('TURNPIKE_CREDENTIAL_MALFORMED', 'preimage must be 32 bytes')
  }
  return { scheme: 'L402', tokens: [bytes], preimage: fromHex(value) }
}

/** A macaroon-only credential: `Authorization: L402 <macaroon>` or `L402 <macaroon>:` (no preimage). */
export type BareCredential = {
  readonly scheme: 'L402' | 'LSAT'
  readonly tokens: readonly Uint8Array[]
}

/**
 * The lenient path for routes that detect settlement with the Lightning backend: every L402/LSAT
 * segment that carries macaroons but no preimage (`L402 <tokens>` or `L402 <tokens>:`). Segments
 * with a preimage are left to {@link parseAuthorization}, which is unchanged. At most `max`
 * (default 8) credentials of at most 8 tokens each; undecodable tokens are skipped. Never throws.
 */
export function parseBareAuthorization(lines: readonly string[] | undefined, o?: { max?: number }): BareCredential[] {
  const out: BareCredential[] = []
  if (!lines) return out
  const max = o?.max ?? 8
  for (const line of lines) {
    for (const seg of line.includes(',') ? line.split(SPLIT) : [line]) {
      const m = SCHEME.exec(seg)
      if (!m) continue
      let rest = seg.slice(m[0].length).trim()
      if (rest.endsWith(':')) rest = rest.slice(0, -1)
      if (rest.length === 0 || rest.includes(':')) continue // a preimage part: not a bare credential
      const tokens: Uint8Array[] = []
      for (const raw of rest.split(',')) {
        const t = raw.trim()
        if (t.length === 0) continue
        try {
          tokens.push(decodeAny(t))
        } catch {
          continue
        }
        if (tokens.length === MAX_TOKENS) break
      }
      if (tokens.length === 0) continue
      out.push({ scheme: (m[1] as string).toUpperCase() === 'LSAT' ? 'LSAT' : 'L402', tokens })
      if (out.length >= max) return out
    }
  }
  return out
}

// ---- lenient client-side challenge parser (for upstream 402s and tests)

// RFC 9110 tchar: ALPHA / DIGIT / "!#$%&'*+-.^_`|~"
const TCHAR = new Uint8Array(128)
const TCHARS = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
for (let i = 0; i < TCHARS.length; i++) TCHAR[TCHARS.charCodeAt(i)] = 1

function isTchar(c: number): boolean {
  return c < 128 && TCHAR[c] === 1
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d
}

/**
 * Reads every L402/LSAT challenge from a (possibly joined) `WWW-Authenticate` string: several
 * challenges, quoted ("…" or '…') or unquoted values, a missing comma between parameters (Alby's
 * `version="0" token=…`), other schemes skipped even when their quoted params contain commas.
 * The first occurrence of a parameter wins. Never throws.
 */
export function parseChallenges(header: string): Challenge[] {
  const out: Challenge[] = []
  let cur: Challenge | undefined
  const n = header.length
  let i = 0
  while (i < n) {
    const c = header.charCodeAt(i)
    if (isSpace(c) || c === 0x2c) {
      i++
      continue
    }
    const start = i
    while (i < n && isTchar(header.charCodeAt(i))) i++
    if (i === start) {
      i++ // a stray character outside any value
      continue
    }
    const name = header.slice(start, i)
    let j = i
    while (j < n && isSpace(header.charCodeAt(j))) j++
    if (header.charCodeAt(j) !== 0x3d) {
      // Not followed by '=': a new scheme (or a token68, which no L402 challenge has).
      const s = name.toUpperCase()
      cur = s === 'L402' || s === 'LSAT' ? { scheme: s } : undefined
      if (cur) out.push(cur)
      continue
    }
    i = j + 1
    while (i < n && (header.charCodeAt(i) === 0x20 || header.charCodeAt(i) === 0x09)) i++
    let value = ''
    const q = header.charCodeAt(i)
    if (q === 0x22 || q === 0x27) {
      let k = i + 1
      let escaped = false
      while (k < n && header.charCodeAt(k) !== q) {
        if (q === 0x22 && header.charCodeAt(k) === 0x5c) {
          escaped = true
          k++ // quoted-pair
        }
        k++
      }
      value = header.slice(i + 1, Math.min(k, n))
      if (escaped) value = value.replace(/\\([\s\S])/g, '$1')
      i = k + 1 // past the closing quote (or the end)
    } else {
      const vs = i
      while (i < n && header.charCodeAt(i) !== 0x2c && !isSpace(header.charCodeAt(i))) i++
      value = header.slice(vs, i)
    }
    if (!cur) continue
    const key = name.toLowerCase()
    if ((key === 'macaroon' || key === 'token' || key === 'invoice' || key === 'version') && cur[key] === undefined) {
      cur[key] = value
    }
  }
  return out
}
