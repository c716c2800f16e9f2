import assert from 'node:assert/strict'
import type { IncomingMessage } from 'node:http'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import * as Config from './Config.ts'
import { ConfigError } from './Errors.ts'
import * as Gateway from './Gateway.ts'
import * as Identifier from './Identifier.ts'
import * as Macaroon from './Macaroon.ts'
import { clientKey } from './RateLimit.ts'
import { fromRecord, type Decision, type Reply } from './RequestView.ts'
import type { Store } from './Store.ts'
import { clientAddress } from './adapters/node.ts'
import { forwardedFor, trustMatcher } from './internal/ip.ts'
import { dev } from './lightning/dev.ts'
import { memory } from './store/memory.ts'
import { sqlite } from './store/sqlite.ts'

const secret = new Uint8Array(32).fill(9)
const dir = mkdtempSync(join(tmpdir(), 'turnpike-ratelimit-'))
after(() => rmSync(dir, { recursive: true, force: true }))
let files = 0

function setup(raw: Record<string, unknown>, o: { store?: Store } = {}) {
  const node = dev()
  // Near real time: stores compare claim and value expiries with the real clock.
  let t = Date.now()
  const start = t
  const config = Config.parse({ upstream: 'http://127.0.0.1:9', backend: 'dev', ...raw })
  const store = o.store ?? memory({ pruneIntervalMs: 0 })
  const gw = Gateway.create({ config, backend: node, store, secret, now: () => t })
  return { gw, node, store, start, tick: (ms: number) => void (t += ms) }
}

const view = (method: string, path: string, client = '203.0.113.7', headers: Record<string, string> = {}) =>
  fromRecord({ method, path, host: 'api.test', headers, clientAddress: client })

const status = (d: Decision): number => (d.kind === 'allow' ? 200 : d.status)
const header = (d: Decision, name: string): string | undefined =>
  d.kind === 'allow' ? undefined : d.headers.find(([k]) => k === name)?.[1]

function invoiceOf(d: Decision): { invoice: string; macaroon: string } {
  assert.equal(status(d), 402, d.kind === 'allow' ? 'allowed' : d.body)
  const body = JSON.parse((d as Reply).body) as { invoice: string; macaroon: string }
  return { invoice: body.invoice, macaroon: body.macaroon }
}

async function buy(g: ReturnType<typeof setup>, method: string, path: string, client?: string): Promise<string> {
  const c = invoiceOf(await g.gw.decide(view(method, path, client)))
  const { preimage } = await g.node.pay(c.invoice)
  return `L402 ${c.macaroon}:${preimage}`
}

