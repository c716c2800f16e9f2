import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { waitForSettlement } from '../Lightning.ts'
import { hasOpenssl, selfSignedCert } from '../../test/simulators/common.ts'
import { startClnSimulator, type ClnSimulator } from '../../test/simulators/cln.ts'
import { challengeOf, echo, listen, startGateway, tempDir } from '../../test/harness.ts'
import { cln } from './cln.ts'
import { describeBackend } from './conformance.ts'
import { code } from '../../test/assert.ts'

const scratch = tempDir('turnpike-cln-')
after(() => scratch.remove())
let sockets = 0
const socketPath = (): string => join(scratch.path, `rpc-${++sockets}`)


describeBackend('cln (clnrest, restricted rune, subscribe via wait)', async () => {
  const sim = await startClnSimulator()
  const backend = cln({ url: sim.url, rune: sim.invoiceRune })
  return { backend, pay: async (pr) => void sim.pay(pr), teardown: async () => sim.close() }
})

describeBackend('cln (lightning-rpc unix socket)', async () => {
  const sim = await startClnSimulator({ socketPath: socketPath() })
  const backend = cln({ socket: sim.socketPath })
  return { backend, pay: async (pr) => void sim.pay(pr), teardown: async () => sim.close() }
})

describe('cln', () => {
  let sim: ClnSimulator
  before(async () => {
    sim = await startClnSimulator({ socketPath: socketPath() })
  })
  after(() => sim.close())
  const rest = (o: Partial<Parameters<typeof cln>[0]> = {}) => cln({ url: sim.url, rune: sim.invoiceRune, timeoutMs: 2000, ...o })
  const sock = (o: Partial<Parameters<typeof cln>[0]> = {}) => cln({ socket: sim.socketPath, timeoutMs: 2000, ...o })

  it('behavior: clnrest answers 201 with the RPC result; 403 without a rune; 401 with a bad one', async () => {
    const ok = await fetch(`${sim.url}/v1/listinvoices`, { method: 'POST', headers: { rune: sim.rune, 'content-type': 'application/json' }, body: '{}' })
    assert.equal(ok.status, 201)
    assert.deepEqual(await ok.json(), { invoices: [] })
    const missing = await fetch(`${sim.url}/v1/listinvoices`, { method: 'POST', body: '{}' })
    assert.equal(missing.status, 403)
    assert.deepEqual(await missing.json(), { code: 1501, message: 'Not authorized: Missing rune' })
    const bad = await fetch(`${sim.url}/v1/listinvoices`, { method: 'POST', headers: { rune: 'AAAA' }, body: '{}' })
    assert.equal(bad.status, 401)
    assert.equal(((await bad.json()) as { code: number }).code, 1502)
  })

  it('behavior: listinvoices shows payment_preimage, pay_index and paid_at only once paid', async () => {
    const backend = rest()
    const inv = await backend.createInvoice({ amountMsat: 5000n, description: 'fields', expirySeconds: 600 })
    const list = async () => {
      const r = await fetch(`${sim.url}/v1/listinvoices`, { method: 'POST', headers: { rune: sim.rune }, body: JSON.stringify({ payment_hash: inv.paymentHash }) })
      return ((await r.json()) as { invoices: Record<string, unknown>[] }).invoices[0]!
    }
    const before = await list()
    assert.equal(before.status, 'unpaid')
    for (const k of ['payment_preimage', 'pay_index', 'paid_at', 'amount_received_msat']) assert.ok(!(k in before), k)
    assert.match(String(before.label), /^turnpike-[0-9a-f]{32}$/)
    assert.equal(before.amount_msat, 5000)
    sim.pay(inv.paymentRequest)
    const paid = await list()
    assert.equal(paid.status, 'paid')
    for (const k of ['payment_preimage', 'pay_index', 'paid_at', 'amount_received_msat']) assert.ok(k in paid, k)
  })

  it('behavior: an unpaid invoice whose preimage is listed (quirk mode) is still open', async () => {
    const leaky = await startClnSimulator({ leakPreimage: true })
    try {
      const backend = cln({ url: leaky.url, rune: leaky.rune })
      const inv = await backend.createInvoice({ amountMsat: 1000n, expirySeconds: 600 })
      const s = await backend.lookupInvoice(inv.paymentHash)
      assert.equal(s.status, 'open')
      assert.equal(s.preimage, undefined)
    } finally {
      await leaky.close()
    }
  })

  it('behavior: expired invoices report expired over both transports', async () => {
    for (const backend of [rest(), sock()]) {
      const inv = await backend.createInvoice({ amountMsat: 1000n, expirySeconds: 600 })
      sim.expire(inv.paymentHash)
      assert.equal((await backend.lookupInvoice(inv.paymentHash)).status, 'expired')
    }
  })

  it('behavior: waitInvoice blocks in waitinvoice until paid (socket and clnrest), then resolves settled', async () => {
    for (const backend of [sock(), rest()]) {
      const inv = await backend.createInvoice({ amountMsat: 3000n, description: 'wait', expirySeconds: 600 })
      const waiting = backend.waitInvoice(inv.paymentHash)
      const t = Date.now()
      while (sim.waiting() === 0 && Date.now() - t < 2000) await new Promise((r) => setTimeout(r, 5))
      assert.equal(sim.waiting(), 1, 'the RPC is blocked server-side')
      sim.pay(inv.paymentRequest)
      const s = await waiting
      assert.equal(s.status, 'settled')
      assert.equal(s.amountMsat, 3000n)
    }
  })

  it('error: waitInvoice on an invoice that expires → TURNPIKE_INVOICE_EXPIRED (lightningd 903)', async () => {
    const backend = sock()
    const inv = await backend.createInvoice({ amountMsat: 1000n, expirySeconds: 600 })
    const waiting = backend.waitInvoice(inv.paymentHash)
    await new Promise((r) => setTimeout(r, 30))
    sim.expire(inv.paymentHash)
    await assert.rejects(waiting, code('TURNPIKE_INVOICE_EXPIRED'))
  })

  it('error: a wrong rune or one lacking the method → TURNPIKE_BACKEND_ERROR without the rune in it', async () => {
    const wrong = cln({ url: sim.url, rune: 'V1ZQWkVPc3JmTmlZY1dOVVZaY0Y0Mm1kR0d1', timeoutMs: 2000 })
    await assert.rejects(wrong.createInvoice({ amountMsat: 1000n, expirySeconds: 60 }), (e) => {
      code('TURNPIKE_BACKEND_ERROR')(e)
      assert.match((e as Error).message, /rejected the credentials/)
      assert.ok(!String((e as Error).message).includes('V1ZQ'))
      return true
    })
    await assert.rejects(rest().getInfo!(), code('TURNPIKE_BACKEND_ERROR'))
    assert.equal((await rest({ rune: sim.rune }).getInfo!()).network, 'regtest')
    assert.equal((await sock().getInfo!()).pubkey, sim.node.pubkey)
  })

  it('error: clnrest 500 without an RPC error, 502/503 and garbage → UNAVAILABLE; an RPC error → BACKEND_ERROR', async () => {
    const backend = rest()
    sim.faults.failNext({ status: 500, body: 'Internal Server Error', contentType: 'text/plain' })
    await assert.rejects(backend.createInvoice({ amountMsat: 1000n, expirySeconds: 60 }), code('TURNPIKE_BACKEND_UNAVAILABLE'))
    sim.faults.failNext({ status: 502, body: 'Bad gateway', contentType: 'text/plain' })
    await assert.rejects(backend.lookupInvoice('00'.repeat(32)), code('TURNPIKE_BACKEND_UNAVAILABLE'))
    sim.faults.failNext({ status: 201, body: '{"invoices": [' })
    await assert.rejects(backend.lookupInvoice('00'.repeat(32)), code('TURNPIKE_BACKEND_UNAVAILABLE'))
    sim.faults.failNext({ status: 500, body: '{"code":900,"message":"Duplicate label \'turnpike-x\'"}' })
    await assert.rejects(backend.createInvoice({ amountMsat: 1000n, expirySeconds: 60 }), (e) => {
      code('TURNPIKE_BACKEND_ERROR')(e)
      assert.doesNotMatch((e as Error).message, /turnpike-x/)
      return true
    })
  })

  it('error: a hanging node → UNAVAILABLE after the timeout (clnrest and socket)', async () => {
    sim.faults.hang = true
    sim.socketFaults.hang = true
    try {
      for (const backend of [rest({ timeoutMs: 150 }), sock({ timeoutMs: 150 })]) {
        const t = Date.now()
        await assert.rejects(backend.createInvoice({ amountMsat: 1000n, expirySeconds: 60 }), (e) => {
          code('TURNPIKE_BACKEND_UNAVAILABLE')(e)
          assert.match((e as Error).message, /timed out after 150 ms/)
          return true
        })
        assert.ok(Date.now() - t < 1500)
      }
    } finally {
      sim.faults.hang = false
      sim.socketFaults.hang = false
    }
  })

  it('error: a garbled socket answer, a missing socket → UNAVAILABLE', async () => {
    sim.socketFaults.garbageNext = true
    await assert.rejects(sock().lookupInvoice('00'.repeat(32)), code('TURNPIKE_BACKEND_UNAVAILABLE'))
    await assert.rejects(cln({ socket: join(scratch.path, 'nope') }).lookupInvoice('00'.repeat(32)), (e) => {
      code('TURNPIKE_BACKEND_UNAVAILABLE')(e)
      assert.match((e as Error).message, /unreachable/)
      return true
    })
  })

  it('behavior: waitForSettlement follows the wait/listinvoices change feed', async () => {
    const backend = sock()
    const inv = await backend.createInvoice({ amountMsat: 1000n, expirySeconds: 600 })
    const waiting = waitForSettlement(backend, inv.paymentHash, { intervalMs: 5000, timeoutMs: 5000 })
    await new Promise((r) => setTimeout(r, 50))
    const t = Date.now()
    sim.pay(inv.paymentRequest)
    const s = await waiting
    assert.equal(s.status, 'settled')
    assert.ok(Date.now() - t < 1000, 'pushed, not polled (poll interval 5 s)')
  })

  it('error: construction refuses bad option sets', () => {
    assert.throws(() => cln({}), /exactly one of url/)
    assert.throws(() => cln({ url: sim.url, socket: '/x' }), /exactly one of url/)
    assert.throws(() => cln({ url: sim.url }), /exactly one of rune and runeFile/)
    assert.throws(() => cln({ socket: '/x', rune: 'abc' }), /takes no rune/)
    assert.throws(() => cln({ url: sim.url, rune: 'has space' }), /base64/)
  })
})

