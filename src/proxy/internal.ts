/** The gateway's own endpoints under `/.turnpike/`: health and the dev node's pay endpoint. */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { TurnpikeError, is } from '../Errors.ts'
import type { Runtime } from '../runtime.ts'
import type { Logger } from '../internal/log.ts'
import { problem } from '../internal/problem.ts'
import { writeReply } from '../adapters/node.ts'
import { readJsonObject } from '../internal/body.ts'

export const prefix = '/.turnpike/'

/** True for 127.0.0.0/8, ::1 and their IPv4-mapped forms. */
export function isLoopback(address: string | undefined): boolean {
  if (!address) return false
  const a = address.startsWith('::ffff:') ? address.slice(7) : address
  return a === '::1' || a.startsWith('127.')
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text) })
  res.end(text)
}

function fail(res: ServerResponse, e: TurnpikeError): void {
  writeReply(res, problem(e, e.code))
}

/** Handles `/.turnpike/*`. Returns false when the path is not one of ours. */
export function handleInternal(req: IncomingMessage, res: ServerResponse, path: string, rt: Runtime, log: Logger): boolean {
  if (path === `${prefix}health`) {
    json(res, 200, { status: 'ok' })
    return true
  }
  if (path === `${prefix}dev/pay`) {
    void devPay(req, res, rt, log)
    return true
  }
  return false
}

async function devPay(req: IncomingMessage, res: ServerResponse, rt: Runtime, log: Logger): Promise<void> {
  const node = rt.devNode
  try {
    if (!node) throw new TurnpikeError('TURNPIKE_NOT_FOUND', 'The dev pay endpoint exists only with the dev backend')
    if (req.method !== 'POST') throw new TurnpikeError('TURNPIKE_METHOD_NOT_ALLOWED', 'Use POST with {"invoice":"…"}')
    if (!rt.config.dev.payOpen && !isLoopback(req.socket.remoteAddress)) {
      throw new TurnpikeError('TURNPIKE_FORBIDDEN', 'The dev pay endpoint answers loopback clients only (set dev.payOpen to open it)')
    }
    const { invoice } = await readJsonObject(req, 16 * 1024)
    if (typeof invoice !== 'string' || invoice.length === 0) throw new TurnpikeError('TURNPIKE_BAD_REQUEST', 'Expected {"invoice":"<bolt11>"}')
    const paid = await node.pay(invoice.trim())
    log.info('dev node settled an invoice', { paymentHash: paid.paymentHash })
    json(res, 200, { preimage: paid.preimage, payment_hash: paid.paymentHash })
  } catch (e) {
    if (is(e)) return fail(res, e)
    log.error('dev pay failed', { error: e })
    fail(res, new TurnpikeError('TURNPIKE_INTERNAL', 'The dev node could not pay'))
  }
}
