/**
 * Cashu NUT-24 end to end: turnpike in front of an upstream, a loopback mint speaking the NUT HTTP
 * API, and `@cashu/cashu-ts`'s wallet as the paying client (mint quote, mint, send with an optional
 * P2PK lock and DLEQ, V4/V3 tokens). Both modes: swap (online) and p2pk (offline).
 */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { CashuMint, CashuWallet, decodePaymentRequest, getEncodedToken, getEncodedTokenV4 } from '@cashu/cashu-ts'
import * as Cashu from '../src/Cashu.ts'
import * as Config from '../src/Config.ts'
import * as Crypto from '../src/cashu/crypto.ts'
import * as Token from '../src/cashu/token.ts'
import { memory } from '../src/store/memory.ts'
import { echo, listen, startGateway, type Gateway } from './harness.ts'
import { startCashuMint, type Sim } from './simulators/cashu-mint.ts'

type Proof = Awaited<ReturnType<CashuWallet['mintProofs']>>[number]
type Wallet = { wallet: CashuWallet; proofs: Proof[] }
/** The parts of a decoded NUT-18 request a payer uses. */
type Req = { amount?: number | undefined; mints?: string[] | undefined; nut10?: { kind: string; data: string } | undefined }

async function fundedWallet(sim: Sim, amount = 512): Promise<Wallet> {
  const wallet = new CashuWallet(new CashuMint(sim.url), { unit: 'sat' })
  await wallet.loadMint()
  const q = await wallet.createMintQuote(amount)
  return { wallet, proofs: await wallet.mintProofs(amount, q.quote) }
}

/** Takes `amount` out of the wallet as a token answering a NUT-18 request (locked when it asks). */
async function tokenFor(w: Wallet, req: Req, o: { version?: 3 | 4; amount?: number; noDleq?: boolean; pubkey?: string; locktime?: number } = {}): Promise<string> {
  const pubkey = o.pubkey ?? (req.nut10?.kind === 'P2PK' ? req.nut10.data : undefined)
  // cashu-ts 2.x `send` hands over exactly matching proofs as they are, lock or not; `swap` always
  // asks the mint for new (here: locked) proofs.
  const amount = o.amount ?? req.amount!
  const { send, keep } = pubkey
    ? await w.wallet.swap(amount, w.proofs, { p2pk: { pubkey, ...(o.locktime ? { locktime: o.locktime } : {}) } })
    : await w.wallet.send(amount, w.proofs, { includeDleq: !o.noDleq })
  w.proofs = keep
  const proofs = o.noDleq ? send.map(({ dleq: _d, ...p }: Proof) => p) : send
  const token = { mint: req.mints![0]!, proofs, unit: 'sat' }
  return o.version === 3 ? getEncodedToken(token, { version: 3 }) : getEncodedTokenV4(token)
}

async function challenge(url: string) {
  const res = await fetch(url)
  assert.equal(res.status, 402)
  await res.body?.cancel()
  const x = res.headers.get('x-cashu')
  assert.match(x ?? '', /^creqA/)
  return { res, req: decodePaymentRequest(x!) }
}

const send = (url: string, token: string, carrier: 'x-cashu' | 'authorization' = 'x-cashu') =>
  fetch(url, { headers: carrier === 'x-cashu' ? { 'x-cashu': token } : { authorization: `Cashu ${token}` } })

function received(g: Gateway): Cashu.Received[] {
  try {
    return readFileSync(join(g.dir.path, 'cashu', 'received.jsonl'), 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Cashu.Received)
  } catch {
    return []
  }
}

