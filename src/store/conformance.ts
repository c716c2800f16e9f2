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
  const limits = o.limits ?? true
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
      if (!limits) return
      await assert.rejects(store.take!(key('closed'), { capacity: 1, refillPerSecond: 1 }), unavailable)
      await assert.rejects(store.putValue!(key('closed'), 'v', later()), unavailable)
      await assert.rejects(store.getValue!(key('closed')), unavailable)
      await assert.rejects(store.deleteValue!(key('closed')), unavailable)
    })

    if (limits) describeLimits(it, key, later, prunes)
    if (o.access ?? true) describeAccess(it, key, later)
  })
}

/** Credit balances (`debit`/`refund`) and revocations (`revoke`/`listRevoked`), access/. */
function describeAccess(
  it: (title: string, fn: (store: Store) => Promise<void>) => void,
  key: (label: string) => string,
  later: () => number,
): void {
  const tokenId = (): string => randomUUID().replaceAll('-', '').padEnd(64, '0')

  it('behavior: debit: a new account starts at initial, draws down, refuses when short, takes nothing then', async (store) => {
    const a = key('credits')
    assert.equal(await store.debit!(a, 3, 10, later()), 7)
    assert.equal(await store.debit!(a, 7, 10, later()), 0)
    assert.equal(await store.debit!(a, 1, 10, later()), undefined)
    const b = key('credits-short')
    assert.equal(await store.debit!(b, 5, 4, later()), undefined, 'initial below the amount')
    assert.equal(await store.debit!(b, 4, 4, later()), 0)
    const c = key('credits-big')
    assert.equal(await store.debit!(c, 1, 2 ** 53 - 1, later()), 2 ** 53 - 2)
  })

  it('behavior: debit: 50 concurrent draws of 3 from 100 never overdraw (exactly 33 succeed)', async (store) => {
    const a = key('credits-race')
    const got = await Promise.all(Array.from({ length: 50 }, () => store.debit!(a, 3, 100, later())))
    const ok = got.filter((x) => x !== undefined) as number[]
    assert.equal(ok.length, 33)
    assert.deepEqual([...ok].sort((x, y) => x - y), Array.from({ length: 33 }, (_, i) => 1 + 3 * i))
    assert.equal(await store.debit!(a, 1, 100, later()), 0)
    assert.equal(await store.debit!(a, 1, 100, later()), undefined)
  })

  it('behavior: refund gives back to a live account and never creates one', async (store) => {
    const a = key('credits-refund')
    assert.equal(await store.debit!(a, 4, 5, later()), 1)
    await store.refund!(a, 4)
    assert.equal(await store.debit!(a, 5, 5, later()), 0)
    const gone = key('credits-none')
    await store.refund!(gone, 7)
    assert.equal(await store.debit!(gone, 1, 2, later()), 1, 'a refund did not initialise the account')
  })

  it('behavior: an expired balance starts again at initial', async (store) => {
    const a = key('credits-expiry')
    assert.equal(await store.debit!(a, 2, 2, Date.now() + 150), 0)
    await sleep(300)
    assert.equal(await store.debit!(a, 1, 2, later()), 1)
  })

  it('error: debit, refund and revoke reject bad arguments with TypeError', async (store) => {
    await assert.rejects(store.debit!(key('x'), 0, 1, later()), TypeError)
    await assert.rejects(store.debit!(key('x'), 1.5, 1, later()), TypeError)
    await assert.rejects(store.debit!(key('x'), 1, -1, later()), TypeError)
    await assert.rejects(store.debit!(key('x'), 1, 1, Number.NaN), TypeError)
    await assert.rejects(store.refund!(key('x'), -1), TypeError)
    await assert.rejects(store.revoke!('not-hex', later()), TypeError)
  })

  it('behavior: revoke is listed until it expires, idempotently, the later expiry winning', async (store) => {
    const live = tokenId()
    const short = tokenId()
    await store.revoke!(live, later())
    await store.revoke!(live, Date.now() + 100)
    await store.revoke!(short, Date.now() + 150)
    const now = await store.listRevoked!()
    assert.ok(now.includes(live) && now.includes(short))
    assert.equal(now.filter((x) => x === live).length, 1)
    await sleep(300)
    const then = await store.listRevoked!()
    assert.ok(then.includes(live), 'the later expiry won')
    assert.ok(!then.includes(short))
  })

  it('error: after close the access methods reject with TURNPIKE_STORE_UNAVAILABLE', async (store) => {
    await store.close()
    const unavailable = (e: unknown) => is(e) && e.code === 'TURNPIKE_STORE_UNAVAILABLE'
    await assert.rejects(store.debit!(key('closed'), 1, 1, later()), unavailable)
    await assert.rejects(store.refund!(key('closed'), 1), unavailable)
    await assert.rejects(store.revoke!(tokenId(), later()), unavailable)
    await assert.rejects(store.listRevoked!(), unavailable)
  })
}

