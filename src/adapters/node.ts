/**
 * node:http adapter: builds the RequestView from an IncomingMessage without copying headers and
 * writes challenge/deny decisions. Used by the reverse proxy and the node:http / Express middleware.
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Reply, RequestView } from '../RequestView.ts'
import { forwardedFor, normalizeIp, trustMatcher } from '../internal/ip.ts'

/**
 * Resolves the client address. `Forwarded` (RFC 7239 `for=`), or else `X-Forwarded-For`, is only
 * believed from a `trustProxy` peer (addresses, CIDR ranges, `loopback`, `private`, `linklocal`).
 */
export function clientAddress(req: IncomingMessage, trustProxy: readonly string[]): string | undefined {
  const peer = req.socket.remoteAddress
  const trusted = trustMatcher(trustProxy)
  if (!peer || !trusted(peer)) return peer
  const forwarded = req.headersDistinct['forwarded']
  const chain = forwarded
    ? forwardedFor(forwarded)
    : (req.headersDistinct['x-forwarded-for'] ?? []).join(',').split(',').map((s) => s.trim()).filter(Boolean)
  // Walk from the right: the first address not belonging to a trusted proxy is the client.
  for (let i = chain.length - 1; i >= 0; i--) {
    if (!trusted(chain[i]!)) return normalizeIp(chain[i]!)
  }
  return chain[0] === undefined ? peer : normalizeIp(chain[0])
}

/**
 * Every value of one header (`name` in lower case), in order, read straight from `rawHeaders`:
 * the gateway asks for a handful of names, which is cheaper than building `headersDistinct`.
 */
export function rawHeader(raw: readonly string[], name: string): string[] | undefined {
  let out: string[] | undefined
  for (let i = 0; i < raw.length; i += 2) {
    const k = raw[i]!
    if (k.length === name.length && (k === name || k.toLowerCase() === name)) (out ??= []).push(raw[i + 1]!)
  }
  return out
}

/** A RequestView over a node:http request. `path` and `query` are split from `req.url` once. */
export function toView(req: IncomingMessage, trustProxy: readonly string[] = []): RequestView {
  const url = req.url ?? '/'
  const q = url.indexOf('?')
  const raw = req.rawHeaders
  return {
    method: req.method ?? 'GET',
    path: q === -1 ? url : url.slice(0, q),
    host: rawHeader(raw, 'host')?.[0] ?? '',
    header: (name) => rawHeader(raw, name),
    get clientAddress() {
      return clientAddress(req, trustProxy)
    },
  }
}

/** Writes a challenge or deny decision. Header lines stay pairs, so repeated names survive. */
export function writeReply(res: ServerResponse, d: Reply): void {
  const flat: string[] = []
  for (const [k, v] of d.headers) flat.push(k, v)
  flat.push('content-length', String(Buffer.byteLength(d.body)))
  res.writeHead(d.status, flat)
  res.end(d.body)
}
