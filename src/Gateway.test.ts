import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import * as Config from './Config.ts'
import * as Gateway from './Gateway.ts'
import * as Macaroon from './Macaroon.ts'
import { TurnpikeError } from './Errors.ts'
import { fromRecord, type Decision, type Reply } from './RequestView.ts'
import type { Store } from './Store.ts'
import type { Backend } from './Lightning.ts'
import { dev } from './lightning/dev.ts'
import { memory } from './store/memory.ts'

const secret = new Uint8Array(32).fill(7)

function setup(o: { routes?: unknown[]; store?: Store; backend?: Backend; now?: () => number; challenge?: object } = {}) {
  const node = dev()
  const config = Config.parse({
    upstream: 'http://127.0.0.1:9',
    backend: 'dev',
    routes: o.routes ?? [
      { name: 'api', path: '/api/*', price: '10sat' },
      { name: 'pass', path: '/pass/*', price: '5sat', access: 'pass:1h' },
      { name: 'free', path: '/*', price: 0 },
    ],
    ...(o.challenge ? { challenge: o.challenge } : {}),
  })
  const gw = Gateway.create({ config, backend: o.backend ?? node, store: o.store ?? memory(), secret, ...(o.now ? { now: o.now } : {}) })
  return { gw, node }
}

const view = (method: string, path: string, headers: Record<string, string | string[]> = {}) =>
  fromRecord({ method, path, host: 'localhost:8402', headers })

function reply(d: Decision): Reply {
  assert.notEqual(d.kind, 'allow', 'expected a challenge or deny')
  return d as Reply
}

function challenge(d: Decision) {
  const r = reply(d)
  assert.equal(r.kind, 'challenge')
  assert.equal(r.status, 402)
  const auth = r.headers.filter(([k]) => k === 'www-authenticate').map(([, v]) => v)
  const m = /^L402 macaroon="([^"]+)", invoice="([^"]+)", version="0", token="([^"]+)"$/.exec(auth[0]!)
  assert.ok(m, `first line is the L402 challenge: ${auth[0]}`)
  assert.equal(m[3], m[1], 'token repeats the macaroon')
  return { macaroon: m[1]!, invoice: m[2]!, headers: r.headers, body: JSON.parse(r.body) as Record<string, unknown> }
}

async function buy(g: ReturnType<typeof setup>, method: string, path: string) {
  const c = challenge(await g.gw.decide(view(method, path)))
  const { preimage } = await g.node.pay(c.invoice)
  return { ...c, preimage, credential: `L402 ${c.macaroon}:${preimage}` }
}

