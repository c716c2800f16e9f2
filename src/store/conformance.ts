/**
 * The `node:test` suite every {@link Store} passes. A store is done when its test file runs
 * `describeStore(...)` against the real database.
 * @module
 */
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { describe, test } from 'node:test'
import { is } from '../Errors.ts'
import type { InvoiceRecord, Store } from '../Store.ts'

/**
 * Registers the store conformance tests. `setup` runs once per test and SHOULD give an empty store;
 * `teardown` MUST release every connection it opened (it may call `store.close()` again).
 * @example
 * import { describeStore } from 'turnpike/store/conformance'
 * describeStore('memory', async () => {
 *   const store = memory()
 *   return { store, teardown: () => store.close() }
 * })
 */
export function describeStore(
  name: string,
  setup: () => Promise<{ store: Store; teardown(): Promise<void> }>,
  o: describeStore.Options = {},
): void {
  const prunes = o.prunes ?? true
  // Unique per run so parallel runs against one shared database never collide.
  const run = `conf-${randomUUID()}`
  let n = 0
  const key = (label: string): string => `${run}:${label}:${n++}`
  const hash = (): string => randomUUID().replaceAll('-', '').padEnd(64, '0')
  const invoice = (over: Partial<InvoiceRecord> = {}): InvoiceRecord => {
    const now = Date.now()
    return {
      paymentHash: hash(),
      paymentRequest: `lnbc1${randomUUID()}`,
      amountMsat: 9_007_199_254_740_993n,
      route: 'GET /v1/thing',
      tokenId: hash(),
      createdAt: now,
      expiresAt: now + 3_600_000,
      ...over,
    }
  }
  const it = (title: string, fn: (store: Store) => Promise<void>): void => {
    test(title, async () => {
      const { store, teardown } = await setup()
      try {
        await fn(store)
      } finally {
        await teardown()
      }
    })
  }
  const later = (): number => Date.now() + 3_600_000

  describe(`describeStore: ${name}`, () => {
    it('behavior: claim is granted once, then refused', async (store) => {
      const k = key('once')
      assert.equal(await store.claim(k, later()), true)
      assert.equal(await store.claim(k, later()), false)
      assert.equal(await store.claim(k, later()), false)
    })

    it('behavior: different keys are independent', async (store) => {
      const a = key('a')
      const b = key('b')
      assert.equal(await store.claim(a, later()), true)
      assert.equal(await store.claim(b, later()), true)
      assert.equal(await store.claim(a, later()), false)
      assert.equal(await store.claim(b, later()), false)
    })

    it('behavior: release lets the key be claimed again', async (store) => {
      const k = key('release')
      assert.equal(await store.claim(k, later()), true)
      await store.release(k)
      assert.equal(await store.claim(k, later()), true)
      assert.equal(await store.claim(k, later()), false)
      await store.release(key('never-claimed'))
    })

    it('behavior: 50 parallel claims of one key grant exactly one', async (store) => {
      for (let round = 0; round < 5; round++) {
        const k = key('race')
        const results = await Promise.all(Array.from({ length: 50 }, () => store.claim(k, later())))
        assert.equal(results.filter((r) => r).length, 1, `round ${round}: ${results.join(',')}`)
      }
    })

    it('behavior: an expired claim is re-granted, an unexpired one is not', async (store) => {
      await store.getInvoice(hash()) // warm up (lazy migrations, connections)
      const k = key('expiry')
      assert.equal(await store.claim(k, Date.now() + 300), true)
      // A refused claim MUST NOT move the expiry.
      assert.equal(await store.claim(k, later()), false)
      await sleep(450)
      assert.equal(await store.claim(k, later()), true)
      assert.equal(await store.claim(k, later()), false)
    })

    it('behavior: a claim whose expiresAt already passed is granted and then re-grantable', async (store) => {
      const k = key('past')
      assert.equal(await store.claim(k, Date.now() - 1_000), true)
      await sleep(20)
      assert.equal(await store.claim(k, later()), true)
      assert.equal(await store.claim(k, later()), false)
    })

    it('error: claim rejects a non-finite expiresAt', async (store) => {
      await assert.rejects(store.claim(key('nan'), Number.NaN), TypeError)
    })

    it('behavior: invoices round-trip with bigint amounts beyond 2^53', async (store) => {
      for (const amountMsat of [9_007_199_254_740_993n, 2_100_000_000_000_000_001n, 0n, 1n]) {
        const r = invoice({ amountMsat })
        await store.putInvoice(r)
        assert.deepEqual(await store.getInvoice(r.paymentHash), r)
      }
    })

    it('behavior: an unknown invoice is undefined', async (store) => {
      assert.equal(await store.getInvoice(hash()), undefined)
    })

    it('behavior: putInvoice is idempotent and the first write wins', async (store) => {
      const r = invoice()
      await store.putInvoice(r)
      await store.putInvoice(r)
      await store.putInvoice({ ...r, amountMsat: 5n, route: 'other' })
      assert.deepEqual(await store.getInvoice(r.paymentHash), r)
    })

    it('behavior: prune removes expired rows and keeps live ones', async (store) => {
      await store.getInvoice(hash()) // warm up
      const now = Date.now()
      const [deadKey, liveKey] = [key('dead'), key('live')]
      const [dead, live] = [invoice({ expiresAt: now + 50 }), invoice({ expiresAt: now + 3_600_000 })]
      assert.equal(await store.claim(deadKey, now + 50), true)
      assert.equal(await store.claim(liveKey, now + 3_600_000), true)
      await store.putInvoice(dead)
      await store.putInvoice(live)
      await sleep(150)
      assert.equal(await store.prune(), prunes ? 2 : 0)
      assert.equal(await store.getInvoice(dead.paymentHash), undefined)
      assert.deepEqual(await store.getInvoice(live.paymentHash), live)
      assert.equal(await store.claim(liveKey, later()), false)
      assert.equal(await store.claim(deadKey, now + 3_600_000), true)
      if (!prunes) return
      // An explicit `now` decides what counts as expired.
      assert.equal(await store.prune(now + 7_200_000), 3)
      assert.equal(await store.getInvoice(live.paymentHash), undefined)
      assert.equal(await store.claim(liveKey, later()), true)
      assert.equal(await store.prune(now), 0)
    })

    it('error: after close every call rejects with TURNPIKE_STORE_UNAVAILABLE', async (store) => {
      const r = invoice()
      await store.putInvoice(r)
      await store.close()
      await store.close() // idempotent
      const unavailable = (e: unknown): boolean => is(e, 'TURNPIKE_STORE_UNAVAILABLE')
      await assert.rejects(store.claim(key('closed'), later()), unavailable)
      await assert.rejects(store.release(key('closed')), unavailable)
      await assert.rejects(store.putInvoice(invoice()), unavailable)
      await assert.rejects(store.getInvoice(r.paymentHash), unavailable)
      await assert.rejects(store.prune(), unavailable)
    })
  })
}

export declare namespace describeStore {
  /** Options for {@link describeStore}. */
  type Options = {
    /** False for stores whose database expires rows itself (Redis): `prune` then resolves 0. Default true. */
    readonly prunes?: boolean
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))
