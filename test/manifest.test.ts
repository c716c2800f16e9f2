import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { Manifest } from '../src/manifest.ts'
import { echo, listen, startGateway, type Gateway } from './harness.ts'

describe('/.well-known/l402-services', () => {
  let upstream: Awaited<ReturnType<typeof listen>>
  let g: Gateway
  let off: Gateway

  before(async () => {
    upstream = await listen(echo)
    const routes = [
      { name: 'search', path: '/v1/search/*', methods: ['GET', 'POST'], price: '10sat', description: 'Search' },
      { name: 'reports', host: 'api.example.com', path: '/v1/reports/*', price: '2500msat', access: 'pass:24h' },
      { name: 'secret', path: '/v1/private/*', price: '1sat', hidden: true },
      { name: 'shadow', path: '/v1/beta/*', price: '1sat', dryRun: true },
      { name: 'public', path: '/*', price: 0 },
    ]
    g = await startGateway({
      upstream: upstream.url,
      challenge: { lsat: true, invoiceExpiry: '10m', tokenTtl: '1h' },
      manifest: { name: 'Example API', contact: 'ops@example.com' },
      routes,
    })
    off = await startGateway({ upstream: upstream.url, manifest: false, routes })
  })
  after(async () => {
    await g.close()
    await off.close()
    await upstream.close()
  })

  it('behavior: lists paid, visible routes in ngx_l402’s schema plus turnpike’s fields', async () => {
    const res = await fetch(`${g.url}/.well-known/l402-services`)
    assert.equal(res.status, 200)
    assert.equal(res.headers.get('content-type'), 'application/json')
    assert.equal(res.headers.get('access-control-allow-origin'), '*')
    const m = (await res.json()) as Manifest
    assert.equal(m.version, '1')
    assert.deepEqual(m.service, { name: 'Example API', contact: 'ops@example.com' })
    assert.deepEqual(m.payment_methods, [{ type: 'lightning', backend: 'DEV', network: 'regtest', schemes: ['LSAT', 'L402'] }])
    assert.deepEqual(m.routes.map((r) => r.name), ['search', 'reports', 'shadow'])
    const [search, reports, shadow] = m.routes
    assert.deepEqual(search, {
      path: '/v1/search/*',
      price: { type: 'static', amount_msat: 10000 },
      caveats_required: ['services=search:0', 'path=<request path>', 'method=<METHOD>', 'search_valid_until=<now + 4200>'],
      macaroon_timeout_secs: 4200,
      name: 'search',
      methods: ['GET', 'POST'],
      description: 'Search',
      access: { type: 'per-request' },
      schemes: ['LSAT', 'L402'],
    })
    assert.equal(reports!.host, 'api.example.com')
    assert.deepEqual(reports!.price, { type: 'static', amount_msat: 2500 })
    assert.deepEqual(reports!.access, { type: 'pass', duration_secs: 86400 })
    assert.equal(reports!.macaroon_timeout_secs, 86400)
    assert.deepEqual(reports!.caveats_required, ['services=reports:0', 'path=/v1/reports/*', 'reports_valid_until=<now + 86400>'])
    assert.equal(shadow!.dry_run, true)
  })

  it('behavior: HEAD answers without a body; other methods get 405', async () => {
    const head = await fetch(`${g.url}/.well-known/l402-services`, { method: 'HEAD' })
    assert.equal(head.status, 200)
    assert.equal(await head.text(), '')
    const post = await fetch(`${g.url}/.well-known/l402-services`, { method: 'POST' })
    assert.equal(post.status, 405)
    assert.equal(post.headers.get('allow'), 'GET, HEAD')
  })

  it('behavior: turned off, the path is routed like any other (here: to the free upstream)', async () => {
    const res = await fetch(`${off.url}/.well-known/l402-services`)
    assert.equal(res.status, 200)
    assert.equal(((await res.json()) as { url: string }).url, '/.well-known/l402-services')
  })

  it('behavior: follows the routes in force: a new config (reload, live route change) is listed at once', async () => {
    const { parse } = await import('../src/Config.ts')
    const names = async () => ((await (await fetch(`${g.url}/.well-known/l402-services`)).json()) as Manifest).routes.map((x) => x.name)
    const before = await names()
    assert.ok(before.includes('search') && !before.includes('added'), before.join())
    const base = g.rt.live!.base()
    await g.rt.live!.setBase(parse({
      listen: '127.0.0.1:0', backend: 'dev', dataDir: base.dataDir, store: 'memory', upstream: upstream.url,
      manifest: { name: 'Example API' },
      routes: [{ name: 'added', path: '/v2/*', price: '3sat' }, { name: 'public', path: '/*', price: 0 }],
    }))
    assert.deepEqual(await names(), ['added'])
  })

  it('error: manifest settings are validated with their paths', async () => {
    const { parse } = await import('../src/Config.ts')
    assert.throws(
      () => parse({ backend: 'dev', upstream: 'http://x', manifest: { name: 5, colour: 'red' }, routes: [{ path: '/*', price: 1, hidden: 'yes' }] }),
      (e: Error) => /manifest\.name: must be a string/.test(e.message) && /manifest\.colour: unknown key/.test(e.message) && /routes\[0\]\.hidden: must be true or false/.test(e.message),
    )
  })
})
