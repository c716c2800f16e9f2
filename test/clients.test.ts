/**
 * Real npm L402 clients against the in-process gateway (clients.md §1–2, §5).
 *
 * Each client library does the whole flow itself: reads our 402 challenge, calls a wallet we supply
 * (which pays through the gateway's dev node), retries with its own `Authorization` header and gets
 * the upstream's 200. We assert on what went over the wire: the requests the gateway saw (with the
 * scheme each client sent back), the payments the wallet made and the requests the upstream saw.
 *
 * Clients: `@getalby/lightning-tools` 9.x (`fetch402`, `fetchWithL402`), 5.x (npm alias `lt5`),
 * `lsat-js` 2.x (a parsing library: we drive fetch, it does every L402 part), and sulu's `l402`
 * (axios interceptor, with the axios it depends on). Challenge variants: `default`
 * (`L402 macaroon=…, invoice=…, version="0", token=…`), `lsat` (leading `LSAT` line) and `plain`
 * (`spec: false`, no version/token suffix).
 */
import assert from 'node:assert/strict'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { after, before, describe, it, type TestContext } from 'node:test'
import { fileURLToPath } from 'node:url'
import { fetch402, fetchWithL402, type PaidResponse } from '@getalby/lightning-tools'
import { setupL402Interceptor, MemoryTokenStore, PaymentResult, Wallet } from 'l402'
import { Lsat } from 'lsat-js'
import * as lt5Module from 'lt5'
import { echo, listen, startGateway, type Gateway } from './harness.ts'

// sulu's interceptor is meant for an instance of the axios it depends on: load exactly that copy
// (CommonJS, as l402 itself requires it; typed as the instance l402's declarations expect).
type AxiosInstance = Parameters<typeof setupL402Interceptor>[0]
const axios: { create(config: { timeout: number }): AxiosInstance } = createRequire(fileURLToPath(import.meta.resolve('l402')))('axios')

// lt5 (lightning-tools 5.2.1) ships extensionless relative re-exports in dist/index.d.ts, which
// NodeNext resolution cannot follow; these are its declarations from dist/l402/l402.d.ts.
type LtStore = { getItem(key: string): unknown; setItem(key: string, value: unknown): void }
type WebLN = { enable(): Promise<void>; sendPayment(invoice: string): Promise<{ preimage: string }> }
const lt5 = lt5Module as unknown as {
  fetchWithL402(url: string, fetchArgs: RequestInit, options: { headerKey?: string; webln?: WebLN; store?: LtStore }): Promise<Response>
  MemoryStorage: new (initial?: Record<string, unknown>) => LtStore
}

type Variant = 'default' | 'lsat' | 'plain'
type Network = 'regtest' | 'mainnet'
type Scheme = 'L402' | 'LSAT'

const CHALLENGE: Record<Variant, Record<string, unknown>> = {
  default: {},
  lsat: { lsat: true },
  plain: { spec: false },
}

const PARAMS = String.raw`macaroon="([A-Za-z0-9+/]+=*)", invoice="(lnbc[0-9a-z]+)"`
/** The exact `WWW-Authenticate` lines each variant must put on the wire, in order. */
const LINES: Record<Variant, RegExp[]> = {
  default: [new RegExp(String.raw`^L402 ${PARAMS}, version="0", token="([A-Za-z0-9+/]+=*)"$`)],
  lsat: [new RegExp(String.raw`^LSAT ${PARAMS}$`), new RegExp(String.raw`^L402 ${PARAMS}, version="0", token="([A-Za-z0-9+/]+=*)"$`)],
  plain: [new RegExp(String.raw`^L402 ${PARAMS}$`)],
}

