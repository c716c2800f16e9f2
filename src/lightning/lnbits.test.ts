import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { startLnbitsSimulator, type LnbitsSimulator } from '../../test/simulators/lnbits.ts'
import { paidRoundTrip } from '../../test/simulators/e2e.ts'
import { tempDir } from '../../test/harness.ts'
import { describeBackend } from './conformance.ts'
import { lnbits } from './lnbits.ts'
import { code } from '../../test/assert.ts'


describeBackend(
  'lnbits (invoice key)',
  async () => {
    const sim = await startLnbitsSimulator()
    return { backend: lnbits({ url: sim.url, apiKey: sim.invoiceKey }), pay: async (pr) => void sim.pay(pr), teardown: () => sim.close() }
  },
  { msatAmounts: false },
)

describe('lnbits', () => {
  let sim: LnbitsSimulator
  before(async () => {
    sim = await startLnbitsSimulator()
  })
  after(() => sim.close())
  const make = (o: Partial<Parameters<typeof lnbits>[0]> = {}) => lnbits({ url: sim.url, apiKey: sim.invoiceKey, timeoutMs: 2000, ...o })

  it('behavior: always sends out:false (the simulator treats a missing out as a payment)', async () => {
    const forgot = await fetch(`${sim.url}/api/v1/payments`, {
      method: 'POST',
      headers: { 'x-api-key': sim.invoiceKey, 'content-type': 'application/json' },
      body: JSON.stringify({ amount: 10, memo: 'oops' }),
    })
    assert.equal(forgot.status, 403)
    assert.deepEqual(await forgot.json(), { detail: 'Invalid adminkey.' })
    // even with the admin key the backend never pays
    await make({ apiKey: sim.adminKey }).createInvoice({ amountMsat: 10_000n, expirySeconds: 60 })
    assert.deepEqual(sim.outgoing, [])
  })

  it('behavior: a pending payment whose preimage LNbits shows (even without a key) is open', async () => {
    const backend = make()
    const inv = await backend.createInvoice({ amountMsat: 5000n, expirySeconds: 600 })
    const anonymous = (await (await fetch(`${sim.url}/api/v1/payments/${inv.paymentHash}`)).json()) as { paid: boolean; preimage: string }
    assert.equal(anonymous.paid, false)
    assert.match(anonymous.preimage, /^[0-9a-f]{64}$/)
    const s = await backend.lookupInvoice(inv.paymentHash)
    assert.equal(s.status, 'open')
    assert.equal(s.preimage, undefined)
    assert.equal(s.amountMsat, 5000n)
  })

  it('behavior: failed → canceled; past details.expiry → expired; paid → settled', async () => {
    const backend = make()
    const a = await backend.createInvoice({ amountMsat: 1000n, expirySeconds: 600 })
    sim.fail(a.paymentHash)
    assert.equal((await backend.lookupInvoice(a.paymentHash)).status, 'canceled')
    const b = await backend.createInvoice({ amountMsat: 1000n, expirySeconds: 600 })
    sim.expire(b.paymentHash)
    assert.equal((await backend.lookupInvoice(b.paymentHash)).status, 'expired')
    const c = await backend.createInvoice({ amountMsat: 1000n, expirySeconds: 600 })
    sim.pay(c.paymentRequest)
    assert.equal((await backend.lookupInvoice(c.paymentHash)).status, 'settled')
  })

  it('behavior: whole sats only', async () => {
    await assert.rejects(make().createInvoice({ amountMsat: 1001n, expirySeconds: 60 }), code('TURNPIKE_BAD_REQUEST'))
  })

  it('error: an unknown key (404 Wallet not found) → BACKEND_ERROR; 520 funding failure → UNAVAILABLE', async () => {
    await assert.rejects(make({ apiKey: 'deadbeefdeadbeef' }).createInvoice({ amountMsat: 1000n, expirySeconds: 60 }), (e) => {
      code('TURNPIKE_BACKEND_ERROR')(e)
      assert.ok(!(e as Error).message.includes('deadbeef'))
      return true
    })
    sim.failFunding()
    await assert.rejects(make().createInvoice({ amountMsat: 1000n, expirySeconds: 60 }), (e) => {
      code('TURNPIKE_BACKEND_UNAVAILABLE')(e)
      assert.doesNotMatch((e as Error).message, /127\.0\.0\.1:8080/, 'funding-source text stays in the cause')
      return true
    })
  })

  it('error: 500, hang, garbage → UNAVAILABLE; unknown hash → INVOICE_UNKNOWN', async () => {
    const backend = make({ timeoutMs: 150 })
    sim.faults.failNext({ status: 500, body: '{"detail":"Internal Server Error"}' })
    await assert.rejects(backend.createInvoice({ amountMsat: 1000n, expirySeconds: 60 }), code('TURNPIKE_BACKEND_UNAVAILABLE'))
    sim.faults.failNext({ status: 201, body: '<html>' })
    await assert.rejects(backend.createInvoice({ amountMsat: 1000n, expirySeconds: 60 }), code('TURNPIKE_BACKEND_UNAVAILABLE'))
    sim.faults.hang = true
    try {
      await assert.rejects(backend.lookupInvoice('00'.repeat(32)), code('TURNPIKE_BACKEND_UNAVAILABLE'))
    } finally {
      sim.faults.hang = false
    }
    await assert.rejects(backend.lookupInvoice('00'.repeat(32)), code('TURNPIKE_INVOICE_UNKNOWN'))
  })

  it('behavior: pre-1.0 answers ({payment_hash, payment_request} only) are accepted', async () => {
    const backend = make()
    const real = await backend.createInvoice({ amountMsat: 2000n, expirySeconds: 60 })
    sim.faults.failNext({ status: 201, body: JSON.stringify({ payment_hash: real.paymentHash, payment_request: real.paymentRequest, checking_id: real.paymentHash, lnurl_response: null }) })
    const inv = await backend.createInvoice({ amountMsat: 2000n, expirySeconds: 60 })
    assert.equal(inv.paymentHash, real.paymentHash)
  })

  it('behavior: end to end through the gateway (key from a file)', async () => {
    const dir = tempDir('turnpike-lnbits-')
    try {
      const apiKeyFile = join(dir.path, 'inkey')
      writeFileSync(apiKeyFile, sim.invoiceKey)
      await paidRoundTrip({ type: 'lnbits', url: sim.url, apiKeyFile }, (pr) => sim.pay(pr), { expectBackend: 'lnbits' })
    } finally {
      dir.remove()
    }
  })
})
