import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { sha256 } from '@noble/hashes/sha2.js'
import { bytesToHex, hexToBytes, randomBytes, utf8ToBytes } from '@noble/hashes/utils.js'
import { bech32 } from '@scure/base'
import * as Bolt11 from '../Bolt11.ts'
import * as Config from '../Config.ts'
import { ConfigError } from '../Errors.ts'
import { waitForSettlement } from '../Lightning.ts'
import { describeBackend } from './conformance.ts'
import { lnurl, resolveAddress } from './lnurl.ts'
import { startLnurlService } from '../../test/simulators/lnurl.ts'
import type { LnurlService, LnurlServiceOptions } from '../../test/simulators/lnurl.ts'
import { challengeOf, echo, listen, startGateway } from '../../test/harness.ts'
import { code } from '../../test/assert.ts'


const encodeLnurl = (url: string): string => bech32.encode('lnurl', bech32.toWords(utf8ToBytes(url)), false)

function conformance(name: string, svcOptions: LnurlServiceOptions, address: (s: LnurlService) => string, msatAmounts = true): void {
  describeBackend(
    name,
    async () => {
      const svc = await startLnurlService(svcOptions)
      const backend = lnurl({ address: address(svc), allowHttpLoopback: true, timeoutMs: 2000 })
      return {
        backend,
        pay: async (pr) => void (await svc.pay(pr)),
        teardown: async () => {
          await backend.close?.()
          await svc.close()
        },
      }
    },
    { serviceSetsTerms: true, msatAmounts },
  )
}

conformance('lnurl (Lightning Address; verify shows preimages of unpaid invoices)', {}, (s) => s.address)
conformance('lnurl (sat-only service rounds 2500 msat down: refused)', { satOnly: true }, (s) => s.address, false)
conformance('lnurl (bech32 LNURL, callback with a query of its own)', { callbackQuery: true, revealPreimage: false }, (s) =>
  encodeLnurl(`${s.url}/.well-known/lnurlp/alice`),
)

describe('lnurl: resolving addresses', () => {
  it('behavior: LUD-16, LUD-01 bech32, LUD-17 and plain https', () => {
    assert.equal(resolveAddress('alice@example.com'), 'https://example.com/.well-known/lnurlp/alice')
    assert.equal(resolveAddress(' lightning:Alice.B-c_d+tag@Example.COM '), 'https://example.com/.well-known/lnurlp/alice.b-c_d+tag')
    assert.equal(resolveAddress(encodeLnurl('https://service.com/api/v1/lnurl/pay?q=1')), 'https://service.com/api/v1/lnurl/pay?q=1')
    assert.equal(resolveAddress(encodeLnurl('https://service.com/p').toUpperCase()), 'https://service.com/p')
    assert.equal(resolveAddress('lnurlp://service.com/pay/x'), 'https://service.com/pay/x')
    assert.equal(resolveAddress('https://service.com/lnurlp/bob'), 'https://service.com/lnurlp/bob')
  })

  it('behavior: http only for loopback hosts, and only when allowed', () => {
    assert.equal(resolveAddress('alice@127.0.0.1:8080'), 'https://127.0.0.1:8080/.well-known/lnurlp/alice')
    assert.equal(resolveAddress('alice@127.0.0.1:8080', { allowHttpLoopback: true }), 'http://127.0.0.1:8080/.well-known/lnurlp/alice')
    assert.equal(resolveAddress('alice@example.com', { allowHttpLoopback: true }), 'https://example.com/.well-known/lnurlp/alice')
    assert.equal(resolveAddress('http://localhost:1/x', { allowHttpLoopback: true }), 'http://localhost:1/x')
    assert.throws(() => resolveAddress('http://example.com/x', { allowHttpLoopback: true }), /https/)
    assert.throws(() => resolveAddress('http://127.0.0.1:1/x'), /https/)
    assert.throws(() => resolveAddress(encodeLnurl('http://example.com/p')), /https/)
  })

  it('error: malformed addresses', () => {
    for (const bad of ['', 'bad user@x.com', 'a@', 'lnurl1qqqqq', 'https://u:p@x.com/p', 'ftp://x.com/p', 'nothing']) {
      assert.throws(() => resolveAddress(bad), TypeError, bad)
    }
  })
})