/** The scheme each client sends back per variant (clients.md §2, second table). */
const EXPECTED: Record<string, Record<Variant, Scheme>> = {
  'alby9 fetch402': { default: 'L402', lsat: 'LSAT', plain: 'L402' },
  'alby9 fetchWithL402': { default: 'L402', lsat: 'LSAT', plain: 'L402' },
  'alby5 fetchWithL402': { default: 'L402', lsat: 'L402', plain: 'L402' },
  'lsat-js': { default: 'LSAT', lsat: 'LSAT', plain: 'LSAT' },
  'sulu l402': { default: 'L402', lsat: 'LSAT', plain: 'L402' },
}

/** One request as the gateway saw it. */
type Hit = { method: string; path: string; auth: string[]; status?: number; challenge: string[] }

type Rig = { g: Gateway; url: string; hits: Hit[] }

const ROUTES = [
  { name: 'paid', path: '/paid/*', price: '10sat', access: 'per-request' },
  { name: 'pass', path: '/pass/*', price: '10sat', access: 'pass:1h' },
]

let upstream: Awaited<ReturnType<typeof listen>>
const upstreamHits = new Map<string, number>()
const rigs = new Map<string, Promise<Rig>>()

/** Records every request the gateway receives and the status and challenge lines it answers with. */
function record(g: Gateway): Hit[] {
  const hits: Hit[] = []
  g.proxy.server.prependListener('request', (req: IncomingMessage, res: ServerResponse) => {
    const hit: Hit = { method: req.method ?? '', path: req.url ?? '', auth: req.headersDistinct.authorization ?? [], challenge: [] }
    hits.push(hit)
    const writeHead = res.writeHead
    // Every response (explicit or implicit headers) goes through writeHead: note status + challenge.
    res.writeHead = function (this: ServerResponse, status: number, ...rest: unknown[]) {
      hit.status = status
      for (const h of rest) {
        if (Array.isArray(h)) {
          for (let i = 0; i + 1 < h.length; i += 2) if (String(h[i]).toLowerCase() === 'www-authenticate') hit.challenge.push(String(h[i + 1]))
        } else if (h && typeof h === 'object') {
          for (const [k, v] of Object.entries(h)) if (k.toLowerCase() === 'www-authenticate') hit.challenge.push(...[v].flat().map(String))
        }
      }
      return (writeHead as (...a: unknown[]) => ServerResponse).call(this, status, ...rest)
    } as typeof res.writeHead
  })
  return hits
}

/** One gateway per (variant, network), created on first use and shared by the tests. */
function rig(variant: Variant, network: Network = 'regtest'): Promise<Rig> {
  const key = `${variant}/${network}`
  let r = rigs.get(key)
  if (!r) {
    r = startGateway({
      upstream: upstream.url,
      backend: { type: 'dev', network },
      challenge: CHALLENGE[variant],
      routes: ROUTES,
    }).then((g) => ({ g, url: g.url, hits: record(g) }))
    rigs.set(key, r)
  }
  return r
}

/** A wallet that pays through the dev node and refuses more than `max` payments. */
function devWallet(g: Gateway, max = 3) {
  const invoices: string[] = []
  return {
    invoices,
    async pay(invoice: string): Promise<{ preimage: string }> {
      if (invoices.length >= max) throw new Error(`test wallet: refusing payment #${invoices.length + 1} (cap ${max})`)
      invoices.push(invoice)
      const { preimage } = await g.rt.devNode!.pay(invoice)
      return { preimage }
    },
  }
}

function schemeOf(line: string): string {
  return /^(\S+)/.exec(line)?.[1] ?? ''
}

function hitsFor(r: Rig, path: string): Hit[] {
  return r.hits.filter((h) => h.path === path)
}

/** Checks the challenge lines of a 402 against the variant and returns its invoice. */
function assertChallenge(hit: Hit, variant: Variant): string {
  assert.equal(hit.status, 402)
  const want = LINES[variant]
  assert.equal(hit.challenge.length, want.length, `challenge lines: ${JSON.stringify(hit.challenge)}`)
  let invoice = ''
  hit.challenge.forEach((line, i) => {
    const m = want[i]!.exec(line)
    assert.ok(m, `line ${i} of ${variant}: ${line}`)
    if (m[3] !== undefined) assert.equal(m[3], m[1], 'token= repeats macaroon=')
    invoice ||= m[2]!
    assert.equal(m[2], invoice, 'every line carries the same invoice')
  })
  return invoice
}

