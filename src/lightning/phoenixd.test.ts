import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import * as Bolt11 from '../Bolt11.ts'
import * as Config from '../Config.ts'
import { ConfigError } from '../Errors.ts'
import { startPhoenixdSimulator, type PhoenixdSimulator } from '../../test/simulators/phoenixd.ts'
import { paidRoundTrip } from '../../test/simulators/e2e.ts'
import { tempDir } from '../../test/harness.ts'
import { describeBackend } from './conformance.ts'
import { phoenixd } from './phoenixd.ts'
import { code } from '../../test/assert.ts'


describeBackend(
  'phoenixd (limited-access password)',
  async () => {
    const sim = await startPhoenixdSimulator()
    return { backend: phoenixd({ url: sim.url, password: sim.limitedPassword }), pay: async (pr) => void sim.pay(pr), teardown: () => sim.close() }
  },
  { msatAmounts: false },
)

describe('phoenixd', () => {
  let sim: PhoenixdSimulator
  before(async () => {
    sim = await startPhoenixdSimulator()
  })
  after(() => sim.close())
  const make = (o: Partial<Parameters<typeof phoenixd>[0]> = {}) => phoenixd({ url: sim.url, password: sim.limitedPassword, timeoutMs: 2000, ...o })

  it('behavior: invoices in whole sats; a non-whole-sat amount is refused, never rounded', async () => {
    const backend = make()
    const inv = await backend.createInvoice({ amountMsat: 21_000n, description: 'sats', expirySeconds: 600 })
    assert.equal(Bolt11.decode(inv.paymentRequest).amountMsat, 21_000n)
    const before = sim.faults.requests
    await assert.rejects(backend.createInvoice({ amountMsat: 21_500n, expirySeconds: 600 }), (e) => {
      code('TURNPIKE_BAD_REQUEST')(e)
      assert.match((e as Error).message, /whole satoshis/)
      return true
    })
    assert.equal(sim.faults.requests, before, 'refused before calling the node')
  })

  it('behavior: the always-present preimage of an unpaid payment does not make it settled', async () => {
    const backend = make()
    const inv = await backend.createInvoice({ amountMsat: 3000n, expirySeconds: 600 })
    const raw = (await (await fetch(`${sim.url}/payments/incoming/${inv.paymentHash}`, { headers: { authorization: `Basic ${Buffer.from(`:${sim.limitedPassword}`).toString('base64')}` } })).json()) as { preimage: string; isPaid: boolean }
    assert.equal(raw.isPaid, false)
    assert.match(raw.preimage, /^[0-9a-f]{64}$/)
    const s = await backend.lookupInvoice(inv.paymentHash)
    assert.equal(s.status, 'open')
    assert.equal(s.preimage, undefined)
  })

  it('behavior: on-the-fly funding: settled with the received amount (below the requested one)', async () => {
    const backend = make()
    const inv = await backend.createInvoice({ amountMsat: 10_000n, expirySeconds: 600 })
    sim.pay(inv.paymentRequest, { receivedSat: 7n })
    const s = await backend.lookupInvoice(inv.paymentHash)
    assert.equal(s.status, 'settled')
    assert.equal(s.amountMsat, 7000n)
    assert.ok(s.settledAt !== undefined && Math.abs(s.settledAt - Date.now()) < 5000, 'completedAt is in ms')
  })

  it('behavior: expired; long descriptions are cut to phoenixd\'s 128 characters', async () => {
    const backend = make()
    const inv = await backend.createInvoice({ amountMsat: 1000n, description: 'é'.repeat(300), expirySeconds: 600 })
    assert.equal(Bolt11.decode(inv.paymentRequest).description, 'é'.repeat(128))
    sim.expire(inv.paymentHash)
    assert.equal((await backend.lookupInvoice(inv.paymentHash)).status, 'expired')
  })

  it('error: wrong password → BACKEND_ERROR (plain-text 401); the limited password cannot pay', async () => {
    await assert.rejects(make({ password: 'wrong-pass' }).createInvoice({ amountMsat: 1000n, expirySeconds: 60 }), (e) => {
      code('TURNPIKE_BACKEND_ERROR')(e)
      assert.ok(!(e as Error).message.includes('wrong-pass'))
      return true
    })
    const pay = await fetch(`${sim.url}/payinvoice`, { method: 'POST', headers: { authorization: `Basic ${Buffer.from(`:${sim.limitedPassword}`).toString('base64')}` } })
    assert.equal(pay.status, 401)
    assert.match(await pay.text(), /^Invalid authentication/)
  })

  it('error: 500, hang, garbage → UNAVAILABLE; 404 "Not found" → INVOICE_UNKNOWN; 404 unknown endpoint → BACKEND_ERROR', async () => {
    const backend = make({ timeoutMs: 150 })
    sim.faults.failNext({ status: 500, body: 'java.lang.IllegalStateException', contentType: 'text/plain' })
    await assert.rejects(backend.createInvoice({ amountMsat: 1000n, expirySeconds: 60 }), code('TURNPIKE_BACKEND_UNAVAILABLE'))
    sim.faults.failNext({ status: 200, body: '{"isPaid": tru' })
    await assert.rejects(backend.lookupInvoice('00'.repeat(32)), code('TURNPIKE_BACKEND_UNAVAILABLE'))
    sim.faults.hang = true
    try {
      await assert.rejects(backend.lookupInvoice('00'.repeat(32)), code('TURNPIKE_BACKEND_UNAVAILABLE'))
    } finally {
      sim.faults.hang = false
    }
    await assert.rejects(backend.lookupInvoice('00'.repeat(32)), code('TURNPIKE_INVOICE_UNKNOWN'))
    const wrongPath = phoenixd({ url: `${sim.url}/prefix`, password: sim.limitedPassword })
    await assert.rejects(wrongPath.lookupInvoice('00'.repeat(32)), code('TURNPIKE_BACKEND_ERROR'))
  })

  it('behavior: getInfo with the limited password', async () => {
    assert.deepEqual(await make().getInfo!(), { pubkey: sim.node.pubkey, network: 'regtest' })
  })

  it('error: the config refuses non-whole-sat prices for phoenixd, with the route path', () => {
    assert.throws(
      () => Config.parse({ backend: { type: 'phoenixd', passwordFile: '/x' }, upstream: 'http://127.0.0.1:1', routes: [{ price: '10sat' }, { name: 'b', price: '2500msat' }] }),
      (e) => e instanceof ConfigError && e.issues.some((i) => i.path === 'routes[1].price' && /whole satoshis/.test(i.message)),
    )
  })

  it('behavior: end to end through the gateway (password from a file)', async () => {
    const dir = tempDir('turnpike-phoenixd-')
    try {
      const passwordFile = join(dir.path, 'limited')
      writeFileSync(passwordFile, sim.limitedPassword)
      await paidRoundTrip({ type: 'phoenixd', url: sim.url, passwordFile }, (pr) => sim.pay(pr), { expectBackend: 'phoenixd' })
    } finally {
      dir.remove()
    }
  })
})