describe('rate limits (route, by client)', () => {
  it('behavior: a bucket per client and route; over it → 429 problem+json with Retry-After', async () => {
    const g = setup({ routes: [{ name: 'free', path: '/*', price: 0, rateLimit: { requests: 3, per: '10s' } }] })
    for (let i = 0; i < 3; i++) assert.equal(status(await g.gw.decide(view('GET', '/x'))), 200)
    const over = await g.gw.decide(view('GET', '/x'))
    assert.equal(status(over), 429)
    assert.equal(header(over, 'retry-after'), '4', '10 s per 3 tokens: the next one in 3.34 s')
    assert.equal(header(over, 'content-type'), 'application/problem+json')
    assert.equal(JSON.parse((over as Reply).body).code, 'TURNPIKE_RATE_LIMITED')
    // Another client has its own bucket; the first one refills with time.
    assert.equal(status(await g.gw.decide(view('GET', '/x', '198.51.100.1'))), 200)
    g.tick(3_334)
    assert.equal(status(await g.gw.decide(view('GET', '/x'))), 200)
    assert.equal(status(await g.gw.decide(view('GET', '/x'))), 429)
  })

  it('behavior: unpaid requests to a priced route count too, so a challenged client is limited', async () => {
    const g = setup({ routes: [{ name: 'api', path: '/*', price: '1sat', rateLimit: '2/s' }] })
    assert.equal(status(await g.gw.decide(view('GET', '/a'))), 402)
    assert.equal(status(await g.gw.decide(view('GET', '/b'))), 402)
    assert.equal(status(await g.gw.decide(view('GET', '/c'))), 429)
  })

  it('behavior: IPv6 clients share one bucket per /64, IPv4-mapped addresses fold to IPv4', async () => {
    assert.equal(clientKey('2001:db8:1:2:aaaa::1'), '2001:db8:1:2::/64')
    assert.equal(clientKey('2001:db8:1:2:ffff:ffff:ffff:ffff'), '2001:db8:1:2::/64')
    assert.equal(clientKey('2001:db8::1'), '2001:db8:0:0::/64')
    assert.equal(clientKey('::ffff:192.0.2.1'), '192.0.2.1')
    assert.equal(clientKey('::1'), '0:0:0:0::/64')
    assert.equal(clientKey(undefined), 'unknown')
    const g = setup({ routes: [{ name: 'free', path: '/*', price: 0, rateLimit: { requests: 2, per: '1m' } }] })
    assert.equal(status(await g.gw.decide(view('GET', '/', '2001:db8:1:2::1'))), 200)
    assert.equal(status(await g.gw.decide(view('GET', '/', '2001:db8:1:2::2'))), 200)
    assert.equal(status(await g.gw.decide(view('GET', '/', '2001:db8:1:2:dead::3'))), 429)
    assert.equal(status(await g.gw.decide(view('GET', '/', '2001:db8:1:3::1'))), 200)
  })

  it('behavior: burst sets the capacity apart from the rate', async () => {
    const g = setup({ routes: [{ name: 'free', path: '/*', price: 0, rateLimit: { requests: 1, per: '1s', burst: 5 } }] })
    const results = []
    for (let i = 0; i < 7; i++) results.push(status(await g.gw.decide(view('GET', '/'))))
    assert.deepEqual(results, [200, 200, 200, 200, 200, 429, 429])
    g.tick(1_000)
    assert.equal(status(await g.gw.decide(view('GET', '/'))), 200)
  })
})

describe('rate limits (route, by token)', () => {
  it('behavior: a pass is limited per token; other tokens and clients are not affected', async () => {
    const g = setup({ routes: [{ name: 'pass', path: '/*', price: '1sat', access: 'pass:1h', rateLimit: { requests: 2, per: '1s', by: 'token' } }] })
    const a = await buy(g, 'GET', '/x')
    const b = await buy(g, 'GET', '/x', '198.51.100.9')
    const use = (cred: string, client?: string) => g.gw.decide(view('GET', '/x', client, { authorization: cred }))
    assert.equal(status(await use(a)), 200)
    assert.equal(status(await use(a, '192.0.2.50')), 200, 'the same token from elsewhere shares its bucket…')
    assert.equal(status(await use(a)), 429)
    assert.equal(status(await use(b)), 200, '…and another token has its own')
    g.tick(500)
    assert.equal(status(await use(a)), 200)
  })

  it('behavior: a limited per-request credential is not consumed and works once there is room', async () => {
    const g = setup({ routes: [{ name: 'api', path: '/*', price: '1sat', rateLimit: { requests: 1, per: '1m', by: 'token', burst: 1 } }] })
    const cred = await buy(g, 'GET', '/x')
    const use = () => g.gw.decide(view('GET', '/x', undefined, { authorization: cred }))
    assert.equal(status(await use()), 200)
    // Drain the bucket of another token before its first use: the request is refused…
    const cred2 = await buy(g, 'GET', '/y')
    await g.store.take!(`rl:api:t:${tokenIdOf(cred2)}`, { capacity: 1, refillPerSecond: 1 / 60 }, g.start)
    const limited = await g.gw.decide(view('GET', '/y', undefined, { authorization: cred2 }))
    assert.equal(status(limited), 429)
    assert.match(JSON.parse((limited as Reply).body).detail, /not used/)
    // …without spending the credential: it works once the bucket has refilled, then it is spent.
    g.tick(60_000)
    assert.equal(status(await g.gw.decide(view('GET', '/y', undefined, { authorization: cred2 }))), 200)
    g.tick(60_000)
    assert.equal(status(await g.gw.decide(view('GET', '/y', undefined, { authorization: cred2 }))), 402, 'then spent')
  })
})

