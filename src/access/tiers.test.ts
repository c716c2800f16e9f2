/** Capability tiers: config, and tokens of one service's tiers through the real proxy. */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { buyCredential, echo, listen, startGateway, type Gateway } from '../../test/harness.ts'
import * as Config from '../Config.ts'
import { ConfigError } from '../Errors.ts'
import * as Macaroon from '../Macaroon.ts'

const route = (r: Record<string, unknown>) => Config.parse({ upstream: 'http://127.0.0.1:1', routes: [{ name: 'api', path: '/api/*', price: '100sat', ...r }] }).routes[0]!
const issues = (r: Record<string, unknown>): string => {
  try {
    route(r)
  } catch (e) {
    if (e instanceof ConfigError) return e.issues.map((i) => `${i.path}: ${i.message}`).join('\n')
    throw e
  }
  return ''
}

describe('tier config', () => {
  it('behavior: require, grants (default [require]) and service (default: the route name, not stored)', () => {
    assert.deepEqual(route({ require: 'basic' }).tier, { require: 'basic', grants: ['basic'] })
    assert.deepEqual(route({ require: 'premium', grants: ['premium', 'basic'], service: 'llm' }).tier, { require: 'premium', grants: ['premium', 'basic'] })
    assert.equal(route({ service: 'llm' }).service, 'llm')
    assert.equal(route({}).service, undefined)
    assert.equal(route({}).tier, undefined)
  })
  it('error: bad tier settings are reported with their paths', () => {
    assert.match(issues({ require: 'a b' }), /^routes\[0\]\.require: must be a capability name/m)
    assert.match(issues({ grants: ['x'] }), /^routes\[0\]\.grants: needs require/m)
    assert.match(issues({ require: 'premium', grants: ['basic'] }), /^routes\[0\]\.grants: must include the required capability "premium"/m)
    assert.match(issues({ require: 'premium', grants: [] }), /^routes\[0\]\.grants: must be a non-empty list/m)
    assert.match(issues({ service: 'Bad Name' }), /^routes\[0\]\.service: must match/m)
  })
})

describe('capability tiers through the proxy', () => {
  let up: Awaited<ReturnType<typeof listen>>
  let g: Gateway
  before(async () => {
    up = await listen(echo)
    g = await startGateway({
      upstream: up.url,
      routes: [
        { name: 'basic', service: 'llm', path: '/basic/*', price: '10sat', access: 'pass:1h', require: 'basic' },
        { name: 'premium', service: 'llm', path: '/premium/*', price: '100sat', access: 'pass:1h', require: 'premium', grants: ['premium', 'basic'] },
        { name: 'solo', service: 'llm', path: '/solo/*', price: '100sat', access: 'pass:1h', require: 'premium' },
      ],
    })
  })
  after(async () => {
    await g?.close()
    await up?.close()
  })

  const status = async (path: string, cred: string): Promise<number> => {
    const r = await fetch(`${g.url}${path}`, { headers: { authorization: cred } })
    await r.body?.cancel()
    return r.status
  }

  it('behavior: the challenge mints the service and its capabilities, scoped to the whole service', async () => {
    const r = await fetch(`${g.url}/premium/x`)
    assert.equal(r.status, 402)
    const caveats = Macaroon.firstPartyCaveats(Macaroon.deserialize(((await r.json()) as { macaroon: string }).macaroon))
    for (const c of ['services=llm:0', 'path=/*', 'llm_capabilities=premium,basic']) assert.ok(caveats.includes(c), caveats.join(' '))
  })

  it('behavior: a cheap-tier token is refused (402) on the premium route and accepted on the cheap one', async () => {
    const basic = await buyCredential(g, `${g.url}/basic/x`)
    assert.equal(await status('/basic/a', basic), 200)
    assert.equal(await status('/premium/a', basic), 402)
    assert.equal(await status('/solo/a', basic), 402)
  })

  it('behavior: a premium token listing both capabilities works on both routes; one listing only premium does not reach basic', async () => {
    const premium = await buyCredential(g, `${g.url}/premium/x`)
    assert.equal(await status('/premium/a', premium), 200)
    assert.equal(await status('/basic/a', premium), 200)
    const solo = await buyCredential(g, `${g.url}/solo/x`)
    assert.equal(await status('/solo/a', solo), 200)
    assert.equal(await status('/premium/a', solo), 200, 'the premium capability is what premium requires')
    assert.equal(await status('/basic/a', solo), 402)
  })
})
