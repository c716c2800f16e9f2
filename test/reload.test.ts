/**
 * SIGHUP reloads `turnpike serve --config f`: a valid edit changes the price at once, without a
 * restart; an invalid edit is logged issue by issue and the running config stays; a listen change
 * is logged as needing a restart.
 */
import { randomBytes } from 'node:crypto'
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { echo, listen, tempDir } from './harness.ts'
import { request, serve, until, type Served } from './processes.ts'

describe('SIGHUP config reload (single process)', () => {
  let upstream: Awaited<ReturnType<typeof listen>>
  let gw: Served
  const dir = tempDir()
  const file = join(dir.path, 'turnpike.json')
  const write = (routes: unknown, extra: Record<string, unknown> = {}) =>
    writeFileSync(file, JSON.stringify({ backend: 'dev', upstream: upstream.url, store: 'memory', listen: '127.0.0.1:0', routes, ...extra }))

  before(async () => {
    upstream = await listen(echo)
    write([{ name: 'api', path: '/api/*', price: '1sat' }])
    gw = await serve(['--config', file, '--data-dir', dir.path], { TURNPIKE_SECRET: randomBytes(32).toString('hex') }, { ready: /SIGHUP reloads the config file[^\n]*\n/ })
    gw.url = /turnpike listening on (http:\/\/\S+)/.exec(gw.logs())![1]!
  })

  after(async () => {
    await gw?.stop()
    await upstream?.close()
    dir.remove()
  })

  const price = async (path: string): Promise<number | undefined> => {
    const r = await request(`${gw.url}${path}`)
    return r.status === 402 ? (JSON.parse(r.body) as { amount_msat: number }).amount_msat : r.status === 200 ? 0 : undefined
  }
  const hup = async (logged: RegExp) => {
    const before = gw.logs().length
    gw.child.kill('SIGHUP')
    await until(async () => logged.test(gw.logs().slice(before)), 5_000, 20)
    return gw.logs().slice(before)
  }

  it('behavior: a valid edit + SIGHUP serves the new price and route without a restart', async () => {
    assert.equal(await price('/api/x'), 1000)
    write([{ name: 'api', path: '/api/*', price: '3sat' }, { name: 'free', path: '/free/*', price: 0 }], { challenge: { invoiceExpiry: '10m' } })
    await hup(/config reloaded/)
    assert.equal(await price('/api/x'), 3000)
    assert.equal(await price('/free/x'), 0)
    assert.equal(gw.child.exitCode, null)
  })

  it('error: an invalid edit + SIGHUP keeps the old config and logs every issue', async () => {
    write([{ name: 'api', path: 'nope', price: 'lots' }])
    const logs = await hup(/config reload rejected[\s\S]*config reload rejected/)
    assert.match(logs, /routes\[0\]\.path/)
    assert.match(logs, /routes\[0\]\.price/)
    assert.equal(await price('/api/x'), 3000)
    assert.equal(await price('/free/x'), 0)
  })

  it('behavior: a listen change is reported as needing a restart; the rest still applies', async () => {
    write([{ name: 'api', path: '/api/*', price: '4sat' }], { listen: '127.0.0.1:1' })
    const logs = await hup(/config reloaded/)
    assert.match(logs, /listen changed; these need a restart/)
    assert.equal(await price('/api/x'), 4000)
  })
})
