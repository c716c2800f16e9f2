/**
 * An LNURL-pay service for tests (LUD-06 payRequest, LUD-16 `/.well-known/lnurlp/<user>`, LUD-21
 * verify) on 127.0.0.1 over plain HTTP, issuing real signed BOLT11 invoices whose `h` is
 * sha256(metadata). Test hooks: pay, expire, fault injection, latency. Like careless services it
 * can show the preimage of unpaid invoices in verify answers (on by default), so the backend's
 * "`settled`, never the preimage" rule is exercised.
 */
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { secp256k1 } from '@noble/curves/secp256k1.js'
import { sha256 } from '@noble/hashes/sha2.js'
import { bytesToHex, randomBytes, utf8ToBytes } from '@noble/hashes/utils.js'
import * as Bolt11 from '../../src/Bolt11.ts'
import type { Network } from '../../src/Bolt11.ts'

export type LnurlServiceOptions = {
  readonly username?: string
  readonly network?: Network
  readonly minSendable?: bigint
  readonly maxSendable?: bigint
  /** Round requested amounts down to whole satoshis, as some services do (default false). */
  readonly satOnly?: boolean
  /** Offer LUD-21 verify URLs (default true). */
  readonly verify?: boolean
  /** Invoice expiry the service chooses (default 3600 s). */
  readonly expirySeconds?: number
  /** Show the preimage of unpaid invoices in verify answers (default true). */
  readonly revealPreimage?: boolean
  /** Give the callback URL a query string of its own (default false). */
  readonly callbackQuery?: boolean
}

/** Faults for the next answers; each `next*` applies once. */
export type LnurlFaults = {
  /** The next callback answers `{"status":"ERROR"}`, an invoice for another amount, one with a wrong `h`, or not an invoice. */
  nextCallback?: 'error' | 'wrong-amount' | 'wrong-hash' | 'not-bolt11' | undefined
  /** Verify URLs answer 503 with an HTML body (a proxy in front of a dead service). */
  verifyDown?: boolean
  /** The next verify answers with this status (`ERROR` → "Not found", anything else as is). */
  nextVerifyStatus?: string | undefined
  latencyMs?: number
}

export type LnurlService = {
  /** `alice@127.0.0.1:<port>` */
  readonly address: string
  readonly url: string
  readonly metadata: string
  readonly faults: LnurlFaults
  /** Requests received, by endpoint (`payRequest`, `callback`, `verify`). */
  readonly requests: Record<string, number>
  /** The last callback URL requested (path and query). */
  readonly lastCallback: string | undefined
  pay(paymentRequest: string): Promise<{ preimage: string; paymentHash: string }>
  expire(paymentHash: string): void
  /** Stops listening and drops connections (total outage). */
  close(): Promise<void>
}

type Entry = { pr: string; preimage: string; settled: boolean; expiresAt: number }

