/**
 * Hono middleware over web-standard Request/Response (src/adapters/fetch.ts), so it runs on Node,
 * Bun, Deno and Workers alike. Allowed requests carry `c.get('turnpike')`; a handler that answers
 * 5xx (or throws) hands a single-use credential back.
 * @module
 */
import type { Context, MiddlewareHandler } from 'hono'
import { toResponse, toView } from '../adapters/fetch.ts'
import { createTurnpike, infoOf, type Options, type TurnpikeInfo } from './turnpike.ts'

export type { TurnpikeInfo }
export { createTurnpike }

/** Context variables the middleware sets: `c.get('turnpike')`. */
export type TurnpikeEnv = { Variables: { turnpike: TurnpikeInfo } }

export type HonoOptions = Options & {
  /** The client address, where the runtime knows it (e.g. `getConnInfo(c).remote.address`). */
  readonly clientAddress?: (c: Context) => string | undefined
}

/**
 * Hono middleware.
 * @example
 * import { turnpike, type TurnpikeEnv } from 'turnpike/hono'
 * const app = new Hono<TurnpikeEnv>()
 * app.use('/api/*', turnpike({ gateway }))
 * app.get('/api/report', (c) => c.json({ paidWith: c.get('turnpike').paymentHash }))
 */
export function turnpike(o: HonoOptions): MiddlewareHandler<TurnpikeEnv> {
  const gateway = createTurnpike(o)
  return async (c, next) => {
    const d = await gateway.decide(toView(c.req.raw, { clientAddress: o.clientAddress?.(c) }))
    if (d.kind !== 'allow') return toResponse(d)
    c.set('turnpike', infoOf(gateway, d))
    for (const [k, v] of d.responseHeaders) c.header(k, v, { append: true })
    await next()
    if (d.claim && (c.error !== undefined || c.res.status >= 500)) await gateway.release(d.claim)
  }
}