describe('challenge limit and reuse', () => {
  it('behavior: a polling client gets its unpaid challenge back; a new invoice only for a new request', async () => {
    const g = setup({ routes: [{ name: 'api', path: '/*', price: '1sat' }], challengeLimit: { perClient: 2, per: '1m' } })
    const first = invoiceOf(await g.gw.decide(view('GET', '/a')))
    for (let i = 0; i < 5; i++) assert.deepEqual(invoiceOf(await g.gw.decide(view('GET', '/a'))), first, `poll ${i}`)
    const other = invoiceOf(await g.gw.decide(view('POST', '/a')))
    assert.notEqual(other.invoice, first.invoice, 'the token is bound to the method, so a new challenge')
    const over = await g.gw.decide(view('GET', '/b'))
    assert.equal(status(over), 429, 'third new invoice within the minute')
    assert.equal(JSON.parse((over as Reply).body).code, 'TURNPIKE_RATE_LIMITED')
    assert.ok(Number(header(over, 'retry-after')) >= 29)
    // Still re-served while limited: polling never hits the limit.
    assert.deepEqual(invoiceOf(await g.gw.decide(view('GET', '/a'))), first)
    // Other clients are not affected.
    assert.equal(status(await g.gw.decide(view('GET', '/b', '198.51.100.2'))), 402)
  })

  it('behavior: the re-served challenge is valid: paying it lets the request through, then a fresh one', async () => {
    const g = setup({ routes: [{ name: 'api', path: '/*', price: '1sat' }], challengeLimit: { perClient: 10, per: '1m' } })
    const c = invoiceOf(await g.gw.decide(view('GET', '/a')))
    const again = invoiceOf(await g.gw.decide(view('GET', '/a')))
    assert.deepEqual(again, c)
    const { preimage } = await g.node.pay(again.invoice)
    assert.equal(status(await g.gw.decide(view('GET', '/a', undefined, { authorization: `L402 ${again.macaroon}:${preimage}` }))), 200)
    const next = invoiceOf(await g.gw.decide(view('GET', '/a')))
    assert.notEqual(next.invoice, c.invoice, 'a redeemed challenge is never re-served')
  })

  it('behavior: after a pass is used, its challenge is not re-served', async () => {
    const g = setup({ routes: [{ name: 'p', path: '/*', price: '1sat', access: 'pass:1h' }], challengeLimit: { perClient: 10, per: '1m' } })
    const c = invoiceOf(await g.gw.decide(view('GET', '/a')))
    assert.deepEqual(invoiceOf(await g.gw.decide(view('GET', '/b'))), c, 'a pass covers the route: one challenge for all its paths')
    const { preimage } = await g.node.pay(c.invoice)
    assert.equal(status(await g.gw.decide(view('GET', '/c', undefined, { authorization: `L402 ${c.macaroon}:${preimage}` }))), 200)
    await new Promise((r) => setImmediate(r))
    assert.notEqual(invoiceOf(await g.gw.decide(view('GET', '/a'))).invoice, c.invoice)
  })

  it('behavior: 20 concurrent unpaid requests of one client share one invoice and one token', async () => {
    const g = setup({ routes: [{ name: 'api', path: '/*', price: '1sat' }], challengeLimit: { perClient: 2, per: '1h' } })
    const ds = await Promise.all(Array.from({ length: 20 }, () => g.gw.decide(view('GET', '/a'))))
    const invoices = new Set(ds.map((d) => invoiceOf(d).invoice))
    assert.equal(invoices.size, 1)
    assert.ok(ds.every((d) => status(d) === 402))
    assert.equal(status(await g.gw.decide(view('GET', '/b'))), 402, 'fewer than 20 tokens were taken…')
  })

  it('behavior: reuse: 0 turns reuse off; the limit still holds', async () => {
    const g = setup({ routes: [{ name: 'api', path: '/*', price: '1sat' }], challengeLimit: { perClient: 2, per: '1m', reuse: 0 } })
    const a = invoiceOf(await g.gw.decide(view('GET', '/a')))
    const b = invoiceOf(await g.gw.decide(view('GET', '/a')))
    assert.notEqual(a.invoice, b.invoice)
    assert.equal(status(await g.gw.decide(view('GET', '/a'))), 429)
  })

  it('behavior: a re-served challenge expires with the reuse window', async () => {
    const g = setup({ routes: [{ name: 'api', path: '/*', price: '1sat' }], challengeLimit: { perClient: 10, per: '1m', reuse: 1 } })
    const a = invoiceOf(await g.gw.decide(view('GET', '/a')))
    assert.deepEqual(invoiceOf(await g.gw.decide(view('GET', '/a'))), a)
    await new Promise((r) => setTimeout(r, 1_100))
    assert.notEqual(invoiceOf(await g.gw.decide(view('GET', '/a'))).invoice, a.invoice)
  })

  it('behavior: works the same on SQLite (shared by cluster workers)', async () => {
    const store = sqlite({ path: join(dir, `db-${files++}.db`), pruneIntervalMs: 0 })
    try {
      const g = setup({ routes: [{ name: 'api', path: '/*', price: '1sat', rateLimit: '5/s' }], challengeLimit: { perClient: 1, per: '1m' } }, { store })
      const a = invoiceOf(await g.gw.decide(view('GET', '/a')))
      assert.deepEqual(invoiceOf(await g.gw.decide(view('GET', '/a'))), a)
      assert.equal(status(await g.gw.decide(view('GET', '/b'))), 429)
    } finally {
      await store.close()
    }
  })
})

