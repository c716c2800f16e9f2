/**
 * The "Payment" scheme (MPP) end to end through the reverse proxy, paid by real clients:
 * lightning-tools 9 `fetchWithMpp`/`fetch402` and the mppx client with a Lightning charge method
 * whose createCredential pays through the dev node. Plus replay and tampering over HTTP.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { fetch402, fetchWithMpp } from '@getalby/lightning-tools'
import { Challenge as MppxChallenge, Credential as MppxCredential, Method, Receipt as MppxReceipt, z } from 'mppx'
import { Mppx } from 'mppx/client'
import * as Mpp from '../src/Mpp.ts'
import { echo, listen, startGateway, type Gateway } from './harness.ts'

describe('MPP with real clients', () => {
  let upstream: Awaited<ReturnType<typeof listen>>
  let g: Gateway
  let hits = 0
  let payments = 0

  const pay = async (invoice: string): Promise<string> => {
    payments++
    return (await g.rt.devNode!.pay(invoice)).preimage
  }
  const wallet = { payInvoice: async ({ invoice }: { invoice: string }) => ({ preimage: await pay(invoice) }) }

  before(async () => {
    upstream = await listen((req, res) => {
      hits++
      echo(req, res)
    })
    g = await startGateway({
      upstream: upstream.url,
      routes: [
        { name: 'mpp', path: '/mpp/*', price: '10sat', schemes: ['payment'] },
        { name: 'both', path: '/both/*', price: '21sat', schemes: ['l402', 'payment'] },
        { name: 'cheap', path: '/cheap/*', price: '1sat', schemes: ['l402', 'payment'] },
        { name: 'l402', path: '/l402/*', price: '10sat' },
      ],
    })
  })
  after(async () => {
    await g.close()
    await upstream.close()
  })

  const counts = () => ({ hits, payments })
  function delta(before: { hits: number; payments: number }) {
    return { hits: hits - before.hits, payments: payments - before.payments }
  }

  it('behavior: lightning-tools fetchWithMpp pays once on a Payment-only route and gets a receipt', async () => {
    const c0 = counts()
    const res = await fetchWithMpp(`${g.url}/mpp/data`, {}, { wallet })
    assert.equal(res.status, 200)
    assert.deepEqual(delta(c0), { hits: 1, payments: 1 })
    const receipt = Mpp.parseReceipt(res.headers.get('payment-receipt')!)
    assert.equal(receipt.status, 'success')
    assert.equal(receipt.method, 'lightning')
    assert.match(String(receipt.reference), /^[0-9a-f]{64}$/)
    assert.equal(typeof receipt.challengeId, 'string')
    assert.match(res.headers.get('cache-control') ?? '', /private/)
    const seen = (await res.json()) as { headers: Record<string, string> }
    assert.equal(seen.headers.authorization, undefined, 'the Payment credential never reaches the upstream')
  })

  it('behavior: fetchWithMpp on a mixed route works when it asks for MPP with Accept-Payment', async () => {
    const c0 = counts()
    const res = await fetchWithMpp(`${g.url}/both/x`, { headers: { 'accept-payment': 'lightning/charge' } }, { wallet })
    assert.equal(res.status, 200)
    assert.deepEqual(delta(c0), { hits: 1, payments: 1 })
    assert.ok(res.headers.get('payment-receipt'))
  })

  it('behavior: on a mixed route the L402 line stays first, so fetch402 takes the L402 path', async () => {
    const probe = await fetch(`${g.url}/both/x`)
    assert.equal(probe.status, 402)
    assert.match(probe.headers.get('www-authenticate')!, /^L402 macaroon="/)
    await probe.body?.cancel()
    const c0 = counts()
    const res = await fetch402(`${g.url}/both/x`, {}, { wallet })
    assert.equal(res.status, 200)
    assert.deepEqual(delta(c0), { hits: 1, payments: 1 })
    assert.equal(res.headers.get('payment-receipt'), null, 'no receipt for the scheme not used')
  })

  it('behavior: an L402-only route offers no Payment line', async () => {
    const res = await fetch(`${g.url}/l402/x`)
    assert.equal(res.status, 402)
    assert.doesNotMatch(res.headers.get('www-authenticate')!, /Payment /)
    assert.equal(res.headers.get('content-type'), 'application/json')
    await res.body?.cancel()
  })

  it('behavior: the mppx client with a custom lightning charge method completes a paid request', async () => {
    const charge = Method.from({
      name: 'lightning',
      intent: 'charge',
      schema: {
        credential: { payload: z.object({ preimage: z.string() }) },
        request: z.object({
          amount: z.string(),
          currency: z.string(),
          description: z.optional(z.string()),
          methodDetails: z.object({ invoice: z.string(), network: z.optional(z.string()), paymentHash: z.optional(z.string()) }),
        }),
      },
    })
    const client = Method.toClient(charge, {
      async createCredential({ challenge }) {
        const preimage = await pay(challenge.request.methodDetails.invoice)
        return MppxCredential.serialize(MppxCredential.from({ challenge, payload: { preimage } }))
      },
    })
    const mppx = Mppx.create({ methods: [client], polyfill: false })
    for (const path of ['/mpp/a', '/both/b']) {
      const c0 = counts()
      const res = await mppx.fetch(`${g.url}${path}`)
      assert.equal(res.status, 200, path)
      assert.deepEqual(delta(c0), { hits: 1, payments: 1 }, path)
      const receipt = MppxReceipt.deserialize(res.headers.get('payment-receipt')!)
      assert.equal(receipt.status, 'success')
      assert.equal(receipt.method, 'lightning')
    }
  })

  it('behavior: our challenge parses with mppx and our parser agrees', async () => {
    const res = await fetch(`${g.url}/both/x`)
    const header = res.headers.get('www-authenticate')!
    await res.body?.cancel()
    const ours = Mpp.parseChallenges(header)
    assert.equal(ours.length, 1)
    const theirs = MppxChallenge.fromResponseList(res)
    assert.equal(theirs.length, 1)
    assert.equal(theirs[0]!.id, ours[0]!.id)
    assert.equal(theirs[0]!.realm, ours[0]!.realm)
    assert.equal(theirs[0]!.expires, ours[0]!.expires)
    assert.deepEqual(theirs[0]!.request, Mpp.decodeRequest(ours[0]!.request))
  })

  describe('replay and tampering over HTTP', () => {
    async function buy(path: string) {
      const res = await fetch(`${g.url}${path}`, { headers: { 'accept-payment': 'lightning/charge' } })
      assert.equal(res.status, 402)
      const body = (await res.json()) as Record<string, unknown>
      const [challenge] = Mpp.parseChallenges(res.headers.get('www-authenticate')!)
      const preimage = await pay(String(body.invoice))
      return { challenge: challenge!, preimage }
    }
    async function problemOf(res: Response) {
      assert.equal(res.headers.get('content-type'), 'application/problem+json')
      assert.equal(res.headers.get('cache-control'), 'no-store')
      assert.equal(res.headers.get('payment-receipt'), null)
      return (await res.json()) as { type: string; status: number; challengeId?: string; code?: string }
    }
    const send = (path: string, credential: string) => fetch(`${g.url}${path}`, { headers: { authorization: credential } })

    it('error: a replayed credential gets lightning/unknown-challenge with a fresh challenge', async () => {
      const { challenge, preimage } = await buy('/mpp/r')
      const cred = Mpp.serializeCredential({ challenge, payload: { preimage } })
      const first = await send('/mpp/r', cred)
      assert.equal(first.status, 200)
      await first.body?.cancel()
      const c0 = counts()
      const again = await send('/mpp/r', cred)
      assert.equal(again.status, 402)
      assert.equal(delta(c0).hits, 0)
      const p = await problemOf(again)
      assert.equal(p.type, 'https://paymentauth.org/problems/lightning/unknown-challenge')
      assert.notEqual(p.challengeId, challenge.id, 'a fresh challenge is offered')
      assert.match(again.headers.get('www-authenticate')!, /^Payment id="/)
    })

    it('error: concurrent submissions of one credential pass exactly once', async () => {
      const { challenge, preimage } = await buy('/mpp/c')
      const cred = Mpp.serializeCredential({ challenge, payload: { preimage } })
      const results = await Promise.all(Array.from({ length: 8 }, () => send('/mpp/c', cred)))
      const statuses = results.map((r) => r.status).sort()
      await Promise.all(results.map((r) => r.body?.cancel()))
      assert.deepEqual(statuses, [200, 402, 402, 402, 402, 402, 402, 402])
    })

    it('error: the L402 token of an invoice paid through MPP is spent too (one invoice, one request)', async () => {
      const res = await fetch(`${g.url}/both/y`)
      const body = (await res.json()) as { invoice: string; macaroon: string }
      const [challenge] = Mpp.parseChallenges(res.headers.get('www-authenticate')!)
      const preimage = await pay(body.invoice)
      const ok = await send('/both/y', Mpp.serializeCredential({ challenge: challenge!, payload: { preimage } }))
      assert.equal(ok.status, 200)
      await ok.body?.cancel()
      const l402 = await send('/both/y', `L402 ${body.macaroon}:${preimage}`)
      assert.equal(l402.status, 402)
      await l402.body?.cancel()
    })

    it('error: tampered echoes, wrong preimages, another route and bad encodings get their problem types', async () => {
      const { challenge, preimage } = await buy('/mpp/t')
      const cases: [string, string, string][] = [
        ['/mpp/t', Mpp.serializeCredential({ challenge: { ...challenge, realm: 'evil' }, payload: { preimage } }), 'invalid-challenge'],
        ['/mpp/t', Mpp.serializeCredential({ challenge: { ...challenge, expires: '2999-01-01T00:00:00Z' }, payload: { preimage } }), 'invalid-challenge'],
        ['/mpp/t', Mpp.serializeCredential({ challenge, payload: { preimage: '00'.repeat(32) } }), 'lightning/invalid-preimage'],
        ['/mpp/t', Mpp.serializeCredential({ challenge, payload: { preimage: 'zz' } }), 'lightning/malformed-credential'],
        ['/mpp/t', 'Payment !!!', 'malformed-credential'],
        ['/mpp/t', 'Payment e30', 'malformed-credential'],
        ['/cheap/t', Mpp.serializeCredential({ challenge, payload: { preimage } }), 'payment-insufficient'],
      ]
      for (const [path, cred, type] of cases) {
        const c0 = counts()
        const res = await send(path, cred)
        assert.equal(res.status, 402, type)
        const p = await problemOf(res)
        assert.equal(p.type, `https://paymentauth.org/problems/${type}`)
        assert.equal(p.code, 'TURNPIKE_PAYMENT_INVALID')
        assert.equal(delta(c0).hits, 0)
      }
      // The untampered credential still works afterwards: refusals consumed nothing.
      const ok = await send('/mpp/t', Mpp.serializeCredential({ challenge, payload: { preimage } }))
      assert.equal(ok.status, 200)
      await ok.body?.cancel()
    })

    it('error: an unsupported method is a 400 without challenge; two different credentials are a 400', async () => {
      const { challenge, preimage } = await buy('/mpp/m')
      const tempo = await send('/mpp/m', Mpp.serializeCredential({ challenge: { ...challenge, method: 'tempo' }, payload: { preimage } }))
      assert.equal(tempo.status, 400)
      assert.equal((await problemOf(tempo)).type, 'https://paymentauth.org/problems/method-unsupported')
      assert.equal(tempo.headers.get('www-authenticate'), null)
      const a = Mpp.serializeCredential({ challenge, payload: { preimage } })
      const b = Mpp.serializeCredential({ challenge, payload: { preimage: '11'.repeat(32) } })
      const two = await send('/mpp/m', `${a}, ${b}`)
      assert.equal(two.status, 400)
      await two.body?.cancel()
      // The same credential twice (fetch-joined duplicates) is one credential.
      const dup = await send('/mpp/m', `${a}, ${a}`)
      assert.equal(dup.status, 200)
      await dup.body?.cancel()
    })
  })

  describe('Accept-Payment', () => {
    it('behavior: q=0 for lightning/charge drops the Payment line when another scheme is offered', async () => {
      const res = await fetch(`${g.url}/both/x`, { headers: { 'accept-payment': 'lightning/charge;q=0' } })
      assert.doesNotMatch(res.headers.get('www-authenticate')!, /Payment /)
      await res.body?.cancel()
      const only = await fetch(`${g.url}/mpp/x`, { headers: { 'accept-payment': 'tempo/charge' } })
      assert.match(only.headers.get('www-authenticate')!, /^Payment /, 'no match is ignored when nothing else is offered')
      await only.body?.cancel()
    })
    it('behavior: a malformed Accept-Payment is ignored (default order)', async () => {
      const res = await fetch(`${g.url}/both/x`, { headers: { 'accept-payment': 'garbage' } })
      const lines = res.headers.get('www-authenticate')!
      assert.match(lines, /^L402 macaroon=/)
      assert.match(lines, /, Payment id="/)
      await res.body?.cancel()
    })
  })
})