describe('cln over https with a pinned CA', { skip: hasOpenssl() ? false : 'openssl not available' }, () => {
  it('behavior: pins the certificate; a different one → UNAVAILABLE', async () => {
    const good = selfSignedCert('cln')
    const other = selfSignedCert('other')
    const sim = await startClnSimulator({ tls: good })
    try {
      const backend = cln({ url: sim.url, rune: sim.rune, tlsCert: good.cert })
      const inv = await backend.createInvoice({ amountMsat: 1000n, expirySeconds: 60 })
      assert.equal((await backend.lookupInvoice(inv.paymentHash)).status, 'open')
      await backend.close!()
      const wrong = cln({ url: sim.url, rune: sim.rune, tlsCert: other.cert })
      await assert.rejects(wrong.lookupInvoice(inv.paymentHash), code('TURNPIKE_BACKEND_UNAVAILABLE'))
      await wrong.close!()
    } finally {
      await sim.close()
    }
  })
})

describe('cln end to end through the gateway', () => {
  for (const transport of ['socket', 'clnrest'] as const) {
    it(`behavior: 402 → pay in the simulator → 200 (${transport})`, async () => {
      const sim = await startClnSimulator({ socketPath: socketPath() })
      const upstream = await listen(echo)
      const runeFile = join(scratch.path, `rune-${sockets}`)
      writeFileSync(runeFile, `${sim.invoiceRune}\n`)
      const g = await startGateway({
        backend: transport === 'socket' ? { type: 'cln', socket: sim.socketPath } : { type: 'cln', url: sim.url, runeFile },
        upstream: upstream.url,
        routes: [{ name: 'paid', path: '/*', price: '2500msat' }],
      })
      try {
        const res = await fetch(`${g.url}/a`)
        assert.equal(res.status, 402)
        await res.body?.cancel()
        const { macaroon, invoice } = challengeOf(res)
        const { preimage } = sim.pay(invoice)
        const ok = await fetch(`${g.url}/a`, { headers: { authorization: `L402 ${macaroon}:${preimage}` } })
        assert.equal(ok.status, 200)
        await ok.body?.cancel()
      } finally {
        await g.close()
        await upstream.close()
        await sim.close()
      }
    })
  }
})
