import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { is } from './Errors.ts'
import type { Backend } from './Lightning.ts'
import { dev } from './lightning/dev.ts'
import { memory } from './store/memory.ts'
import type { Refused } from './internal/outcome.ts'
import * as X402 from './X402.ts'

const route = { name: 'api', priceMsat: 10_000n }
const resource = { url: 'http://localhost/api/x', description: 'api' }

async function setup(o: { now?: () => number } = {}) {
  const node = dev(o.now ? { now: o.now } : {})
  const store = memory({ pruneIntervalMs: 0 })
  const issue = async (r = route, amountMsat = r.priceMsat, expirySeconds = 600) => {
    const inv = await node.createInvoice({ amountMsat, expirySeconds, description: 'api' })
    await store.putInvoice({ ...inv, route: r.name, tokenId: '00'.repeat(32), expiresAt: inv.expiresAt + 86_400_000 })
    return inv
  }
  const params = (over: Partial<X402.AcceptParameters> = {}): X402.AcceptParameters => ({
    route,
    store,
    backend: node,
    now: Date.now(),
    lookupTimeoutMs: 1000,
    graceSeconds: 3600,
    resource,
    ...over,
  })
  return { node, store, issue, params }
}

const sig = (inv: { paymentRequest: string; amountMsat: bigint; createdAt: number; expiresAt: number }) => X402.encodeSignature(X402.requirements(inv))

describe('X402 codec', () => {
  it('behavior: the Lightning entry follows protocols.md §7 (msat amount, CAIP-2 network, invoice in extra)', async () => {
    const { issue } = await setup()
    const inv = await issue()
    const r = X402.requirements(inv)
    assert.deepEqual(r, {
      scheme: 'exact',
      network: 'bip122:0f9188f13cb7b2c71f2a335e3a4fc328',
      amount: '10000',
      asset: 'BTC',
      payTo: 'anonymous',
      maxTimeoutSeconds: 600,
      extra: { paymentMethod: 'lightning', invoice: inv.paymentRequest },
    })
    const header = X402.encodeRequired({ x402Version: 2, resource, accepts: [r] })
    assert.match(header, /^[A-Za-z0-9+/]+=*$/, 'standard base64')
    assert.deepEqual(X402.decodeRequired(header).accepts, [r])
    assert.equal(X402.networkOf('lnbc1x'), X402.networks.mainnet)
    assert.equal(X402.networkOf('lntb1x'), X402.networks.testnet)
    assert.equal(X402.networkOf('lntbs1x'), X402.networks.signet)
  })

  it('behavior: parseSignature accepts std and url-safe base64, v1 and v2 shapes', () => {
    const v2 = Buffer.from(JSON.stringify({ x402Version: 2, accepted: { scheme: 'exact', extra: { invoice: 'lnbc1' } }, payload: { invoice: 'lnbc1' } }))
    assert.equal(X402.parseSignature(v2.toString('base64')).payload.invoice, 'lnbc1')
    assert.equal(X402.parseSignature(v2.toString('base64url')).payload.invoice, 'lnbc1')
    const v1 = Buffer.from(JSON.stringify({ x402Version: 1, scheme: 'exact', payload: { invoice: 'lnbc2' } })).toString('base64')
    assert.equal(X402.parseSignature(v1).x402Version, 1)
  })

  it('error: parseSignature refuses a payload that differs from accepted, a non-exact scheme, junk', () => {
    const enc = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64')
    for (const bad of [
      enc({ x402Version: 2, accepted: { extra: { invoice: 'lnbc1' } }, payload: { invoice: 'lnbc2' } }),
      enc({ x402Version: 2, accepted: { scheme: 'upto' }, payload: { invoice: 'lnbc2' } }),
      enc({ x402Version: 2, payload: {} }),
      enc([1]),
      'not base64!',
      Buffer.from('{"a":').toString('base64'),
    ]) {
      assert.throws(() => X402.parseSignature(bad), (e: unknown) => is(e, 'TURNPIKE_CREDENTIAL_MALFORMED'))
    }
  })
})