describe('fail closed', () => {
  it('error: a store that cannot answer → 503 + Retry-After on limited routes; unlimited passes still work', async () => {
    const store = memory({ pruneIntervalMs: 0 })
    const g = setup({
      routes: [
        { name: 'limited', path: '/limited/*', price: 0, rateLimit: '5/s' },
        { name: 'pass', path: '/pass/*', price: '1sat', access: 'pass:1h' },
        { name: 'api', path: '/*', price: '1sat' },
      ],
    }, { store })
    const pass = await buy(g, 'GET', '/pass/x')
    const once = await buy(g, 'GET', '/api/x')
    await store.close()
    const limited = await g.gw.decide(view('GET', '/limited/x'))
    assert.equal(status(limited), 503)
    assert.equal(header(limited, 'retry-after'), '2')
    assert.equal(JSON.parse((limited as Reply).body).code, 'TURNPIKE_STORE_UNAVAILABLE')
    assert.equal(status(await g.gw.decide(view('GET', '/api/x', undefined, { authorization: once }))), 503)
    assert.equal(status(await g.gw.decide(view('GET', '/pass/y', undefined, { authorization: pass }))), 200)
  })

  it('error: the challenge limit fails closed too', async () => {
    const store = memory({ pruneIntervalMs: 0 })
    const g = setup({ routes: [{ name: 'api', path: '/*', price: '1sat' }], challengeLimit: '10/1m' }, { store })
    await store.close()
    const d = await g.gw.decide(view('GET', '/a'))
    assert.equal(status(d), 503)
    assert.equal(header(d, 'retry-after'), '2')
  })

  it('error: a store without take is refused at start-up when limits are configured', () => {
    const { take: _t, ...plain } = memory({ pruneIntervalMs: 0 })
    const config = Config.parse({ upstream: 'http://127.0.0.1:9', backend: 'dev', routes: [{ path: '/*', price: 0, rateLimit: '1/s' }] })
    assert.throws(() => Gateway.create({ config, backend: dev(), store: plain, secret }), /take/)
  })
})