/** The upstream's echo of the paid request: right path, and no payment credential forwarded. */
function assertEcho(body: unknown, path: string): void {
  const b = body as { method: string; url: string; headers: Record<string, string> }
  assert.equal(b.method, 'GET')
  assert.equal(b.url, path)
  assert.equal(b.headers.authorization, undefined, 'credential must not reach the upstream')
}

/**
 * The common shape of one paid request: the gateway saw exactly [unauthenticated → 402 with the
 * variant's challenge, one Authorization line with `scheme` → 200], the wallet paid exactly that
 * invoice once, and the upstream saw exactly one request. Returns the scheme sent, for the report.
 */
function assertOnePaidRequest(t: TestContext, r: Rig, path: string, variant: Variant, invoices: string[], client: string): Scheme {
  const hits = hitsFor(r, path)
  assert.equal(hits.length, 2, `gateway requests for ${path}: ${JSON.stringify(hits.map((h) => [h.auth.map(schemeOf), h.status]))}`)
  const [first, second] = hits as [Hit, Hit]
  assert.deepEqual(first.auth, [])
  const invoice = assertChallenge(first, variant)
  assert.deepEqual(invoices, [invoice], 'paid exactly once, the invoice of the challenge')
  assert.equal(second.auth.length, 1, `Authorization lines: ${JSON.stringify(second.auth)}`)
  const scheme = schemeOf(second.auth[0]!)
  assert.equal(second.status, 200)
  assert.equal(upstreamHits.get(path), 1, 'upstream saw exactly one request')
  assert.equal(scheme, EXPECTED[client]![variant], `${client} sent ${scheme} back for the ${variant} challenge`)
  t.diagnostic(`${client} / ${variant}: sent ${scheme}, payments=${invoices.length}, gateway requests=${hits.length}, upstream requests=${upstreamHits.get(path)}`)
  return scheme as Scheme
}

let seq = 0
/** A fresh path per test, so per-URL client caches and the counters never overlap. */
function fresh(route: 'paid' | 'pass', name: string): string {
  return `/${route}/${name.replace(/[^a-z0-9]+/gi, '-')}-${++seq}`
}

before(async () => {
  upstream = await listen((req, res) => {
    upstreamHits.set(req.url ?? '', (upstreamHits.get(req.url ?? '') ?? 0) + 1)
    echo(req, res)
  })
})

after(async () => {
  for (const r of rigs.values()) await (await r).g.close()
  await upstream.close()
})

const VARIANTS: Variant[] = ['default', 'lsat', 'plain']

/** name@version of the package that contains `file` (nearest package.json with a name). */
function packageOf(file: string): string {
  for (let dir = dirname(file); dir !== dirname(dir); dir = dirname(dir)) {
    try {
      const p = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string }
      if (p.name) return `${p.name}@${p.version}`
    } catch {}
  }
  throw new Error(`no package.json above ${file}`)
}

it('the clients under test are the versions the issue names (axios comes from l402)', () => {
  const at = (spec: string) => packageOf(fileURLToPath(import.meta.resolve(spec)))
  assert.match(at('@getalby/lightning-tools'), /^@getalby\/lightning-tools@9\./)
  assert.match(at('lt5'), /^@getalby\/lightning-tools@5\./)
  assert.match(at('lsat-js'), /^lsat-js@2\./)
  assert.match(at('l402'), /^l402@0\.5\./)
  assert.match(packageOf(createRequire(fileURLToPath(import.meta.resolve('l402'))).resolve('axios')), /^axios@1\./)
})

// ---------------------------------------------------------------- @getalby/lightning-tools 9.x

