/**
 * The standalone reverse proxy: a node:http server that asks the gateway core about every request
 * and streams allowed ones to the upstream.
 * @module
 */
import http, { type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Duplex } from 'node:stream'
import type { Allow, Decision, RequestView } from '../RequestView.ts'
import { TurnpikeError } from '../Errors.ts'
import type { Runtime } from '../runtime.ts'
import { toView, writeReply } from '../adapters/node.ts'
import type { Logger } from '../internal/log.ts'
import { problem } from '../internal/problem.ts'
import { createForwarder } from './forward.ts'
import { handleInternal, prefix } from './internal.ts'
import * as Manifest from '../manifest.ts'
import { createGrpcProxy } from './grpc.ts'
import { createH2 } from './h2.ts'
import { createListener, type Listener } from './tls.ts'
import { pageService } from '../page/service.ts'

export type Proxy = {
  /** The HTTP/1.1 server. With `tls` or `h2c` it is fed by `listener` and does not listen itself. */
  readonly server: Server
  /** `http://host:port` (or `https://` with `tls`) the proxy listens on. */
  readonly url: string
  /** Present with `tls` or `h2c`: the port's listener; `reload()` re-reads the certificate. */
  readonly listener?: Listener
  close(): Promise<void>
}

// Upstream URL per route, parsed once per config (live routes swap the config object).
const targets = new WeakMap<object, Map<string, URL>>()
function targetFor(rt: Runtime, d: Allow): URL {
  const config = rt.config
  let byRoute = targets.get(config)
  if (byRoute === undefined) targets.set(config, (byRoute = new Map()))
  let url = byRoute.get(d.route)
  if (url === undefined) {
    const route = config.routes.find((r) => r.name === d.route)
    byRoute.set(d.route, (url = new URL(route?.upstream ?? config.upstream!)))
  }
  return url
}

function upstreamPath(req: IncomingMessage, normalized: string): string {
  const url = req.url ?? '/'
  const q = url.indexOf('?')
  return q === -1 ? normalized : normalized + url.slice(q)
}

function internalError(log: Logger, e: unknown) {
  log.error('unexpected error while deciding', { error: e })
  return problem(new TurnpikeError('TURNPIKE_INTERNAL', 'Internal error'), 'internal')
}