describe('config', () => {
  it('error: every rate-limit issue is reported with its path', () => {
    try {
      Config.parse({
        upstream: 'http://127.0.0.1:9',
        backend: 'dev',
        store: 'memory',
        workers: 4,
        trustProxy: ['10.0.0.0/8', 'nope', '10.0.0.0/33', 'loopback', '::1'],
        challengeLimit: { perClient: 0, per: 'soon', reuse: 'later', extra: 1 },
        routes: [
          { name: 'a', price: 0, rateLimit: { requests: 1.5, per: 'x', by: 'token', burst: -1 } },
          { name: 'b', price: '1sat', rateLimit: { requests: 1, by: 'ip', typo: 1 } },
          { name: 'c', price: '1sat', rateLimit: 'lots' },
        ],
      })
      assert.fail('should throw')
    } catch (e) {
      assert.ok(e instanceof ConfigError)
      const paths = e.issues.map((i) => i.path)
      for (const p of [
        'workers', 'trustProxy[1]', 'trustProxy[2]', 'challengeLimit.perClient', 'challengeLimit.per', 'challengeLimit.reuse',
        'challengeLimit.extra', 'routes[0].rateLimit.requests', 'routes[0].rateLimit.per', 'routes[0].rateLimit.by',
        'routes[0].rateLimit.burst', 'routes[1].rateLimit.by', 'routes[1].rateLimit.typo', 'routes[2].rateLimit',
      ]) assert.ok(paths.includes(p), `missing ${p} in ${paths.join(', ')}`)
      assert.ok(!paths.includes('trustProxy[0]') && !paths.includes('trustProxy[3]') && !paths.includes('trustProxy[4]'))
    }
  })

  it('behavior: shorthand and defaults', () => {
    const c = Config.parse({
      upstream: 'http://127.0.0.1:9', backend: 'dev', workers: '3', challengeLimit: '30/1m',
      routes: [{ price: 0, rateLimit: '10/s' }, { name: 'b', price: 0, rateLimit: { requests: 100, per: '1m' } }],
    })
    assert.deepEqual(c.routes[0]!.rateLimit, { requests: 10, perSeconds: 1, burst: 10, by: 'client' })
    assert.deepEqual(c.routes[1]!.rateLimit, { requests: 100, perSeconds: 60, burst: 100, by: 'client' })
    assert.deepEqual(c.challengeLimit, { perClient: 30, perSeconds: 60, burst: 30, reuseSeconds: 30 })
    assert.equal(c.workers, 3)
  })
})

describe('trusted proxies', () => {
  const req = (peer: string, headers: Record<string, string[]>) =>
    ({ socket: { remoteAddress: peer }, headersDistinct: headers }) as unknown as IncomingMessage

  it('behavior: CIDR ranges and names match, IPv4-mapped peers too', () => {
    const t = trustMatcher(['10.0.0.0/8', '2001:db8::/32', 'loopback'])
    for (const a of ['10.1.2.3', '::ffff:10.9.9.9', '2001:db8:ffff::1', '127.0.0.1', '::1', '[::1]']) assert.ok(t(a), a)
    for (const a of ['11.0.0.1', '2001:db9::1', 'unknown', '', undefined]) assert.ok(!t(a), String(a))
  })

  it('behavior: X-Forwarded-For is walked from the right past trusted proxies only', () => {
    const trust = ['10.0.0.0/8']
    const xff = { 'x-forwarded-for': ['6.6.6.6, 203.0.113.9', '10.0.0.2'] }
    assert.equal(clientAddress(req('10.0.0.1', xff), trust), '203.0.113.9')
    assert.equal(clientAddress(req('192.0.2.1', xff), trust), '192.0.2.1', 'an untrusted peer is the client')
    assert.equal(clientAddress(req('10.0.0.1', { 'x-forwarded-for': ['10.0.0.3'] }), trust), '10.0.0.3', 'all trusted: the leftmost')
    assert.equal(clientAddress(req('10.0.0.1', {}), trust), '10.0.0.1')
  })

  it('behavior: Forwarded (RFC 7239) is honoured from trusted peers and preferred over X-Forwarded-For', () => {
    assert.deepEqual(
      forwardedFor(['for=192.0.2.60;proto=http;by=203.0.113.43, For="[2001:db8:cafe::17]:4711"', 'for=198.51.100.17:80, for=_hidden, for=unknown']),
      ['192.0.2.60', '2001:db8:cafe::17', '198.51.100.17', '_hidden', 'unknown'],
    )
    const trust = ['10.0.0.0/8', 'private']
    const h = { forwarded: ['for=6.6.6.6, for="[2001:db8:cafe::17]:4711";proto=https', 'for=10.0.0.9'], 'x-forwarded-for': ['9.9.9.9'] }
    assert.equal(clientAddress(req('10.0.0.1', h), trust), '2001:db8:cafe::17')
    assert.equal(clientAddress(req('8.8.8.8', h), trust), '8.8.8.8')
    assert.equal(clientAddress(req('10.0.0.1', { forwarded: ['for=_hidden'] }), trust), '_hidden')
  })
})

/** The token id (hex) in a credential's macaroon identifier. */
function tokenIdOf(cred: string): string {
  const m = Macaroon.deserialize(cred.slice(5).split(':')[0]!)
  return Buffer.from(Identifier.decode(m.identifier).tokenId).toString('hex')
}
