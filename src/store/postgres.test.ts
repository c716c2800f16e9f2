import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { after, describe, test } from 'node:test'
import pg from 'pg'
import { is } from '../Errors.ts'
import { describeStore } from './conformance.ts'
import { postgres } from './postgres.ts'

const pool = new pg.Pool({ host: '127.0.0.1', port: 5432, user: 'postgres', database: 'test', max: 10 })
after(() => pool.end())
const run = `turnpike_test_${randomUUID().slice(0, 8)}`
let n = 0
const schema = (): string => `${run}_${n++}`
const later = (): number => Date.now() + 3_600_000
const unavailable = (e: unknown): boolean =>
  is(e, 'TURNPIKE_STORE_UNAVAILABLE') && e.message === 'PostgreSQL store unavailable' && e.retryAfter === 1
const drop = (s: string): Promise<unknown> => pool.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`)

describeStore('postgres', async () => {
  const s = schema()
  const store = postgres(pool, { schema: s })
  return {
    store,
    async teardown() {
      await store.close()
      await drop(s)
    },
  }
})

describe('postgres', () => {
  test('behavior: concurrent first use by many instances migrates once and grants one claim', async () => {
    const s = schema()
    // Separate pools: separate connections, like separate worker processes.
    const pools = Array.from({ length: 4 }, () => new pg.Pool({ host: '127.0.0.1', user: 'postgres', database: 'test', max: 5 }))
    const stores = pools.flatMap((p) => [postgres(p, { schema: s }), postgres(p, { schema: s })])
    try {
      const results = await Promise.all(
        Array.from({ length: 50 }, (_, i) => (stores[i % stores.length] as typeof stores[0]).claim('hot', later())),
      )
      assert.equal(results.filter(Boolean).length, 1)
    } finally {
      await Promise.all(stores.map((st) => st.close()))
      await Promise.all(pools.map((p) => p.end()))
      await drop(s)
    }
  })

  test('behavior: tablePrefix names the tables and amounts are exact NUMERIC', async () => {
    const s = schema()
    const store = postgres(pool, { schema: s, tablePrefix: 'tp_' })
    try {
      await store.putInvoice({
        paymentHash: 'ab'.repeat(32), paymentRequest: 'lnbc1', amountMsat: 2n ** 80n + 1n, route: 'r',
        tokenId: 'cd'.repeat(32), createdAt: 1, expiresAt: later(),
      })
      const { rows } = await pool.query(
        `SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1`, [s])
      assert.deepEqual(rows.map((r) => r.table_name), ['tp_buckets', 'tp_claims', 'tp_invoices', 'tp_kv', 'tp_schema_version'])
      const amount = await pool.query(`SELECT amount_msat::text AS a FROM "${s}".tp_invoices`)
      assert.equal(amount.rows[0].a, (2n ** 80n + 1n).toString())
    } finally {
      await store.close()
      await drop(s)
    }
  })

  test('behavior: migrations are versioned: a version-1 database is upgraded once, a newer one refused', async () => {
    const s = schema()
    // A database made before versioning: the original two tables, no schema_version.
    await pool.query(`CREATE SCHEMA "${s}";
      CREATE TABLE "${s}".turnpike_claims (key TEXT PRIMARY KEY, expires_at BIGINT NOT NULL);
      CREATE TABLE "${s}".turnpike_invoices (payment_hash TEXT PRIMARY KEY, payment_request TEXT NOT NULL,
        amount_msat NUMERIC NOT NULL, route TEXT NOT NULL, token_id TEXT NOT NULL, created_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL);
      INSERT INTO "${s}".turnpike_claims VALUES ('old', ${later()});`)
    const stores = Array.from({ length: 4 }, () => postgres(pool, { schema: s, pruneIntervalMs: 0 }))
    try {
      assert.deepEqual(await Promise.all(stores.map((st) => st.migrate())), [2, 2, 2, 2])
      const { rows } = await pool.query(`SELECT version FROM "${s}".turnpike_schema_version`)
      assert.deepEqual(rows, [{ version: 2 }])
      const store = stores[0]!
      assert.equal(await store.claim('old', later()), false, 'existing rows are kept')
      assert.equal((await store.take!('k', { capacity: 1, refillPerSecond: 1 })).allowed, true)
      await pool.query(`UPDATE "${s}".turnpike_schema_version SET version = 3`)
      const newer = postgres(pool, { schema: s, pruneIntervalMs: 0 })
      await assert.rejects(newer.migrate(), (e: unknown) => unavailable(e) && /newer than supported 2/.test(String((e as Error).cause)))
      await newer.close()
    } finally {
      await Promise.all(stores.map((st) => st.close()))
      await drop(s)
    }
  })

  test('behavior: parallel takes through separate pools share one bucket', async () => {
    const s = schema()
    const pools = Array.from({ length: 3 }, () => new pg.Pool({ host: '127.0.0.1', user: 'postgres', database: 'test', max: 5 }))
    const stores = pools.map((p) => postgres(p, { schema: s, pruneIntervalMs: 0 }))
    try {
      await stores[0]!.migrate()
      const now = Date.now()
      const results = await Promise.all(
        Array.from({ length: 90 }, (_, i) => stores[i % 3]!.take!('shared', { capacity: 25, refillPerSecond: 0.001 }, now)),
      )
      assert.equal(results.filter((r) => r.allowed).length, 25)
    } finally {
      await Promise.all(stores.map((st) => st.close()))
      await Promise.all(pools.map((p) => p.end()))
      await drop(s)
    }
  })

  test('error: a dead server rejects with TURNPIKE_STORE_UNAVAILABLE, quickly', async () => {
    const dead = new pg.Pool({ host: '127.0.0.1', port: 1, user: 'postgres', database: 'test', connectionTimeoutMillis: 1_000 })
    const store = postgres(dead, { pruneIntervalMs: 0 })
    try {
      const started = performance.now()
      await assert.rejects(store.claim('k', later()), unavailable)
      await assert.rejects(store.getInvoice('aa'), unavailable)
      await assert.rejects(store.prune(), unavailable)
      assert.ok(performance.now() - started < 3_000)
    } finally {
      await store.close()
      await dead.end()
    }
  })

  test('error: driver errors are wrapped without leaking the driver message', async () => {
    const s = schema()
    const store = postgres(pool, { schema: s, pruneIntervalMs: 0 })
    try {
      assert.equal(await store.claim('k', later()), true)
      await pool.query(`DROP TABLE "${s}".turnpike_claims`)
      await assert.rejects(store.claim('k', later()), (e: unknown) =>
        unavailable(e) && /does not exist/.test(String((e as Error).cause)))
    } finally {
      await store.close()
      await drop(s)
    }
  })

  test('error: unsafe identifiers and missing clients are TypeErrors', () => {
    assert.throws(() => postgres(pool, { schema: 'a"; DROP TABLE x; --' }), TypeError)
    assert.throws(() => postgres(pool, { tablePrefix: 'x y' }), TypeError)
    assert.throws(() => postgres({} as postgres.Client), TypeError)
  })
})