/** Starts the proxy on the configured listen address. */
export async function startProxy(rt: Runtime, log: Logger): Promise<Proxy> {
  const { config, gateway } = rt
  const forwarder = createForwarder({ timeoutMs: config.upstreamTimeoutMs, trustProxy: config.trustProxy, logger: log })
  // The discovery manifest of the routes in force: rebuilt when live route changes or a reload swap
  // the config object, so it never advertises a route that is gone or misses one that was added.
  const manifestInfo = { backend: rt.backend.name, ...(rt.devNode ? { network: rt.devNode.network } : {}) }
  const manifests = new WeakMap<object, ReturnType<typeof Manifest.responder>>()
  const manifest = (): ReturnType<typeof Manifest.responder> => {
    const c = rt.config
    if (!manifests.has(c)) manifests.set(c, Manifest.responder(c, manifestInfo))
    return manifests.get(c)
  }
  const page = pageService(rt, log)

  const act = (req: IncomingMessage, res: ServerResponse, d: Decision, view: RequestView) => {
    if (d.kind !== 'allow') {
      log.debug('request answered', { method: req.method, path: req.url, status: d.status, route: d.route, reason: d.reason })
      return writeReply(res, page.render(req, d) ?? d)
    }
    const path = gateway.normalize(view.path) ?? '/'
    const claim = d.claim
    forwarder.forward(req, res, targetFor(rt, d), upstreamPath(req, path), d, () => {
      rt.gatewayMetrics.upstreamErrors.inc([d.route])
      if (claim) {
        log.info('upstream failed; releasing the single-use claim so the client can retry', { route: d.route })
        void gateway.release(claim)
      }
    })
  }

  const handler = (req: IncomingMessage, res: ServerResponse) => {
    const view = toView(req, config.trustProxy)
    if (view.path.startsWith(prefix) && (page.handle(req, res, view.path) || handleInternal(req, res, view.path, rt, log))) return
    if (view.path === Manifest.path) {
      const respond = manifest()
      if (respond) return respond(view.method, res)
    }
    let d: Decision | Promise<Decision>
    try {
      d = gateway.decide(view)
    } catch (e) {
      return writeReply(res, internalError(log, e))
    }
    if (d instanceof Promise) {
      d.then((x) => act(req, res, x, view), (e: unknown) => writeReply(res, internalError(log, e)))
    } else act(req, res, d, view)
  }
  const server = http.createServer({ keepAlive: true, requestTimeout: 0, headersTimeout: 30_000 }, handler)

  const upgraded = new Set<Duplex>()
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    upgraded.add(socket)
    socket.on('close', () => upgraded.delete(socket))
    const view = toView(req, config.trustProxy)
    const reject = (d: Exclude<Decision, Allow>) => {
      const lines = [`HTTP/1.1 ${d.status} ${http.STATUS_CODES[d.status] ?? ''}`]
      for (const [k, v] of d.headers) lines.push(`${k}: ${v}`)
      lines.push(`content-length: ${Buffer.byteLength(d.body)}`, 'connection: close')
      socket.end(lines.join('\r\n') + '\r\n\r\n' + d.body)
    }
    Promise.resolve()
      .then(() => gateway.decide(view))
      .then(
        (d) => {
          if (d.kind !== 'allow') return reject(d)
          const claim = d.claim
          const path = gateway.normalize(view.path) ?? '/'
          forwarder.upgrade(req, socket, head, targetFor(rt, d), upstreamPath(req, path), d, () => {
            if (claim) void gateway.release(claim)
          })
        },
        (e: unknown) => reject(internalError(log, e) as Exclude<Decision, Allow>),
      )
    socket.on('error', () => socket.destroy())
  })
  server.on('clientError', (err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n')
    else socket.destroy(err)
  })

  // TLS or h2c: one listener dispatches each connection to `server` or an HTTP/2 server (tls.ts).
  const wrapped = config.tls || config.h2c ? listenerFor(rt, log, server, handler) : undefined
  const bound = wrapped?.listener.server ?? server
  await new Promise<void>((resolve, reject) => {
    bound.once('error', reject)
    bound.listen(config.listen.port, config.listen.host, () => {
      bound.off('error', reject)
      resolve()
    })
  })
  const addr = bound.address() as AddressInfo
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address
  return {
    server,
    url: `${config.tls ? 'https' : 'http'}://${host}:${addr.port}`,
    ...(wrapped ? { listener: wrapped.listener } : {}),
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
        for (const s of upgraded) s.destroy()
        wrapped?.close()
      })
      forwarder.close()
      page.close()
    },
  }
}

/** The dispatching listener, its HTTP/2 server with the gRPC proxy, and certificate reload on SIGHUP. */
function listenerFor(rt: Runtime, log: Logger, server: Server, handler: (req: IncomingMessage, res: ServerResponse) => void) {
  const { config, gateway } = rt
  const grpc = createGrpcProxy({
    decide: (v) => gateway.decide(v),
    normalize: (p) => gateway.normalize(p),
    target: (d) => targetFor(rt, d),
    trustProxy: config.trustProxy,
    timeoutMs: config.upstreamTimeoutMs,
    logger: log,
    onFailure: (d) => {
      rt.gatewayMetrics.upstreamErrors.inc([d.route])
      if (d.claim) void gateway.release(d.claim)
    },
  })
  const h2 = createH2(handler, grpc)
  const listener = createListener({ tls: config.tls, http: server, h2: h2.server })
  const onHup = () => {
    try {
      listener.reload()
      log.info('TLS certificate reloaded', { certFile: config.tls?.certFile })
    } catch (e) {
      log.error('TLS certificate reload failed; keeping the current one', { error: e })
    }
  }
  if (config.tls) process.on('SIGHUP', onHup)
  // drain() closes `server`: stop accepting on the real listener too.
  server.once('close', () => listener.server.close())
  return {
    listener,
    close() {
      process.off('SIGHUP', onHup)
      listener.server.close()
      h2.destroyAll()
      listener.destroyAll()
      grpc.close()
    },
  }
}
