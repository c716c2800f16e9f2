/**
 * The forward-auth verdict service (`turnpike serve --forward-auth`): a host proxy (nginx, Caddy,
 * Traefik, Envoy) asks before proxying; turnpike answers 200 with `X-Turnpike-*` headers, or the
 * challenge/deny reply in the form that host can pass on (protocols.md §9). No upstream is involved.
 *
 * Endpoints (all under `/.turnpike/`, all for trusted peers only):
 * - `GET /.turnpike/auth`                Caddy `forward_auth`, Traefik ForwardAuth (`X-Forwarded-*`)
 * - `GET /.turnpike/auth/nginx`          nginx `auth_request` (`X-Original-Method`, `-URI`, `Host`)
 * - `GET /.turnpike/auth/ingress-nginx`  ingress-nginx `auth-url` (`X-Original-Method`, `-URL`)
 * - `GET /.turnpike/challenge`           nginx's `error_page 401` hop: the stashed reply for an id
 * - `ANY /.turnpike/envoy/<path>`        Envoy ext_authz HTTP service (`path_prefix: /.turnpike/envoy`)
 * The two nginx endpoints answer every non-allow verdict with 401 + `X-Turnpike-Challenge: <id>`.
 * @module
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { TurnpikeError } from '../Errors.ts'
import type { Gateway } from '../Gateway.ts'
import type { Allow, Decision, Reply, RequestView } from '../RequestView.ts'
import type { Runtime } from '../runtime.ts'
import { writeReply } from '../adapters/node.ts'
import { normalizeIp, trustMatcher } from '../internal/ip.ts'
import { silent, type Logger } from '../internal/log.ts'
import { problem, problemOf } from '../internal/problem.ts'
import { handleInternal, prefix } from '../proxy/internal.ts'
import { infoHeaders, infoOf } from '../middleware/turnpike.ts'
import { originalOf, pathOf, type Original, type Style } from './hosts.ts'
import { stash as createStash } from './stash.ts'

export const paths = {
  auth: '/.turnpike/auth',
  nginx: '/.turnpike/auth/nginx',
  ingressNginx: '/.turnpike/auth/ingress-nginx',
  challenge: '/.turnpike/challenge',
  envoy: '/.turnpike/envoy',
} as const

/** Response header carrying the stash id from the nginx endpoint to the `error_page` hop. */
export const challengeHeader = 'x-turnpike-challenge'

/** Who may ask when `trustProxy` is empty: a host proxy on the same machine. */
export const defaultTrust: readonly string[] = ['loopback']

export type ForwardAuthOptions = {
  readonly gateway: Gateway
  /** Peers allowed to ask (addresses, CIDR ranges, `loopback`, `private`). Empty/absent: loopback only. */
  readonly trustProxy?: readonly string[]
  readonly logger?: Logger
  /** How long a stashed nginx verdict waits for its second hop (default 30 s). */
  readonly stashTtlMs?: number
}

export type ForwardAuth = {
  /** Answers a forward-auth request; returns false when the path is not a forward-auth endpoint. */
  handle(req: IncomingMessage, res: ServerResponse): boolean
}

function styleOf(path: string): Style | 'challenge' | undefined {
  if (path === paths.auth) return 'forwarded'
  if (path === paths.nginx) return 'nginx'
  if (path === paths.ingressNginx) return 'ingress-nginx'
  if (path === paths.challenge) return 'challenge'
  if (path === paths.envoy || path.startsWith(`${paths.envoy}/`)) return 'envoy'
  return undefined
}

function writeAllow(res: ServerResponse, lines: readonly (readonly [string, string])[]): void {
  const flat: string[] = ['cache-control', 'no-store', 'content-length', '0']
  for (const [k, v] of lines) flat.push(k, v)
  res.writeHead(200, flat)
  res.end()
}

/**
 * Creates the forward-auth handler over a gateway; mount it in any node:http server.
 * @example
 * const fa = createForwardAuth({ gateway: rt.gateway })
 * http.createServer((req, res) => fa.handle(req, res) || notFound(res))
 */
