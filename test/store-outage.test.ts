/**
 * A store outage fails closed and heals by itself. The gateway reaches Redis (then PostgreSQL)
 * through a TCP relay this test controls, so the shared servers are never stopped: cutting or
 * stalling the relay is the outage.
 */
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import pg from 'pg'
import { Redis } from 'ioredis'
import { buyCredential, echo, listen, startGateway, type Gateway } from './harness.ts'
import { tcpProxy, until } from './processes.ts'

const run = randomUUID().slice(0, 8)

const engines = [
  {
    name: 'redis',
    port: 6379,
    url: (port: number) => `redis://127.0.0.1:${port}/0?prefix=turnpike-outage-${run}:`,
    async cleanup() {
      const c = new Redis({ host: '127.0.0.1', port: 6379 })
      let cursor = '0'
      do {
        const [next, keys] = await c.scan(cursor, 'MATCH', `turnpike-outage-${run}:*`, 'COUNT', 1000)
        if (keys.length > 0) await c.del(...keys)
        cursor = next
      } while (cursor !== '0')
      await c.quit()
    },
  },
  {
    name: 'postgres',
    port: 5432,
    url: (port: number) => `postgres://postgres@127.0.0.1:${port}/test?schema=turnpike_outage_${run}`,
    async cleanup() {
      const c = new pg.Client({ host: '127.0.0.1', user: 'postgres', database: 'test' })
      await c.connect()
      await c.query(`DROP SCHEMA IF EXISTS "turnpike_outage_${run}" CASCADE`)
      await c.end()
    },
  },
]

for (const engine of engines) {
  describe(`store outage: ${engine.name}`, () => {
    let upstream: Awaited<ReturnType<typeof listen>>
    let relay: Awaited<ReturnType<typeof tcpProxy>>
    let g: Gateway

    before(async () => {
      upstream = await listen(echo)
      relay = await tcpProxy({ host: '127.0.0.1', port: engine.port })
      g = await startGateway({
        upstream: upstream.url,
        store: engine.url(relay.port),
        routes: [
          { name: 'once', path: '/once/*', price: '1sat' },
          { name: 'pass', path: '/pass/*', price: '1sat', access: 'pass:1h' },
          { name: 'limited', path: '/limited/*', price: 0, rateLimit: { requests: 100, per: '1s' } },
        ],
      })
    })

    after(async () => {
      await g?.close()
      await relay?.close()
      await upstream?.close()
      await engine.cleanup()
    })

    const get = async (path: string, cred?: string) => {
      const res = await fetch(`${g.url}${path}`, cred ? { headers: { authorization: cred } } : {})
      return { status: res.status, retryAfter: res.headers.get('retry-after'), type: res.headers.get('content-type'), body: await res.text() }
    }

    for (const outage of ['cut', 'stall'] as const) {
      it(`behavior: store ${outage === 'cut' ? 'down' : 'hung'} → per-request and rate-limited routes 503 + Retry-After; passes work; recovery without restart`, async () => {
        const once = await buyCredential(g, `${g.url}/once/${outage}`)
        const pass = await buyCredential(g, `${g.url}/pass/${outage}`)
        assert.equal((await get(`/pass/${outage}`, pass)).status, 200)
        assert.equal((await get(`/limited/${outage}`)).status, 200)

        relay[outage]()
        const t = performance.now()
        const spent = await get(`/once/${outage}`, once)
        const answeredMs = performance.now() - t
        assert.equal(spent.status, 503, spent.body)
        assert.equal(spent.retryAfter, '2')
        assert.equal(spent.type, 'application/problem+json')
        assert.equal(JSON.parse(spent.body).code, 'TURNPIKE_STORE_UNAVAILABLE')
        assert.ok(answeredMs < 4_000, `fail-closed answer took ${answeredMs} ms`)
        const limited = await get(`/limited/${outage}`)
        assert.equal(limited.status, 503)
        assert.equal(limited.retryAfter, '2')
        // Verification needs no store read: a pass keeps working through the outage.
        for (const p of ['a', 'b']) assert.equal((await get(`/pass/${outage}-${p}`, pass)).status, 200)
        // An unpaid request still gets a challenge (no challenge limit is configured here).
        assert.equal((await get(`/once/${outage}-new`)).status, 402)

        relay.restore()
        const healedMs = await until(async () => (await get(`/limited/${outage}`)).status === 200, 20_000, 50)
        // The credential refused during the outage was not consumed: it works now, once.
        assert.equal((await get(`/once/${outage}`, once)).status, 200)
        assert.equal((await get(`/once/${outage}`, once)).status, 402)
        process.stderr.write(`# ${engine.name} ${outage}: 503 after ${answeredMs.toFixed(0)} ms; healthy ${healedMs} ms after restore\n`)
      })
    }
  })
}