describe('Cashu NUT-24', () => {
  let upstream: Awaited<ReturnType<typeof listen>>
  let sim: Sim
  let other: Sim
  let hits = 0
  const routes = [
    { name: 'cashu', path: '/cashu/*', price: '10sat', schemes: ['cashu'] },
    { name: 'all', path: '/all/*', price: '21sat', schemes: ['l402', 'payment', 'cashu', 'x402'] },
  ]

  before(async () => {
    upstream = await listen((req, res) => {
      hits++
      echo(req, res)
    })
    sim = await startCashuMint()
    other = await startCashuMint({ seed: 'another mint' })
  })
  after(async () => {
    await upstream.close()
    await sim.close()
    await other.close()
  })

  describe('swap mode', () => {
    let g: Gateway
    let w: Wallet
    before(async () => {
      g = await startGateway({ upstream: upstream.url, routes, cashu: { mints: [sim.url + '/'], mode: 'swap' } })
      w = await fundedWallet(sim)
    })
    after(() => g.close())

    it('behavior: the 402 carries a creqA request for the price and the listed mints, no lock', async () => {
      const { req } = await challenge(`${g.url}/cashu/x`)
      assert.equal(req.amount, 10)
      assert.equal(req.unit, 'sat')
      assert.deepEqual(req.mints, [sim.url])
      assert.equal(req.singleUse, true)
      assert.equal(req.nut10, undefined)
    })

    it('behavior: a V4 token pays: swapped at the mint once, recorded, never forwarded', async () => {
      const { req } = await challenge(`${g.url}/cashu/x`)
      const token = await tokenFor(w, req)
      const swaps = sim.swaps
      const h = hits
      const res = await send(`${g.url}/cashu/x`, token)
      assert.equal(res.status, 200)
      const seen = (await res.json()) as { headers: Record<string, string> }
      assert.equal(seen.headers['x-cashu'], undefined)
      assert.equal(sim.swaps, swaps + 1)
      assert.equal(hits, h + 1)
      const last = received(g).at(-1)!
      assert.equal(last.kind, 'swapped')
      assert.equal(last.proofs.reduce((a, p) => a + p.amount, 0), 10)
      // The gateway now holds fresh, unspent proofs of this mint.
      for (const p of last.proofs) {
        assert.ok(!sim.spent.has(Crypto.proofY(p.secret).toHex(true)))
      }
    })

    it('behavior: V3 tokens and the legacy Authorization: Cashu carrier are accepted', async () => {
      const { req } = await challenge(`${g.url}/cashu/v3`)
      const res = await send(`${g.url}/cashu/v3`, await tokenFor(w, req, { version: 3 }), 'authorization')
      assert.equal(res.status, 200)
      await res.body?.cancel()
    })

    it('error: a replayed token is refused with 400 and never reaches the upstream', async () => {
      const { req } = await challenge(`${g.url}/cashu/r`)
      const token = await tokenFor(w, req)
      const ok = await send(`${g.url}/cashu/r`, token)
      assert.equal(ok.status, 200)
      await ok.body?.cancel()
      const h = hits
      const again = await send(`${g.url}/cashu/r`, token)
      assert.equal(again.status, 400)
      const p = (await again.json()) as { code: string; detail: string }
      assert.equal(p.code, 'TURNPIKE_CASHU_TOKEN_REJECTED')
      assert.match(p.detail, /already used/)
      assert.equal(hits, h)
    })

    it('error: a token the payer spent elsewhere first is refused by the mint → 400', async () => {
      const { req } = await challenge(`${g.url}/cashu/s`)
      const token = await tokenFor(w, req)
      await w.wallet.receive(token) // the payer double-spends it at the mint
      const res = await send(`${g.url}/cashu/s`, token)
      assert.equal(res.status, 400)
      assert.match(((await res.json()) as { detail: string }).detail, /already spent/i)
    })

    it('error: foreign mint, too little, too much, wrong unit and garbage are 400 without a swap', async () => {
      const { req } = await challenge(`${g.url}/cashu/e`)
      const foreign = await fundedWallet(other, 64)
      const cases = [
        await tokenFor(foreign, { ...req, mints: [other.url] }),
        await tokenFor(w, req, { amount: 9 }),
        await tokenFor(w, req, { amount: 11 }),
        Token.encodeV4({ ...Token.decode(await tokenFor(w, req)), unit: 'usd' }),
        'cashuBnotatoken',
      ]
      const swaps = sim.swaps
      for (const t of cases) {
        const res = await send(`${g.url}/cashu/e`, t)
        assert.equal(res.status, 400, t.slice(0, 20))
        assert.equal(((await res.json()) as { code: string }).code, 'TURNPIKE_CASHU_TOKEN_REJECTED')
      }
      assert.equal(sim.swaps, swaps)
    })

    it('error: a mint that is down gives 502 + Retry-After', async () => {
      const { req } = await challenge(`${g.url}/cashu/d`)
      const token = await tokenFor(w, req)
      sim.down = true
      try {
        const res = await send(`${g.url}/cashu/d`, token)
        assert.equal(res.status, 502)
        assert.equal(res.headers.get('retry-after'), '5')
        assert.equal(((await res.json()) as { code: string }).code, 'TURNPIKE_CASHU_MINT_UNAVAILABLE')
      } finally {
        sim.down = false
      }
    })

    it('behavior: one 402 on a route with every scheme shows every challenge for one price', async () => {
      const res = await fetch(`${g.url}/all/x`)
      assert.equal(res.status, 402)
      const body = (await res.json()) as { invoice: string; amount_msat: number }
      const www = res.headers.get('www-authenticate')!
      assert.match(www, /^L402 macaroon="[^"]+", invoice="([^"]+)".*, Payment id="/)
      assert.equal(/invoice="([^"]+)"/.exec(www)![1], body.invoice)
      assert.equal(decodePaymentRequest(res.headers.get('x-cashu')!).amount, 21)
      const x402 = JSON.parse(Buffer.from(res.headers.get('payment-required')!, 'base64').toString()) as { accepts: { extra: { invoice: string } }[] }
      assert.equal(x402.accepts[0]!.extra.invoice, body.invoice)
      assert.equal(body.amount_msat, 21_000)
      assert.match(res.headers.get('access-control-expose-headers')!, /X-Cashu/)
    })
  })

  describe('p2pk mode (offline)', () => {
    let g: Gateway
    let w: Wallet
    let pubkey: string
    before(async () => {
      g = await startGateway({ upstream: upstream.url, routes, cashu: { mints: [sim.url], mode: 'p2pk', lockHorizon: '1d' } })
      w = await fundedWallet(sim)
      pubkey = (await challenge(`${g.url}/cashu/k`)).req.nut10!.data
    })
    after(() => g.close())

    it('behavior: the request asks for a P2PK lock to the gateway key; a locked token with DLEQ pays without a mint round-trip', async () => {
      const { req } = await challenge(`${g.url}/cashu/x`)
      assert.equal(req.nut10?.kind, 'P2PK')
      assert.match(req.nut10!.data, /^0[23][0-9a-f]{64}$/)
      const token = await tokenFor(w, req)
      // Warm the key cache, then count mint traffic during the paid request.
      const warm = await send(`${g.url}/cashu/x`, await tokenFor(w, req))
      assert.equal(warm.status, 200)
      await warm.body?.cancel()
      const before = sim.requests.length
      const swaps = sim.swaps
      const res = await send(`${g.url}/cashu/x`, token)
      assert.equal(res.status, 200)
      await res.body?.cancel()
      assert.equal(sim.requests.length, before, 'no mint request on the paid path')
      assert.equal(sim.swaps, swaps)
      const last = received(g).at(-1)!
      assert.equal(last.kind, 'p2pk-locked')
      assert.deepEqual(last.proofs.map((p) => p.secret), Token.decode(token).proofs.map((p) => p.secret))
    })

    it('error: concurrent submissions of one token pass exactly once; a replay is refused', async () => {
      const { req } = await challenge(`${g.url}/cashu/c`)
      const token = await tokenFor(w, req)
      const results = await Promise.all(Array.from({ length: 6 }, () => send(`${g.url}/cashu/c`, token)))
      const statuses = results.map((r) => r.status).sort()
      const bodies = await Promise.all(results.map((r) => r.text()))
      assert.deepEqual(statuses, [200, 400, 400, 400, 400, 400], bodies.join('\n'))
    })

    it('error: unlocked, locked to another key, short locktime, no DLEQ and forged proofs are refused', async () => {
      const { req } = await challenge(`${g.url}/cashu/f`)
      const unlocked = await tokenFor(w, { ...req, nut10: undefined })
      const otherKey = await tokenFor(w, req, { pubkey: Crypto.publicKey(99n) })
      const soon = await tokenFor(w, req, { locktime: Math.floor(Date.now() / 1000) + 60 })
      const noDleq = await tokenFor(w, req, { noDleq: true })
      const good = Token.decode(await tokenFor(w, req))
      // Forge: a different C for the same secret (not the mint's signature) keeps its DLEQ fields.
      const forged = Token.encodeV4({ ...good, proofs: good.proofs.map((p) => ({ ...p, C: Crypto.point(p.C).add(Crypto.point(Crypto.publicKey(1n))).toHex(true) })) })
      const cases: [string, RegExp][] = [
        [unlocked, /P2PK-locked/],
        [otherKey, /other than the gateway key|P2PK-locked/],
        [soon, /expires too soon/],
        [noDleq, /DLEQ/],
        [forged, /DLEQ/],
      ]
      const h = hits
      for (const [t, why] of cases) {
        const res = await send(`${g.url}/cashu/f`, t)
        assert.equal(res.status, 400)
        assert.match(((await res.json()) as { detail: string }).detail, why)
      }
      assert.equal(hits, h)
      // A far locktime is fine.
      const far = await send(`${g.url}/cashu/f`, await tokenFor(w, req, { locktime: Math.floor(Date.now() / 1000) + 30 * 86400 }))
      assert.equal(far.status, 200)
      await far.body?.cancel()
      assert.equal(pubkey, req.nut10!.data)
    })

    it('behavior: redeem swaps locked proofs for unlocked ones with the derived key', async () => {
      const secret = new Uint8Array(32).fill(42)
      const records: Cashu.Received[] = []
      const acceptor = Cashu.create({ config: { mints: [sim.url], mode: 'p2pk', lockHorizonSeconds: 0, timeoutMs: 5000 }, secret, store: memory({ pruneIntervalMs: 0 }), sink: async (r) => void records.push(r) })
      const req = decodePaymentRequest(acceptor.request({ amountSat: 16n }))
      assert.equal(req.nut10!.data, acceptor.pubkey)
      const outcome = await acceptor.accept(await tokenFor(w, req), { name: 'r', priceMsat: 16_000n })
      assert.equal(outcome.ok, true, JSON.stringify(outcome))
      const locked = records[0]!.proofs
      const swaps = sim.swaps
      const fresh = await acceptor.redeem(sim.url, locked)
      assert.equal(sim.swaps, swaps + 1)
      assert.equal(fresh.reduce((a, p) => a + p.amount, 0), 16)
      assert.equal(records[1]!.kind, 'redeemed')
      // The locked proofs are now spent at the mint; the fresh ones are plain secrets.
      for (const p of locked) assert.ok(sim.spent.has(Crypto.proofY(p.secret).toHex(true)))
      for (const p of fresh) assert.match(p.secret, /^[0-9a-f]{64}$/)
    })
  })

  it('error: a route offering cashu needs a cashu block with mints', () => {
    const base = { upstream: 'http://127.0.0.1:9', backend: 'dev' }
    assert.throws(() => Config.parse({ ...base, routes: [{ path: '/*', price: '1sat', schemes: ['cashu'] }] }), /cashu: a route offers the cashu scheme/)
    assert.throws(() => Config.parse({ ...base, routes: [{ path: '/*', price: '1sat', schemes: ['cashu'] }], cashu: { mints: ['ftp://x'], mode: 'fast' } }), /cashu\.mints\[0\][\s\S]*cashu\.mode/)
    const c = Config.parse({ ...base, routes: [{ path: '/*', price: '1sat', schemes: ['cashu'] }], cashu: { mints: ['https://mint.example.com/'] } })
    assert.deepEqual(c.cashu, { mints: ['https://mint.example.com'], mode: 'swap', lockHorizonSeconds: 604800, timeoutMs: 10000 })
  })
})