describe('lnurl: faults', () => {
  let svc: LnurlService
  let backend: ReturnType<typeof lnurl>
  before(async () => {
    svc = await startLnurlService({ minSendable: 1000n, maxSendable: 1_000_000n })
    backend = lnurl({ address: svc.address, allowHttpLoopback: true, timeoutMs: 500 })
  })
  after(async () => {
    await backend.close?.()
    await svc.close()
  })

  it('behavior: discovery is cached; the invoice commits to sha256(metadata); amount sent in msat', async () => {
    const before = svc.requests.payRequest ?? 0
    const a = await backend.createInvoice({ amountMsat: 2500n, description: 'ignored', expirySeconds: 60 })
    await backend.createInvoice({ amountMsat: 3000n, expirySeconds: 60 })
    assert.ok((svc.requests.payRequest ?? 0) - before <= 1)
    assert.match(svc.lastCallback!, /\/callback\?amount=3000$/)
    const d = Bolt11.decode(a.paymentRequest)
    assert.equal(d.descriptionHash, bytesToHex(sha256(utf8ToBytes(svc.metadata))))
    assert.equal(d.description, undefined)
    assert.equal(a.expiresAt - a.createdAt, 3600_000, "the service's expiry, not the requested one")
  })

  it('behavior: verify shows the preimage of an unpaid invoice, the backend still reports open', async () => {
    const inv = await backend.createInvoice({ amountMsat: 5000n, expirySeconds: 60 })
    const hash = inv.paymentHash
    const raw = (await (await fetch(`${svc.url}/lnurlp/alice/verify/${hash}`)).json()) as { settled: boolean; preimage: string }
    assert.equal(raw.settled, false)
    assert.equal(bytesToHex(sha256(hexToBytes(raw.preimage))), hash)
    const s = await backend.lookupInvoice(hash)
    assert.equal(s.status, 'open')
    assert.equal(s.preimage, undefined)
  })

  it('error: an invoice for another amount, a wrong description hash or no invoice is refused', async () => {
    for (const [fault, why] of [['wrong-amount', /amount 6000 msat instead of 5000/], ['wrong-hash', /description hash/], ['not-bolt11', /BOLT11/]] as const) {
      svc.faults.nextCallback = fault
      await assert.rejects(backend.createInvoice({ amountMsat: 5000n, expirySeconds: 60 }), (e) => {
        code('TURNPIKE_BACKEND_ERROR')(e)
        assert.match((e as Error).message, why)
        return true
      })
    }
  })

  it('error: a callback ERROR is a 502 without the service text, and discovery runs again', async () => {
    const before = svc.requests.payRequest ?? 0
    svc.faults.nextCallback = 'error'
    await assert.rejects(backend.createInvoice({ amountMsat: 5000n, expirySeconds: 60 }), (e) => {
      code('TURNPIKE_BACKEND_ERROR')(e)
      assert.ok(!(e as Error).message.includes('injected failure'))
      assert.match(((e as Error).cause as Error).message, /injected failure/)
      return true
    })
    await backend.createInvoice({ amountMsat: 5000n, expirySeconds: 60 })
    assert.equal(svc.requests.payRequest, before + 1)
  })

  it('error: amounts outside min/maxSendable are refused without asking for an invoice', async () => {
    const before = svc.requests.callback ?? 0
    await assert.rejects(backend.createInvoice({ amountMsat: 999n, expirySeconds: 60 }), code('TURNPIKE_BACKEND_ERROR'))
    await assert.rejects(backend.createInvoice({ amountMsat: 1_000_001n, expirySeconds: 60 }), /outside/)
    assert.equal(svc.requests.callback ?? 0, before)
  })

  it('error: verify URL down → 503, and waitForSettlement keeps polling through it', async () => {
    const inv = await backend.createInvoice({ amountMsat: 4000n, expirySeconds: 60 })
    svc.faults.verifyDown = true
    try {
      await assert.rejects(backend.lookupInvoice(inv.paymentHash), (e) => {
        code('TURNPIKE_BACKEND_UNAVAILABLE')(e)
        assert.match((e as Error).message, /HTTP 503/)
        return true
      })
      const waiting = waitForSettlement(backend, inv.paymentHash, { intervalMs: 20, timeoutMs: 5000 })
      await svc.pay(inv.paymentRequest)
      await new Promise((r) => setTimeout(r, 100))
      svc.faults.verifyDown = false
      const s = await waiting
      assert.equal(s.status, 'settled')
      assert.equal(bytesToHex(sha256(hexToBytes(s.preimage!))), inv.paymentHash)
    } finally {
      svc.faults.verifyDown = false
    }
  })

  it('error: a non-OK verify status is a 502; ERROR "Not found" is an unknown invoice', async () => {
    const inv = await backend.createInvoice({ amountMsat: 4000n, expirySeconds: 60 })
    svc.faults.nextVerifyStatus = 'PENDING'
    await assert.rejects(backend.lookupInvoice(inv.paymentHash), (e) => code('TURNPIKE_BACKEND_ERROR')(e) && /status/.test((e as Error).message))
    svc.faults.nextVerifyStatus = 'ERROR'
    await assert.rejects(backend.lookupInvoice(inv.paymentHash), code('TURNPIKE_INVOICE_UNKNOWN'))
    assert.equal((await backend.lookupInvoice(inv.paymentHash)).status, 'open')
  })

  it('error: a slow service times out as 503', async () => {
    svc.faults.latencyMs = 800
    try {
      await assert.rejects(backend.createInvoice({ amountMsat: 5000n, expirySeconds: 60 }), (e) =>
        code('TURNPIKE_BACKEND_UNAVAILABLE')(e) && /did not answer/.test((e as Error).message))
    } finally {
      svc.faults.latencyMs = 0
    }
  })

  it('error: a hash this backend did not issue is unknown without a request', async () => {
    const before = svc.requests.verify ?? 0
    await assert.rejects(backend.lookupInvoice(bytesToHex(randomBytes(32))), code('TURNPIKE_INVOICE_UNKNOWN'))
    await assert.rejects(backend.lookupInvoice('nothex'), code('TURNPIKE_BAD_REQUEST'))
    assert.equal(svc.requests.verify ?? 0, before)
  })
})

