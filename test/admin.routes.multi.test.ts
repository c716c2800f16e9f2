/**
 * Live route changes through the admin API: two real `turnpike serve` processes sharing Redis; a
 * PUT on instance A changes a price and adds a route, and instance B serves both within ~2 s without
 * a restart; a DELETE removes the route on both. Invalid routes are refused with problem+json paths.
 */
import { randomBytes, randomUUID } from 'node:crypto'
import assert from 'node:assert/strict'
import { copyFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { Redis } from 'ioredis'
import { loadOrCreateNodeKey } from '../src/lightning/dev.ts'
import { echo, listen, tempDir } from './harness.ts'
import { request, serve, until, type Served } from './processes.ts'

const run = randomUUID().slice(0, 8)
const prefix = `turnpike-rt-${run}:`
const token = 'admin-routes-token-0123456789abcdef'

describe('live routes through the admin API, two processes sharing Redis', () => {
  let upstream: Awaited<ReturnType<typeof listen>>
  let gws: (Served & { admin: string })[] = []
  const dirs = [tempDir(), tempDir()]

  before(async () => {
    upstream = await listen(echo)
    loadOrCreateNodeKey(dirs[0]!.path)
    copyFileSync(join(dirs[0]!.path, 'dev-node.key'), join(dirs[1]!.path, 'dev-node.key'))
    const config = join(dirs[0]!.path, 'turnpike.json')
    writeFileSync(config, JSON.stringify({
      backend: 'dev',
      upstream: upstream.url,
      store: `redis://127.0.0.1:6379/0?prefix=${prefix}`,
      admin: { listen: '127.0.0.1:0', token },
      routes: [{ name: 'api', path: '/api/*', price: '1sat' }],
    }))
    const env = { TURNPIKE_SECRET: randomBytes(32).toString('hex') }
    gws = await Promise.all(dirs.map(async (d) => {
      const s = await serve(['--config', config, '--data-dir', d.path, '--listen', '127.0.0.1:0'], env, { ready: /turnpike listening on (http:\/\/\S+)/ })
      return { ...s, admin: /admin listening on (http:\/\/\S+)/.exec(s.logs())![1]! }
    }))
  })

  after(async () => {
    await Promise.all(gws.map((g) => g.stop()))
    await upstream?.close()
    for (const d of dirs) d.remove()
    const c = new Redis({ host: '127.0.0.1', port: 6379 })
    const [, keys] = await c.scan('0', 'MATCH', `${prefix}*`, 'COUNT', 10_000)
    if (keys.length > 0) await c.del(...keys)
    await c.quit()
  })

  const admin = (g: { admin: string }, method: string, name: string, body?: unknown) =>
    request(`${g.admin}/api/v1/routes/${name}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    })
  const price = async (url: string): Promise<number | undefined> => {
    const r = await request(url)
    return r.status === 402 ? (JSON.parse(r.body) as { amount_msat: number }).amount_msat : undefined
  }

  it('behavior: PUT on A changes a price and adds a route; B serves both within ~2 s; DELETE removes on both', async () => {
    const [a, b] = gws as [Served & { admin: string }, Served & { admin: string }]
    assert.equal(await price(`${b.url}/api/x`), 1000)
    assert.equal((await request(`${b.url}/new/x`)).status, 404)

    const put = await admin(a, 'PUT', 'api', { path: '/api/*', price: '5sat' })
    assert.equal(put.status, 200, put.body)
    assert.equal((JSON.parse(put.body) as { route: { price_msat: string } }).route.price_msat, '5000')
    const added = await admin(a, 'PUT', 'new', { path: '/new/*', price: '7sat', access: 'pass:1h' })
    assert.equal(added.status, 200, added.body)
    // A applied it before answering.
    assert.equal(await price(`${a.url}/api/x`), 5000)
    assert.equal(await price(`${a.url}/new/x`), 7000)

    const took = await until(async () => (await price(`${b.url}/api/x`)) === 5000 && (await price(`${b.url}/new/x`)) === 7000, 5_000, 50)
    assert.ok(took < 2_500, `B took ${took} ms`)
    const listed = JSON.parse((await request(`${b.admin}/api/v1/routes`, { headers: { authorization: `Bearer ${token}` } })).body) as { routes: { name: string }[] }
    assert.deepEqual(listed.routes.map((r) => r.name), ['api', 'new'])

    const del = await admin(b, 'DELETE', 'new')
    assert.equal(del.status, 200, del.body)
    assert.equal((await request(`${b.url}/new/x`)).status, 404)
    await until(async () => (await request(`${a.url}/new/x`)).status === 404, 5_000, 50)
    assert.equal(await price(`${a.url}/api/x`), 5000)
    assert.equal((await admin(a, 'DELETE', 'new')).status, 404)
    assert.match(a.logs() + b.logs(), /routes changed/)
  })

  it('behavior: turnpike admin routes set|delete', async () => {
    const { admin: cli } = await import('../src/cli/admin.ts')
    const [a, b] = gws as [Served & { admin: string }, Served & { admin: string }]
    let out = ''
    let err = ''
    const io = { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s) }, env: { TURNPIKE_ADMIN_TOKEN: token } }
    assert.equal(await cli(['routes', 'set', 'cli', '{"path":"/cli/*","price":"2sat"}', '--url', a.admin], io), 0, err)
    assert.match(out, /"price_msat":"2000"/)
    await until(async () => (await price(`${b.url}/cli/x`)) === 2000, 5_000, 50)
    assert.equal(await cli(['routes', 'set', 'cli', '{"path":"/cli/*","price":"x"}', '--url', a.admin], io), 2)
    assert.match(err, /price: must be a price/)
    assert.equal(await cli(['routes', 'delete', 'cli', '--url', b.admin], io), 0)
    assert.equal(await cli(['routes', 'delete', 'cli', '--url', b.admin], io), 5)
    await until(async () => (await request(`${a.url}/cli/x`)).status === 404, 5_000, 50)
  })

  it('error: an invalid route is refused with problem+json paths and changes nothing', async () => {
    const [a, b] = gws as [Served & { admin: string }, Served & { admin: string }]
    const r = await admin(a, 'PUT', 'bad', { path: 'nope', price: 'lots', access: 'forever', extra: 1 })
    assert.equal(r.status, 400)
    assert.equal(r.headers['content-type'], 'application/problem+json')
    const paths = (JSON.parse(r.body) as { issues: { path: string }[] }).issues.map((i) => i.path)
    for (const p of ['path', 'price', 'access', 'extra']) assert.ok(paths.includes(p), paths.join(','))
    assert.equal((await admin(a, 'PUT', 'Bad_Name', { path: '/x', price: 1 })).status, 400)
    assert.equal((await admin(a, 'PUT', 'api', { name: 'other', path: '/x', price: 1 })).status, 400)
    assert.equal((await admin(a, 'DELETE', 'api')).status, 400, 'the last route cannot go')
    assert.equal((await request(`${a.admin}/api/v1/routes/api`, { method: 'PUT', body: '{}', headers: { 'content-type': 'application/json' } })).status, 401)
    assert.equal(await price(`${b.url}/api/x`), 5000)
  })
})
