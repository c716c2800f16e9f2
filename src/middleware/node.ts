/**
 * node:http middleware: `(req, res, next)`. Unpaid and refused requests are answered here; allowed
 * ones reach `next()` with `req.turnpike` set. A handler that answers 5xx hands a single-use
 * credential back (as the proxy does when its upstream fails), so the client can retry.
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Gateway } from '../Gateway.ts'
import type { Decision, RequestView } from '../RequestView.ts'
import { toView, writeReply } from '../adapters/node.ts'
import { createTurnpike, infoOf, type Options, type TurnpikeInfo } from './turnpike.ts'

export type { Options, TurnpikeInfo }
export { createTurnpike }

/** A request that passed: `turnpike` holds its payment facts. */
export type TurnpikeRequest = IncomingMessage & { turnpike?: TurnpikeInfo }

export type Next = (err?: unknown) => void

export type Handler = (req: IncomingMessage, res: ServerResponse, next: Next) => void

export type NodeOptions = Options & {
  /** Proxies whose X-Forwarded-For is believed (addresses, CIDR ranges, `loopback`, `private`). */
  readonly trustProxy?: readonly string[]
}

function viewOf(req: IncomingMessage, trust: readonly string[], url: string | undefined): RequestView {
  const v = toView(req, trust)
  if (url === undefined || url === req.url) return v
  const q = url.indexOf('?')
  return Object.defineProperty(v, 'path', { value: q === -1 ? url : url.slice(0, q) })
}

/** The shared node:http/Express handler; `urlOf` gives the full URL when a router rewrote `req.url`. */
export function createHandler(gateway: Gateway, o: { trustProxy?: readonly string[] | undefined; urlOf?: (req: IncomingMessage) => string | undefined } = {}): Handler {
  const trust = o.trustProxy ?? []
  const act = (req: IncomingMessage, res: ServerResponse, next: Next, d: Decision) => {
    if (d.kind !== 'allow') return writeReply(res, d)
    ;(req as TurnpikeRequest).turnpike = infoOf(gateway, d)
    for (const [k, v] of d.responseHeaders) res.appendHeader(k, v)
    const claim = d.claim
    if (claim) res.once('finish', () => res.statusCode >= 500 && void gateway.release(claim))
    next()
  }
  return (req, res, next) => {
    let d: Decision | Promise<Decision>
    try {
      d = gateway.decide(viewOf(req, trust, o.urlOf?.(req)))
    } catch (e) {
      return next(e)
    }
    if (d instanceof Promise) d.then((x) => act(req, res, next, x), next)
    else act(req, res, next, d)
  }
}

/**
 * node:http middleware.
 * @example
 * import { turnpike } from 'turnpike/node'
 * const paywall = turnpike({ gateway })
 * http.createServer((req, res) => paywall(req, res, (err) => {
 *   if (err) { res.statusCode = 500; return res.end() }
 *   res.end(`paid by ${(req as TurnpikeRequest).turnpike?.paymentHash}`)
 * }))
 */
export function turnpike(o: NodeOptions): Handler {
  return createHandler(createTurnpike(o), { trustProxy: o.trustProxy })
}