describe('lnurl: answers that must not be believed', () => {
  /** A fetch that rewrites verify answers. */
  function tampering(rewrite: (body: Record<string, unknown>) => Record<string, unknown>): typeof fetch {
    return async (input, init) => {
      const res = await fetch(input, init)
      if (!String(input).includes('/verify/')) return res
      const body = rewrite((await res.json()) as Record<string, unknown>)
      return new Response(JSON.stringify(body), { status: res.status, headers: { 'content-type': 'application/json' } })
    }
  }

  it('error: settled with a foreign or missing preimage, or about another invoice, is a 502', async () => {
    const svc = await startLnurlService()
    try {
      const rewrites: [(b: Record<string, unknown>) => Record<string, unknown>, RegExp][] = [
        [(b) => ({ ...b, preimage: bytesToHex(randomBytes(32)) }), /preimage/],
        [(b) => ({ ...b, preimage: null }), /preimage/],
        [(b) => ({ ...b, pr: 'lnbcrt1other' }), /another invoice/],
        [(b) => ({ ...b, settled: 'yes' }), /settled/],
      ]
      for (const [rewrite, why] of rewrites) {
        const backend = lnurl({ address: svc.address, allowHttpLoopback: true, fetch: tampering(rewrite) })
        const inv = await backend.createInvoice({ amountMsat: 1000n, expirySeconds: 60 })
        await svc.pay(inv.paymentRequest)
        await assert.rejects(backend.lookupInvoice(inv.paymentHash), (e) => code('TURNPIKE_BACKEND_ERROR')(e) && why.test((e as Error).message))
      }
    } finally {
      await svc.close()
    }
  })

  it('behavior: a callback with a query gets &amount= appended, its own query left byte for byte', async () => {
    const svc = await startLnurlService({ callbackQuery: true })
    try {
      await lnurl({ address: svc.address, allowHttpLoopback: true }).createInvoice({ amountMsat: 1234n, expirySeconds: 60 })
      assert.equal(svc.lastCallback, '/lnurlp/alice/callback?token=abc%2B1&amount=1234')
    } finally {
      await svc.close()
    }
  })

  it('error: a service without LUD-21 verify is refused: settlement could not be checked', async () => {
    const svc = await startLnurlService({ verify: false })
    const backend = lnurl({ address: svc.address, allowHttpLoopback: true })
    try {
      await assert.rejects(backend.createInvoice({ amountMsat: 1000n, expirySeconds: 60 }), (e) =>
        code('TURNPIKE_BACKEND_ERROR')(e) && /LUD-21/.test((e as Error).message))
    } finally {
      await svc.close()
    }
  })

  it('error: invoices for another network, oversized answers and a dead service', async () => {
    const svc = await startLnurlService({ network: 'regtest' })
    const mainnet = lnurl({ address: svc.address, allowHttpLoopback: true, network: 'mainnet' })
    await assert.rejects(mainnet.createInvoice({ amountMsat: 1000n, expirySeconds: 60 }), /for regtest/)
    const huge = lnurl({ address: svc.address, allowHttpLoopback: true, fetch: async () => new Response('x'.repeat(300 * 1024)) })
    await assert.rejects(huge.createInvoice({ amountMsat: 1000n, expirySeconds: 60 }), (e) => code('TURNPIKE_BACKEND_ERROR')(e) && /oversized/.test((e as Error).message))
    const backend = lnurl({ address: svc.address, allowHttpLoopback: true })
    const inv = await backend.createInvoice({ amountMsat: 1000n, expirySeconds: 60 })
    await svc.close()
    await assert.rejects(backend.lookupInvoice(inv.paymentHash), code('TURNPIKE_BACKEND_UNAVAILABLE'))
    await assert.rejects(lnurl({ address: svc.address, allowHttpLoopback: true }).createInvoice({ amountMsat: 1000n, expirySeconds: 60 }), code('TURNPIKE_BACKEND_UNAVAILABLE'))
  })

  it('behavior: an unpaid invoice past its own expiry is expired', async () => {
    const svc = await startLnurlService({ expirySeconds: 60 })
    let clock = Date.now()
    const backend = lnurl({ address: svc.address, allowHttpLoopback: true, now: () => clock })
    try {
      const inv = await backend.createInvoice({ amountMsat: 1000n, expirySeconds: 60 })
      assert.equal((await backend.lookupInvoice(inv.paymentHash)).status, 'open')
      clock = inv.expiresAt
      assert.equal((await backend.lookupInvoice(inv.paymentHash)).status, 'expired')
    } finally {
      await svc.close()
    }
  })
})