describe('X402.accept', () => {
  it('behavior: a settled invoice issued for the route pays once, with PAYMENT-RESPONSE', async () => {
    const { node, issue, params } = await setup()
    const inv = await issue()
    await node.pay(inv.paymentRequest)
    const r = await X402.accept(sig(inv), params())
    assert.ok(r.ok)
    assert.equal(r.claimKey, `l402:${inv.paymentHash}`)
    const [name, value] = r.responseHeaders[0]!
    assert.equal(name, 'payment-response')
    const body = X402.decodeResponse(value)
    assert.equal(body.success, true)
    assert.equal(body.transaction, inv.paymentHash)
    assert.equal(body.payer, 'anonymous')
    assert.equal(body.extra?.invoice, inv.paymentRequest)
    assert.match(body.extra?.settledAt ?? '', /^\d{4}-\d\d-\d\dT/)
  })

  it('behavior: an unsettled invoice is 402 PAYMENT_PENDING with Retry-After and the same invoice', async () => {
    const { issue, params } = await setup()
    const inv = await issue()
    const r = (await X402.accept(sig(inv), params())) as Refused
    assert.equal(r.ok, false)
    assert.equal(r.code, 'TURNPIKE_PAYMENT_PENDING')
    assert.equal(r.challenge, false, 'no fresh invoice that could be paid twice')
    const h = new Map(r.headers)
    assert.equal(h.get('retry-after'), '2')
    assert.equal(X402.decodeRequired(h.get('payment-required')!).accepts[0]!.extra.invoice, inv.paymentRequest)
  })

  it('error: foreign, other-route, wrong-amount, canceled, expired and unknown invoices get a fresh challenge', async () => {
    const { node, issue, params } = await setup()
    const foreign = await dev().createInvoice({ amountMsat: 10_000n, expirySeconds: 600 })
    const other = await issue({ name: 'other', priceMsat: 10_000n })
    const cheap = await issue(route, 9_000n)
    const canceled = await issue()
    await node.cancel(canceled.paymentHash)
    const cases: [string, string][] = [
      [sig(foreign), 'not issued'],
      [sig(other), 'another resource'],
      [sig(cheap), 'costs'],
      [sig(canceled), 'canceled'],
      [Buffer.from('{}').toString('base64'), 'payload.invoice'],
    ]
    for (const [s, why] of cases) {
      const r = (await X402.accept(s, params())) as Refused
      assert.equal(r.ok, false)
      assert.equal(r.code, 'TURNPIKE_PAYMENT_INVALID')
      assert.equal(r.challenge, true)
      assert.match(r.detail, new RegExp(why))
    }
    const old = await issue()
    await node.pay(old.paymentRequest)
    const late = (await X402.accept(sig(old), params({ now: old.expiresAt + 3600_000 + 1 }))) as Refused
    assert.match(late.detail, /expired/)
    const open = await issue()
    const unpaidExpired = (await X402.accept(sig(open), params({ now: open.expiresAt + 1000 }))) as Refused
    assert.equal(unpaidExpired.challenge, true)
  })

  it('error: a backend that cannot answer in time rejects with TURNPIKE_BACKEND_UNAVAILABLE (credential untouched)', async () => {
    const { node, issue, params } = await setup()
    const inv = await issue()
    const slow: Backend = {
      ...node,
      lookupInvoice: (_h, o) =>
        new Promise((_r, reject) => o?.signal?.addEventListener('abort', () => reject(o.signal!.reason))),
    }
    await assert.rejects(X402.accept(sig(inv), params({ backend: slow, lookupTimeoutMs: 50 })), (e: unknown) => is(e, 'TURNPIKE_BACKEND_UNAVAILABLE') && e.retryAfter === 2)
  })
})
