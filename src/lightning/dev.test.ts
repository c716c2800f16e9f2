import assert from 'node:assert/strict'
import { createHmac } from 'node:crypto'
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { sha256 } from '@noble/hashes/sha2.js'
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js'
import * as Bolt11 from '../Bolt11.ts'
import { TurnpikeError } from '../Errors.ts'
import { waitForSettlement } from '../Lightning.ts'
import type { Backend } from '../Lightning.ts'
import { describeBackend } from './conformance.ts'
import { dev, loadOrCreateNodeKey } from './dev.ts'
import { code } from '../../test/assert.ts'

const scratch = mkdtempSync(join(tmpdir(), 'turnpike-dev-'))
after(() => rmSync(scratch, { recursive: true, force: true }))
let dirs = 0
const freshDir = (): string => join(scratch, `node-${++dirs}`, 'nested')


describeBackend('dev', async () => {
  const backend = dev()
  return { backend, pay: async (pr) => void (await backend.pay(pr)), teardown: () => backend.close!() }
})

describeBackend('dev (polling only, no subscribe)', async () => {
  const node = dev({ dataDir: freshDir() })
  const backend: Backend = {
    name: 'dev-polling',
    createInvoice: (p) => node.createInvoice(p),
    lookupInvoice: (h, o) => node.lookupInvoice(h, o),
  }
  return { backend, pay: async (pr) => void (await node.pay(pr)), teardown: () => node.close!() }
})

describe('loadOrCreateNodeKey', () => {
  it('behavior: creates the key file with mode 0600 in a 0700 directory, then reuses it', () => {
    const dir = freshDir()
    const first = loadOrCreateNodeKey(dir)
    assert.equal(first.created, true)
    assert.equal(first.key.length, 32)
    const file = join(dir, 'dev-node.key')
    assert.equal(statSync(file).mode & 0o777, 0o600)
    assert.equal(statSync(dir).mode & 0o777, 0o700)
    const second = loadOrCreateNodeKey(dir)
    assert.equal(second.created, false)
    assert.deepEqual(second.key, first.key)
  })

  it('error: refuses a key file that is not a valid secp256k1 private key', () => {
    for (const content of ['not hex', '00'.repeat(32), 'ff'.repeat(32), 'ab'.repeat(31)]) {
      const dir = freshDir()
      loadOrCreateNodeKey(dir)
      writeFileSync(join(dir, 'dev-node.key'), content)
      assert.throws(() => loadOrCreateNodeKey(dir), /valid secp256k1 private key/)
    }
  })
})

