import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import * as Config from './Config.ts'
import { ConfigError } from './Errors.ts'
import { parseDuration, parsePrice } from './internal/units.ts'

describe('Config.parse', () => {
  it('behavior: a minimal config gets safe defaults', () => {
    const c = Config.parse({ upstream: 'http://127.0.0.1:3000', backend: 'dev', routes: [{ path: '/*', price: '10sat' }] })
    assert.deepEqual(c.listen, { host: '127.0.0.1', port: 8402 })
    assert.equal(c.routes[0]!.priceMsat, 10_000n)
    assert.deepEqual(c.routes[0]!.access, { kind: 'per-request' })
    assert.equal(c.store.type, 'sqlite')
    assert.equal(c.backend?.type, 'dev')
    assert.equal(c.backend?.network, 'regtest')
    assert.ok(Object.isFrozen(c.routes[0]))
  })

  it('error: reports every issue at once, each with its path', () => {
    try {
      Config.parse({
        listen: 'nope',
        upstream: 'ftp://x',
        bogus: 1,
        backend: { type: 'dev', network: 'moon' },
        challenge: { invoiceExpiry: 'soon' },
        routes: [{ name: 'A B', path: 'api', price: 'ten', access: 'forever', methods: ['get!'] }, { name: 'x', price: '1sat', extra: true }],
      })
      assert.fail('should throw')
    } catch (e) {
      assert.ok(e instanceof ConfigError)
      const paths = e.issues.map((i) => i.path).sort()
      for (const p of ['listen', 'upstream', 'bogus', 'backend.network', 'challenge.invoiceExpiry', 'routes[0].name', 'routes[0].path', 'routes[0].price', 'routes[0].access', 'routes[0].methods', 'routes[1].extra']) {
        assert.ok(paths.includes(p), `missing issue for ${p}: ${paths.join(', ')}`)
      }
    }
  })

  it('behavior: pass access, hosts, methods and per-route upstreams', () => {
    const c = Config.parse({
      backend: 'dev',
      routes: [{ name: 'a', host: 'API.example.com', path: '/v1/*', methods: 'get,post', price: '2500msat', access: 'pass:1h30m', upstream: 'http://127.0.0.1:1/' }],
    })
    const r = c.routes[0]!
    assert.equal(r.host, 'api.example.com')
    assert.deepEqual(r.methods, ['GET', 'POST'])
    assert.equal(r.priceMsat, 2500n)
    assert.deepEqual(r.access, { kind: 'pass', seconds: 5400 })
    assert.equal(r.upstream, 'http://127.0.0.1:1')
  })

  it('error: duplicate route names and a missing upstream', () => {
    assert.throws(() => Config.parse({ routes: [{ name: 'a', price: 1 }, { name: 'a', price: 1 }] }), (e: ConfigError) =>
      e.issues.some((i) => i.path === 'routes[1].name') && e.issues.some((i) => i.path === 'routes[0].upstream'))
  })
})

describe('units', () => {
  it('behavior: prices and durations', () => {
    assert.equal(parsePrice('10sat'), 10_000n)
    assert.equal(parsePrice('2500msat'), 2500n)
    assert.equal(parsePrice(0), 0n)
    assert.equal(parsePrice('1btc'), 100_000_000_000n)
    assert.equal(parsePrice('-1sat'), undefined)
    assert.equal(parsePrice('1.5sat'), undefined)
    assert.equal(parseDuration('90s'), 90)
    assert.equal(parseDuration('1d'), 86400)
    assert.equal(parseDuration('1h30m'), 5400)
    assert.equal(parseDuration('0s'), undefined)
    assert.equal(parseDuration('1y'), undefined)
  })
})