/** Token buckets (`take`) and values (`putValue`/`getValue`/`deleteValue`). */
function describeLimits(
  it: (title: string, fn: (store: Store) => Promise<void>) => void,
  key: (label: string) => string,
  later: () => number,
  prunes: boolean,
): void {
  const t0 = 1_700_000_000_000

  it('behavior: take: a new bucket is full, allows `capacity` takes, then refuses with retryAfterMs', async (store) => {
    const k = key('bucket')
    const limit = { capacity: 3, refillPerSecond: 0.5 }
    for (let i = 0; i < 3; i++) {
      const r = await store.take!(k, limit, t0)
      assert.equal(r.allowed, true, `take ${i}`)
      assert.equal(r.retryAfterMs, 0)
      assert.ok(Math.abs(r.remaining - (2 - i)) < 1e-9, String(r.remaining))
    }
    const refused = await store.take!(k, limit, t0)
    assert.equal(refused.allowed, false)
    assert.ok(Math.abs(refused.remaining) < 1e-9)
    assert.equal(refused.retryAfterMs, 2_000)
    // A refused take costs nothing: the bucket keeps refilling from where it was.
    assert.equal((await store.take!(k, limit, t0 + 1_000)).allowed, false)
    const r = await store.take!(k, limit, t0 + 2_000)
    assert.equal(r.allowed, true)
    assert.ok(Math.abs(r.remaining) < 1e-9, String(r.remaining))
  })

  it('behavior: take: refill is continuous, capped at capacity, and cost is honoured', async (store) => {
    const k = key('refill')
    const limit = { capacity: 10, refillPerSecond: 4 }
    assert.equal((await store.take!(k, { ...limit, cost: 10 }, t0)).allowed, true)
    // 250 ms at 4/s = 1 token: one take of 1 passes, a take of 2 waits 500 ms for the missing token… 
    const one = await store.take!(k, limit, t0 + 250)
    assert.equal(one.allowed, true)
    const two = await store.take!(k, { ...limit, cost: 2 }, t0 + 250)
    assert.equal(two.allowed, false)
    assert.equal(two.retryAfterMs, 500)
    // …and a long idle period refills to capacity, never beyond.
    const full = await store.take!(k, limit, t0 + 3_600_000)
    assert.equal(full.allowed, true)
    assert.ok(Math.abs(full.remaining - 9) < 1e-9, String(full.remaining))
  })

  it('behavior: take: a clock that goes backwards neither refills nor breaks the bucket', async (store) => {
    const k = key('skew')
    const limit = { capacity: 2, refillPerSecond: 1 }
    assert.equal((await store.take!(k, limit, t0 + 10_000)).allowed, true)
    assert.equal((await store.take!(k, limit, t0)).allowed, true)
    assert.equal((await store.take!(k, limit, t0 + 5_000)).allowed, false)
    assert.equal((await store.take!(k, limit, t0 + 11_000)).allowed, true)
  })

  it('behavior: take: different keys are independent buckets', async (store) => {
    const [a, b] = [key('ta'), key('tb')]
    const limit = { capacity: 1, refillPerSecond: 0.001 }
    assert.equal((await store.take!(a, limit, t0)).allowed, true)
    assert.equal((await store.take!(a, limit, t0)).allowed, false)
    assert.equal((await store.take!(b, limit, t0)).allowed, true)
  })

  it('behavior: take: 60 parallel takes from a bucket of 10 allow exactly 10', async (store) => {
    for (let round = 0; round < 3; round++) {
      const k = key('take-race')
      const now = Date.now()
      const results = await Promise.all(
        Array.from({ length: 60 }, () => store.take!(k, { capacity: 10, refillPerSecond: 0.001 }, now)),
      )
      assert.equal(results.filter((r) => r.allowed).length, 10, `round ${round}`)
      for (const r of results) if (!r.allowed) assert.ok(r.retryAfterMs > 0)
    }
  })

  it('error: take rejects bad limits with TypeError', async (store) => {
    const k = key('bad')
    for (const limit of [
      { capacity: 0, refillPerSecond: 1 },
      { capacity: 1, refillPerSecond: 0 },
      { capacity: Number.NaN, refillPerSecond: 1 },
      { capacity: 1, refillPerSecond: Number.POSITIVE_INFINITY },
      { capacity: 2, refillPerSecond: 1, cost: 3 },
      { capacity: 2, refillPerSecond: 1, cost: 0 },
    ]) {
      await assert.rejects(store.take!(k, limit, t0), TypeError, JSON.stringify(limit))
    }
    await assert.rejects(store.take!(k, { capacity: 1, refillPerSecond: 1 }, Number.NaN), TypeError)
  })

  it('behavior: values: the first live write wins, get and delete', async (store) => {
    const k = key('value')
    assert.equal(await store.getValue!(k), undefined)
    assert.equal(await store.putValue!(k, 'first', later()), true)
    assert.equal(await store.putValue!(k, 'second', later()), false)
    assert.equal(await store.getValue!(k), 'first')
    await store.deleteValue!(k)
    assert.equal(await store.getValue!(k), undefined)
    assert.equal(await store.putValue!(k, 'third', later()), true)
    assert.equal(await store.getValue!(k), 'third')
    await store.deleteValue!(key('never-set'))
    await assert.rejects(store.putValue!(k, 'x', Number.NaN), TypeError)
  })

  it('behavior: values: 30 parallel writers, one wins and everyone reads its value', async (store) => {
    const k = key('value-race')
    const wins = await Promise.all(Array.from({ length: 30 }, (_, i) => store.putValue!(k, `v${i}`, later())))
    assert.equal(wins.filter(Boolean).length, 1)
    assert.equal(await store.getValue!(k), `v${wins.indexOf(true)}`)
  })

  it('behavior: values expire: an expired value is gone and may be written again', async (store) => {
    const k = key('value-expiry')
    const t = Date.now()
    assert.equal(await store.putValue!(k, 'short', t + 600), true)
    const read = await store.getValue!(k)
    // On a very slow machine the read may come after the expiry; only a timely read must see it.
    if (Date.now() < t + 550) assert.equal(read, 'short')
    await sleep(Math.max(0, t + 700 - Date.now()))
    assert.equal(await store.getValue!(k), undefined)
    assert.equal(await store.putValue!(k, 'again', later()), true)
    assert.equal(await store.getValue!(k), 'again')
  })

  it('behavior: prune removes buckets once full again and expired values (bounded growth)', async (store) => {
    const now = Date.now()
    const limit = { capacity: 5, refillPerSecond: 1 }
    // Full again 5 s after `now`: prunable then, not before.
    await store.take!(key('b-prune'), { ...limit, cost: 5 }, now)
    await store.putValue!(key('v-dead'), 'x', now + 50)
    await store.putValue!(key('v-live'), 'y', now + 3_600_000)
    await sleep(100)
    if (!prunes) {
      assert.equal(await store.prune(), 0)
      return
    }
    assert.equal(await store.prune(now + 1_000), 1, 'only the expired value')
    assert.equal(await store.prune(now + 6_000), 1, 'the refilled bucket')
    assert.equal(await store.prune(now + 7_200_000), 1, 'the live value, once its time has come')
    assert.equal(await store.prune(now + 7_200_000), 0)
  })
}

export declare namespace describeStore {
  /** Options for {@link describeStore}. */
  type Options = {
    /** False for stores whose database expires rows itself (Redis): `prune` then resolves 0. Default true. */
    readonly prunes?: boolean
    /** False for stores without the optional `take`/`putValue`/`getValue`/`deleteValue`. Default true. */
    readonly limits?: boolean
    /** False for stores without the optional `debit`/`refund`/`revoke`/`listRevoked`. Default true. */
    readonly access?: boolean
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))
