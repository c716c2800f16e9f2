/**
 * The proxy's HTTP/2 server (TLS `h2` or cleartext h2c). gRPC calls go to the gRPC proxy; any other
 * HTTP/2 request is presented to the HTTP/1.1 handler as an IncomingMessage look-alike (pseudo
 * headers folded into `host`, `headersDistinct`, the real socket for the peer address and TLS).
 * @module
 */
import http2, { type Http2Server, type Http2ServerRequest, type Http2ServerResponse, type Http2Session } from 'node:http2'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { distinctHeaders, isGrpc, type GrpcProxy } from './grpc.ts'

/** Makes an HTTP/2 compat request/response usable by the HTTP/1.1 handler and forwarder. */
function asHttp1(req: Http2ServerRequest, res: Http2ServerResponse): [IncomingMessage, ServerResponse] {
  const raw: string[] = []
  const r = req.rawHeaders
  for (let i = 0; i < r.length; i += 2) if (!r[i]!.startsWith(':')) raw.push(r[i]!, r[i + 1]!)
  const authority = req.authority
  if (authority && req.headers.host === undefined) {
    raw.unshift('host', authority)
    req.headers.host = authority
  }
  Object.defineProperty(req, 'rawHeaders', { value: raw })
  Object.defineProperty(req, 'headersDistinct', { value: distinctHeaders(raw) })
  // The session's socket: `remoteAddress` and `encrypted` (X-Forwarded-Proto) as on HTTP/1.1.
  const socket = req.stream.session?.socket
  if (socket) Object.defineProperty(req, 'socket', { value: socket })
  // HTTP/2 has no reason phrase; drop it rather than warn on every response.
  const writeHead = res.writeHead.bind(res) as (status: number, headers?: unknown) => Http2ServerResponse
  Object.defineProperty(res, 'writeHead', {
    value: (status: number, a?: unknown, b?: unknown) => writeHead(status, typeof a === 'string' || (a === undefined && b !== undefined) ? b : a),
  })
  return [req as unknown as IncomingMessage, res as unknown as ServerResponse]
}

export type H2 = {
  readonly server: Http2Server
  /** Destroys every open session. */
  destroyAll(): void
}

/** The HTTP/2 server fed by the listener (it never listens itself). */
export function createH2(handler: (req: IncomingMessage, res: ServerResponse) => void, grpc: GrpcProxy): H2 {
  const sessions = new Set<Http2Session>()
  const server = http2.createServer({}, (req, res) => {
    if (isGrpc(req.headers['content-type'])) return grpc.handle(req)
    const [r, s] = asHttp1(req, res)
    handler(r, s)
  })
  server.on('session', (s: Http2Session) => {
    sessions.add(s)
    s.once('close', () => sessions.delete(s))
    s.on('error', () => s.destroy())
  })
  return {
    server,
    destroyAll() {
      for (const s of sessions) s.destroy()
    },
  }
}
