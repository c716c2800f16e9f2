/**
 * Fastify plugin: an `onRequest` hook answers unpaid and refused requests; allowed ones carry
 * `request.turnpike`. An `onResponse` hook hands a single-use credential back when the route
 * answered 5xx. Registered without encapsulation, so it guards the routes of the scope it joins.
 * @module
 */
import type { FastifyPluginAsync, FastifyReply } from 'fastify'
import type { Reply } from '../RequestView.ts'
import { toView } from '../adapters/node.ts'
import { createTurnpike, infoOf, type Options, type TurnpikeInfo } from './turnpike.ts'

export type { TurnpikeInfo }
export { createTurnpike }

export type FastifyOptions = Options & {
  /** Proxies whose X-Forwarded-For is believed (addresses, CIDR ranges, `loopback`, `private`). */
  readonly trustProxy?: readonly string[]
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Payment facts, set by turnpike on requests it let through; null otherwise. */
    turnpike: TurnpikeInfo | null
  }
}

function headerGroups(lines: Reply['headers']): Map<string, string[]> {
  // reply.header() replaces a name, so repeated lines (several WWW-Authenticate) go as one array.
  const groups = new Map<string, string[]>()
  for (const [k, v] of lines) groups.set(k, [...(groups.get(k) ?? []), v])
  return groups
}

function send(reply: FastifyReply, d: Reply): FastifyReply {
  for (const [k, v] of headerGroups(d.headers)) reply.header(k, v.length === 1 ? v[0] : v)
  return reply.code(d.status).send(d.body)
}

const plugin: FastifyPluginAsync<FastifyOptions> = async (app, o) => {
  const gateway = createTurnpike(o)
  const trust = o.trustProxy ?? []
  const claims = new WeakMap<object, string>()
  app.decorateRequest('turnpike', null)
  app.addHook('onRequest', async (request, reply) => {
    const d = await gateway.decide(toView(request.raw, trust))
    if (d.kind !== 'allow') return send(reply, d)
    request.turnpike = infoOf(gateway, d)
    for (const [k, v] of headerGroups(d.responseHeaders)) reply.header(k, v.length === 1 ? v[0] : v)
    if (d.claim) claims.set(request, d.claim)
  })
  app.addHook('onResponse', async (request, reply) => {
    const claim = claims.get(request)
    if (claim && reply.statusCode >= 500) await gateway.release(claim)
  })
}

/**
 * Fastify plugin (skips encapsulation like fastify-plugin does).
 * @example
 * import { turnpike } from 'turnpike/fastify'
 * await app.register(turnpike, { gateway })
 * app.get('/api/report', async (request) => ({ paidWith: request.turnpike?.paymentHash }))
 */
export const turnpike: FastifyPluginAsync<FastifyOptions> = Object.assign(plugin, {
  [Symbol.for('skip-override')]: true,
  [Symbol.for('fastify.display-name')]: 'turnpike',
})
