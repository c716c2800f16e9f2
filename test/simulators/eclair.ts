/**
 * An Eclair API simulator (backends.md §3, §10): plain HTTP, Basic auth with an empty user and the
 * API password (401 after a deliberate delay, 1 s by default as in Eclair), `POST` with form fields
 * only (JSON bodies → 415, other methods → 405), camelCase JSON, `{iso, unix}` timestamps,
 * `{"error": …}` errors. `/getreceivedinfo` returns `paymentPreimage` for pending invoices, as Eclair does.
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Network } from '../../src/Bolt11.ts'
import { basicPassword, createNode, eclairTime, readBody, sendJson, serve, type SimInvoice, type SimNode, type SimServer } from './common.ts'

export type EclairSimulatorOptions = {
  network?: Network
  password?: string
  /** Delay before a 401 (default 1000 ms, like Eclair). */
  authDelayMs?: number
}

export type EclairSimulator = SimServer & {
  readonly node: SimNode
  readonly password: string
  pay(paymentRequest: string): { preimage: string; paymentHash: string }
  expire(paymentHash: string): void
}

const chainHashes: Record<Network, string> = {
  mainnet: '6fe28c0ab6f1b372c1a6a246ae63f74f931e8365e15a089c68d6190000000000',
  testnet: '43497fd7f826957108f4a30fd9cec3aeba79972084e90ead01ea330900000000',
  signet: 'f61eee3b63a380a477a063af32b2bbc97c9ff9f01f2c4225e973988108000000',
  regtest: '06226e46111a0b59caaf126043eb5bbf28c34f3a5e332a1fc7b2b73cf188910f',
}

export async function startEclairSimulator(o: EclairSimulatorOptions = {}): Promise<EclairSimulator> {
  const node = createNode({ network: o.network ?? 'regtest' })
  const password = o.password ?? 'eclair-api-password'
  const authDelayMs = o.authDelayMs ?? 1000

  function invoiceJson(inv: SimInvoice): Record<string, unknown> {
    return {
      prefix: node.network === 'regtest' ? 'lnbcrt' : node.network === 'mainnet' ? 'lnbc' : node.network === 'signet' ? 'lntbs' : 'lntb',
      timestamp: inv.createdAt,
      nodeId: node.pubkey,
      serialized: inv.paymentRequest,
      description: inv.description,
      paymentHash: inv.paymentHash,
      expiry: inv.expiry,
      minFinalCltvExpiry: 80,
      amount: Number(inv.amountMsat),
      features: { activated: { var_onion_optin: 'mandatory', payment_secret: 'mandatory' }, unknown: [] },
      routingInfo: [],
    }
  }

  const error = (res: ServerResponse, status: number, message: string): void => sendJson(res, status, { error: message })

  async function handler(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const auth = basicPassword(req)
    if (auth === undefined || auth.password !== password) {
      await new Promise((r) => setTimeout(r, authDelayMs))
      return error(res, 401, 'The supplied authentication is invalid')
    }
    const path = new URL(req.url ?? '/', 'http://x').pathname
    const methods = ['/createinvoice', '/getreceivedinfo', '/getinfo']
    if (!methods.includes(path)) return error(res, 404, 'The requested resource could not be found.')
    if (req.method !== 'POST') return error(res, 405, 'HTTP method not allowed, supported methods: POST')
    const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim()
    const text = await readBody(req)
    if (text !== '' && type !== 'application/x-www-form-urlencoded' && type !== 'multipart/form-data') {
      return error(res, 415, 'The request\'s Content-Type is not supported. Expected:\napplication/x-www-form-urlencoded or multipart/form-data')
    }
    const f = new URLSearchParams(text)
    switch (path) {
      case '/createinvoice': {
        const description = f.get('description')
        if (description === null && f.get('descriptionHash') === null) return error(res, 400, 'missing form field: description or descriptionHash')
        const amount = f.get('amountMsat')
        if (amount !== null && !/^\d+$/.test(amount)) return error(res, 400, `The form field 'amountMsat' was malformed:\n'${amount}' is not a valid 64-bit signed integer value`)
        const expireIn = f.get('expireIn')
        if (expireIn !== null && !/^\d+$/.test(expireIn)) return error(res, 400, "The form field 'expireIn' was malformed")
        const inv = node.issue({ amountMsat: BigInt(amount ?? 0), description: description ?? '', expiry: expireIn === null ? 3600 : Number(expireIn) })
        return sendJson(res, 200, invoiceJson(inv))
      }
      case '/getreceivedinfo': {
        const hash = f.get('paymentHash')
        if (hash === null && f.get('invoice') === null) return error(res, 400, 'missing form field: paymentHash or invoice')
        if (hash !== null && !/^[0-9a-fA-F]{64}$/.test(hash)) return error(res, 400, "The form field 'paymentHash' was malformed")
        const inv = hash !== null ? node.find(hash) : [...node.invoices.values()].find((i) => i.paymentRequest === f.get('invoice'))
        if (inv === undefined) return error(res, 404, 'Not found')
        const status =
          inv.status === 'settled'
            ? { type: 'received', amount: Number(inv.amountPaidMsat ?? inv.amountMsat), receivedAt: eclairTime(Math.floor(inv.settledAtMs! / 1000)) }
            : inv.status === 'canceled' || node.isExpired(inv)
              ? { type: 'expired' }
              : { type: 'pending' }
        return sendJson(res, 200, {
          invoice: invoiceJson(inv),
          paymentPreimage: inv.preimage, // present while pending too
          paymentType: 'Standard',
          createdAt: eclairTime(inv.createdAt),
          status,
        })
      }
      case '/getinfo':
        return sendJson(res, 200, {
          version: '0.12.0-abcdef0',
          nodeId: node.pubkey,
          alias: 'turnpike-eclair-sim',
          color: '#49daaa',
          features: { activated: {}, unknown: [] },
          chainHash: chainHashes[node.network],
          network: node.network,
          blockHeight: 150,
          publicAddresses: [],
          instanceId: '01234567-89ab-cdef-0123-456789abcdef',
        })
    }
  }

  const server = await serve(handler)
  return {
    ...server,
    node,
    password,
    pay(pr) {
      const inv = node.pay(pr)
      return { preimage: inv.preimage, paymentHash: inv.paymentHash }
    },
    expire: (h) => void node.expire(h),
  }
}