describe('@getalby/lightning-tools 9.x', () => {
  for (const [client, fn] of [['alby9 fetch402', fetch402], ['alby9 fetchWithL402', fetchWithL402]] as const) {
    for (const variant of VARIANTS) {
      it(`${client}: ${variant} challenge → pays once → 200`, async (t) => {
        const r = await rig(variant)
        const w = devWallet(r.g)
        const path = fresh('paid', `${client}-${variant}`)
        const res = await fn(r.url + path, {}, { wallet: { payInvoice: ({ invoice }) => w.pay(invoice) } })
        assert.equal(res.status, 200)
        assertEcho(await res.json(), path)
        assert.equal(res.payment?.paid, true)
        assert.equal(res.payment?.preimage?.length, 64)
        assertOnePaidRequest(t, r, path, variant, w.invoices, client)
      })
    }
  }

  it('alby9 fetch402 with maxAmount decodes our regtest invoice (amountSat 10) and pays within it', async (t) => {
    const r = await rig('default')
    const w = devWallet(r.g)
    const path = fresh('paid', 'alby9-maxamount')
    const res = await fetch402(r.url + path, {}, { wallet: { payInvoice: ({ invoice }) => w.pay(invoice) }, maxAmount: 10 })
    assert.equal(res.status, 200)
    await res.body?.cancel()
    assert.equal(res.payment?.amountSat, 10)
    assertOnePaidRequest(t, r, path, 'default', w.invoices, 'alby9 fetch402')
  })

  it('alby9 fetch402 refuses an invoice above maxAmount: no payment, 402 never retried', async () => {
    const r = await rig('default')
    const w = devWallet(r.g)
    const path = fresh('paid', 'alby9-overbudget')
    await assert.rejects(
      fetch402(r.url + path, {}, { wallet: { payInvoice: ({ invoice }) => w.pay(invoice) }, maxAmount: 9 }),
      (e: Error) => e.name === 'Fetch402InterruptedError' && /exceeds maxAmount/.test(String((e as { cause?: Error }).cause?.message)),
    )
    assert.equal(w.invoices.length, 0)
    assert.equal(hitsFor(r, path).length, 1)
    assert.equal(upstreamHits.get(path), undefined)
  })

  it('alby9 per-request replay: reused credentials get a fresh 402 (never a 400, no payment); the next call pays again', async (t) => {
    const r = await rig('default')
    const w = devWallet(r.g)
    const wallet = { payInvoice: ({ invoice }: { invoice: string }) => w.pay(invoice) }
    const path = fresh('paid', 'alby9-replay')
    const first: PaidResponse = await fetch402(r.url + path, {}, { wallet })
    assert.equal(first.status, 200)
    await first.body?.cancel()
    const credentials = first.payment!.credentials
    assert.match(credentials.value, /^L402 [A-Za-z0-9+/=]+:[0-9a-f]{64}$/)

    // Alby 9 promises never to pay when handed credentials, and returns the 402 as is.
    const replay = await fetch402(r.url + path, {}, { wallet, credentials })
    assert.equal(replay.status, 402, 'a spent per-request credential is answered with a fresh challenge')
    const body = (await replay.json()) as { invoice: string }
    assert.equal(w.invoices.length, 1)
    let hits = hitsFor(r, path)
    assert.equal(hits.length, 3)
    assert.deepEqual(hits[2]!.auth, hits[1]!.auth, 'the replay carried the cached credential')
    assert.equal(assertChallenge(hits[2]!, 'default'), body.invoice)
    assert.notEqual(body.invoice, w.invoices[0], 'a new invoice, not the spent one')

    // Without credentials the client goes through the 402 flow again: a second payment, then 200.
    const again = await fetch402(r.url + path, {}, { wallet })
    assert.equal(again.status, 200)
    await again.body?.cancel()
    assert.equal(w.invoices.length, 2)
    hits = hitsFor(r, path)
    assert.deepEqual(hits.map((h) => h.status), [402, 200, 402, 402, 200])
    assert.equal(upstreamHits.get(path), 2)
    t.diagnostic(`alby9 replay: credentials reuse → 402 (no payment); fresh call → 2nd payment → 200; payments=${w.invoices.length}`)
  })

  it('alby9 pass route: reused credentials pass without a second payment', async () => {
    const r = await rig('default')
    const w = devWallet(r.g)
    const wallet = { payInvoice: ({ invoice }: { invoice: string }) => w.pay(invoice) }
    const path = fresh('pass', 'alby9-pass')
    const first = await fetch402(r.url + path, {}, { wallet })
    assert.equal(first.status, 200)
    await first.body?.cancel()
    const reuse = await fetch402(r.url + path, {}, { wallet, credentials: first.payment!.credentials })
    assert.equal(reuse.status, 200)
    assertEcho(await reuse.json(), path)
    assert.equal(w.invoices.length, 1)
    assert.deepEqual(hitsFor(r, path).map((h) => h.status), [402, 200, 200])
    assert.equal(upstreamHits.get(path), 2)
  })
})

