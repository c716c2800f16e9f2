/**
 * The paid-flow suite every middleware runs: `describeMiddleware(name, start)`. The suite builds the
 * gateway (dev Lightning node, memory store); `start` mounts the middleware built from
 * `{ gateway }` in front of a handler that answers every allowed request with
 * `200 handlerBody(method, path, info)` (the request's turnpike info) and `/boom/*` with 500.
 * @module
 */
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import * as Config from '../Config.ts'
import * as Gateway from '../Gateway.ts'
import { dev, type DevBackend } from '../lightning/dev.ts'
import { memory } from '../store/memory.ts'
import type { TurnpikeInfo } from './turnpike.ts'

export const routes = [
  { name: 'paid', path: '/paid/*', price: '10sat' },
  { name: 'pass', path: '/pass/*', price: '20sat', access: 'pass:1h' },
  { name: 'boom', path: '/boom/*', price: '1sat' },
  { name: 'free', path: '/free/*', price: 0 },
]

export type Started = { url: string; close(): Promise<void> }
export type Start = (o: { gateway: Gateway.Gateway }) => Promise<Started>

/** What the suite's handler answers: JSON with the request and its turnpike info (bigint as string). */
export function handlerBody(method: string, path: string, info: TurnpikeInfo | null | undefined): string {
  return JSON.stringify({ method, path, turnpike: info ? { ...info, priceMsat: String(info.priceMsat) } : null })
}

type Seen = { method: string; path: string; turnpike: (Omit<TurnpikeInfo, 'priceMsat'> & { priceMsat: string }) | null }

/** Runs the paid-flow suite against one middleware. */
export function describeMiddleware(name: string, start: Start): void {
  describe(`middleware: ${name} (conformance)`, () => {
    let node: DevBackend
    let server: Started
    before(async () => {
      node = dev()
      const config = Config.parse({ routes }, { requireUpstream: false })
      const gateway = Gateway.create({ config, backend: node, store: memory(), secret: randomBytes(32) })
      server = await start({ gateway })
    })
    after(async () => {
      await server.close()
      await node.close?.()
    })

    const url = (path: string) => server.url + path

    async function challenge(path: string, init: RequestInit = {}) {
      const res = await fetch(url(path), init)
      const text = await res.text()
      assert.equal(res.status, 402, text)
      const header = res.headers.get('www-authenticate') ?? ''
      const m = /L402 macaroon="([^"]+)", invoice="([^"]+)"/.exec(header)
      assert.ok(m, `an L402 challenge in ${JSON.stringify(header)}`)
      assert.match(res.headers.get('content-type') ?? '', /^application\/json/)
      assert.equal(res.headers.get('cache-control'), 'no-store')
      assert.match(res.headers.get('access-control-expose-headers') ?? '', /WWW-Authenticate/i)
      const body = JSON.parse(text) as { invoice: string; macaroon: string; payment_hash: string }
      assert.equal(body.invoice, m[2])
      assert.equal(body.macaroon, m[1])
      return { macaroon: m[1]!, invoice: m[2]!, paymentHash: body.payment_hash }
    }

    async function buy(path: string, init: RequestInit = {}) {
      const c = await challenge(path, init)
      const { preimage } = await node.pay(c.invoice)
      assert.equal(createHash('sha256').update(Buffer.from(preimage, 'hex')).digest('hex'), c.paymentHash)
      return { ...c, auth: `L402 ${c.macaroon}:${preimage}` }
    }

    async function seen(res: Response): Promise<Seen> {
      const text = await res.text()
      assert.equal(res.status, 200, text)
      return JSON.parse(text) as Seen
    }

    it('behavior: unpaid → 402 with WWW-Authenticate, CORS exposure and the JSON body', async () => {
      const c = await challenge('/paid/a?x=1')
      assert.match(c.invoice, /^lnbcrt/)
    })

    it('behavior: paid → 200; the handler sees route, payment hash, access and price; replay → 402', async () => {
      const c = await buy('/paid/report')
      const s = await seen(await fetch(url('/paid/report'), { headers: { authorization: c.auth } }))
      assert.equal(s.path, '/paid/report')
      assert.deepEqual(s.turnpike, { route: 'paid', reason: 'paid', paymentHash: c.paymentHash, access: 'per-request', priceMsat: '10000' })
      const again = await challenge('/paid/report', { headers: { authorization: c.auth } })
      assert.notEqual(again.paymentHash, c.paymentHash)
    })

    it('behavior: a pass credential → 200 twice, on other paths of the route too', async () => {
      const c = await buy('/pass/a')
      for (const path of ['/pass/a', '/pass/b']) {
        const s = await seen(await fetch(url(path), { headers: { authorization: c.auth } }))
        assert.equal(s.turnpike?.access, 'pass')
        assert.equal(s.turnpike?.passSeconds, 3600)
      }
    })

    it('behavior: Authorization joined with another scheme (fetch-style) still pays', async () => {
      const c = await buy('/paid/joined')
      const s = await seen(await fetch(url('/paid/joined'), { headers: { authorization: `Bearer app-token, ${c.auth}` } }))
      assert.equal(s.turnpike?.paymentHash, c.paymentHash)
    })

    it('error: a malformed credential → 400 problem+json', async () => {
      const res = await fetch(url('/paid/a'), { headers: { authorization: 'L402 !!!:nothex' } })
      assert.equal(res.status, 400)
      assert.match(res.headers.get('content-type') ?? '', /problem\+json/)
      assert.equal(((await res.json()) as { code: string }).code, 'TURNPIKE_CREDENTIAL_MALFORMED')
    })

    it('behavior: OPTIONS reaches the handler without a challenge', async () => {
      const s = await seen(await fetch(url('/paid/a'), { method: 'OPTIONS' }))
      assert.equal(s.method, 'OPTIONS')
      assert.equal(s.turnpike?.reason, 'options')
    })

    it('behavior: a free route reaches the handler with price 0', async () => {
      const s = await seen(await fetch(url('/free/x')))
      assert.equal(s.turnpike?.reason, 'free')
      assert.equal(s.turnpike?.priceMsat, '0')
    })

    it('behavior: a handler answering 5xx hands the single-use credential back', async () => {
      const c = await buy('/boom/x')
      const first = await fetch(url('/boom/x'), { headers: { authorization: c.auth } })
      await first.arrayBuffer()
      assert.equal(first.status, 500)
      // The release runs once the response is out; a retry moments later finds the credential back.
      let status = 0
      for (let i = 0; i < 20 && status !== 500; i++) {
        await new Promise((r) => setTimeout(r, 25))
        const res = await fetch(url('/boom/x'), { headers: { authorization: c.auth } })
        await res.arrayBuffer()
        status = res.status
      }
      assert.equal(status, 500, 'the retry reached the handler again instead of a 402')
    })
  })
}
