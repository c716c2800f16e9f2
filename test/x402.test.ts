/**
 * x402 `exact` on Lightning through the reverse proxy, paid by lightning-tools 9 `fetchWithX402`
 * and `fetch402`; composition of every scheme on one invoice.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { fetch402, fetchWithX402 } from '@getalby/lightning-tools'
import * as Mpp from '../src/Mpp.ts'
import * as X402 from '../src/X402.ts'
import { echo, listen, startGateway, type Gateway } from './harness.ts'

describe('x402 with real clients', () => {
  let upstream: Awaited<ReturnType<typeof listen>>
  let g: Gateway
  let hits = 0
  let payments = 0
  const wallet = {
    payInvoice: async ({ invoice }: { invoice: string }) => {
      payments++
      return { preimage: (await g.rt.devNode!.pay(invoice)).preimage }
    },
  }

  before(async () => {
    upstream = await listen((req, res) => {
      hits++
      echo(req, res)
    })
    g = await startGateway({
      upstream: upstream.url,
      routes: [
        { name: 'x402', path: '/x402/*', price: '10sat', schemes: ['x402'] },
        { name: 'all', path: '/all/*', price: '21sat', schemes: ['l402', 'payment', 'x402'] },
        { name: 'other', path: '/other/*', price: '10sat', schemes: ['x402'] },
      ],
    })
  })
  after(async () => {
    await g.close()
    await upstream.close()
  })
  const snap = () => ({ hits, payments })
  const delta = (s: { hits: number; payments: number }) => ({ hits: hits - s.hits, payments: payments - s.payments })

  it('behavior: fetchWithX402 pays once and gets PAYMENT-RESPONSE; the signature never reaches the upstream', async () => {
    const s = snap()
    const res = await fetchWithX402(`${g.url}/x402/data`, {}, { wallet })
    assert.equal(res.status, 200)
    assert.deepEqual(delta(s), { hits: 1, payments: 1 })
    const r = X402.decodeResponse(res.headers.get('payment-response')!)
    assert.equal(r.success, true)
    assert.equal(r.network, X402.networks.regtest)
    assert.match(r.transaction, /^[0-9a-f]{64}$/)
    const seen = (await res.json()) as { headers: Record<string, string> }
    assert.equal(seen.headers['payment-signature'], undefined)
    assert.equal(res.headers.get('payment-receipt'), null)
  })

  it('behavior: fetch402 takes the x402 path when only PAYMENT-REQUIRED is offered', async () => {
    const s = snap()
    const res = await fetch402(`${g.url}/x402/data`, {}, { wallet })
    assert.equal(res.status, 200)
    assert.deepEqual(delta(s), { hits: 1, payments: 1 })
    await res.body?.cancel()
  })

  it('behavior: fetchWithX402 works on a route offering every scheme', async () => {
    const s = snap()
    const res = await fetchWithX402(`${g.url}/all/data`, {}, { wallet })
    assert.equal(res.status, 200)
    assert.deepEqual(delta(s), { hits: 1, payments: 1 })
    await res.body?.cancel()
  })

  it('behavior: one 402 shows every challenge on one invoice, L402 first, then Payment, then PAYMENT-REQUIRED', async () => {
    const res = await fetch(`${g.url}/all/x`)
    assert.equal(res.status, 402)
    const body = (await res.json()) as { invoice: string; payment_hash: string; type: string }
    const www = res.headers.get('www-authenticate')!
    assert.match(www, /^L402 macaroon="[^"]+", invoice="([^"]+)"/)
    assert.equal(/invoice="([^"]+)"/.exec(www)![1], body.invoice)
    const [mpp] = Mpp.parseChallenges(www)
    const req = Mpp.decodeRequest(mpp!.request) as { methodDetails: { invoice: string; paymentHash: string } }
    assert.equal(req.methodDetails.invoice, body.invoice)
    assert.equal(req.methodDetails.paymentHash, body.payment_hash)
    const required = X402.decodeRequired(res.headers.get('payment-required')!)
    assert.equal(required.accepts[0]!.extra.invoice, body.invoice)
    assert.equal(required.accepts[0]!.amount, '21000')
    assert.equal(required.resource.url, `http://${new URL(g.url).host}/all/x`)
    assert.equal(body.type, 'https://paymentauth.org/problems/payment-required')
    assert.match(res.headers.get('access-control-expose-headers')!, /PAYMENT-REQUIRED/)
  })

  async function challenge(path: string) {
    const res = await fetch(`${g.url}${path}`)
    await res.body?.cancel()
    return X402.decodeRequired(res.headers.get('payment-required')!).accepts[0]!
  }
  const send = (path: string, sig: string) => fetch(`${g.url}${path}`, { headers: { 'payment-signature': sig } })

  it('error: an unpaid invoice is 402 + Retry-After naming the same invoice; paying then retrying works', async () => {
    const req = await challenge('/x402/p')
    const sig = X402.encodeSignature(req)
    const s = snap()
    const pending = await send('/x402/p', sig)
    assert.equal(pending.status, 402)
    assert.equal(pending.headers.get('retry-after'), '2')
    assert.equal(X402.decodeRequired(pending.headers.get('payment-required')!).accepts[0]!.extra.invoice, req.extra.invoice)
    const p = (await pending.json()) as { code: string }
    assert.equal(p.code, 'TURNPIKE_PAYMENT_PENDING')
    await wallet.payInvoice({ invoice: req.extra.invoice })
    const ok = await send('/x402/p', sig)
    assert.equal(ok.status, 200)
    await ok.body?.cancel()
    assert.deepEqual(delta(s), { hits: 1, payments: 1 })
  })

  it('error: a replayed signature, another route\'s invoice and a tampered invoice get a fresh challenge', async () => {
    const req = await challenge('/x402/r')
    await wallet.payInvoice({ invoice: req.extra.invoice })
    const sig = X402.encodeSignature(req)
    const first = await send('/x402/r', sig)
    assert.equal(first.status, 200)
    await first.body?.cancel()
    const s = snap()
    for (const [path, bad] of [
      ['/x402/r', sig],
      ['/other/r', sig],
      ['/x402/r', X402.encodeSignature(req, req.extra.invoice.slice(0, -3) + 'qqq')],
    ] as const) {
      const res = await send(path, bad)
      assert.equal(res.status, 402, path)
      const required = X402.decodeRequired(res.headers.get('payment-required')!)
      assert.notEqual(required.accepts[0]!.extra.invoice, req.extra.invoice, 'a fresh invoice')
      assert.equal(typeof required.error, 'string')
      const p = (await res.json()) as { code: string }
      assert.equal(p.code, 'TURNPIKE_PAYMENT_INVALID')
    }
    assert.equal(delta(s).hits, 0)
  })

  it('error: an invoice paid through x402 cannot also be spent through L402 or MPP', async () => {
    const res = await fetch(`${g.url}/all/z`)
    const body = (await res.json()) as { invoice: string; macaroon: string }
    const [mpp] = Mpp.parseChallenges(res.headers.get('www-authenticate')!)
    const req = X402.decodeRequired(res.headers.get('payment-required')!).accepts[0]!
    const { preimage } = await wallet.payInvoice({ invoice: body.invoice })
    const ok = await send('/all/z', X402.encodeSignature(req))
    assert.equal(ok.status, 200)
    await ok.body?.cancel()
    for (const authorization of [`L402 ${body.macaroon}:${preimage}`, Mpp.serializeCredential({ challenge: mpp!, payload: { preimage } })]) {
      const again = await fetch(`${g.url}/all/z`, { headers: { authorization } })
      assert.equal(again.status, 402)
      await again.body?.cancel()
    }
  })
})