describe('lnurl: config', () => {
  const base = { upstream: 'http://127.0.0.1:1', routes: [{ path: '/*', price: '2500msat' }] }

  it('behavior: lnurl with an address, timeout, network and loopback http', () => {
    const c = Config.parse({ ...base, backend: { type: 'lnurl', address: 'paywall@example.com', timeout: '5s', network: 'mainnet' } })
    assert.deepEqual(c.backend, { type: 'lnurl', address: 'paywall@example.com', timeoutMs: 5000, network: 'mainnet', allowHttpLoopback: false })
  })

  it('error: every issue with its path', () => {
    assert.throws(() => Config.parse({ ...base, backend: 'lnurl' }), (e: ConfigError) => e.issues.some((i) => i.path === 'backend.address'))
    assert.throws(
      () => Config.parse({ ...base, backend: { type: 'lnurl', address: 'http://example.com/p', network: 'moon', allowHttpLoopback: 'yes', extra: 1 } }),
      (e: ConfigError) => {
        const paths = e.issues.map((i) => i.path).sort()
        assert.deepEqual(paths, ['backend.address', 'backend.allowHttpLoopback', 'backend.extra', 'backend.network'])
        return true
      },
    )
  })
})

describe('lnurl: end to end through the gateway', () => {
  it('behavior: 402 → pay at the service → retry → 200', async () => {
    const svc = await startLnurlService()
    const upstream = await listen(echo)
    const g = await startGateway({
      backend: { type: 'lnurl', address: svc.address, allowHttpLoopback: true },
      upstream: upstream.url,
      routes: [{ name: 'api', path: '/api/*', price: '21sat' }],
    })
    try {
      const first = await fetch(`${g.url}/api/data`)
      assert.equal(first.status, 402)
      await first.body?.cancel()
      const { macaroon, invoice } = challengeOf(first)
      assert.equal(Bolt11.decode(invoice).amountMsat, 21_000n)
      const { preimage } = await svc.pay(invoice)
      const paid = await fetch(`${g.url}/api/data`, { headers: { authorization: `L402 ${macaroon}:${preimage}` } })
      assert.equal(paid.status, 200)
      assert.equal(((await paid.json()) as { url: string }).url, '/api/data')
    } finally {
      await g.close()
      await upstream.close()
      await svc.close()
    }
  })
})
