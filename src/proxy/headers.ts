/** Header rewriting for the reverse proxy: hop-by-hop removal, credential stripping, X-Forwarded-*. */
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http'

/** RFC 9110 §7.6.1 connection-specific fields, plus legacy ones proxies also drop. */
const hopByHop = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade',
  'proxy-authorization', 'proxy-authenticate',
])

const paymentScheme = /^\s*(l402|lsat|payment|cashu)(\s|$)/i

function connectionTokens(headers: IncomingHttpHeaders): Set<string> | undefined {
  const c = headers.connection
  if (!c) return undefined
  return new Set(c.split(',').map((t) => t.trim().toLowerCase()).filter(Boolean))
}

/** The same from raw header lines (every `Connection` line), without building `req.headers`. */
function rawConnectionTokens(raw: readonly string[]): Set<string> | undefined {
  let out: Set<string> | undefined
  for (let i = 0; i < raw.length; i += 2) {
    const k = raw[i]!
    if (k.length !== 10 || k.toLowerCase() !== 'connection') continue
    for (const t of raw[i + 1]!.split(',')) {
      const v = t.trim().toLowerCase()
      // `keep-alive` and `close` name no header (and keep-alive is dropped as hop-by-hop anyway).
      if (v && v !== 'keep-alive' && v !== 'close') (out ??= new Set()).add(v)
    }
  }
  return out
}

/** Splits a possibly joined Authorization value into per-scheme credentials. */
function splitAuthorization(value: string): string[] {
  return value.split(/,\s*(?=[A-Za-z][A-Za-z0-9_-]*\s+[^\s,=]+(?:\s|$|,|:))/)
}

export type UpstreamHeaderOptions = {
  readonly strip: readonly string[]
  readonly add: readonly (readonly [string, string])[]
  readonly upstreamHost: string
  readonly clientAddress: string | undefined
  readonly trustedPeer: boolean
  readonly keepUpgrade?: boolean
}

/** Headers for the upstream request, as a flat [name, value, …] list that keeps repeated lines. */
export function upstreamRequestHeaders(req: IncomingMessage, o: UpstreamHeaderOptions): string[] {
  const raw = req.rawHeaders
  const drop = rawConnectionTokens(raw)
  const out: string[] = []
  let host = ''
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!
    const lower = name.toLowerCase()
    const value = raw[i + 1]!
    if (lower === 'host') {
      host = value
      continue
    }
    if (hopByHop.has(lower) && !(o.keepUpgrade && (lower === 'upgrade' || lower === 'connection'))) continue
    if (drop?.has(lower) && !o.keepUpgrade) continue
    if (o.strip.includes(lower)) continue
    if (lower.startsWith('x-forwarded-') && !o.trustedPeer) continue
    if (lower === 'forwarded' && !o.trustedPeer) continue
    if (lower === 'authorization') {
      const kept = splitAuthorization(value).filter((v) => !paymentScheme.test(v))
      if (kept.length > 0) out.push(name, kept.join(', '))
      continue
    }
    if (lower === 'x-forwarded-for') continue // rebuilt below
    out.push(name, value)
  }
  const prior = o.trustedPeer ? req.headersDistinct['x-forwarded-for']?.join(', ') : undefined
  const peer = req.socket.remoteAddress ?? ''
  out.push('host', o.upstreamHost)
  out.push('x-forwarded-for', prior ? `${prior}, ${peer}` : peer)
  if (!(o.trustedPeer && req.headers['x-forwarded-proto'])) out.push('x-forwarded-proto', 'encrypted' in req.socket ? 'https' : 'http')
  if (!(o.trustedPeer && req.headers['x-forwarded-host'])) out.push('x-forwarded-host', host)
  for (const [k, v] of o.add) out.push(k, v)
  return out
}

/** Headers of the upstream response for the client, hop-by-hop removed. */
export function downstreamResponseHeaders(rawHeaders: readonly string[], headers: IncomingHttpHeaders, add: readonly (readonly [string, string])[]): string[] {
  const drop = connectionTokens(headers)
  const out: string[] = []
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const lower = rawHeaders[i]!.toLowerCase()
    if (hopByHop.has(lower) || drop?.has(lower)) continue
    out.push(rawHeaders[i]!, rawHeaders[i + 1]!)
  }
  for (const [k, v] of add) out.push(k, v)
  return out
}
