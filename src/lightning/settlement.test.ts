import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import * as Bolt11 from '../Bolt11.ts'
import * as Config from '../Config.ts'
import { ConfigError } from '../Errors.ts'
import * as L402 from '../L402.ts'
import type { Backend, InvoiceState } from '../Lightning.ts'
import { memory } from '../store/memory.ts'
import { startLnbitsSimulator, type LnbitsSimulator } from '../../test/simulators/lnbits.ts'
import { challengeOf, echo, listen, startGateway, tempDir, type Gateway } from '../../test/harness.ts'
import { createSettlementChecker } from './settlement.ts'

describe('L402.parseBareAuthorization', () => {
  it('behavior: reads macaroon-only segments, with or without the trailing colon; leaves preimage ones alone', () => {
    const mac = Buffer.from('macaroon bytes').toString('base64')
    const pre = 'ab'.repeat(32)
    assert.deepEqual(L402.parseBareAuthorization([`L402 ${mac}`]).map((c) => Buffer.from(c.tokens[0]!).toString()), ['macaroon bytes'])
    assert.equal(L402.parseBareAuthorization([`LSAT ${mac}:`])[0]!.scheme, 'LSAT')
    assert.deepEqual(L402.parseBareAuthorization([`L402 ${mac}:${pre}`]), [])
    assert.deepEqual(L402.parseBareAuthorization([`Bearer x, L402 ${mac}`]).length, 1)
    assert.deepEqual(L402.parseBareAuthorization(['L402 ', 'L402 :', 'Basic abc']), [])
    assert.deepEqual(L402.parseBareAuthorization(undefined), [])
    // the strict parser is unchanged: a bare macaroon is still malformed there
    assert.throws(() => L402.parseAuthorization([`L402 ${mac}`]), /malformed/)
  })
})

describe('Config: routes[].autoDetect', () => {
  const base = { backend: 'dev', upstream: 'http://127.0.0.1:1' }
  it('behavior: true, "strict" or absent; anything else is an issue at its path', () => {
    assert.equal(Config.parse({ ...base, routes: [{ price: '1sat', autoDetect: true }] }).routes[0]!.autoDetect, true)
    assert.equal(Config.parse({ ...base, routes: [{ price: '1sat', autoDetect: 'strict' }] }).routes[0]!.autoDetect, 'strict')
    assert.equal(Config.parse({ ...base, routes: [{ price: '1sat', autoDetect: false }] }).routes[0]!.autoDetect, undefined)
    assert.throws(
      () => Config.parse({ ...base, routes: [{ price: '1sat', autoDetect: 'yes' }] }),
      (e) => e instanceof ConfigError && e.issues[0]!.path === 'routes[0].autoDetect',
    )
  })
})

/** A gateway in front of an LNbits simulator, so backend calls and invoices can be counted. */
async function lnbitsGateway(sim: LnbitsSimulator, routes: Record<string, unknown>[]): Promise<{ g: Gateway; close(): Promise<void> }> {
  const upstream = await listen(echo)
  const dir = tempDir('turnpike-autodetect-')
  const apiKeyFile = join(dir.path, 'inkey')
  writeFileSync(apiKeyFile, sim.invoiceKey)
  const g = await startGateway({ backend: { type: 'lnbits', url: sim.url, apiKeyFile }, upstream: upstream.url, routes })
  return {
    g,
    async close() {
      await g.close()
      await upstream.close()
      dir.remove()
    },
  }
}