/** Starts the service on a random loopback port. */
export async function startLnurlService(o: LnurlServiceOptions = {}): Promise<LnurlService> {
  const username = o.username ?? 'alice'
  const network = o.network ?? 'regtest'
  const min = o.minSendable ?? 1000n
  const max = o.maxSendable ?? 100_000_000_000n
  const offerVerify = o.verify !== false
  const expiry = o.expirySeconds ?? 3600
  const reveal = o.revealPreimage !== false
  const nodeKey = secp256k1.utils.randomSecretKey()
  const invoices = new Map<string, Entry>()
  const faults: LnurlFaults = {}
  const requests: Record<string, number> = {}
  let lastCallback: string | undefined
  let base = ''
  const metadata = JSON.stringify([
    ['text/plain', `Payment to ${username}`],
    ['text/identifier', `${username}@turnpike.test`],
  ])
  const metadataHash = bytesToHex(sha256(utf8ToBytes(metadata)))
  const nowS = (): number => Math.floor(Date.now() / 1000)

  function json(res: http.ServerResponse, body: unknown, status = 200): void {
    const text = JSON.stringify(body)
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
    res.end(text)
  }

  function invoice(amountMsat: bigint, hashOverride?: string): { pr: string; hash: string; preimage: Uint8Array } {
    const preimage = randomBytes(32)
    const hash = bytesToHex(sha256(preimage))
    const pr = Bolt11.encode({
      network,
      amountMsat,
      timestamp: nowS(),
      paymentHash: hash,
      paymentSecret: bytesToHex(randomBytes(32)),
      descriptionHash: hashOverride ?? metadataHash,
      expiry,
      minFinalCltvExpiry: 80,
      privateKey: nodeKey,
    })
    return { pr, hash, preimage }
  }

  function callback(url: URL, res: http.ServerResponse): void {
    lastCallback = url.pathname + url.search
    const raw = url.searchParams.get('amount') ?? ''
    if (!/^\d{1,18}$/.test(raw)) return json(res, { status: 'ERROR', reason: 'amount is required (msat)' })
    let amount = BigInt(raw)
    if (amount < min || amount > max) return json(res, { status: 'ERROR', reason: `amount must be between ${min} and ${max} msat` })
    if (o.satOnly === true) amount = (amount / 1000n) * 1000n
    const fault = faults.nextCallback
    faults.nextCallback = undefined
    if (fault === 'error') return json(res, { status: 'ERROR', reason: 'injected failure' })
    if (fault === 'not-bolt11') return json(res, { pr: 'lnbcrt1notaninvoice', routes: [] })
    if (fault === 'wrong-amount') amount += 1000n
    const { pr, hash, preimage } = invoice(amount, fault === 'wrong-hash' ? bytesToHex(sha256(utf8ToBytes('other'))) : undefined)
    invoices.set(hash, { pr, preimage: bytesToHex(preimage), settled: false, expiresAt: nowS() + expiry })
    json(res, { pr, routes: [], ...(offerVerify ? { verify: `${base}/lnurlp/${username}/verify/${hash}` } : {}) })
  }

  function verify(hash: string, res: http.ServerResponse): void {
    if (faults.verifyDown === true) {
      res.writeHead(503, { 'content-type': 'text/html' })
      return void res.end('<html><body>503 Service Unavailable</body></html>')
    }
    const status = faults.nextVerifyStatus
    faults.nextVerifyStatus = undefined
    const e = invoices.get(hash)
    if (status === 'ERROR' || e === undefined) return json(res, { status: 'ERROR', reason: 'Not found' })
    json(res, {
      status: status ?? 'OK',
      settled: e.settled,
      preimage: e.settled || reveal ? e.preimage : null,
      pr: e.pr,
    })
  }

  const server = http.createServer((req, res) => {
    const handle = (): void => {
      const url = new URL(req.url ?? '/', base)
      const m = /^\/lnurlp\/([^/]+)\/(callback|verify\/([0-9a-f]{64}))$/.exec(url.pathname)
      if (req.method !== 'GET') return json(res, { status: 'ERROR', reason: 'method not allowed' }, 405)
      if (url.pathname === `/.well-known/lnurlp/${username}`) {
        requests.payRequest = (requests.payRequest ?? 0) + 1
        return json(res, {
          tag: 'payRequest',
          callback: `${base}/lnurlp/${username}/callback${o.callbackQuery === true ? '?token=abc%2B1' : ''}`,
          minSendable: Number(min),
          maxSendable: Number(max),
          metadata,
          commentAllowed: 0,
        })
      }
      if (m !== null && m[1] === username && m[2] === 'callback') {
        requests.callback = (requests.callback ?? 0) + 1
        return callback(url, res)
      }
      if (m !== null && m[1] === username && m[3] !== undefined) {
        requests.verify = (requests.verify ?? 0) + 1
        return verify(m[3], res)
      }
      json(res, { status: 'ERROR', reason: 'Not found' }, 404)
    }
    const delay = faults.latencyMs ?? 0
    if (delay > 0) setTimeout(handle, delay)
    else handle()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  base = `http://127.0.0.1:${port}`

  return {
    address: `${username}@127.0.0.1:${port}`,
    url: base,
    metadata,
    faults,
    requests,
    get lastCallback() {
      return lastCallback
    },

    async pay(paymentRequest) {
      const d = Bolt11.decode(paymentRequest)
      const e = invoices.get(d.paymentHash)
      if (e === undefined) throw new Error('not an invoice of this service')
      if (e.settled) throw new Error('invoice already paid')
      if (nowS() >= e.expiresAt) throw new Error('invoice expired')
      e.settled = true
      return { preimage: e.preimage, paymentHash: d.paymentHash }
    },

    expire(paymentHash) {
      const e = invoices.get(paymentHash)
      if (e !== undefined) e.expiresAt = nowS() - 1
    },

    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}