// ---------------------------------------------------------------- @getalby/lightning-tools 5.x

describe('@getalby/lightning-tools 5.x (lt5)', () => {
  function webln(w: ReturnType<typeof devWallet>): WebLN {
    return { enable: async () => {}, sendPayment: (invoice: string) => w.pay(invoice) }
  }
  const memory = () => new lt5.MemoryStorage()

  for (const variant of VARIANTS) {
    it(`alby5 fetchWithL402: ${variant} challenge → pays once → 200`, async (t) => {
      const r = await rig(variant)
      const w = devWallet(r.g)
      const path = fresh('paid', `alby5-${variant}`)
      const res = await lt5.fetchWithL402(r.url + path, {}, { webln: webln(w), store: memory() })
      assert.equal(res.status, 200)
      assertEcho(await res.json(), path)
      assertOnePaidRequest(t, r, path, variant, w.invoices, 'alby5 fetchWithL402')
    })
  }

  it('alby5 per-request replay: the cached token gets a fresh 402, which lt5 returns without paying (it never evicts)', async (t) => {
    const r = await rig('default')
    const w = devWallet(r.g)
    const store = memory()
    const path = fresh('paid', 'alby5-replay')
    const first = await lt5.fetchWithL402(r.url + path, {}, { webln: webln(w), store })
    assert.equal(first.status, 200)
    await first.body?.cancel()

    const replay = await lt5.fetchWithL402(r.url + path, {}, { webln: webln(w), store })
    assert.equal(replay.status, 402, 'spent credential → fresh challenge, not an error')
    const body = (await replay.json()) as { invoice: string }
    assert.equal(w.invoices.length, 1, 'lt5 does not pay when it has a cached token')
    const hits = hitsFor(r, path)
    assert.deepEqual(hits.map((h) => h.status), [402, 200, 402])
    assert.deepEqual(hits[2]!.auth, hits[1]!.auth, 'the replay carried the cached credential')
    assert.equal(assertChallenge(hits[2]!, 'default'), body.invoice)
    assert.equal(upstreamHits.get(path), 1)

    // With a fresh store (the only way out with lt5) it pays the second time and gets through.
    const again = await lt5.fetchWithL402(r.url + path, {}, { webln: webln(w), store: memory() })
    assert.equal(again.status, 200)
    await again.body?.cancel()
    assert.equal(w.invoices.length, 2)
    assert.equal(upstreamHits.get(path), 2)
    t.diagnostic('alby5 replay: cached token → 402 returned as is (no re-pay, no eviction); fresh store → 2nd payment → 200')
  })

  it('alby5 pass route: the cached token passes without a second payment', async () => {
    const r = await rig('default')
    const w = devWallet(r.g)
    const store = memory()
    const path = fresh('pass', 'alby5-pass')
    for (let i = 0; i < 2; i++) {
      const res = await lt5.fetchWithL402(r.url + path, {}, { webln: webln(w), store })
      assert.equal(res.status, 200)
      assertEcho(await res.json(), path)
    }
    assert.equal(w.invoices.length, 1)
    assert.deepEqual(hitsFor(r, path).map((h) => h.status), [402, 200, 200])
    assert.equal(upstreamHits.get(path), 2)
  })
})

