/**
 * gRPC over HTTP/2: decides each call like any request, answers refusals in gRPC's trailers-only
 * form (protocols.md §1.5) before any upstream contact, and proxies allowed calls to an HTTP/2
 * upstream over one shared session per origin, streaming both bodies and relaying the trailers.
 * @module
 */
import http2, { type ClientHttp2Session, type Http2ServerRequest, type IncomingHttpHeaders, type OutgoingHttpHeaders, type ServerHttp2Stream } from 'node:http2'
import type { Allow, Decision, Reply, RequestView } from '../RequestView.ts'
import type { Logger } from '../internal/log.ts'
import { clientAddress } from '../adapters/node.ts'
import { trustMatcher } from '../internal/ip.ts'

const { NGHTTP2_CANCEL, NGHTTP2_INTERNAL_ERROR, NGHTTP2_FLAG_END_STREAM } = http2.constants

/** Header values by lower-case name, one entry per line; pseudo headers (`:path`…) left out. */
export function distinctHeaders(raw: readonly string[]): Record<string, string[]> {
  const out: Record<string, string[]> = Object.create(null)
  for (let i = 0; i < raw.length; i += 2) {
    const k = raw[i]!.toLowerCase()
    if (k.startsWith(':')) continue
    ;(out[k] ??= []).push(raw[i + 1]!)
  }
  return out
}

export const isGrpc = (contentType: string | undefined): boolean => contentType?.startsWith('application/grpc') === true

const hopByHop = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'proxy-authorization', 'proxy-authenticate', 'host', 'content-length'])
const paymentScheme = /^\s*(l402|lsat|payment|cashu)(\s|$)/i
const receiptHeaders = new Set(['payment-receipt', 'payment-response'])

/** gRPC status for a refusal: 402 → INTERNAL "payment required" (what Aperture's clients detect). */
function grpcStatus(status: number): [code: number, message: string] {
  if (status === 402) return [13, 'payment required']
  if (status === 429) return [8, 'rate limit exceeded']
  if (status === 401) return [16, 'unauthenticated']
  if (status === 403) return [7, 'permission denied']
  if (status === 404 || status === 405) return [12, 'not found']
  if (status === 400) return [3, 'bad request']
  if (status === 504) return [4, 'upstream timeout']
  if (status === 502 || status === 503) return [14, 'upstream unavailable']
  return [13, 'internal error']
}

function addHeader(h: OutgoingHttpHeaders, name: string, value: string) {
  const k = name.toLowerCase()
  const prior = h[k]
  h[k] = prior === undefined ? value : Array.isArray(prior) ? [...prior, value] : [String(prior), value]
}

/** The trailers-only answer: one HEADERS frame with END_STREAM carrying status and challenge. */
export function replyGrpc(stream: ServerHttp2Stream, d: Pick<Reply, 'status' | 'headers'>): void {
  if (stream.destroyed || stream.headersSent) return
  const [code, message] = grpcStatus(d.status)
  const h: OutgoingHttpHeaders = { ':status': 200, 'content-type': 'application/grpc', 'grpc-status': String(code), 'grpc-message': message }
  for (const [k, v] of d.headers) {
    const lower = k.toLowerCase()
    if (lower !== 'content-type' && lower !== 'content-length' && !hopByHop.has(lower)) addHeader(h, lower, v)
  }
  stream.resume() // discard the request body
  stream.respond(h, { endStream: true })
}

export type GrpcProxyOptions = {
  readonly decide: (view: RequestView) => Decision | Promise<Decision>
  readonly normalize: (path: string) => string | undefined
  readonly target: (d: Allow) => URL
  readonly trustProxy: readonly string[]
  readonly timeoutMs: number
  readonly logger: Logger
  /** The upstream failed (connection error, timeout, 5xx): count it and release any claim. */
  readonly onFailure: (d: Allow) => void
}

export type GrpcProxy = {
  handle(req: Http2ServerRequest): void
  close(): void
}