describe('autoDetect through the gateway', () => {
  let sim: LnbitsSimulator
  before(async () => {
    sim = await startLnbitsSimulator()
  })
  after(() => sim.close())

  it('behavior: macaroon-only polls get 402 pending with the same invoice until paid, then 200 once', async () => {
    const { g, close } = await lnbitsGateway(sim, [{ name: 'auto', path: '/*', price: '10sat', autoDetect: true }])
    try {
      const first = await fetch(`${g.url}/data`)
      assert.equal(first.status, 402)
      await first.body?.cancel()
      const { macaroon, invoice } = challengeOf(first)
      const invoices = sim.node.invoices.size
      for (const auth of [`L402 ${macaroon}`, `L402 ${macaroon}:`]) {
        const poll = await fetch(`${g.url}/data`, { headers: { authorization: auth } })
        assert.equal(poll.status, 402)
        assert.equal(poll.headers.get('retry-after'), '1')
        const body = (await poll.json()) as { code: string }
        assert.equal(body.code, 'TURNPIKE_PAYMENT_PENDING')
        assert.deepEqual(challengeOf(poll), { macaroon, invoice }, 'the same invoice again')
      }
      assert.equal(sim.node.invoices.size, invoices, 'no invoice minted on a poll')
      const { preimage } = sim.pay(invoice)
      const ok = await fetch(`${g.url}/data`, { headers: { authorization: `L402 ${macaroon}` } })
      assert.equal(ok.status, 200)
      await ok.body?.cancel()
      // single use is shared with the preimage path: the same token cannot be used again either way
      const again = await fetch(`${g.url}/data`, { headers: { authorization: `L402 ${macaroon}:${preimage}` } })
      assert.equal(again.status, 402)
      await again.body?.cancel()
      const bare = await fetch(`${g.url}/data`, { headers: { authorization: `L402 ${macaroon}` } })
      assert.equal(bare.status, 402)
      assert.notEqual(((await bare.json()) as { code: string }).code, 'TURNPIKE_PAYMENT_PENDING')
    } finally {
      await close()
    }
  })

  it('behavior: a settled result is cached in the store: later checks make no backend call', async () => {
    const { g, close } = await lnbitsGateway(sim, [{ name: 'pass', path: '/*', price: '10sat', access: 'pass:1h', autoDetect: true }])
    try {
      const first = await fetch(`${g.url}/a`)
      await first.body?.cancel()
      const { macaroon, invoice } = challengeOf(first)
      sim.pay(invoice)
      const before = sim.faults.requests
      const ok = await fetch(`${g.url}/a`, { headers: { authorization: `L402 ${macaroon}` } })
      assert.equal(ok.status, 200)
      await ok.body?.cancel()
      assert.equal(sim.faults.requests, before + 1, 'one lookup')
      for (let i = 0; i < 3; i++) {
        const r = await fetch(`${g.url}/b`, { headers: { authorization: `L402 ${macaroon}` } })
        assert.equal(r.status, 200)
        await r.body?.cancel()
      }
      assert.equal(sim.faults.requests, before + 1, 'served from the settled:<hash> mark')
    } finally {
      await close()
    }
  })

  it('error: the backend failing during a poll → 503 with Retry-After, not "unpaid", no new invoice', async () => {
    const { g, close } = await lnbitsGateway(sim, [{ name: 'auto', path: '/*', price: '10sat', autoDetect: true }])
    try {
      const first = await fetch(`${g.url}/x`)
      await first.body?.cancel()
      const { macaroon } = challengeOf(first)
      const invoices = sim.node.invoices.size
      sim.faults.failNext({ status: 502, body: 'bad gateway', contentType: 'text/plain' })
      const poll = await fetch(`${g.url}/x`, { headers: { authorization: `L402 ${macaroon}` } })
      assert.equal(poll.status, 503)
      assert.equal(poll.headers.get('retry-after'), '2')
      assert.equal(((await poll.json()) as { code: string }).code, 'TURNPIKE_BACKEND_UNAVAILABLE')
      assert.equal(sim.node.invoices.size, invoices)
    } finally {
      await close()
    }
  })

  it('error: a tampered or foreign macaroon gets a fresh challenge, never a pending answer', async () => {
    const { g, close } = await lnbitsGateway(sim, [{ name: 'auto', path: '/*', price: '10sat', autoDetect: true }])
    try {
      const first = await fetch(`${g.url}/x`)
      await first.body?.cancel()
      const bytes = Buffer.from(challengeOf(first).macaroon, 'base64')
      bytes[bytes.length - 1]! ^= 1
      const before = sim.faults.requests
      const r = await fetch(`${g.url}/x`, { headers: { authorization: `L402 ${bytes.toString('base64')}` } })
      assert.equal(r.status, 402)
      await r.body?.cancel()
      assert.notEqual(challengeOf(r).macaroon, bytes.toString('base64'))
      assert.equal(sim.faults.requests, before + 1, 'one createInvoice, no lookup for an unverified macaroon')
    } finally {
      await close()
    }
  })

  it('behavior: routes without autoDetect are unchanged: a bare macaroon is a malformed credential', async () => {
    const { g, close } = await lnbitsGateway(sim, [{ name: 'plain', path: '/*', price: '10sat' }])
    try {
      const first = await fetch(`${g.url}/x`)
      await first.body?.cancel()
      const before = sim.faults.requests
      const r = await fetch(`${g.url}/x`, { headers: { authorization: `L402 ${challengeOf(first).macaroon}` } })
      assert.equal(r.status, 400)
      await r.body?.cancel()
      assert.equal(sim.faults.requests, before, 'no backend call')
    } finally {
      await close()
    }
  })

  it('behavior: strict mode refuses a preimage LNbits leaked for an unpaid invoice; plain mode cannot tell', async () => {
    const { g, close } = await lnbitsGateway(sim, [
      { name: 'strict', path: '/strict/*', price: '10sat', autoDetect: 'strict' },
      { name: 'plain', path: '/plain/*', price: '10sat' },
    ])
    try {
      for (const [route, expected] of [['strict', 402], ['plain', 200]] as const) {
        const first = await fetch(`${g.url}/${route}/x`)
        await first.body?.cancel()
        const { macaroon, invoice } = challengeOf(first)
        // anyone can read the preimage of a pending LNbits payment, without a key
        const hash = Bolt11.decode(invoice).paymentHash
        const leaked = ((await (await fetch(`${sim.url}/api/v1/payments/${hash}`)).json()) as { preimage: string }).preimage
        const r = await fetch(`${g.url}/${route}/x`, { headers: { authorization: `L402 ${macaroon}:${leaked}` } })
        assert.equal(r.status, expected, route)
        if (route === 'strict') {
          assert.equal(((await r.json()) as { code: string }).code, 'TURNPIKE_PAYMENT_PENDING')
          sim.pay(invoice)
          const paid = await fetch(`${g.url}/${route}/x`, { headers: { authorization: `L402 ${macaroon}:${leaked}` } })
          assert.equal(paid.status, 200)
          await paid.body?.cancel()
        } else await r.body?.cancel()
      }
    } finally {
      await close()
    }
  })

  it('behavior: the dev backend works too (turnpike demo setups)', async () => {
    const upstream = await listen(echo)
    const g = await startGateway({ upstream: upstream.url, routes: [{ name: 'auto', path: '/*', price: '10sat', autoDetect: true }] })
    try {
      const first = await fetch(`${g.url}/x`)
      await first.body?.cancel()
      const { macaroon, invoice } = challengeOf(first)
      await g.rt.devNode!.pay(invoice)
      const ok = await fetch(`${g.url}/x`, { headers: { authorization: `L402 ${macaroon}` } })
      assert.equal(ok.status, 200)
      await ok.body?.cancel()
    } finally {
      await g.close()
      await upstream.close()
    }
  })
})