// ---------------------------------------------------------------- lsat-js

describe('lsat-js', () => {
  // The task notes said lsat-js rejects regtest `lnbcrt` invoices; with the installed lsat-js 2.0.6
  // (bolt11 1.4.1, which knows `bcrt`) it reads them, so it runs against both a regtest and a
  // mainnet dev node (`lnbc…`). The dev node is a simulator on either network: no real money moves.

  /** Our fetch, lsat-js for every L402 part: parse the challenge, check the preimage, build the token. */
  async function lsatFetch(url: string, w: ReturnType<typeof devWallet>, network: Network, token?: string): Promise<{ res: Response; token: string }> {
    let res = await fetch(url, token ? { headers: { authorization: token } } : {})
    if (res.status !== 402) return { res, token: token ?? '' }
    await res.body?.cancel()
    const lsat = Lsat.fromHeader(res.headers.get('www-authenticate') ?? '')
    assert.ok(lsat.invoice.startsWith(network === 'mainnet' ? 'lnbc1' : 'lnbcrt1'), lsat.invoice)
    assert.equal(lsat.invoiceAmount, 10, 'lsat-js decoded the invoice amount (sat)')
    assert.ok(lsat.isPending())
    const { preimage } = await w.pay(lsat.invoice)
    lsat.setPreimage(preimage) // throws unless sha256(preimage) is the invoice's payment hash
    assert.ok(lsat.isSatisfied())
    const next = lsat.toToken()
    // The token round-trips through lsat-js' own parser, which needs Aperture's 66-byte identifier.
    assert.equal(Lsat.fromToken(next).paymentHash, lsat.paymentHash)
    res = await fetch(url, { headers: { authorization: next } })
    return { res, token: next }
  }

  for (const network of ['regtest', 'mainnet'] as const) {
    for (const variant of VARIANTS) {
      it(`lsat-js (${network}): ${variant} challenge → pays once → 200`, async (t) => {
        const r = await rig(variant, network)
        const w = devWallet(r.g)
        const path = fresh('paid', `lsat-js-${network}-${variant}`)
        const { res } = await lsatFetch(r.url + path, w, network)
        assert.equal(res.status, 200)
        assertEcho(await res.json(), path)
        assertOnePaidRequest(t, r, path, variant, w.invoices, 'lsat-js')
      })
    }
  }

  it('lsat-js per-request replay: the spent LSAT token gets a fresh 402 that lsat-js parses; second payment → 200', async (t) => {
    const r = await rig('default', 'mainnet')
    const w = devWallet(r.g)
    const path = fresh('paid', 'lsat-js-replay')
    const first = await lsatFetch(r.url + path, w, 'mainnet')
    assert.equal(first.res.status, 200)
    await first.res.body?.cancel()
    const again = await lsatFetch(r.url + path, w, 'mainnet', first.token)
    assert.equal(again.res.status, 200)
    await again.res.body?.cancel()
    assert.equal(w.invoices.length, 2)
    const hits = hitsFor(r, path)
    assert.deepEqual(hits.map((h) => h.status), [402, 200, 402, 200])
    assert.deepEqual(hits[2]!.auth, [first.token])
    assert.equal(assertChallenge(hits[2]!, 'default'), w.invoices[1])
    assert.equal(upstreamHits.get(path), 2)
    t.diagnostic(`lsat-js replay: LSAT token reused → 402 → 2nd payment → 200; payments=${w.invoices.length}`)
  })
})

// ---------------------------------------------------------------- sulu l402 (axios interceptor)