describe('dev', () => {
  it('behavior: issues regtest invoices signed by the node key, without an n field', async () => {
    const key = hexToBytes('e126f68f7eafcc8b74f54d269fe206be715000f94dac067d1c04a8ca3b2db734')
    const backend = dev({ privateKey: key })
    assert.equal(backend.pubkey, '03e7156ae33b0a208d0744199163177e909e80176e55d97a2f221ede0f934dd9ad')
    assert.equal(backend.network, 'regtest')
    assert.deepEqual(await backend.getInfo!(), { pubkey: backend.pubkey, network: 'regtest', alias: 'turnpike-dev' })
    const inv = await backend.createInvoice({ amountMsat: 10_000n, expirySeconds: 600 })
    assert.ok(inv.paymentRequest.startsWith('lnbcrt100n1'))
    const d = Bolt11.decode(inv.paymentRequest)
    assert.equal(d.payee, backend.pubkey)
    assert.equal(d.description, '')
    assert.deepEqual(d.features, [8, 14])
    assert.equal(d.minFinalCltvExpiry, 80)
    assert.equal(d.paymentSecret.length, 64)
    // No `n` field: re-encoding the same fields without it reproduces the invoice exactly.
    const again = Bolt11.encode({
      network: 'regtest',
      amountMsat: 10_000n,
      timestamp: d.timestamp,
      paymentHash: d.paymentHash,
      paymentSecret: d.paymentSecret,
      description: '',
      expiry: 600,
      minFinalCltvExpiry: 80,
      privateKey: key,
    })
    assert.equal(again, inv.paymentRequest)
  })

  it('behavior: the preimage is HMAC-SHA256(node key, "turnpike-dev-preimage" ‖ payment secret)', async () => {
    const key = hexToBytes('e126f68f7eafcc8b74f54d269fe206be715000f94dac067d1c04a8ca3b2db734')
    const backend = dev({ privateKey: key })
    for (let i = 0; i < 3; i++) {
      const inv = await backend.createInvoice({ amountMsat: 1000n, expirySeconds: 600 })
      const { paymentSecret } = Bolt11.decode(inv.paymentRequest)
      const expected = createHmac('sha256', key).update('turnpike-dev-preimage').update(hexToBytes(paymentSecret)).digest('hex')
      assert.equal((await backend.pay(inv.paymentRequest)).preimage, expected)
    }
  })

  it('behavior: keeps its own copy of the node key', async () => {
    const key = hexToBytes('e126f68f7eafcc8b74f54d269fe206be715000f94dac067d1c04a8ca3b2db734')
    const backend = dev({ privateKey: key })
    key.fill(1)
    const inv = await backend.createInvoice({ amountMsat: 1000n, expirySeconds: 600 })
    assert.equal(Bolt11.decode(inv.paymentRequest).payee, backend.pubkey)
    await backend.pay(inv.paymentRequest)
  })

  it('behavior: the network option selects the prefix', async () => {
    const inv = await dev({ network: 'signet' }).createInvoice({ amountMsat: 2_500_000n, expirySeconds: 60 })
    assert.ok(inv.paymentRequest.startsWith('lntbs25u1'))
    assert.equal(Bolt11.decode(inv.paymentRequest).network, 'signet')
  })

  it('behavior: an invoice survives a restart with the same dataDir', async () => {
    const dataDir = freshDir()
    const first = dev({ dataDir })
    const inv = await first.createInvoice({ amountMsat: 1000n, description: 'before restart', expirySeconds: 600 })
    await first.close!()
    const second = dev({ dataDir })
    assert.equal(second.pubkey, first.pubkey)
    await assert.rejects(second.lookupInvoice(inv.paymentHash), code('TURNPIKE_INVOICE_UNKNOWN'))
    const paid = await second.pay(inv.paymentRequest)
    assert.equal(paid.paymentHash, inv.paymentHash)
    assert.equal(bytesToHex(sha256(hexToBytes(paid.preimage))), inv.paymentHash)
    const s = await second.lookupInvoice(inv.paymentHash)
    assert.equal(s.status, 'settled')
    assert.equal(s.preimage, paid.preimage)
    assert.equal(s.amountMsat, 1000n)
  })

  it('error: refuses invoices issued by another node or not by this dev node', async () => {
    const backend = dev()
    const other = await dev().createInvoice({ amountMsat: 1000n, expirySeconds: 600 })
    await assert.rejects(backend.pay(other.paymentRequest), code('TURNPIKE_BAD_REQUEST'))
    const key = hexToBytes('11'.repeat(32))
    const sameKey = dev({ privateKey: key })
    // Signed by the node key but with a payment hash the node did not derive.
    const forged = Bolt11.encode({
      network: 'regtest',
      amountMsat: 1000n,
      timestamp: Math.floor(Date.now() / 1000),
      paymentHash: '00'.repeat(32),
      paymentSecret: '22'.repeat(32),
      privateKey: key,
    })
    await assert.rejects(sameKey.pay(forged), code('TURNPIKE_BAD_REQUEST'))
    await assert.rejects(sameKey.pay('lnbc1garbage'), code('TURNPIKE_BOLT11_MALFORMED'))
    // Right key and derivation, wrong network.
    const mainnet = await dev({ privateKey: key, network: 'mainnet' }).createInvoice({
      amountMsat: 1000n,
      expirySeconds: 600,
    })
    await assert.rejects(sameKey.pay(mainnet.paymentRequest), code('TURNPIKE_BAD_REQUEST'))
  })

  it('error: refuses expired invoices (fake clock) and reports them expired', async () => {
    let t = 1_800_000_000_000
    const backend = dev({ now: () => t })
    const inv = await backend.createInvoice({ amountMsat: 1000n, expirySeconds: 60 })
    assert.equal(inv.createdAt, t)
    assert.equal(inv.expiresAt, t + 60_000)
    t += 59_999
    assert.equal((await backend.lookupInvoice(inv.paymentHash)).status, 'open')
    t += 1
    assert.equal((await backend.lookupInvoice(inv.paymentHash)).status, 'expired')
    await assert.rejects(backend.pay(inv.paymentRequest), code('TURNPIKE_INVOICE_EXPIRED'))
    await assert.rejects(
      waitForSettlement(backend, inv.paymentHash, { intervalMs: 10, timeoutMs: 5000 }),
      code('TURNPIKE_INVOICE_EXPIRED'),
    )
  })

  it('error: paying twice is refused', async () => {
    const backend = dev()
    const inv = await backend.createInvoice({ amountMsat: 1000n, expirySeconds: 600 })
    await backend.pay(inv.paymentRequest)
    await assert.rejects(backend.pay(inv.paymentRequest), code('TURNPIKE_INVOICE_ALREADY_PAID'))
  })

  it('behavior: concurrent payments settle exactly once', async () => {
    const backend = dev()
    const inv = await backend.createInvoice({ amountMsat: 1000n, expirySeconds: 600 })
    const results = await Promise.allSettled(Array.from({ length: 5 }, () => backend.pay(inv.paymentRequest)))
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1)
  })

  it('behavior: cancel makes an open invoice unpayable', async () => {
    const backend = dev()
    const inv = await backend.createInvoice({ amountMsat: 1000n, expirySeconds: 600 })
    const waiting = waitForSettlement(backend, inv.paymentHash, { intervalMs: 10_000, timeoutMs: 5000 })
    await new Promise((r) => setTimeout(r, 20))
    await backend.cancel(inv.paymentHash)
    // The subscription delivers the cancel long before the next poll would.
    await assert.rejects(waiting, code('TURNPIKE_INVOICE_EXPIRED'))
    assert.equal((await backend.lookupInvoice(inv.paymentHash)).status, 'canceled')
    await assert.rejects(backend.pay(inv.paymentRequest), code('TURNPIKE_INVOICE_EXPIRED'))
    await backend.cancel(inv.paymentHash) // idempotent
    const paid = await backend.createInvoice({ amountMsat: 1000n, expirySeconds: 600 })
    await backend.pay(paid.paymentRequest)
    await assert.rejects(backend.cancel(paid.paymentHash), code('TURNPIKE_INVOICE_ALREADY_PAID'))
    await assert.rejects(backend.cancel('ab'.repeat(32)), code('TURNPIKE_INVOICE_UNKNOWN'))
  })

  it('error: createInvoice and lookupInvoice validate their input', async () => {
    const backend = dev()
    await assert.rejects(backend.createInvoice({ amountMsat: 0n, expirySeconds: 60 }), code('TURNPIKE_BAD_REQUEST'))
    await assert.rejects(backend.createInvoice({ amountMsat: 1n, expirySeconds: 0 }), code('TURNPIKE_BAD_REQUEST'))
    await assert.rejects(
      backend.createInvoice({ amountMsat: 1n, expirySeconds: 60, description: 'x'.repeat(640) }),
      code('TURNPIKE_BAD_REQUEST'),
    )
    await assert.rejects(backend.lookupInvoice('xyz'), code('TURNPIKE_BAD_REQUEST'))
    const ac = new AbortController()
    ac.abort()
    await assert.rejects(backend.createInvoice({ amountMsat: 1n, expirySeconds: 60, signal: ac.signal }), {
      name: 'AbortError',
    })
    const inv = await backend.createInvoice({ amountMsat: 1n, expirySeconds: 60 })
    assert.equal(Bolt11.decode(inv.paymentRequest).amountMsat, 1n)
    assert.equal((await backend.lookupInvoice(inv.paymentHash.toUpperCase())).paymentHash, inv.paymentHash)
  })

  it('error: misuse at construction throws a TypeError', () => {
    assert.throws(() => dev({ privateKey: new Uint8Array(32) }), TypeError)
    assert.throws(() => dev({ privateKey: new Uint8Array(32).fill(1), dataDir: freshDir() }), TypeError)
    assert.throws(() => dev({ network: 'simnet' as 'regtest' }), TypeError)
  })

  it('behavior: forgets invoices a day after they expire', async () => {
    let t = 1_800_000_000_000
    const backend = dev({ now: () => t })
    const old = await backend.createInvoice({ amountMsat: 1000n, expirySeconds: 60 })
    t += 60_000 + 24 * 3600_000 + 1
    await backend.createInvoice({ amountMsat: 1000n, expirySeconds: 60 })
    await assert.rejects(backend.lookupInvoice(old.paymentHash), code('TURNPIKE_INVOICE_UNKNOWN'))
  })

  it('behavior: subscribe yields settlements and cancels, and ends on abort and on close', async () => {
    const backend = dev()
    const ac = new AbortController()
    const updates = backend.subscribe!({ signal: ac.signal })[Symbol.asyncIterator]()
    const a = await backend.createInvoice({ amountMsat: 1000n, expirySeconds: 600 })
    const b = await backend.createInvoice({ amountMsat: 1000n, expirySeconds: 600 })
    await backend.pay(a.paymentRequest)
    await backend.cancel(b.paymentHash)
    const u1 = await updates.next()
    const u2 = await updates.next()
    assert.deepEqual([u1.value?.paymentHash, u1.value?.status], [a.paymentHash, 'settled'])
    assert.deepEqual([u2.value?.paymentHash, u2.value?.status], [b.paymentHash, 'canceled'])
    const pending = updates.next()
    ac.abort()
    assert.equal((await pending).done, true)

    const aborted = new AbortController()
    aborted.abort()
    assert.equal((await backend.subscribe!({ signal: aborted.signal })[Symbol.asyncIterator]().next()).done, true)

    const open = backend.subscribe!({ signal: new AbortController().signal })[Symbol.asyncIterator]()
    const waiting = open.next()
    await backend.close!()
    assert.equal((await waiting).done, true)
    await assert.rejects(backend.createInvoice({ amountMsat: 1n, expirySeconds: 60 }), code('TURNPIKE_BACKEND_UNAVAILABLE'))
  })
})

