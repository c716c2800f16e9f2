/**
 * The payment page on the proxy listener: the HTML 402 for browsers, the settlement event stream
 * `GET /.turnpike/invoices/<hash>/events` (SSE, from the shared backend subscription; never mints
 * an invoice) and `POST /.turnpike/invoices/<hash>/preimage` (the preimage of a settled invoice,
 * only for the holder of the challenge's macaroon).
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { TurnpikeError, is } from '../Errors.ts'
import type { InvoiceState } from '../Lightning.ts'
import type { Reply } from '../RequestView.ts'
import type { Runtime } from '../runtime.ts'
import type { Logger } from '../internal/log.ts'
import { problem } from '../internal/problem.ts'
import { writeReply } from '../adapters/node.ts'
import { render } from './html.ts'
import { wantsPage } from './negotiate.ts'
import { hub } from './settlement.ts'
import { readJsonObject } from '../internal/body.ts'

export type PageService = {
  /** The HTML page replacing a challenge's JSON body for a browser; undefined when not applicable. */
  render(req: IncomingMessage, d: Reply): Reply | undefined
  /** Serves `/.turnpike/invoices/<hash>/(events|preimage)`; false for any other path. */
  handle(req: IncomingMessage, res: ServerResponse, path: string): boolean
  close(): void
}

export type PageOptions = {
  /** Concurrent event streams per process (default 1000); more get 503. */
  readonly maxStreams?: number
  /** SSE comment heartbeat (default 15 s). */
  readonly heartbeatMs?: number
  /** Longest a stream stays open (default 1 h); the browser reconnects after. */
  readonly maxStreamMs?: number
  /** Lookup period without a backend subscription (default 1 s). */
  readonly pollMs?: number
  /** Whether this client may use the dev pay endpoint (default: loopback unless `dev.payOpen`). */
  readonly devPayAllowed?: (req: IncomingMessage) => boolean
}

const route = /^\/\.turnpike\/invoices\/([0-9a-f]{64})\/(events|preimage)$/

function isLoopback(address: string | undefined): boolean {
  const a = address?.startsWith('::ffff:') ? address.slice(7) : address
  return a === '::1' || (a?.startsWith('127.') ?? false)
}

function fail(res: ServerResponse, e: TurnpikeError): void {
  if (res.headersSent) return void res.end()
  writeReply(res, problem(e, e.code))
}