describe('l402 (sulu, axios interceptor)', () => {
  // sulu re-pays on every 402 without limit (clients.md §1): every instance carries a request cap.
  const CAP = 6

  class DevWallet extends Wallet {
    readonly w: { pay(invoice: string): Promise<{ preimage: string }> }
    constructor(w: { pay(invoice: string): Promise<{ preimage: string }> }) {
      super()
      this.w = w
    }
    async payInvoice(invoice: string): Promise<PaymentResult> {
      const { preimage } = await this.w.pay(invoice)
      return new PaymentResult(preimage, true)
    }
  }

  function client(w: { pay(invoice: string): Promise<{ preimage: string }> }, store = new MemoryTokenStore(), cap = CAP) {
    const instance = axios.create({ timeout: 5000 })
    let requests = 0
    instance.interceptors.request.use((config) => {
      if (++requests > cap) throw new Error(`request cap: sulu l402 made more than ${cap} requests`)
      return config
    })
    setupL402Interceptor(instance, new DevWallet(w), store)
    return { instance, store, requests: () => requests }
  }

  for (const variant of VARIANTS) {
    it(`sulu l402: ${variant} challenge → pays once → 200`, async (t) => {
      const r = await rig(variant)
      const w = devWallet(r.g)
      const c = client(w)
      const path = fresh('paid', `sulu-${variant}`)
      const res = await c.instance.get(r.url + path)
      assert.equal(res.status, 200)
      assertEcho(res.data, path)
      assert.equal(c.requests(), 2)
      assertOnePaidRequest(t, r, path, variant, w.invoices, 'sulu l402')
    })
  }

  it('sulu per-request replay: the cached token gets a fresh 402, sulu pays again → 200', async (t) => {
    const r = await rig('default')
    const w = devWallet(r.g)
    const c = client(w)
    const path = fresh('paid', 'sulu-replay')
    assert.equal((await c.instance.get(r.url + path)).status, 200)
    const again = await c.instance.get(r.url + path)
    assert.equal(again.status, 200)
    assertEcho(again.data, path)
    assert.equal(w.invoices.length, 2)
    assert.equal(c.requests(), 4)
    const hits = hitsFor(r, path)
    assert.deepEqual(hits.map((h) => h.status), [402, 200, 402, 200])
    assert.deepEqual(hits[2]!.auth, hits[1]!.auth, 'the replay carried the cached token')
    assert.equal(assertChallenge(hits[2]!, 'default'), w.invoices[1])
    assert.equal(upstreamHits.get(path), 2)
    t.diagnostic(`sulu replay: cached token → 402 → 2nd payment → 200; payments=${w.invoices.length}, requests=${c.requests()}`)
  })

  it('sulu pass route: the cached token passes without a second payment', async () => {
    const r = await rig('default')
    const w = devWallet(r.g)
    const c = client(w)
    const path = fresh('pass', 'sulu-pass')
    for (let i = 0; i < 2; i++) assertEcho((await c.instance.get(r.url + path)).data, path)
    assert.equal(w.invoices.length, 1)
    assert.equal(c.requests(), 3)
    assert.deepEqual(hitsFor(r, path).map((h) => h.status), [402, 200, 200])
    assert.equal(upstreamHits.get(path), 2)
  })

  it('the request cap holds: a wallet returning a wrong preimage makes sulu loop on 402s until the cap stops it', async () => {
    const r = await rig('default')
    const w = devWallet(r.g, 10)
    const wrong = { pay: async (invoice: string) => (await w.pay(invoice), { preimage: '00'.repeat(32) }) }
    const c = client(wrong, new MemoryTokenStore(), 4)
    const path = fresh('paid', 'sulu-loop')
    await assert.rejects(c.instance.get(r.url + path), /request cap/)
    assert.equal(c.requests(), 5)
    assert.equal(w.invoices.length, 4, 'one payment per 402: sulu has no retry guard')
    const hits = hitsFor(r, path)
    assert.deepEqual(hits.map((h) => h.status), [402, 402, 402, 402], 'a mismatched preimage is a 402 with a fresh challenge')
    assert.equal(upstreamHits.get(path), undefined)
  })
})
