/**
 * Several separate `turnpike serve` processes sharing Redis, then PostgreSQL, behave as one:
 * a per-request credential is redeemed exactly once across all of them, a pass works on every one,
 * a rate limit holds globally, and a polling client gets the same challenge from any of them.
 */
import { randomUUID } from 'node:crypto'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import pg from 'pg'
import { Redis } from 'ioredis'
import { postgres } from '../src/store/postgres.ts'
import { echo, listen, tempDir } from './harness.ts'
import { buyAcross, request, serveInstances, type Served } from './processes.ts'

const instances = 3
const run = randomUUID().slice(0, 8)

const engines = [
  {
    name: 'redis',
    url: `redis://127.0.0.1:6379/0?prefix=turnpike-mi-${run}:`,
    async cleanup() {
      const c = new Redis({ host: '127.0.0.1', port: 6379 })
      let cursor = '0'
      do {
        const [next, keys] = await c.scan(cursor, 'MATCH', `turnpike-mi-${run}:*`, 'COUNT', 1000)
        if (keys.length > 0) await c.del(...keys)
        cursor = next
      } while (cursor !== '0')
      await c.quit()
    },
    /** Every key the gateways wrote carries a TTL: Redis bounds its own growth. */
    async bounded() {
      const c = new Redis({ host: '127.0.0.1', port: 6379 })
      try {
        const [, keys] = await c.scan('0', 'MATCH', `turnpike-mi-${run}:*`, 'COUNT', 100_000)
        assert.ok(keys.length > 20, `keys: ${keys.length}`)
        const ttls = await Promise.all(keys.map((k) => c.pttl(k)))
        const kinds = new Set(keys.map((k) => k.split(':')[1]))
        for (const kind of ['bucket', 'claim', 'invoice', 'value']) assert.ok(kinds.has(kind), `no ${kind} keys: ${[...kinds]}`)
        assert.ok(ttls.every((t) => t > 0), `keys without a TTL: ${keys.filter((_, i) => ttls[i]! <= 0).join(', ')}`)
      } finally {
        await c.quit()
      }
    },
  },
  {
    name: 'postgres',
    url: `postgres://postgres@127.0.0.1:5432/test?schema=turnpike_mi_${run}`,
    async cleanup() {
      const c = new pg.Client({ host: '127.0.0.1', user: 'postgres', database: 'test' })
      await c.connect()
      await c.query(`DROP SCHEMA IF EXISTS "turnpike_mi_${run}" CASCADE`)
      await c.end()
    },
    /** Every row the gateways wrote has an expiry, and pruning past it empties every table. */
    async bounded() {
      const pool = new pg.Pool({ host: '127.0.0.1', user: 'postgres', database: 'test', max: 2 })
      const store = postgres(pool, { schema: `turnpike_mi_${run}`, pruneIntervalMs: 0 })
      try {
        const count = async () => {
          const { rows } = await pool.query(`SELECT (SELECT count(*) FROM "turnpike_mi_${run}".turnpike_claims)
            + (SELECT count(*) FROM "turnpike_mi_${run}".turnpike_invoices) + (SELECT count(*) FROM "turnpike_mi_${run}".turnpike_buckets)
            + (SELECT count(*) FROM "turnpike_mi_${run}".turnpike_kv) AS n`)
          return Number(rows[0].n)
        }
        await store.prune(Date.now()) // buckets that are full again may go already
        const before = await count()
        assert.ok(before > 20, `rows: ${before}`)
        assert.equal(await store.prune(Date.now() + 3 * 86_400_000), before)
        assert.equal(await count(), 0)
      } finally {
        await store.close()
        await pool.end()
      }
    },
  },
]

for (const engine of engines) {
  describe(`${instances} gateway processes sharing ${engine.name}`, () => {
    let upstream: Awaited<ReturnType<typeof listen>>
    let gws: Served[] = []
    const dirs = Array.from({ length: instances }, () => tempDir())

    before(async () => {
      upstream = await listen(echo)
      gws = await serveInstances(dirs, {
        backend: 'dev',
        upstream: upstream.url,
        store: engine.url,
        challengeLimit: { perClient: 1000, per: '1m', reuse: '30s' },
        routes: [
          { name: 'once', path: '/once/*', price: '1sat' },
          { name: 'pass', path: '/pass/*', price: '1sat', access: 'pass:1h' },
          { name: 'limited', path: '/limited/*', price: 0, rateLimit: { requests: 20, per: '1h' } },
        ],
      })
    })

    after(async () => {
      await Promise.all(gws.map((g) => g.stop()))
      await upstream?.close()
      for (const d of dirs) d.remove()
      await engine.cleanup()
    })

    const credential = (path: string, i: number): Promise<string> => buyAcross(gws, path, i)

    it('behavior: one per-request credential fired at every instance at once → exactly one 200', async () => {
      const latencies: number[] = []
      for (let round = 0; round < 5; round++) {
        const cred = await credential(`/once/r${round}`, round)
        const shots = await Promise.all(
          Array.from({ length: instances * 6 }, async (_, i) => {
            const t = performance.now()
            const r = await request(`${gws[i % instances]!.url}/once/r${round}`, { headers: { authorization: cred } })
            latencies.push(performance.now() - t)
            return r.status
          }),
        )
        assert.equal(shots.filter((s) => s === 200).length, 1, `round ${round}: ${shots.join(',')}`)
        assert.equal(shots.filter((s) => s === 402).length, shots.length - 1, `round ${round}: ${shots.join(',')}`)
      }
      latencies.sort((a, b) => a - b)
      const p50 = latencies[Math.floor(latencies.length / 2)]!
      process.stderr.write(`# ${engine.name}: ${latencies.length} concurrent redemptions, p50 ${p50.toFixed(1)} ms, max ${latencies.at(-1)!.toFixed(1)} ms\n`)
    })

    it('behavior: a pass bought through one instance works on all of them', async () => {
      const cred = await credential('/pass/x', 2)
      const shots = await Promise.all(
        Array.from({ length: instances * 3 }, (_, i) => request(`${gws[i % instances]!.url}/pass/y${i}`, { headers: { authorization: cred } })),
      )
      assert.deepEqual(shots.map((s) => s.status), Array(instances * 3).fill(200))
    })

    it('behavior: a rate limit holds across the instances (20 per hour, 60 requests at once)', async () => {
      const shots = await Promise.all(
        Array.from({ length: 60 }, (_, i) => request(`${gws[i % instances]!.url}/limited/${i}`)),
      )
      const ok = shots.filter((s) => s.status === 200).length
      const limited = shots.filter((s) => s.status === 429)
      process.stderr.write(`# ${engine.name}: rate limit 20 → ${ok} allowed of 60 across ${instances} processes\n`)
      // Refill is 1 token every 3 min: at most one more may pass even on a slow machine.
      assert.ok(ok >= 20 && ok <= 21, `allowed ${ok}`)
      assert.equal(ok + limited.length, 60)
      assert.ok(limited.every((r) => Number(r.headers['retry-after']) >= 1 && r.headers['content-type'] === 'application/problem+json'))
    })

    it('behavior: a client polling different instances gets one challenge back', async () => {
      const bodies = []
      for (let i = 0; i < instances * 2; i++) bodies.push(JSON.parse((await request(`${gws[i % instances]!.url}/once/poll`)).body))
      assert.equal(new Set(bodies.map((b) => b.invoice)).size, 1)
      assert.equal(new Set(bodies.map((b) => b.macaroon)).size, 1)
    })

    it('behavior: bounded growth: everything the instances stored expires and is pruned', async () => {
      await engine.bounded()
    })
  })
}
