/**
 * Streams an allowed request to the upstream over a keep-alive pool and the response back,
 * without buffering (large bodies and SSE flow as they come). WebSocket upgrades are spliced.
 * @module
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http'
import https from 'node:https'
import type { Duplex } from 'node:stream'
import { TurnpikeError } from '../Errors.ts'
import type { Allow } from '../RequestView.ts'
import type { Logger } from '../internal/log.ts'
import { trustMatcher } from '../internal/ip.ts'
import { problem } from '../internal/problem.ts'
import { writeReply } from '../adapters/node.ts'
import { downstreamResponseHeaders, upstreamRequestHeaders } from './headers.ts'
import { pipeMetered } from '../access/metering.ts'

/** Payment receipts are only sent with a successful answer (MPP §2.6, x402). */
const receiptHeaders = new Set(['payment-receipt', 'payment-response'])

export type Forwarder = {
  /** Proxies `req` to `target` + `pathAndQuery`. Calls `onFailure` when the upstream failed (error or 5xx). */
  forward(req: IncomingMessage, res: ServerResponse, target: URL, pathAndQuery: string, d: Allow, onFailure: () => void): void
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, target: URL, pathAndQuery: string, d: Allow, onFailure: () => void): void
  close(): void
}

export type ForwarderOptions = {
  /** Time allowed until the upstream's response headers arrive. */
  readonly timeoutMs: number
  readonly trustProxy: readonly string[]
  readonly logger: Logger
}

/** Creates a forwarder with one keep-alive agent per upstream protocol. */
export function createForwarder(o: ForwarderOptions): Forwarder {
  const agentOptions = { keepAlive: true, maxSockets: 512, maxFreeSockets: 128, scheduling: 'lifo' as const }
  const httpAgent = new http.Agent(agentOptions)
  const httpsAgent = new https.Agent(agentOptions)

  const trustedPeer = trustMatcher(o.trustProxy)
  const trusted = (req: IncomingMessage) => trustedPeer(req.socket.remoteAddress)

  function request(target: URL, pathAndQuery: string, req: IncomingMessage, d: Allow, upgrade: boolean) {
    const secure = target.protocol === 'https:'
    const basePath = target.pathname === '/' ? '' : target.pathname.replace(/\/$/, '')
    const headers = upstreamRequestHeaders(req, {
      strip: d.stripHeaders,
      add: d.requestHeaders,
      upstreamHost: target.host,
      clientAddress: undefined,
      trustedPeer: trusted(req),
      keepUpgrade: upgrade,
    })
    return (secure ? https : http).request({
      protocol: target.protocol,
      hostname: target.hostname.replace(/^\[|\]$/g, ''),
      port: target.port || (secure ? 443 : 80),
      method: req.method,
      path: basePath + pathAndQuery,
      headers: headers as unknown as http.OutgoingHttpHeaders,
      agent: upgrade ? false : secure ? httpsAgent : httpAgent,
      setHost: false,
    })
  }

  function fail(res: ServerResponse, e: unknown, timedOut: boolean, route: string) {
    const err = timedOut
      ? new TurnpikeError('TURNPIKE_UPSTREAM_TIMEOUT', 'The upstream did not answer in time', { cause: e })
      : new TurnpikeError('TURNPIKE_UPSTREAM_UNAVAILABLE', 'The upstream is unavailable', { cause: e, retryAfter: 2 })
    o.logger.error(timedOut ? 'upstream timed out' : 'upstream request failed', { route, error: e, code: (e as NodeJS.ErrnoException).code })
    if (!res.headersSent) writeReply(res, problem(err, err.code, route))
    else res.destroy()
  }

  return {
    forward(req, res, target, pathAndQuery, d, onFailure) {
      const up = request(target, pathAndQuery, req, d, false)
      let timedOut = false
      let failed = false
      const failOnce = () => {
        if (!failed) {
          failed = true
          onFailure()
        }
      }
      const timer = setTimeout(() => {
        timedOut = true
        up.destroy(new Error('upstream response timeout'))
      }, o.timeoutMs)
      up.on('response', (ur) => {
        clearTimeout(timer)
        const status = ur.statusCode ?? 502
        if (status >= 500) failOnce()
        res.writeHead(status, ur.statusMessage, downstreamResponseHeaders(ur.rawHeaders, ur.headers, status < 300 ? d.responseHeaders : d.responseHeaders.filter(([k]) => !receiptHeaders.has(k.toLowerCase()))))
        // Flush headers at once so event streams start before the first event.
        res.flushHeaders()
        // Metered credit routes count the response as it streams; everything else is a plain pipe.
        if (d.meter === undefined) ur.pipe(res)
        else {
          const meter = d.meter
          pipeMetered(ur, res, meter, o.logger, d.route, (units) => {
            if (!failed) void meter.settle(units)
          })
        }
        ur.on('error', () => res.destroy())
      })
      up.on('error', (e) => {
        clearTimeout(timer)
        if (res.writableEnded || (res.headersSent && !timedOut && !res.writable)) return
        failOnce()
        fail(res, e, timedOut, d.route)
      })
      res.on('close', () => {
        clearTimeout(timer)
        if (!res.writableFinished) up.destroy()
      })
      req.pipe(up)
    },

    upgrade(req, socket, head, target, pathAndQuery, d, onFailure) {
      const up = request(target, pathAndQuery, req, d, true)
      const timer = setTimeout(() => up.destroy(new Error('upstream upgrade timeout')), o.timeoutMs)
      up.on('upgrade', (ur, upSocket, upHead) => {
        clearTimeout(timer)
        const lines = [`HTTP/1.1 101 ${ur.statusMessage || 'Switching Protocols'}`]
        for (let i = 0; i < ur.rawHeaders.length; i += 2) lines.push(`${ur.rawHeaders[i]}: ${ur.rawHeaders[i + 1]}`)
        socket.write(lines.join('\r\n') + '\r\n\r\n')
        if (upHead.length > 0) socket.write(upHead)
        if (head.length > 0) upSocket.write(head)
        upSocket.pipe(socket).pipe(upSocket)
        // Either side closing tears down the other; pipe() alone only follows a clean 'end'.
        upSocket.on('close', () => socket.destroy())
        socket.on('close', () => upSocket.destroy())
        upSocket.on('error', () => socket.destroy())
        socket.on('error', () => upSocket.destroy())
      })
      up.on('response', (ur) => {
        // The upstream refused the upgrade: relay its answer and close.
        clearTimeout(timer)
        if ((ur.statusCode ?? 502) >= 500) onFailure()
        const lines = [`HTTP/1.1 ${ur.statusCode} ${ur.statusMessage ?? ''}`]
        const headers = downstreamResponseHeaders(ur.rawHeaders, ur.headers, [])
        for (let i = 0; i < headers.length; i += 2) lines.push(`${headers[i]}: ${headers[i + 1]}`)
        lines.push('connection: close')
        socket.write(lines.join('\r\n') + '\r\n\r\n')
        ur.pipe(socket)
      })
      up.on('error', (e) => {
        clearTimeout(timer)
        onFailure()
        o.logger.error('upstream upgrade failed', { route: d.route, error: e })
        const body = JSON.stringify(new TurnpikeError('TURNPIKE_UPSTREAM_UNAVAILABLE', 'The upstream is unavailable').toProblemDetails())
        socket.end(`HTTP/1.1 502 Bad Gateway\r\ncontent-type: application/problem+json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`)
      })
      socket.on('error', () => up.destroy())
      up.end()
    },

    close() {
      httpAgent.destroy()
      httpsAgent.destroy()
    },
  }
}
