/** `Store.listInvoices` (the admin API's transactions) on every built-in store, against real Redis and PostgreSQL. */
import { Redis } from 'ioredis'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { after, describe, it } from 'node:test'
import pg from 'pg'
import type { InvoiceRecord, Store } from '../src/Store.ts'
import { memory } from '../src/store/memory.ts'
import { postgres } from '../src/store/postgres.ts'
import { redis } from '../src/store/redis.ts'
import { sqlite } from '../src/store/sqlite.ts'

const pool = new pg.Pool({ host: '127.0.0.1', port: 5432, user: 'postgres', database: 'test', max: 2 })
const client = new Redis({ host: '127.0.0.1', port: 6379, lazyConnect: true })
after(async () => {
  await pool.end()
  await client.quit()
})
const run = `turnpike_list_${randomUUID().slice(0, 8)}`

const stores: [string, () => Promise<{ store: Store; done(): Promise<void> }>][] = [
  ['memory', async () => {
    const store = memory({ pruneIntervalMs: 0 })
    return { store, done: () => store.close() }
  }],
  ['sqlite', async () => {
    const store = sqlite({ path: ':memory:', pruneIntervalMs: 0 })
    return { store, done: () => store.close() }
  }],
  ['postgres', async () => {
    const store = postgres(pool, { schema: run, pruneIntervalMs: 0 })
    return { store, done: async () => (await store.close(), void (await pool.query(`DROP SCHEMA IF EXISTS "${run}" CASCADE`))) }
  }],
  ['redis', async () => {
    const prefix = `${run}:`
    const store = redis(client, { prefix })
    return {
      store,
      async done() {
        await store.close()
        const [, keys] = await client.scan('0', 'MATCH', `${prefix}*`, 'COUNT', 10000)
        if (keys.length > 0) await client.del(...keys)
      },
    }
  }],
]

const hash = (i: number): string => i.toString(16).padStart(64, '0')
const record = (i: number, route: string, createdAt: number): InvoiceRecord => ({
  paymentHash: hash(i), paymentRequest: `lnbcrt${i}`, amountMsat: BigInt(1000 * i), route, tokenId: hash(1000 + i),
  createdAt, expiresAt: Date.now() + 3_600_000,
})

for (const [name, open] of stores) {
  describe(`listInvoices: ${name}`, () => {
    it('behavior: newest first, filtered by route and time, paged with a cursor', async () => {
      const { store, done } = await open()
      try {
        assert.equal(typeof store.listInvoices, 'function')
        const t = 1_700_000_000_000
        // Two rows share a timestamp: the hash breaks the tie, so paging never skips or repeats.
        const rows = [record(1, 'a', t), record(2, 'b', t + 10), record(3, 'a', t + 10), record(4, 'a', t + 20), record(5, 'b', t + 30)]
        for (const r of rows) await store.putInvoice(r)
        const all = await store.listInvoices!({ limit: 10 })
        assert.deepEqual(all.invoices.map((r) => r.paymentHash), [hash(5), hash(4), hash(3), hash(2), hash(1)])
        assert.equal(all.next, undefined)
        assert.deepEqual(all.invoices[0], rows[4])

        const seen: string[] = []
        let cursor: string | undefined
        do {
          const page: Awaited<ReturnType<NonNullable<Store['listInvoices']>>> = await store.listInvoices!({ limit: 2, ...(cursor ? { cursor } : {}) })
          assert.ok(page.invoices.length <= 2)
          seen.push(...page.invoices.map((r) => r.paymentHash))
          cursor = page.next
        } while (cursor)
        assert.deepEqual(seen, [hash(5), hash(4), hash(3), hash(2), hash(1)])

        const a = await store.listInvoices!({ limit: 10, route: 'a', since: t + 10, until: t + 30 })
        assert.deepEqual(a.invoices.map((r) => r.paymentHash), [hash(4), hash(3)])
        await assert.rejects(store.listInvoices!({ limit: 0 }), TypeError)
        await assert.rejects(store.listInvoices!({ limit: 1, cursor: 'nope' }), TypeError)
      } finally {
        await done()
      }
    })
  })
}