describe('Gateway.decide', () => {
  it('behavior: an unpaid request gets a 402 with the L402 challenge, JSON body, no-store and CORS', async () => {
    const g = setup()
    const c = challenge(await g.gw.decide(view('GET', '/api/x')))
    assert.match(c.invoice, /^lnbcrt100n1/)
    const h = new Map(c.headers.map(([k, v]) => [k, v]))
    assert.equal(h.get('cache-control'), 'no-store')
    assert.match(h.get('access-control-expose-headers')!, /WWW-Authenticate/)
    assert.equal(c.body.invoice, c.invoice)
    assert.equal(c.body.macaroon, c.macaroon)
    assert.equal(c.body.amount_msat, 10_000)
    assert.match(String(c.body.payment_hash), /^[0-9a-f]{64}$/)
    assert.equal(typeof c.body.expires_at, 'number')
    assert.ok(Macaroon.serialize(Macaroon.deserialize(c.macaroon)) === c.macaroon, 'std base64 padded')
  })

  it('behavior: the LSAT compatibility line comes first when enabled', async () => {
    const g = setup({ challenge: { lsat: true, spec: false } })
    const r = reply(await g.gw.decide(view('GET', '/api/x')))
    const auth = r.headers.filter(([k]) => k === 'www-authenticate').map(([, v]) => v)
    assert.equal(auth.length, 2)
    assert.match(auth[0]!, /^LSAT macaroon="[^"]+", invoice="[^"]+"$/)
    assert.match(auth[1]!, /^L402 macaroon="[^"]+", invoice="[^"]+"$/)
  })

  it('behavior: a paid credential is allowed once; the replay gets a fresh 402', async () => {
    const g = setup()
    const b = await buy(g, 'GET', '/api/x')
    const d = await g.gw.decide(view('GET', '/api/x', { authorization: b.credential }))
    assert.equal(d.kind, 'allow')
    assert.equal(d.kind === 'allow' && d.reason, 'paid')
    assert.ok(d.kind === 'allow' && d.claim)
    const again = challenge(await g.gw.decide(view('GET', '/api/x', { authorization: b.credential })))
    assert.notEqual(again.invoice, b.invoice, 'a fresh invoice')
  })

  it('behavior: the credential is bound to its path and method', async () => {
    const g = setup()
    const b = await buy(g, 'GET', '/api/x')
    challenge(await g.gw.decide(view('GET', '/api/y', { authorization: b.credential })))
    challenge(await g.gw.decide(view('POST', '/api/x', { authorization: b.credential })))
    assert.equal((await g.gw.decide(view('GET', '/api/x', { authorization: b.credential }))).kind, 'allow')
  })

  it('error: wrong preimage, tampered macaroon and another route are challenged again', async () => {
    const g = setup()
    const b = await buy(g, 'GET', '/api/x')
    const wrong = `L402 ${b.macaroon}:${'00'.repeat(32)}`
    challenge(await g.gw.decide(view('GET', '/api/x', { authorization: wrong })))
    const m = Macaroon.deserialize(b.macaroon)
    const tampered = Macaroon.serialize({ ...m, signature: m.signature.map((x, i) => (i === 0 ? x ^ 1 : x)) })
    challenge(await g.gw.decide(view('GET', '/api/x', { authorization: `L402 ${tampered}:${b.preimage}` })))
    // A widening client caveat does not help; a narrowing one still verifies.
    const widened = Macaroon.serialize(Macaroon.attenuate(m, 'path=/*'))
    challenge(await g.gw.decide(view('GET', '/api/x', { authorization: `L402 ${widened}:${b.preimage}` })))
    const narrowed = Macaroon.serialize(Macaroon.attenuate(m, 'method=GET'))
    assert.equal((await g.gw.decide(view('GET', '/api/x', { authorization: `L402 ${narrowed}:${b.preimage}` }))).kind, 'allow')
  })

  it('behavior: lenient parsing — LSAT scheme, lower case, url-safe base64, upper-case hex, several lines', async () => {
    const g = setup()
    for (const form of [
      (m: string, p: string) => ({ authorization: `LSAT ${m}:${p}` }),
      (m: string, p: string) => ({ authorization: `lsat ${m.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')}:${p.toUpperCase()}` }),
      (m: string, p: string) => ({ authorization: ['Bearer abc', `L402 ${m}:${p}`] }),
      (m: string, p: string) => ({ authorization: `LSAT ${m}:${p}, L402 ${m}:${p}` }),
    ]) {
      const b = await buy(g, 'GET', '/api/x')
      const d = await g.gw.decide(view('GET', '/api/x', form(b.macaroon, b.preimage)))
      assert.equal(d.kind, 'allow', JSON.stringify(form('M', 'P')))
    }
  })

  it('behavior: Aperture hex carrier with a preimage caveat is accepted', async () => {
    const g = setup()
    const b = await buy(g, 'GET', '/api/x')
    const withPreimage = Macaroon.attenuate(Macaroon.deserialize(b.macaroon), `preimage=${b.preimage}`)
    const hex = Buffer.from(Macaroon.encode(withPreimage)).toString('hex')
    assert.equal((await g.gw.decide(view('GET', '/api/x', { macaroon: hex }))).kind, 'allow')
  })

  it('error: a malformed credential gets a clear 400 problem', async () => {
    const g = setup()
    const r = reply(await g.gw.decide(view('GET', '/api/x', { authorization: 'L402 !!!notbase64:zz' })))
    assert.equal(r.status, 400)
    assert.equal(JSON.parse(r.body).code, 'TURNPIKE_CREDENTIAL_MALFORMED')
  })

  it('behavior: OPTIONS is never challenged; free routes pass; unknown routes are 404', async () => {
    const g = setup({ routes: [{ name: 'api', path: '/api/*', price: '1sat' }, { name: 'health', path: '/health', price: 0 }] })
    assert.equal((await g.gw.decide(view('OPTIONS', '/api/x'))).kind, 'allow')
    assert.equal((await g.gw.decide(view('GET', '/health'))).kind, 'allow')
    assert.equal(reply(await g.gw.decide(view('GET', '/other'))).status, 404)
  })

  it('behavior: paths are normalised before matching, so dot segments cannot dodge a price', async () => {
    const g = setup()
    challenge(await g.gw.decide(view('GET', '/free/../api/x')))
    challenge(await g.gw.decide(view('GET', '//api//x')))
    assert.equal(reply(await g.gw.decide(view('GET', '/api%2fx'))).status, 400)
  })

  it('behavior: a pass is reusable on its route until it expires', async () => {
    let t = Date.now()
    const g = setup({ now: () => t })
    const b = await buy(g, 'GET', '/pass/a')
    for (const p of ['/pass/a', '/pass/b', '/pass/a']) {
      assert.equal((await g.gw.decide(view('GET', p, { authorization: b.credential }))).kind, 'allow', p)
    }
    challenge(await g.gw.decide(view('GET', '/api/a', { authorization: b.credential })))
    t += 3601_000
    challenge(await g.gw.decide(view('GET', '/pass/a', { authorization: b.credential })))
  })

  /** A gateway with its own key (spoilable in place) and a paid credential for `path`. */
  async function paidLine(routes: unknown[], path: string) {
    const key = new Uint8Array(32).fill(9)
    const node = dev()
    const config = Config.parse({ upstream: 'http://127.0.0.1:9', backend: 'dev', routes })
    const gw = Gateway.create({ config, backend: node, store: memory(), secret: key })
    const c = challenge(await gw.decide(view('GET', path)))
    const { preimage } = await node.pay(c.invoice)
    return { key, gw, macaroon: c.macaroon, preimage, line: `L402 ${c.macaroon}:${preimage}` }
  }

  it('behavior: a pass credential is verified once, then remembered by its exact Authorization line', async () => {
    const routes = [{ name: 'pass', path: '/pass/*', price: '5sat', access: 'pass:1h' }, { name: 'other', path: '/other/*', price: '5sat', access: 'pass:1h' }]
    const { key, gw, macaroon, preimage, line } = await paidLine(routes, '/pass/a')
    assert.equal((await gw.decide(view('GET', '/pass/a', { authorization: line }))).kind, 'allow')
    // Spoil the key in place: only the remembered line still passes, proving the HMAC chain is not
    // re-run for it, while any other spelling of the same credential is verified afresh and fails.
    key.fill(1)
    assert.equal((await gw.decide(view('GET', '/pass/b', { authorization: line }))).kind, 'allow')
    challenge(await gw.decide(view('GET', '/pass/a', { authorization: `LSAT ${macaroon}:${preimage}` })))
    challenge(await gw.decide(view('GET', '/pass/a', { authorization: `L402 ${macaroon}:${preimage.toUpperCase()}` })))
    // Caveats are still checked on every remembered use: another service's route is refused.
    challenge(await gw.decide(view('GET', '/other/a', { authorization: line })))
    // The same line sent twice takes the full path (and here fails on the spoiled key).
    challenge(await gw.decide(view('GET', '/pass/a', { authorization: [line, line] })))
  })

  it('behavior: an over-long line (a token padded with client caveats) is verified every time', async () => {
    const { key, gw, macaroon, preimage } = await paidLine([{ name: 'pass', path: '/pass/*', price: '5sat', access: 'pass:1h' }], '/pass/a')
    const padded = Macaroon.serialize(Macaroon.attenuate(Macaroon.deserialize(macaroon), `note=${'x'.repeat(2_000)}`))
    const line = `L402 ${padded}:${preimage}`
    assert.ok(line.length > 2_048)
    assert.equal((await gw.decide(view('GET', '/pass/a', { authorization: line }))).kind, 'allow')
    key.fill(1)
    challenge(await gw.decide(view('GET', '/pass/a', { authorization: line })))
  })

  it('behavior: per-request credentials are not remembered (the claim decides every reuse)', async () => {
    const { key, gw, line } = await paidLine([{ name: 'api', path: '/api/*', price: '5sat' }], '/api/a')
    assert.equal((await gw.decide(view('GET', '/api/a', { authorization: line }))).kind, 'allow')
    key.fill(1)
    assert.ok(challenge(await gw.decide(view('GET', '/api/a', { authorization: line }))).invoice)
  })

  it('error: store down → 503 with Retry-After, never allow; backend down → 503', async () => {
    const down = new TurnpikeError('TURNPIKE_STORE_UNAVAILABLE', 'down', { retryAfter: 1 })
    const base = memory()
    const broken: Store = { ...base, name: 'broken', claim: () => Promise.reject(down), putInvoice: () => Promise.reject(down) }
    const g = setup({ store: broken })
    const b = await buy(g, 'GET', '/api/x')
    const r = reply(await g.gw.decide(view('GET', '/api/x', { authorization: b.credential })))
    assert.equal(r.status, 503)
    assert.ok(r.headers.some(([k]) => k === 'retry-after'))
    assert.equal(JSON.parse(r.body).code, 'TURNPIKE_STORE_UNAVAILABLE')

    const node = dev()
    const deadBackend: Backend = { ...node, name: 'dead', createInvoice: () => Promise.reject(new Error('ECONNREFUSED 10.0.0.1')) }
    const g2 = setup({ backend: deadBackend })
    const r2 = reply(await g2.gw.decide(view('GET', '/api/x')))
    assert.equal(r2.status, 503)
    assert.ok(r2.headers.some(([k]) => k === 'retry-after'))
    assert.doesNotMatch(r2.body, /ECONNREFUSED|10\.0\.0\.1/, 'driver detail never reaches the client')
  })

  it('behavior: a released claim can be redeemed again', async () => {
    const g = setup()
    const b = await buy(g, 'GET', '/api/x')
    const d = await g.gw.decide(view('GET', '/api/x', { authorization: b.credential }))
    assert.ok(d.kind === 'allow' && d.claim)
    await g.gw.release(d.claim)
    assert.equal((await g.gw.decide(view('GET', '/api/x', { authorization: b.credential }))).kind, 'allow')
  })

  it('behavior: concurrent redemptions of one credential let exactly one through', async () => {
    const g = setup()
    const b = await buy(g, 'GET', '/api/x')
    const ds = await Promise.all(Array.from({ length: 20 }, () => g.gw.decide(view('GET', '/api/x', { authorization: b.credential }))))
    assert.equal(ds.filter((d) => d.kind === 'allow').length, 1)
  })
})
