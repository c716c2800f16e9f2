/**
 * An LNbits simulator (backends.md §5, §10): one wallet with an admin key and an invoice/read key
 * (`X-Api-Key` or `?api-key=`), `POST /api/v1/payments` where `out` defaults to true (an invoice
 * key then gets 403 `Invalid adminkey.`), 201 with the Payment model (msat `amount`), lookups
 * readable without a key that return the preimage of pending payments, FastAPI `{"detail"}`
 * errors, 400 validation errors and 520 funding-source failures.
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { bytesToHex, randomBytes } from '@noble/hashes/utils.js'
import type { Network } from '../../src/Bolt11.ts'
import { createNode, readBody, sendJson, serve, type SimInvoice, type SimNode, type SimServer } from './common.ts'

export type LnbitsSimulatorOptions = { network?: Network }

export type LnbitsSimulator = SimServer & {
  readonly node: SimNode
  readonly adminKey: string
  readonly invoiceKey: string
  /** Payments that LNbits would have sent (a gateway forgetting `out: false` with an admin key). */
  readonly outgoing: unknown[]
  /** The next invoice creation fails in the funding source (HTTP 520). */
  failFunding(): void
  pay(paymentRequest: string): { preimage: string; paymentHash: string }
  /** Marks a pending payment failed. */
  fail(paymentHash: string): void
  expire(paymentHash: string): void
}

const iso = (ms: number): string => new Date(ms).toISOString().replace('Z', '')

export async function startLnbitsSimulator(o: LnbitsSimulatorOptions = {}): Promise<LnbitsSimulator> {
  const node = createNode({ network: o.network ?? 'regtest' })
  const walletId = bytesToHex(randomBytes(16))
  const adminKey = bytesToHex(randomBytes(16))
  const invoiceKey = bytesToHex(randomBytes(16))
  const outgoing: unknown[] = []
  let fundingFailure = false

  function payment(inv: SimInvoice): Record<string, unknown> {
    const status = inv.status === 'settled' ? 'success' : inv.status === 'canceled' ? 'failed' : 'pending'
    const created = iso(inv.createdAt * 1000)
    return {
      checking_id: inv.paymentHash,
      payment_hash: inv.paymentHash,
      wallet_id: walletId,
      amount: Number(inv.amountMsat),
      fee: 0,
      bolt11: inv.paymentRequest,
      payment_request: inv.paymentRequest,
      fiat_provider: null,
      status,
      memo: inv.description,
      expiry: iso((inv.createdAt + inv.expiry) * 1000),
      webhook: null,
      webhook_status: null,
      preimage: inv.preimage,
      tag: null,
      extension: null,
      time: created,
      created_at: created,
      updated_at: iso(inv.settledAtMs ?? inv.createdAt * 1000),
      labels: [],
      extra: {},
    }
  }

  function keyOf(req: IncomingMessage, u: URL): string | undefined {
    const h = req.headers['x-api-key']
    return (Array.isArray(h) ? h[0] : h) ?? u.searchParams.get('api-key') ?? undefined
  }

  async function handler(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const u = new URL(req.url ?? '/', 'http://x')
    const key = keyOf(req, u)
    const role = key === adminKey ? 'admin' : key === invoiceKey ? 'invoice' : key === undefined ? 'none' : 'unknown'
    if (u.pathname === '/api/v1/payments' && req.method === 'POST') {
      if (role === 'none') return sendJson(res, 401, { detail: 'No Api Key provided.' })
      if (role === 'unknown') return sendJson(res, 404, { detail: 'Wallet not found.' })
      let body: Record<string, unknown>
      try {
        body = JSON.parse(await readBody(req)) as Record<string, unknown>
      } catch {
        return sendJson(res, 400, { detail: [{ loc: ['body'], msg: 'JSON decode error', type: 'json_invalid' }] })
      }
      if (body.out !== false) {
        // out defaults to true: this is a payment request
        if (role !== 'admin') return sendJson(res, 403, { detail: 'Invalid adminkey.' })
        outgoing.push(body)
        return sendJson(res, 400, { detail: 'Missing BOLT11 invoice' })
      }
      if (typeof body.amount !== 'number' || !(body.amount > 0)) {
        return sendJson(res, 400, { detail: [{ loc: ['body', 'amount'], msg: 'Input should be greater than 0', type: 'greater_than' }] })
      }
      if (body.unit !== undefined && body.unit !== 'sat') return sendJson(res, 400, { detail: 'Only sat and fiat units are simulated' })
      if (fundingFailure) {
        fundingFailure = false
        return sendJson(res, 520, { detail: 'Unable to connect to http://127.0.0.1:8080.', status: 'failed' })
      }
      const sats = BigInt(Math.round(body.amount))
      const inv = node.issue({
        amountMsat: sats * 1000n,
        description: typeof body.memo === 'string' ? body.memo : '',
        expiry: typeof body.expiry === 'number' ? body.expiry : 3600,
      })
      return sendJson(res, 201, payment(inv))
    }
    const m = /^\/api\/v1\/payments\/([^/]+)$/.exec(u.pathname)
    if (m && req.method === 'GET') {
      const inv = node.find(m[1]!)
      if (inv === undefined) return sendJson(res, 404, { detail: 'Payment does not exist.' })
      const details = role === 'admin' || role === 'invoice' ? { details: payment(inv) } : {}
      if (inv.status === 'settled') return sendJson(res, 200, { paid: true, preimage: inv.preimage, ...details })
      if (inv.status === 'canceled') return sendJson(res, 200, { paid: false, status: 'failed', ...details })
      return sendJson(res, 200, { paid: false, preimage: inv.preimage, ...details }) // readable without a key
    }
    if (u.pathname === '/api/v1/wallet' && req.method === 'GET') {
      if (role === 'none') return sendJson(res, 401, { detail: 'No Api Key provided.' })
      if (role === 'unknown') return sendJson(res, 404, { detail: 'Wallet not found.' })
      return sendJson(res, 200, { id: walletId, name: 'turnpike', balance: 0 })
    }
    return sendJson(res, 404, { detail: 'Not Found' })
  }

  const server = await serve(handler)
  return {
    ...server,
    node,
    adminKey,
    invoiceKey,
    outgoing,
    failFunding: () => void (fundingFailure = true),
    pay(pr) {
      const inv = node.pay(pr)
      return { preimage: inv.preimage, paymentHash: inv.paymentHash }
    },
    fail: (h) => void node.cancel(h),
    expire: (h) => void node.expire(h),
  }
}