/** Creates the page service for a runtime. */
export function pageService(rt: Runtime, log: Logger, o: PageOptions = {}): PageService {
  const enabled = rt.config.page?.enabled !== false
  const maxStreams = o.maxStreams ?? 1000
  const heartbeatMs = o.heartbeatMs ?? 15_000
  const maxStreamMs = o.maxStreamMs ?? 3_600_000
  const settlement = hub(rt.backend, { pollMs: o.pollMs ?? 1000 })
  const devAllowed = o.devPayAllowed ?? ((req: IncomingMessage) => rt.devNode !== undefined && (rt.config.dev.payOpen || isLoopback(req.socket.remoteAddress)))
  const streams = rt.gatewayMetrics.streams
  const pages = rt.gatewayMetrics.pages
  const open = new Set<AbortController>()

  async function events(req: IncomingMessage, res: ServerResponse, hash: string): Promise<void> {
    if (req.method !== 'GET') throw new TurnpikeError('TURNPIKE_METHOD_NOT_ALLOWED', 'Use GET (an EventSource)')
    if (settlement.size >= maxStreams) throw new TurnpikeError('TURNPIKE_BACKEND_UNAVAILABLE', 'Too many open payment pages; retry shortly', { retryAfter: 5 })
    let record
    try {
      record = await rt.store.getInvoice(hash)
    } catch (e) {
      throw is(e) ? e : new TurnpikeError('TURNPIKE_STORE_UNAVAILABLE', 'The state store is unavailable', { retryAfter: 2 })
    }
    if (!record) throw new TurnpikeError('TURNPIKE_INVOICE_UNKNOWN', 'This gateway did not issue that invoice')
    const ctl = new AbortController()
    open.add(ctl)
    res.on('close', () => ctl.abort())
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', 'x-accel-buffering': 'no', connection: 'keep-alive' })
    res.write('retry: 3000\n\n')
    const send = (event: string, data: unknown) => res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`)
    const eventOf = (s: InvoiceState) => (s.status === 'settled' ? 'settled' : s.status === 'open' ? 'status' : 'expired')
    const beat = setInterval(() => res.write(': ping\n\n'), heartbeatMs)
    const limit = setTimeout(() => ctl.abort(), maxStreamMs)
    streams.inc([])
    try {
      await settlement.watch(hash, ctl.signal, (s) => send(eventOf(s), { status: s.status, payment_hash: hash }))
    } catch (e) {
      if (!ctl.signal.aborted) {
        log.warn('settlement stream failed', { paymentHash: hash, error: e })
        send('failed', { status: 'unknown', detail: is(e) ? e.message : 'The Lightning backend failed' })
      }
    } finally {
      clearInterval(beat)
      clearTimeout(limit)
      streams.inc([], -1)
      open.delete(ctl)
      res.end()
    }
  }

  async function preimage(req: IncomingMessage, res: ServerResponse, hash: string): Promise<void> {
    if (req.method !== 'POST') throw new TurnpikeError('TURNPIKE_METHOD_NOT_ALLOWED', 'Use POST with {"macaroon":"…"}')
    const { macaroon } = await readJsonObject(req, 16 * 1024)
    if (typeof macaroon !== 'string' || macaroon.length > 8192 || rt.macaroonHash(macaroon) !== hash) {
      throw new TurnpikeError('TURNPIKE_FORBIDDEN', 'Send the macaroon of the challenge this invoice belongs to')
    }
    let state: InvoiceState
    try {
      state = await rt.backend.lookupInvoice(hash)
    } catch (e) {
      if (is(e) && e.status < 500) throw e
      throw new TurnpikeError('TURNPIKE_BACKEND_UNAVAILABLE', 'The Lightning backend is unavailable', { cause: e, retryAfter: 2 })
    }
    const body = JSON.stringify(state.status === 'settled' && state.preimage ? { status: 'settled', preimage: state.preimage } : { status: state.status })
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(body) })
    res.end(body)
  }

  return {
    render(req, d) {
      if (!enabled || d.kind !== 'challenge' || d.status !== 402 || !wantsPage(req.method ?? 'GET', req.headers)) return undefined
      let body: Record<string, unknown>
      try {
        body = JSON.parse(d.body) as Record<string, unknown>
      } catch {
        return undefined
      }
      const { invoice, macaroon, payment_hash, amount_msat, expires_at, description } = body
      if (typeof invoice !== 'string' || typeof macaroon !== 'string' || typeof payment_hash !== 'string') return undefined
      const html = render({
        invoice,
        macaroon,
        paymentHash: payment_hash,
        amountMsat: Number(amount_msat),
        expiresAt: Number(expires_at),
        description: typeof description === 'string' ? description : '',
        route: d.route ?? '',
        devPay: devAllowed(req),
      })
      pages.inc([d.route ?? ''])
      const headers: [string, string][] = d.headers.filter(([k]) => k !== 'content-type' && k !== 'content-length' && k !== 'vary').map(([k, v]) => [k, v])
      headers.push(['content-type', 'text/html; charset=utf-8'], ['vary', 'Accept'])
      return { ...d, headers, body: html }
    },
    handle(req, res, path) {
      const m = route.exec(path)
      if (!m) return false
      const run = m[2] === 'events' ? events : preimage
      run(req, res, m[1]!).catch((e: unknown) => {
        if (is(e)) return fail(res, e)
        log.error('payment page endpoint failed', { error: e })
        fail(res, new TurnpikeError('TURNPIKE_INTERNAL', 'Internal error'))
      })
      return true
    },
    close() {
      for (const c of open) c.abort()
      settlement.close()
    },
  }
}
