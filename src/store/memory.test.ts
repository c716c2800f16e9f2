import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { describeStore } from './conformance.ts'
import { memory } from './memory.ts'

describeStore('memory', async () => {
  const store = memory()
  return { store, teardown: () => store.close() }
})

describe('memory', () => {
  test('behavior: the prune interval sweeps expired rows', async () => {
    const store = memory({ pruneIntervalMs: 10 })
    try {
      assert.equal(await store.claim('k', Date.now() + 5), true)
      await new Promise((r) => setTimeout(r, 60))
      assert.equal(await store.prune(), 0)
    } finally {
      await store.close()
    }
  })

  test('behavior: stored invoices are copies', async () => {
    const store = memory({ pruneIntervalMs: 0 })
    const r = { paymentHash: 'aa', paymentRequest: 'lnbc', amountMsat: 1n, route: 'r', tokenId: 'bb', createdAt: 1, expiresAt: Date.now() + 1000 }
    await store.putInvoice(r)
    const got = await store.getInvoice('aa')
    assert.deepEqual(got, r)
    assert.notEqual(got, r)
    await store.close()
  })
})
