/** Credit bundles and revocation through a real proxy and upstream (in-process, memory or SQLite store). */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { buyCredential, listen, startGateway, type Gateway } from '../../test/harness.ts'
import * as Identifier from '../Identifier.ts'
import * as Macaroon from '../Macaroon.ts'
import { toHex } from '../internal/hex.ts'

/** Upstream: 500 for paths containing `fail`, else 200. */
const upstreamHandler = (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => {
  res.writeHead(req.url?.includes('fail') ? 500 : 200, { 'content-type': 'text/plain' }).end('ok')
}

const tokenIdOf = (cred: string): string => {
  const mac = cred.replace(/^L402 /, '').split(':')[0]!
  return toHex(Identifier.decode(Macaroon.deserialize(mac).identifier).tokenId)
}

describe('credit bundles through the proxy', () => {
  let up: Awaited<ReturnType<typeof listen>>
  let g: Gateway
  before(async () => {
    up = await listen(upstreamHandler)
    g = await startGateway({
      upstream: up.url,
      routes: [
        { name: 'bundle', path: '/bundle/*', price: '100sat', access: 'credits:5' },
        { name: 'wallet', path: '/wallet/*', price: '50sat', access: 'credits:50sat', cost: '20sat' },
        { name: 'once', path: '/once/*', price: '1sat' },
        { name: 'pass', path: '/pass/*', price: '1sat', access: 'pass:1h' },
      ],
    })
  })
  after(async () => {
    await g?.close()
    await up?.close()
  })

  it('behavior: the challenge mints the bundle size as a caveat, priced as the bundle', async () => {
    const res = await fetch(`${g.url}/bundle/a`)
    assert.equal(res.status, 402)
    const body = await res.json() as { macaroon: string }
    const caveats = Macaroon.firstPartyCaveats(Macaroon.deserialize(body.macaroon))
    assert.ok(caveats.includes('bundle_credits=5'), caveats.join(' '))
    assert.ok(caveats.includes('path=/bundle/*'), 'a bundle covers the whole route')
  })

  it('behavior: one payment buys N requests, each reporting X-Turnpike-Balance, then a fresh 402', async () => {
    const cred = await buyCredential(g, `${g.url}/bundle/x`)
    const balances = []
    for (let i = 0; i < 5; i++) {
      const r = await fetch(`${g.url}/bundle/item${i}`, { headers: { authorization: cred } })
      assert.equal(r.status, 200)
      await r.body?.cancel()
      balances.push(r.headers.get('x-turnpike-balance'))
    }
    assert.deepEqual(balances, ['4', '3', '2', '1', '0'])
    const empty = await fetch(`${g.url}/bundle/more`, { headers: { authorization: cred } })
    assert.equal(empty.status, 402, 'top up')
    const fresh = (await empty.json()) as { macaroon: string }
    assert.notEqual(fresh.macaroon, cred.slice(5).split(':')[0])
    // The top-up is a new bundle.
    const again = await buyCredential(g, `${g.url}/bundle/more`)
    const r = await fetch(`${g.url}/bundle/more`, { headers: { authorization: again } })
    assert.equal(r.status, 200)
    assert.equal(r.headers.get('x-turnpike-balance'), '4')
  })

  it('behavior: concurrent requests draw down exactly (5 credits, 20 at once → 5 allowed)', async () => {
    const cred = await buyCredential(g, `${g.url}/bundle/race`)
    const shots = await Promise.all(Array.from({ length: 20 }, async (_, i) => {
      const r = await fetch(`${g.url}/bundle/race${i}`, { headers: { authorization: cred } })
      await r.body?.cancel()
      return r.status
    }))
    assert.equal(shots.filter((s) => s === 200).length, 5, shots.join(','))
    assert.equal(shots.filter((s) => s === 402).length, 15)
  })

  it('behavior: an msat balance draws the route cost and reports msat', async () => {
    const cred = await buyCredential(g, `${g.url}/wallet/a`)
    const got = []
    for (let i = 0; i < 3; i++) {
      const r = await fetch(`${g.url}/wallet/a`, { headers: { authorization: cred } })
      await r.body?.cancel()
      got.push(`${r.status} ${r.headers.get('x-turnpike-balance')}`)
    }
    assert.deepEqual(got, ['200 30000msat', '200 10000msat', '402 null'])
  })

  it('behavior: an upstream 5xx refunds the draw-down', async () => {
    const cred = await buyCredential(g, `${g.url}/bundle/r`)
    const ok = await fetch(`${g.url}/bundle/ok`, { headers: { authorization: cred } })
    await ok.body?.cancel()
    assert.equal(ok.headers.get('x-turnpike-balance'), '4')
    for (let i = 0; i < 3; i++) {
      const f = await fetch(`${g.url}/bundle/fail`, { headers: { authorization: cred } })
      await f.body?.cancel()
      assert.equal(f.status, 500)
    }
    await new Promise((r) => setTimeout(r, 50)) // the refund runs after the response
    const r = await fetch(`${g.url}/bundle/ok`, { headers: { authorization: cred } })
    await r.body?.cancel()
    assert.equal(r.headers.get('x-turnpike-balance'), '3', 'the three failed draws came back')
  })

  it('error: an added larger bundle caveat never widens; an added smaller one narrows', async () => {
    const attenuated = async (caveat: string) => {
      const cred = await buyCredential(g, `${g.url}/bundle/f`)
      const [mac, preimage] = cred.slice(5).split(':') as [string, string]
      return `L402 ${Macaroon.serialize(Macaroon.attenuate(Macaroon.deserialize(mac), caveat))}:${preimage}`
    }
    const balance = async (cred: string) => {
      const r = await fetch(`${g.url}/bundle/f`, { headers: { authorization: cred } })
      await r.body?.cancel()
      return r.headers.get('x-turnpike-balance')
    }
    assert.equal(await balance(await attenuated('bundle_credits=1000')), '4')
    assert.equal(await balance(await attenuated('bundle_credits=1')), '0')
    assert.equal(await balance(await attenuated('bundle_credits=lots')), null, 'malformed: refused')
  })

  it('error: a credential of one priced route is refused on another', async () => {
    const once = await buyCredential(g, `${g.url}/once/a`)
    const bundle = await buyCredential(g, `${g.url}/bundle/a`)
    for (const [cred, other] of [[once, '/bundle/a'], [bundle, '/once/a'], [bundle, '/pass/a'], [once, '/wallet/a']] as const) {
      const r = await fetch(`${g.url}${other}`, { headers: { authorization: cred } })
      await r.body?.cancel()
      assert.equal(r.status, 402, `${other}`)
    }
    const r = await fetch(`${g.url}/bundle/a`, { headers: { authorization: bundle } })
    await r.body?.cancel()
    assert.equal(r.status, 200, 'and still works where it was bought')
  })

  it('behavior: a revoked token is refused within a second; others are not', async () => {
    const pass = await buyCredential(g, `${g.url}/pass/a`)
    const bundle = await buyCredential(g, `${g.url}/bundle/a`)
    const other = await buyCredential(g, `${g.url}/pass/b`)
    for (const c of [pass, bundle, other]) {
      const r = await fetch(`${g.url}${c === bundle ? '/bundle/a' : '/pass/a'}`, { headers: { authorization: c } })
      await r.body?.cancel()
      assert.equal(r.status, 200)
    }
    await g.rt.store.revoke!(tokenIdOf(pass), Date.now() + 3_600_000)
    await g.rt.store.revoke!(tokenIdOf(bundle), Date.now() + 3_600_000)
    await new Promise((r) => setTimeout(r, 1200))
    const statuses = await Promise.all([[pass, '/pass/a'], [bundle, '/bundle/a'], [other, '/pass/a']].map(async ([c, p]) => {
      const r = await fetch(`${g.url}${p}`, { headers: { authorization: c! } })
      await r.body?.cancel()
      return r.status
    }))
    assert.deepEqual(statuses, [402, 402, 200])
  })
})

describe('free allowance through the proxy', () => {
  let up: Awaited<ReturnType<typeof listen>>
  let g: Gateway
  before(async () => {
    up = await listen(upstreamHandler)
    g = await startGateway({ upstream: up.url, routes: [{ name: 'trial', path: '/trial/*', price: '5sat', freeAllowance: '3/1d' }] })
  })
  after(async () => {
    await g?.close()
    await up?.close()
  })

  it('behavior: N free requests per client, then 402; a credential still works after', async () => {
    const got = []
    for (let i = 0; i < 5; i++) {
      const r = await fetch(`${g.url}/trial/a`)
      await r.body?.cancel()
      got.push(`${r.status} ${r.headers.get('x-turnpike-free-remaining')}`)
    }
    assert.deepEqual(got, ['200 2', '200 1', '200 0', '402 null', '402 null'])
    const cred = await buyCredential(g, `${g.url}/trial/a`)
    const r = await fetch(`${g.url}/trial/a`, { headers: { authorization: cred } })
    await r.body?.cancel()
    assert.equal(r.status, 200)
  })

  it('error: a closed store asks for payment, never serves free', async () => {
    const g2 = await startGateway({ upstream: up.url, routes: [{ name: 'trial', path: '/trial/*', price: '5sat', freeAllowance: '3/1d' }] })
    try {
      await g2.rt.store.close()
      const r = await fetch(`${g2.url}/trial/a`)
      await r.body?.cancel()
      assert.notEqual(r.status, 200)
    } finally {
      await g2.close().catch(() => {})
    }
  })
})
