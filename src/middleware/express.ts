/**
 * Express middleware: the node:http handler, reading `req.originalUrl` so it decides on the full
 * path even when mounted under a router prefix. Allowed requests carry `req.turnpike`.
 * @module
 */
import type { Request, RequestHandler } from 'express'
import { createHandler, type NodeOptions } from './node.ts'
import { createTurnpike, type TurnpikeInfo } from './turnpike.ts'

export type { NodeOptions as ExpressOptions, TurnpikeInfo }
export { createTurnpike }

declare global {
  namespace Express {
    interface Request {
      /** Payment facts, set by turnpike on requests it let through. */
      turnpike?: TurnpikeInfo
    }
  }
}

/**
 * Express middleware.
 * @example
 * import { turnpike } from 'turnpike/express'
 * app.use('/api', turnpike({ gateway }))
 * app.get('/api/report', (req, res) => res.json({ paidWith: req.turnpike?.paymentHash }))
 */
export function turnpike(o: NodeOptions): RequestHandler {
  const handle = createHandler(createTurnpike(o), { trustProxy: o.trustProxy, urlOf: (req) => (req as Request).originalUrl })
  return (req, res, next) => handle(req, res, next)
}
