/** The dynamic price hook through a real proxy, upstream and hook server. */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { buyCredential, echo, listen, startGateway, type Gateway } from '../../test/harness.ts'
import * as Config from '../Config.ts'
import { ConfigError } from '../Errors.ts'
import * as Macaroon from '../Macaroon.ts'
import { paidPrice, priceCaveat } from './priceHook.ts'

describe('price hook', () => {
  let up: Awaited<ReturnType<typeof listen>>
  let hook: Awaited<ReturnType<typeof listen>>
  let g: Gateway
  let calls = 0
  let mode: 'ok' | 'down' | 'slow' | 'garbage' = 'ok'
  const seen: unknown[] = []
  before(async () => {
    up = await listen(echo)
    hook = await listen((req, res) => {
      let body = ''
      req.on('data', (c) => (body += c))
      req.on('end', () => {
        calls++
        const q = JSON.parse(body) as { headers: Record<string, string> }
        seen.push(q)
        if (mode === 'down') return res.writeHead(500).end()
        if (mode === 'garbage') return res.writeHead(200, { 'content-type': 'application/json' }).end('{"price":"cheap"}')
        const answer = () => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ price: q.headers['x-model'] === 'big' ? '50sat' : '10sat' }))
        if (mode === 'slow') setTimeout(answer, 600)
        else answer()
      })
    })
    g = await startGateway({
      upstream: up.url,
      routes: [
        { name: 'gen', path: '/gen/*', price: '10sat', access: 'pass:1h', priceHook: { url: `${hook.url}/price`, timeout: '300ms', cache: '1s', headers: ['x-model'] } },
        { name: 'nocache', path: '/nocache/*', price: '10sat', priceHook: { url: `${hook.url}/price`, cache: 0, timeout: '300ms' } },
      ],
    })
  })
  after(async () => {
    await g?.close()
    await up?.close()
    await hook?.close()
  })

  it('behavior: the challenge is priced by the hook, which sees method, path, chosen headers and body size', async () => {
    mode = 'ok'
    const r = await fetch(`${g.url}/gen/a`, { method: 'POST', headers: { 'x-model': 'big', 'x-secret': 'no' }, body: 'hello' })
    assert.equal(r.status, 402)
    const body = (await r.json()) as { amount_msat: number | string; macaroon: string }
    assert.equal(String(body.amount_msat), '50000')
    assert.ok(Macaroon.firstPartyCaveats(Macaroon.deserialize(body.macaroon)).includes('gen_price=50000'))
    assert.deepEqual(seen.at(-1), { route: 'gen', method: 'POST', path: '/gen/a', headers: { 'x-model': 'big' }, bodySize: 5 })
  })

  it('behavior: a credential bought at a low price cannot unlock a dearer request; it works at its price', async () => {
    mode = 'ok'
    const cheap = await buyCredential(g, `${g.url}/gen/a`, { headers: { 'x-model': 'small' } })
    const dear = await fetch(`${g.url}/gen/b`, { headers: { authorization: cheap, 'x-model': 'big' } })
    await dear.body?.cancel()
    assert.equal(dear.status, 402)
    const ok = await fetch(`${g.url}/gen/b`, { headers: { authorization: cheap, 'x-model': 'small' } })
    await ok.body?.cancel()
    assert.equal(ok.status, 200)
    const big = await buyCredential(g, `${g.url}/gen/a`, { headers: { 'x-model': 'big' } })
    const both = await Promise.all(['big', 'small'].map(async (m) => (await fetch(`${g.url}/gen/c`, { headers: { authorization: big, 'x-model': m } })).status))
    assert.deepEqual(both, [200, 200], 'a dearer credential covers cheaper requests')
  })

  it('behavior: answers are cached for the configured time; cache: 0 asks every time', async () => {
    mode = 'ok'
    await new Promise((r) => setTimeout(r, 1100))
    const before = calls
    for (let i = 0; i < 3; i++) await (await fetch(`${g.url}/gen/cached`)).body?.cancel()
    assert.equal(calls - before, 1)
    const mid = calls
    for (let i = 0; i < 3; i++) await (await fetch(`${g.url}/nocache/x`)).body?.cancel()
    assert.equal(calls - mid, 3)
  })

  it('error: hook down, slow or answering garbage → 503 TURNPIKE_PRICE_UNAVAILABLE, never through', async () => {
    const cred = await buyCredential(g, `${g.url}/nocache/x`)
    for (const m of ['down', 'slow', 'garbage'] as const) {
      mode = m
      const r = await fetch(`${g.url}/nocache/x`, { headers: { authorization: cred } })
      assert.equal(r.status, 503, m)
      assert.ok(Number(r.headers.get('retry-after')) >= 1)
      assert.equal(((await r.json()) as { code: string }).code, 'TURNPIKE_PRICE_UNAVAILABLE')
    }
    mode = 'ok'
    const r = await fetch(`${g.url}/nocache/x`, { headers: { authorization: cred } })
    await r.body?.cancel()
    assert.equal(r.status, 200, 'back once the hook is')
  })
})

describe('price hook config and caveat', () => {
  const issues = (r: Record<string, unknown>): string => {
    try {
      Config.parse({ upstream: 'http://127.0.0.1:1', routes: [{ name: 'api', path: '/api/*', price: '10sat', ...r }] })
      return ''
    } catch (e) {
      if (e instanceof ConfigError) return e.issues.map((i) => `${i.path}: ${i.message}`).join('\n')
      throw e
    }
  }
  it('error: bad hooks are reported with their paths', () => {
    assert.match(issues({ priceHook: 'ftp://x' }), /^routes\[0\]\.priceHook\.url: must be an http/m)
    assert.match(issues({ priceHook: { url: 'http://x', timeout: 'soon' } }), /^routes\[0\]\.priceHook\.timeout: must be a duration/m)
    assert.match(issues({ priceHook: { url: 'http://x', headers: 'x-model' } }), /^routes\[0\]\.priceHook\.headers: must be a list/m)
    assert.match(issues({ priceHook: { url: 'http://x', retries: 2 } }), /^routes\[0\]\.priceHook\.retries: unknown key/m)
    assert.match(issues({ priceHook: 'http://x', access: 'credits:10' }), /^routes\[0\]\.priceHook: cannot price a credits route/m)
    assert.match(issues({ priceHook: 'http://x', price: 0 }), /^routes\[0\]\.price: a priceHook route needs/m)
    assert.equal(issues({ priceHook: 'http://x' }), '')
  })
  it('behavior: the paid price is the smallest price caveat; malformed fails closed', () => {
    assert.equal(priceCaveat('api', 5000n), 'api_price=5000')
    assert.equal(paidPrice(['api_price=5000', 'api_price=7000'], 'api'), 5000n)
    assert.equal(paidPrice(['api_price=5000', 'api_price=x'], 'api'), undefined)
    assert.equal(paidPrice(['other_price=5000'], 'api'), undefined)
  })
})
