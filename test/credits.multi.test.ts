/**
 * Credit bundles and revocation across 3 separate `turnpike serve` processes sharing Redis, then
 * PostgreSQL: concurrent draw-down never overdraws, and `turnpike token revoke` reaches every instance.
 */
import { randomUUID } from 'node:crypto'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { after, before, describe, it } from 'node:test'
import pg from 'pg'
import { Redis } from 'ioredis'
import * as Identifier from '../src/Identifier.ts'
import * as Macaroon from '../src/Macaroon.ts'
import { toHex } from '../src/internal/hex.ts'
import { echo, listen, tempDir } from './harness.ts'
import { buyAcross, request, serveInstances, until, type Served } from './processes.ts'

const instances = 3
const run = randomUUID().slice(0, 8)
const bin = fileURLToPath(new URL('../src/bin.ts', import.meta.url))

const engines = [
  {
    name: 'redis',
    url: `redis://127.0.0.1:6379/0?prefix=turnpike-cr-${run}:`,
    async cleanup() {
      const c = new Redis({ host: '127.0.0.1', port: 6379 })
      let cursor = '0'
      do {
        const [next, keys] = await c.scan(cursor, 'MATCH', `turnpike-cr-${run}:*`, 'COUNT', 1000)
        if (keys.length > 0) await c.del(...keys)
        cursor = next
      } while (cursor !== '0')
      await c.quit()
    },
  },
  {
    name: 'postgres',
    url: `postgres://postgres@127.0.0.1:5432/test?schema=turnpike_cr_${run}`,
    async cleanup() {
      const c = new pg.Client({ host: '127.0.0.1', user: 'postgres', database: 'test' })
      await c.connect()
      await c.query(`DROP SCHEMA IF EXISTS "turnpike_cr_${run}" CASCADE`)
      await c.end()
    },
  },
]

for (const engine of engines) {
  describe(`credits and revocation across ${instances} processes sharing ${engine.name}`, () => {
    let upstream: Awaited<ReturnType<typeof listen>>
    let gws: Served[] = []
    const dirs = Array.from({ length: instances }, () => tempDir())

    before(async () => {
      upstream = await listen((req, res) => (req.url?.includes('fail') ? res.writeHead(503).end() : echo(req, res)))
      gws = await serveInstances(dirs, {
        backend: 'dev',
        upstream: upstream.url,
        store: engine.url,
        routes: [
          { name: 'bundle', path: '/bundle/*', price: '10sat', access: 'credits:10' },
          { name: 'pass', path: '/pass/*', price: '1sat', access: 'pass:1h' },
          { name: 'dyn', path: '/dyn/*', price: '1sat', access: 'pass:1h', priceOverride: true },
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

    it('behavior: a bundle of 10 fired 45 times at all instances at once → exactly 10 allowed, no overdraw', async () => {
      const cred = await credential('/bundle/a', 0)
      const shots = await Promise.all(Array.from({ length: 45 }, (_, i) =>
        request(`${gws[i % instances]!.url}/bundle/x${i}`, { headers: { authorization: cred } })))
      const ok = shots.filter((s) => s.status === 200)
      assert.equal(ok.length, 10, shots.map((s) => s.status).join(','))
      assert.equal(shots.filter((s) => s.status === 402).length, 35)
      assert.deepEqual(ok.map((s) => Number(s.headers['x-turnpike-balance'])).sort((a, b) => a - b), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    })

    it('behavior: a failed upstream refunds the draw on whichever instance served it', async () => {
      const cred = await credential('/bundle/b', 1)
      for (let i = 0; i < instances; i++) {
        const f = await request(`${gws[i]!.url}/bundle/fail`, { headers: { authorization: cred } })
        assert.equal(f.status, 503)
      }
      const balance = async () => {
        const r = await request(`${gws[0]!.url}/bundle/ok`, { headers: { authorization: cred } })
        return r.headers['x-turnpike-balance']
      }
      // The refunds land just after each response: then every failed draw is back.
      await new Promise((r) => setTimeout(r, 200))
      assert.equal(await balance(), '9')
      assert.equal(await balance(), '8')
    })

    it('behavior: `turnpike token revoke` reaches every instance within about a second', async () => {
      const cred = await credential('/pass/a', 2)
      const keep = await credential('/pass/b', 0)
      const statuses = async (c: string) => Promise.all(gws.map(async (g) => (await request(`${g.url}/pass/a`, { headers: { authorization: c } })).status))
      assert.deepEqual(await statuses(cred), [200, 200, 200])
      const tokenId = toHex(Identifier.decode(Macaroon.deserialize(cred.slice(5).split(':')[0]!).identifier).tokenId)
      const out = spawnSync(process.execPath, [bin, 'token', 'revoke', tokenId, '--store', engine.url], { encoding: 'utf8', timeout: 30_000 })
      assert.equal(out.status, 0, out.stderr)
      assert.equal(JSON.parse(out.stdout).token_id, tokenId)
      const t0 = performance.now()
      await until(async () => (await statuses(cred)).every((s) => s === 402), 5000, 50)
      const ms = performance.now() - t0
      assert.ok(ms < 2500, `took ${ms.toFixed(0)} ms (1 s refresh + requests under load)`)
      assert.deepEqual(await statuses(keep), [200, 200, 200], 'other tokens are unaffected')
    })

    it('behavior: `turnpike price set` reaches every instance within about a second; cheaper credentials stop working', async () => {
      const cheap = await credential('/dyn/a', 0)
      const amounts = async () => Promise.all(gws.map(async (g) => String((JSON.parse((await request(`${g.url}/dyn/q`)).body) as { amount_msat: unknown }).amount_msat)))
      assert.deepEqual(await amounts(), ['1000', '1000', '1000'])
      const set = spawnSync(process.execPath, [bin, 'price', 'set', 'dyn', '7sat', '--store', engine.url], { encoding: 'utf8', timeout: 30_000 })
      assert.equal(set.status, 0, set.stderr)
      const t0 = performance.now()
      await until(async () => (await amounts()).every((a) => a === '7000'), 5000, 50)
      assert.ok(performance.now() - t0 < 2500)
      const paidCheap = await Promise.all(gws.map(async (g) => (await request(`${g.url}/dyn/a`, { headers: { authorization: cheap } })).status))
      assert.deepEqual(paidCheap, [402, 402, 402])
      const dear = await credential('/dyn/b', 1)
      assert.deepEqual(await Promise.all(gws.map(async (g) => (await request(`${g.url}/dyn/b`, { headers: { authorization: dear } })).status)), [200, 200, 200])
      const clear = spawnSync(process.execPath, [bin, 'price', 'clear', 'dyn', '--store', engine.url], { encoding: 'utf8', timeout: 30_000 })
      assert.equal(clear.status, 0, clear.stderr)
      await until(async () => (await amounts()).every((a) => a === '1000'), 5000, 50)
      assert.deepEqual(await Promise.all(gws.map(async (g) => (await request(`${g.url}/dyn/a`, { headers: { authorization: cheap } })).status)), [200, 200, 200])
    })
  })
}