export function createForwardAuth(o: ForwardAuthOptions): ForwardAuth {
  const { gateway } = o
  const log = o.logger ?? silent
  const trust = o.trustProxy && o.trustProxy.length > 0 ? o.trustProxy : defaultTrust
  const trusted = trustMatcher(trust)
  const pending = createStash(o.stashTtlMs === undefined ? {} : { ttlMs: o.stashTtlMs })

  // The hosts set or append X-Forwarded-For; walk from the right past trusted hops. `Forwarded` is
  // not read: nginx and Caddy pass a client's own `Forwarded` header through unchanged.
  function clientOf(req: IncomingMessage): string | undefined {
    const chain = (req.headersDistinct['x-forwarded-for'] ?? []).join(',').split(',').map((a) => a.trim()).filter(Boolean)
    for (let i = chain.length - 1; i >= 0; i--) if (!trusted(chain[i])) return normalizeIp(chain[i]!)
    return chain[0] === undefined ? undefined : normalizeIp(chain[0])
  }

  function viewOf(req: IncomingMessage, orig: Original): RequestView {
    return {
      method: orig.method,
      path: pathOf(orig.uri),
      host: orig.host,
      // The auth request carries the client's own headers (Authorization, Macaroon, …).
      header: (name) => req.headersDistinct[name],
      get clientAddress() {
        return clientOf(req)
      },
    }
  }

  function internalError(e: unknown): Reply {
    log.error('unexpected error while deciding a forward-auth request', { error: e })
    return problem(new TurnpikeError('TURNPIKE_INTERNAL', 'Internal error'), 'internal')
  }

  function decide(view: RequestView, then: (d: Decision) => void): void {
    let d: Decision | Promise<Decision>
    try {
      d = gateway.decide(view)
    } catch (e) {
      return then(internalError(e))
    }
    if (d instanceof Promise) d.then(then, (e: unknown) => then(internalError(e)))
    else then(d)
  }

  function allowLines(d: Allow): [string, string][] {
    // Headers for the upstream request (hosts copy the ones they are told to), then any reply
    // headers the core wants the client to see (Envoy: allowed_client_headers_on_success).
    return [...infoHeaders(infoOf(gateway, d)), ...(d.requestHeaders as [string, string][]), ...(d.responseHeaders as [string, string][])]
  }

  function verdict(style: Style, req: IncomingMessage, res: ServerResponse): void {
    const orig = originalOf(style, req, paths.envoy)
    if ('error' in orig) {
      log.error('forward-auth request without the original request; check the host proxy config', { style, error: orig.error })
      return writeReply(res, problemOf('TURNPIKE_BAD_REQUEST', orig.error, 'forward-auth-headers'))
    }
    decide(viewOf(req, orig), (d) => {
      if (d.kind === 'allow') return writeAllow(res, allowLines(d))
      log.debug('forward-auth verdict', { style, method: orig.method, uri: orig.uri, status: d.status, route: d.route, reason: d.reason })
      if (style !== 'nginx' && style !== 'ingress-nginx') return writeReply(res, d)
      // nginx turns anything but 2xx/401/403 into a 500: answer 401 and let error_page fetch the reply.
      res.writeHead(401, ['cache-control', 'no-store', challengeHeader, pending.put(d), 'content-length', '0'])
      res.end()
    })
  }

  function challenge(req: IncomingMessage, res: ServerResponse): void {
    const id = req.headers[challengeHeader]
    const stashed = typeof id === 'string' ? pending.take(id) : undefined
    if (stashed) return writeReply(res, stashed)
    // Missing or expired (another turnpike instance took the first hop, or > TTL): decide again
    // from the X-Original-* headers. For an unpaid request that mints a second invoice. Reading
    // either header is safe here: this hop never lets a request through (an allow is undone below).
    log.info('nginx challenge hop without a stashed verdict; deciding again', { id: typeof id === 'string' ? id.slice(0, 6) : undefined })
    const orig = originalOf(req.headers['x-original-url'] === undefined ? 'nginx' : 'ingress-nginx', req, paths.envoy)
    if ('error' in orig) return writeReply(res, problemOf('TURNPIKE_BAD_REQUEST', orig.error, 'forward-auth-headers'))
    decide(viewOf(req, orig), (d) => {
      if (d.kind !== 'allow') return writeReply(res, d)
      // The verdict changed between the hops (e.g. the store came back). nginx is already on its
      // error path and cannot reach the upstream now: hand the credential back and ask for a retry.
      if (d.claim) void gateway.release(d.claim)
      writeReply(res, problem(new TurnpikeError('TURNPIKE_STORE_UNAVAILABLE', 'The verdict changed while it was delivered; your credential was not used, retry', { retryAfter: 1 }), 'verdict-changed', d.route))
    })
  }

  return {
    handle(req, res) {
      const url = req.url ?? '/'
      const q = url.indexOf('?')
      const style = styleOf(q === -1 ? url : url.slice(0, q))
      if (style === undefined) return false
      req.resume() // a body is never needed; drain whatever came
      if (!trusted(req.socket.remoteAddress)) {
        log.warn('forward-auth request from an untrusted peer refused', { peer: req.socket.remoteAddress })
        writeReply(res, problemOf('TURNPIKE_FORBIDDEN', 'This forward-auth endpoint answers trusted proxies only (see trustProxy)', 'untrusted-peer'))
        return true
      }
      if (style === 'challenge') challenge(req, res)
      else verdict(style, req, res)
      return true
    },
  }
}

export type ForwardAuthServer = {
  readonly server: http.Server
  /** `http://host:port` the service listens on. */
  readonly url: string
  close(): Promise<void>
}

/** Starts the forward-auth service on the configured listen address (also serves `/.turnpike/health`, dev pay). */
export async function startForwardAuth(rt: Runtime, log: Logger): Promise<ForwardAuthServer> {
  const fa = createForwardAuth({ gateway: rt.gateway, trustProxy: rt.config.trustProxy, logger: log })
  const server = http.createServer({ keepAlive: true, headersTimeout: 30_000 }, (req, res) => {
    if (fa.handle(req, res)) return
    const url = req.url ?? '/'
    const q = url.indexOf('?')
    const path = q === -1 ? url : url.slice(0, q)
    if (path.startsWith(prefix) && handleInternal(req, res, path, rt, log)) return
    req.resume()
    writeReply(res, problemOf('TURNPIKE_NOT_FOUND', `This is a forward-auth service; point the host proxy at ${Object.values(paths).join(', ')}`, 'no-endpoint'))
  })
  server.on('clientError', (err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n')
    else socket.destroy(err)
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(rt.config.listen.port, rt.config.listen.host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const addr = server.address() as AddressInfo
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address
  return {
    server,
    url: `http://${host}:${addr.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}