export function createGrpcProxy(o: GrpcProxyOptions): GrpcProxy {
  const sessions = new Map<string, ClientHttp2Session>()
  const trusted = trustMatcher(o.trustProxy)

  function session(origin: string): ClientHttp2Session {
    const s = sessions.get(origin)
    if (s && !s.closed && !s.destroyed) return s
    const fresh = http2.connect(origin)
    const drop = () => {
      if (sessions.get(origin) === fresh) sessions.delete(origin)
    }
    fresh.on('error', (e) => (drop(), o.logger.warn('gRPC upstream session failed', { origin, error: e })))
    fresh.on('close', drop)
    fresh.on('goaway', drop)
    sessions.set(origin, fresh)
    return fresh
  }

  function forward(req: Http2ServerRequest, stream: ServerHttp2Stream, d: Allow, path: string) {
    const target = o.target(d)
    const basePath = target.pathname === '/' ? '' : target.pathname.replace(/\/$/, '')
    const url = req.url
    const q = url.indexOf('?')
    const h: OutgoingHttpHeaders = {
      ':method': req.method,
      ':scheme': target.protocol.slice(0, -1),
      ':authority': target.host,
      ':path': basePath + path + (q === -1 ? '' : url.slice(q)),
    }
    const raw = req.rawHeaders
    for (let i = 0; i < raw.length; i += 2) {
      const k = raw[i]!.toLowerCase()
      const v = raw[i + 1]!
      if (k.startsWith(':') || hopByHop.has(k) || d.stripHeaders.includes(k)) continue
      if (k.startsWith('x-forwarded-') && !trusted(peer(stream))) continue
      if (k === 'authorization') {
        const kept = v.split(/,\s*/).filter((x) => !paymentScheme.test(x))
        if (kept.length > 0) addHeader(h, k, kept.join(', '))
        continue
      }
      addHeader(h, k, v)
    }
    addHeader(h, 'x-forwarded-for', peer(stream) ?? '')
    if (h['x-forwarded-proto'] === undefined) addHeader(h, 'x-forwarded-proto', stream.session?.encrypted ? 'https' : 'http')
    for (const [k, v] of d.requestHeaders) addHeader(h, k, v)

    let failed = false
    const fail = () => {
      if (!failed) (failed = true), o.onFailure(d)
    }
    let up: http2.ClientHttp2Stream
    try {
      up = session(target.origin).request(h)
    } catch (e) {
      o.logger.error('gRPC upstream request failed', { route: d.route, error: e })
      fail()
      return replyGrpc(stream, { status: 503, headers: [] })
    }
    const timer = setTimeout(() => {
      fail()
      replyGrpc(stream, { status: 504, headers: [] })
      up.close(NGHTTP2_CANCEL)
    }, o.timeoutMs)
    let trailers: OutgoingHttpHeaders = {}
    up.on('response', (uh: IncomingHttpHeaders, flags: number) => {
      clearTimeout(timer)
      if (stream.destroyed || stream.headersSent) return
      const status = Number(uh[':status'] ?? 502)
      if (status >= 500) fail()
      const out: OutgoingHttpHeaders = { ':status': status }
      for (const [k, v] of Object.entries(uh)) {
        if (k.startsWith(':') || hopByHop.has(k) || v === undefined) continue
        out[k] = v
      }
      for (const [k, v] of d.responseHeaders) if (status < 300 || !receiptHeaders.has(k.toLowerCase())) addHeader(out, k, v)
      if (flags & NGHTTP2_FLAG_END_STREAM) return stream.respond(out, { endStream: true })
      stream.respond(out, { waitForTrailers: true })
      up.pipe(stream)
    })
    up.on('trailers', (t: IncomingHttpHeaders) => {
      trailers = {}
      for (const [k, v] of Object.entries(t)) if (!k.startsWith(':') && v !== undefined) trailers[k] = v
    })
    // The compat response (Http2ServerResponse) would send its own empty trailers: take over.
    stream.removeAllListeners('wantTrailers')
    stream.on('wantTrailers', () => stream.sendTrailers(trailers))
    up.on('error', (e) => {
      clearTimeout(timer)
      if (stream.headersSent) return stream.close(NGHTTP2_INTERNAL_ERROR)
      o.logger.error('gRPC upstream request failed', { route: d.route, error: e })
      fail()
      replyGrpc(stream, { status: 503, headers: [] })
    })
    up.on('close', () => {
      clearTimeout(timer)
      if (up.rstCode && up.rstCode !== http2.constants.NGHTTP2_NO_ERROR && !stream.closed) stream.close(up.rstCode)
    })
    stream.on('close', () => {
      clearTimeout(timer)
      if (!up.closed) up.close(NGHTTP2_CANCEL)
    })
    stream.on('error', () => {})
    stream.pipe(up)
  }

  const peer = (stream: ServerHttp2Stream) => stream.session?.socket?.remoteAddress

  function view(req: Http2ServerRequest): RequestView {
    const distinct = distinctHeaders(req.rawHeaders)
    const url = req.url
    const q = url.indexOf('?')
    const trustProxy = o.trustProxy
    const fake = { socket: { remoteAddress: peer(req.stream) }, headersDistinct: distinct } as unknown as Parameters<typeof clientAddress>[0]
    return {
      method: req.method,
      path: q === -1 ? url : url.slice(0, q),
      host: req.authority ?? '',
      header: (name) => distinct[name],
      get clientAddress() {
        return clientAddress(fake, trustProxy)
      },
    }
  }

  return {
    handle(req) {
      const stream = req.stream
      const v = view(req)
      const act = (d: Decision) => {
        if (d.kind !== 'allow') return replyGrpc(stream, d)
        if (stream.destroyed) {
          if (d.claim) o.onFailure(d)
          return
        }
        forward(req, stream, d, o.normalize(v.path) ?? '/')
      }
      const internal = (e: unknown) => {
        o.logger.error('unexpected error while deciding', { error: e })
        replyGrpc(stream, { status: 500, headers: [] })
      }
      let d: Decision | Promise<Decision>
      try {
        d = o.decide(v)
      } catch (e) {
        return internal(e)
      }
      if (d instanceof Promise) d.then(act, internal)
      else act(d)
    },
    close() {
      for (const s of sessions.values()) s.destroy()
      sessions.clear()
    },
  }
}
