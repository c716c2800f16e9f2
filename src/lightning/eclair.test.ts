import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { startEclairSimulator, type EclairSimulator } from '../../test/simulators/eclair.ts'
import { paidRoundTrip } from '../../test/simulators/e2e.ts'
import { tempDir } from '../../test/harness.ts'
import { describeBackend } from './conformance.ts'
import { eclair } from './eclair.ts'
import { code } from '../../test/assert.ts'


describeBackend('eclair', async () => {
  const sim = await startEclairSimulator()
  return { backend: eclair({ url: sim.url, password: sim.password }), pay: async (pr) => void sim.pay(pr), teardown: () => sim.close() }
})

describe('eclair', () => {
  let sim: EclairSimulator
  before(async () => {
    sim = await startEclairSimulator({ authDelayMs: 50 })
  })
  after(() => sim.close())
  const make = (o: Partial<Parameters<typeof eclair>[0]> = {}) => eclair({ url: sim.url, password: sim.password, timeoutMs: 2000, ...o })

  it('behavior: a pending invoice whose paymentPreimage Eclair returns is still open', async () => {
    const backend = make()
    const inv = await backend.createInvoice({ amountMsat: 1500n, description: 'pending', expirySeconds: 600 })
    const raw = await fetch(`${sim.url}/getreceivedinfo`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`:${sim.password}`).toString('base64')}` },
      body: new URLSearchParams({ paymentHash: inv.paymentHash }),
    })
    const body = (await raw.json()) as { paymentPreimage: string; status: { type: string } }
    assert.equal(body.status.type, 'pending')
    assert.match(body.paymentPreimage, /^[0-9a-f]{64}$/)
    const s = await backend.lookupInvoice(inv.paymentHash)
    assert.equal(s.status, 'open')
    assert.equal(s.preimage, undefined)
  })

  it('behavior: expired invoices are expired; a received one carries amount and receivedAt', async () => {
    const backend = make()
    const a = await backend.createInvoice({ amountMsat: 1000n, expirySeconds: 600 })
    sim.expire(a.paymentHash)
    assert.equal((await backend.lookupInvoice(a.paymentHash)).status, 'expired')
    const b = await backend.createInvoice({ amountMsat: 2500n, expirySeconds: 600 })
    sim.pay(b.paymentRequest)
    const s = await backend.lookupInvoice(b.paymentHash)
    assert.equal(s.status, 'settled')
    assert.equal(s.amountMsat, 2500n)
    assert.ok(s.settledAt !== undefined && Math.abs(s.settledAt - Date.now()) < 5000)
  })

  it('behavior: sends form fields, never JSON (the simulator answers JSON bodies with 415)', async () => {
    const res = await fetch(`${sim.url}/createinvoice`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`:${sim.password}`).toString('base64')}`, 'content-type': 'application/json' },
      body: '{"description":"x","amountMsat":1000}',
    })
    assert.equal(res.status, 415)
    await res.body?.cancel()
    await make().createInvoice({ amountMsat: 1000n, expirySeconds: 60 }) // and the backend's own call works
  })

  it('error: a wrong password → TURNPIKE_BACKEND_ERROR (after Eclair\'s delay), password never shown', async () => {
    const backend = make({ password: 'hunter2-wrong' })
    await assert.rejects(backend.createInvoice({ amountMsat: 1000n, expirySeconds: 60 }), (e) => {
      code('TURNPIKE_BACKEND_ERROR')(e)
      assert.ok(!(e as Error).message.includes('hunter2'))
      return true
    })
  })

  it('error: the 1 s bad-credential delay is within the default timeout (real delay)', async () => {
    const slow = await startEclairSimulator()
    try {
      const t = Date.now()
      await assert.rejects(eclair({ url: slow.url, password: 'nope' }).lookupInvoice('00'.repeat(32)), code('TURNPIKE_BACKEND_ERROR'))
      assert.ok(Date.now() - t >= 900)
    } finally {
      await slow.close()
    }
  })

  it('error: 500 "API call failed", a hang, garbage → UNAVAILABLE; unknown hash → INVOICE_UNKNOWN', async () => {
    const backend = make({ timeoutMs: 150 })
    sim.faults.failNext({ status: 500, body: '{"error":"API call failed: check logs for more details"}' })
    await assert.rejects(backend.createInvoice({ amountMsat: 1000n, expirySeconds: 60 }), code('TURNPIKE_BACKEND_UNAVAILABLE'))
    sim.faults.failNext({ status: 200, body: 'not json' })
    await assert.rejects(backend.lookupInvoice('00'.repeat(32)), code('TURNPIKE_BACKEND_UNAVAILABLE'))
    sim.faults.hang = true
    try {
      await assert.rejects(backend.lookupInvoice('00'.repeat(32)), code('TURNPIKE_BACKEND_UNAVAILABLE'))
    } finally {
      sim.faults.hang = false
    }
    await assert.rejects(backend.lookupInvoice('00'.repeat(32)), code('TURNPIKE_INVOICE_UNKNOWN'))
    sim.faults.failNext({ status: 400, body: '{"error":"requirement failed: bad"}' })
    await assert.rejects(backend.createInvoice({ amountMsat: 1000n, expirySeconds: 60 }), code('TURNPIKE_BACKEND_ERROR'))
  })

  it('behavior: getInfo reports the node id and network', async () => {
    assert.deepEqual(await make().getInfo!(), { pubkey: sim.node.pubkey, network: 'regtest', alias: 'turnpike-eclair-sim' })
  })

  it('behavior: end to end through the gateway (password from a file)', async () => {
    const dir = tempDir('turnpike-eclair-')
    try {
      const passwordFile = join(dir.path, 'eclair-password')
      writeFileSync(passwordFile, `${sim.password}\n`)
      await paidRoundTrip({ type: 'eclair', url: sim.url, passwordFile }, (pr) => sim.pay(pr), { expectBackend: 'eclair', price: '2500msat' })
    } finally {
      dir.remove()
    }
  })
})
