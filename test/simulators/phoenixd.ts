/**
 * A phoenixd simulator (backends.md §4, §10): plain HTTP, Basic auth (user ignored) with the full
 * or the limited-access password, form bodies, amounts in sat, unix-ms timestamps, plain-text
 * errors, `preimage` always present in `/payments/incoming/{hash}`. On-the-fly funding can be
 * simulated by paying with a smaller `receivedSat`.
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Network } from '../../src/Bolt11.ts'
import { basicPassword, createNode, readBody, sendJson, sendText, serve, type SimNode, type SimServer } from './common.ts'

export type PhoenixdSimulatorOptions = { network?: Network }

export type PhoenixdSimulator = SimServer & {
  readonly node: SimNode
  readonly password: string
  readonly limitedPassword: string
  /** Pays; `receivedSat` below the requested amount models an on-the-fly channel fee. */
  pay(paymentRequest: string, o?: { receivedSat?: bigint }): { preimage: string; paymentHash: string }
  expire(paymentHash: string): void
}

const unauthorized = 'Invalid authentication (use basic auth with the http password set in phoenix.conf)'

export async function startPhoenixdSimulator(o: PhoenixdSimulatorOptions = {}): Promise<PhoenixdSimulator> {
  const node = createNode({ network: o.network ?? 'regtest' })
  const password = 'phoenixd-full-password'
  const limitedPassword = 'phoenixd-limited-password'
  const fees = new Map<string, bigint>()
  const limitedRoutes = new Set(['POST /createinvoice', 'GET /payments/incoming', 'GET /getinfo'])

  async function handler(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://x').pathname
    const auth = basicPassword(req)
    const full = auth?.password === password
    const limited = auth?.password === limitedPassword
    if (!full && !limited) return sendText(res, 401, unauthorized)
    const incoming = /^\/payments\/incoming\/([^/]+)$/.exec(path)
    const route = incoming ? '/payments/incoming' : path
    const known: Record<string, string> = { '/createinvoice': 'POST', '/payments/incoming': 'GET', '/getinfo': 'GET', '/payinvoice': 'POST', '/getbalance': 'GET' }
    if (known[route] === undefined) return sendText(res, 404, 'Unknown endpoint (check api doc)')
    if (known[route] !== req.method) return sendText(res, 405, 'Invalid http method (use the correct GET/POST)')
    if (!full && !limitedRoutes.has(`${req.method} ${route}`)) return sendText(res, 401, unauthorized)
    if (route === '/createinvoice') {
      const f = new URLSearchParams(await readBody(req))
      const description = f.get('description')
      if (description === null && f.get('descriptionHash') === null) return sendText(res, 400, 'Must provide either a description or descriptionHash')
      if (description !== null && description.length > 128) return sendText(res, 400, 'Invalid parameter description: must be 128 characters or less')
      const amountSat = f.get('amountSat')
      if (amountSat !== null && !/^\d+$/.test(amountSat)) return sendText(res, 400, 'Invalid parameter amountSat')
      const expiry = f.get('expirySeconds')
      if (expiry !== null && !/^\d+$/.test(expiry)) return sendText(res, 400, 'Invalid parameter expirySeconds')
      const inv = node.issue({ amountMsat: BigInt(amountSat ?? 0) * 1000n, description: description ?? '', expiry: expiry === null ? 3600 : Number(expiry) })
      return sendJson(res, 200, { amountSat: Number(inv.amountMsat / 1000n), paymentHash: inv.paymentHash, serialized: inv.paymentRequest })
    }
    if (incoming) {
      const inv = node.find(incoming[1]!)
      if (inv === undefined || !/^[0-9a-f]{64}$/i.test(incoming[1]!)) return sendText(res, 404, 'Not found')
      const paid = inv.status === 'settled'
      const received = paid ? (inv.amountPaidMsat ?? inv.amountMsat) : 0n
      return sendJson(res, 200, {
        type: 'incoming_payment',
        subType: 'lightning',
        paymentHash: inv.paymentHash,
        preimage: inv.preimage, // always there, paid or not
        description: inv.description,
        invoice: inv.paymentRequest,
        isPaid: paid,
        isExpired: !paid && node.isExpired(inv),
        requestedSat: Number(inv.amountMsat / 1000n),
        receivedSat: Number(received / 1000n),
        fees: Number(fees.get(inv.paymentHash) ?? 0n),
        expiresAt: (inv.createdAt + inv.expiry) * 1000,
        ...(paid ? { completedAt: inv.settledAtMs } : {}),
        createdAt: inv.createdAt * 1000,
      })
    }
    if (route === '/getinfo') {
      return sendJson(res, 200, { nodeId: node.pubkey, channels: [], chain: node.network, blockHeight: 150, version: '0.6.1-sim' })
    }
    return sendText(res, 400, 'not simulated')
  }

  const server = await serve(handler)
  return {
    ...server,
    node,
    password,
    limitedPassword,
    pay(pr, po) {
      const decodedHash = node.pay(pr, po?.receivedSat === undefined ? undefined : po.receivedSat * 1000n)
      if (po?.receivedSat !== undefined) fees.set(decodedHash.paymentHash, decodedHash.amountMsat - po.receivedSat * 1000n)
      return { preimage: decodedHash.preimage, paymentHash: decodedHash.paymentHash }
    },
    expire: (h) => void node.expire(h),
  }
}