describe('waitForSettlement', () => {
  it('behavior: resolves at once for an invoice settled before the call', async () => {
    const backend = dev()
    const inv = await backend.createInvoice({ amountMsat: 1000n, expirySeconds: 600 })
    await backend.pay(inv.paymentRequest)
    const s = await waitForSettlement(backend, inv.paymentHash, { timeoutMs: 1000 })
    assert.equal(s.status, 'settled')
  })

  it('error: rejects with the signal reason on abort', async () => {
    const backend = dev()
    const inv = await backend.createInvoice({ amountMsat: 1000n, expirySeconds: 600 })
    const ac = new AbortController()
    const waiting = waitForSettlement(backend, inv.paymentHash, { signal: ac.signal })
    const reason = new Error('stop')
    setTimeout(() => ac.abort(reason), 20)
    await assert.rejects(waiting, (e) => e === reason)
    const early = new AbortController()
    early.abort(reason)
    await assert.rejects(waitForSettlement(backend, inv.paymentHash, { signal: early.signal }), (e) => e === reason)
  })

  it('error: propagates a lookup error other than backend unavailability', async () => {
    await assert.rejects(
      waitForSettlement(dev(), 'ab'.repeat(32), { intervalMs: 10, timeoutMs: 1000 }),
      code('TURNPIKE_INVOICE_UNKNOWN'),
    )
  })

  it('behavior: retries while the backend is unavailable (polling)', async () => {
    const node = dev()
    const inv = await node.createInvoice({ amountMsat: 1000n, expirySeconds: 600 })
    let failures = 3
    const flaky: Backend = {
      name: 'flaky',
      createInvoice: (p) => node.createInvoice(p),
      lookupInvoice: async (h, o) => {
        if (failures-- > 0) throw new TurnpikeError('TURNPIKE_BACKEND_UNAVAILABLE', 'down')
        return node.lookupInvoice(h, o)
      },
    }
    const waiting = waitForSettlement(flaky, inv.paymentHash, { intervalMs: 10, timeoutMs: 5000 })
    await node.pay(inv.paymentRequest)
    assert.equal((await waiting).status, 'settled')
    assert.ok(failures < 0)
  })

  it('behavior: falls back to polling when the subscription ends or fails', async () => {
    const node = dev()
    for (const broken of [
      async function* ended() {},
      async function* failing() {
        yield* []
        throw new Error('stream broke')
      },
    ]) {
      const inv = await node.createInvoice({ amountMsat: 1000n, expirySeconds: 600 })
      const backend: Backend = {
        name: 'broken-stream',
        createInvoice: (p) => node.createInvoice(p),
        lookupInvoice: (h, o) => node.lookupInvoice(h, o),
        subscribe: () => broken(),
      }
      const waiting = waitForSettlement(backend, inv.paymentHash, { intervalMs: 10, timeoutMs: 5000 })
      await new Promise((r) => setTimeout(r, 30))
      await node.pay(inv.paymentRequest)
      assert.equal((await waiting).status, 'settled')
    }
  })

  it('behavior: ignores updates for other payment hashes', async () => {
    const backend = dev()
    const mine = await backend.createInvoice({ amountMsat: 1000n, expirySeconds: 600 })
    const other = await backend.createInvoice({ amountMsat: 1000n, expirySeconds: 600 })
    const waiting = waitForSettlement(backend, mine.paymentHash, { intervalMs: 10_000, timeoutMs: 5000 })
    let done = false
    void waiting.then(() => (done = true))
    await new Promise((r) => setTimeout(r, 20))
    await backend.pay(other.paymentRequest)
    await new Promise((r) => setTimeout(r, 20))
    assert.equal(done, false)
    await backend.pay(mine.paymentRequest)
    const s = await waiting
    assert.equal(s.paymentHash, mine.paymentHash)
  })
})