describe('createSettlementChecker', () => {
  const hash = 'ab'.repeat(32)
  const backendWith = (lookup: (signal?: AbortSignal) => Promise<InvoiceState>): Backend & { calls: number } => {
    const b = {
      name: 'fake',
      calls: 0,
      createInvoice: () => Promise.reject(new Error('no')),
      lookupInvoice: (_h: string, o?: { signal?: AbortSignal }) => {
        b.calls++
        return lookup(o?.signal)
      },
    }
    return b
  }

  it('behavior: the lookup is bounded; a hanging backend → 503 within the bound', async () => {
    const backend = backendWith((signal) => new Promise((_r, reject) => signal!.addEventListener('abort', () => reject(signal!.reason))))
    const checker = createSettlementChecker({ backend, store: memory(), cacheTtlMs: 60_000, lookupTimeoutMs: 100 })
    const t = performance.now()
    const s = await checker.check('r', hash)
    const took = performance.now() - t
    assert.equal(s.kind, 'reply')
    assert.equal(s.kind === 'reply' && s.reply.status, 503)
    assert.ok(took >= 90 && took < 1000, `took ${took} ms`)
  })

  it('behavior: concurrent polls of one hash share one backend lookup', async () => {
    let release!: (s: InvoiceState) => void
    const backend = backendWith(() => new Promise((r) => (release = r)))
    const checker = createSettlementChecker({ backend, store: memory(), cacheTtlMs: 60_000 })
    const all = Promise.all(Array.from({ length: 20 }, () => checker.check('r', hash)))
    await new Promise((r) => setTimeout(r, 10))
    release({ paymentHash: hash, status: 'settled', preimage: '00'.repeat(32) })
    assert.ok((await all).every((s) => s.kind === 'settled'))
    assert.equal(backend.calls, 1)
  })

  it('behavior: expired, canceled and unknown invoices call for a fresh challenge', async () => {
    for (const status of ['expired', 'canceled'] as const) {
      const checker = createSettlementChecker({ backend: backendWith(async () => ({ paymentHash: hash, status })), store: memory(), cacheTtlMs: 1 })
      assert.deepEqual(await checker.check('r', hash), { kind: 'fresh', reason: `invoice ${status}` })
    }
    const { TurnpikeError } = await import('../Errors.ts')
    const unknown = createSettlementChecker({ backend: backendWith(() => Promise.reject(new TurnpikeError('TURNPIKE_INVOICE_UNKNOWN', 'x'))), store: memory(), cacheTtlMs: 1 })
    assert.equal((await unknown.check('r', hash)).kind, 'fresh')
  })
})
