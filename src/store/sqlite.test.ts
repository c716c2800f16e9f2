import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import { after, describe, test } from 'node:test'
import { promisify } from 'node:util'
import { is } from '../Errors.ts'
import { describeStore } from './conformance.ts'
import { sqlite } from './sqlite.ts'

const root = mkdtempSync(join(tmpdir(), 'turnpike-sqlite-'))
after(() => rmSync(root, { recursive: true, force: true }))
let n = 0
const file = (): string => join(root, `db-${n++}`, 'turnpike.db')
const later = (): number => Date.now() + 3_600_000
const invoice = () => ({
  paymentHash: randomBytes(32).toString('hex'),
  paymentRequest: 'lnbc1',
  amountMsat: 21_000n,
  route: 'r',
  tokenId: 'cd'.repeat(32),
  createdAt: 1,
  expiresAt: later(),
})
/**
 * Runs `body` in `procs` real processes, each with `store` open on `path`, `keys` and its own
 * `offset` into them, once the common start time has come; returns each one's JSON output.
 */
async function race(body: string, path: string, startAt: number, keys: number, procs: number): Promise<unknown[]> {
  const url = new URL('./sqlite.ts', import.meta.url).href
  const child = `
    const [url, path, startAt, keys, offset] = process.argv.slice(1).map((a, i) => (i < 2 ? a : Number(a)))
    const { sqlite } = await import(url)
    const store = sqlite({ path, pruneIntervalMs: 0 })
    while (Date.now() < startAt) {}
    ${body}`
  const runs = await Promise.all(
    Array.from({ length: procs }, (_, p) =>
      promisify(execFile)(process.execPath, ['--input-type=module', '-e', child, url, path, String(startAt), String(keys), String((p * keys) / procs)]),
    ),
  )
  return runs.map((r) => JSON.parse(r.stdout) as unknown)
}

const unavailable = (e: unknown): boolean =>
  is(e, 'TURNPIKE_STORE_UNAVAILABLE') && e.message === 'SQLite store unavailable' && e.retryAfter === 1

describeStore('sqlite (file)', async () => {
  const store = sqlite({ path: file() })
  return { store, teardown: () => store.close() }
})

describeStore('sqlite (:memory:)', async () => {
  const store = sqlite({ path: ':memory:' })
  return { store, teardown: () => store.close() }
})

describe('sqlite', () => {
  test('behavior: two instances on one file race 50 claims of a key, one wins', async () => {
    const path = file()
    const a = sqlite({ path, pruneIntervalMs: 0 })
    const b = sqlite({ path, pruneIntervalMs: 0 })
    try {
      for (let round = 0; round < 5; round++) {
        const results = await Promise.all(
          Array.from({ length: 50 }, (_, i) => (i % 2 ? a : b).claim(`hot-${round}`, later())),
        )
        assert.equal(results.filter(Boolean).length, 1)
      }
    } finally {
      await a.close()
      await b.close()
    }
  })

  test('behavior: four processes racing on a new file give each key exactly one winner', async () => {
    const path = file()
    const keys = 2000
    const procs = 4
    const startAt = Date.now() + 1_500
    // Each child opens (and so migrates) the fresh file, waits for a common start, races for one hot
    // key, then claims every key starting at its own offset so the processes overlap.
    const child = `
      const hot = await store.claim('hot', Date.now() + 3600000)
      const won = []
      for (let j = 0; j < keys; j++) {
        const i = (j + offset) % keys
        if (await store.claim('k' + i, Date.now() + 3600000)) won.push(i)
      }
      await store.close()
      process.stdout.write(JSON.stringify({ hot, won }))`
    const results = (await race(child, path, startAt, keys, procs)) as { hot: boolean; won: number[] }[]
    assert.equal(results.filter((r) => r.hot).length, 1)
    assert.deepEqual(
      results.flatMap((r) => r.won).sort((x, y) => x - y),
      Array.from({ length: keys }, (_, i) => i),
    )
    // Proof that the processes really overlapped (busy back-off can starve some of them).
    assert.ok(results.filter((r) => r.won.length > 0).length >= 2, `wins: ${results.map((r) => r.won.length)}`)
  })

  test('behavior: the calls of one tick share a batch: same key twice wins once, reads see the writes before them', async () => {
    const store = sqlite({ path: file(), pruneIntervalMs: 0 })
    try {
      const r = invoice()
      const [a, b, released, c, other, got, put, value] = await Promise.all([
        store.claim('k', later()), store.claim('k', later()), store.release('k'), store.claim('k', later()),
        store.claim('other', later()),
        (void store.putInvoice(r), store.getInvoice(r.paymentHash)),
        store.putValue!('v', 'x', later()), store.getValue!('v'),
      ])
      assert.deepEqual([a, b, released, c, other], [true, false, undefined, true, true])
      assert.deepEqual(got, r)
      assert.deepEqual([put, value], [true, 'x'])
      assert.equal(await store.claim('k', later()), false)
    } finally {
      await store.close()
    }
  })

  test('behavior: four processes claiming in concurrent batches give each key exactly one winner', async () => {
    const path = file()
    sqlite({ path }).close() // created and migrated before the race
    const keys = 3000
    const procs = 4
    const startAt = Date.now() + 1_500
    // Each child claims every key, 50 at a time in one tick (one batch), starting at its own offset.
    const child = `
      const won = []
      for (let j = 0; j < keys; j += 50) {
        const ids = Array.from({ length: 50 }, (_, i) => (j + i + offset) % keys)
        const got = await Promise.all(ids.map((i) => store.claim('k' + i, Date.now() + 3600000)))
        ids.forEach((i, n) => { if (got[n]) won.push(i) })
      }
      await store.close()
      process.stdout.write(JSON.stringify(won))`
    const won = (await race(child, path, startAt, keys, procs)) as number[][]
    assert.deepEqual(won.flat().sort((x, y) => x - y), Array.from({ length: keys }, (_, i) => i))
    assert.ok(won.filter((w) => w.length > 0).length >= 2, `wins: ${won.map((w) => w.length)}`)
  })

  test('error: a batch that cannot take the write lock rejects every call in it, and none of it is kept', async () => {
    const path = file()
    const store = sqlite({ path, pruneIntervalMs: 0, busyTimeoutMs: 50 })
    const other = new DatabaseSync(path)
    const r = invoice()
    try {
      other.exec('BEGIN IMMEDIATE')
      const results = await Promise.allSettled([
        store.claim('a', later()), store.putInvoice(r), store.take!('t', { capacity: 1, refillPerSecond: 1 }),
        store.putValue!('v', 'x', later()), store.getValue!('v'),
      ])
      for (const x of results) assert.ok(x.status === 'rejected' && unavailable(x.reason), String(x.status))
      // Reads need no lock when nothing is queued before them.
      assert.equal(await store.getInvoice(r.paymentHash), undefined)
    } finally {
      other.exec('ROLLBACK')
      other.close()
    }
    assert.equal(await store.claim('a', later()), true, 'the failed claim did not commit')
    assert.equal((await store.take!('t', { capacity: 1, refillPerSecond: 0.001 })).allowed, true)
    await store.close()
  })

  test('behavior: a statement that fails rejects only its caller, the rest of its batch commits', async () => {
    const path = file()
    const store = sqlite({ path, pruneIntervalMs: 0 })
    const other = new DatabaseSync(path)
    other.exec('DROP TABLE invoices')
    try {
      const [a, put, b] = await Promise.allSettled([store.claim('a', later()), store.putInvoice(invoice()), store.claim('b', later())])
      assert.deepEqual([a, b], [{ status: 'fulfilled', value: true }, { status: 'fulfilled', value: true }])
      assert.ok(put.status === 'rejected' && unavailable(put.reason))
      assert.deepEqual({ ...other.prepare('SELECT count(*) AS n FROM claims').get() }, { n: 2 })
    } finally {
      other.close()
      await store.close()
    }
  })

  test('behavior: close() runs what is still queued, then refuses', async () => {
    const path = file()
    const store = sqlite({ path, pruneIntervalMs: 0 })
    const queued = [store.claim('k', later()), store.putValue!('v', 'x', later())]
    const closing = store.close()
    await assert.rejects(store.claim('later', later()), unavailable)
    assert.deepEqual(await Promise.all(queued), [true, true])
    await closing
    const again = sqlite({ path, pruneIntervalMs: 0 })
    assert.equal(await again.claim('k', later()), false)
    assert.equal(await again.getValue!('v'), 'x')
    await again.close()
  })

  test('behavior: WAL checkpoints run on a thread, the WAL stays bounded, and close() removes it', async () => {
    const path = file()
    const store = sqlite({ path, pruneIntervalMs: 0 })
    // ~120 single claims write ~450 WAL pages, under the connection's own checkpoint at 1000: only
    // the thread copies them into the database file.
    for (let i = 0; i < 120; i++) await store.claim(`one-${i}`, later())
    const deadline = Date.now() + 10_000
    while (statSync(path).size <= 8192 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
    assert.ok(statSync(path).size > 8192, `database file: ${statSync(path).size} bytes`)
    // 10 000 claims in batches of 50 write ~17 000 pages; the WAL starts over after ~1000.
    for (let j = 0; j < 200; j++) {
      await Promise.all(Array.from({ length: 50 }, (_, i) => store.claim(`many-${j}-${i}`, later())))
    }
    assert.ok(statSync(`${path}-wal`).size < 16e6, `WAL: ${statSync(`${path}-wal`).size} bytes`)
    await store.close()
    assert.equal(existsSync(`${path}-wal`), false, 'the last connection to close removes the WAL')
  })

  test('behavior: an open store with a checkpoint thread does not keep the process alive (started with -e)', async () => {
    // As in the test above, only the thread can grow the database file here; then the script ends
    // without close().
    const child = `
      const { statSync } = await import('node:fs')
      const { sqlite } = await import(process.argv[1])
      const path = process.argv[2]
      const store = sqlite({ path })
      for (let i = 0; i < 120; i++) await store.claim('k' + i, Date.now() + 3600000)
      const deadline = Date.now() + 10000
      while (statSync(path).size <= 8192 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
      process.stdout.write(statSync(path).size > 8192 ? 'checkpointed' : 'not checkpointed')`
    const url = new URL('./sqlite.ts', import.meta.url).href
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', child, url, file()], { timeout: 20_000 })
    assert.equal(stdout, 'checkpointed')
  })

  test('behavior: data survives reopening the file', async () => {
    const path = file()
    const record = {
      paymentHash: 'ab'.repeat(32),
      paymentRequest: 'lnbc1',
      amountMsat: 2n ** 64n + 3n,
      route: 'r',
      tokenId: 'cd'.repeat(32),
      createdAt: 1,
      expiresAt: later(),
    }
    const first = sqlite({ path })
    assert.equal(await first.claim('k', later()), true)
    await first.putInvoice(record)
    await first.close()
    const second = sqlite({ path })
    assert.equal(await second.claim('k', later()), false)
    assert.deepEqual(await second.getInvoice(record.paymentHash), record)
    await second.close()
  })

  test('behavior: WAL journal, schema version 2, directory created 0700', async () => {
    const path = join(root, 'deep', 'er', 'turnpike.db')
    const store = sqlite({ path })
    await store.close()
    assert.equal(statSync(join(root, 'deep', 'er')).mode & 0o777, 0o700)
    const db = new DatabaseSync(path)
    assert.deepEqual({ ...db.prepare('PRAGMA journal_mode').get() }, { journal_mode: 'wal' })
    assert.deepEqual({ ...db.prepare('PRAGMA user_version').get() }, { user_version: 2 })
    db.close()
  })

  test('behavior: a version-1 file is migrated to 2 and keeps its rows', async () => {
    const path = file()
    mkdirSync(dirname(path), { recursive: true })
    const db = new DatabaseSync(path)
    db.exec(`CREATE TABLE claims (key TEXT PRIMARY KEY, expires_at INTEGER NOT NULL);
      CREATE TABLE invoices (payment_hash TEXT PRIMARY KEY, payment_request TEXT NOT NULL,
        amount_msat TEXT NOT NULL, route TEXT NOT NULL, token_id TEXT NOT NULL,
        created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL);
      INSERT INTO claims VALUES ('old', ${later()});
      PRAGMA user_version = 1;`)
    db.close()
    const store = sqlite({ path, pruneIntervalMs: 0 })
    try {
      assert.equal(await store.claim('old', later()), false)
      assert.equal((await store.take!('k', { capacity: 1, refillPerSecond: 1 })).allowed, true)
      assert.equal(await store.putValue!('v', 'x', later()), true)
    } finally {
      await store.close()
    }
  })

  test('behavior: two instances on one file share token buckets', async () => {
    const path = file()
    const a = sqlite({ path, pruneIntervalMs: 0 })
    const b = sqlite({ path, pruneIntervalMs: 0 })
    try {
      const now = Date.now()
      const results = await Promise.all(
        Array.from({ length: 40 }, (_, i) => (i % 2 ? a : b).take!('shared', { capacity: 15, refillPerSecond: 0.001 }, now)),
      )
      assert.equal(results.filter((r) => r.allowed).length, 15)
    } finally {
      await a.close()
      await b.close()
    }
  })

  test('behavior: the prune interval deletes expired rows', async () => {
    const path = file()
    const store = sqlite({ path, pruneIntervalMs: 20 })
    await store.claim('k', Date.now() + 10)
    await new Promise((r) => setTimeout(r, 100))
    const db = new DatabaseSync(path)
    assert.deepEqual({ ...db.prepare('SELECT count(*) AS n FROM claims').get() }, { n: 0 })
    db.close()
    await store.close()
  })

  test('behavior: a large prune deletes in chunks, letting other work run between them', async () => {
    const path = file()
    const store = sqlite({ path, pruneIntervalMs: 0 })
    try {
      const soon = Date.now() + 20
      await Promise.all(Array.from({ length: 1_800 }, (_, i) => store.claim(`old${i}`, soon)))
      await Promise.all(Array.from({ length: 700 }, (_, i) => store.putInvoice({ ...invoice(), expiresAt: soon + i % 2 })))
      assert.equal(await store.claim('live', later()), true)
      await new Promise((r) => setTimeout(r, 50))
      // Count event-loop turns while the prune runs: one unbounded DELETE would finish in one.
      let turns = 0
      let running = true
      const tick = (): void => {
        if (!running) return
        turns++
        setImmediate(tick)
      }
      setImmediate(tick)
      assert.equal(await store.prune(), 2_500)
      running = false
      assert.ok(turns >= 5, `${turns} turns`)
      const db = new DatabaseSync(path)
      assert.deepEqual({ ...db.prepare('SELECT count(*) AS n FROM claims').get() }, { n: 1 })
      assert.deepEqual({ ...db.prepare('SELECT count(*) AS n FROM invoices').get() }, { n: 0 })
      db.close()
      assert.equal(await store.claim('live', later()), false)
    } finally {
      await store.close()
    }
  })

  test('error: driver errors are wrapped without leaking the driver message', async () => {
    const path = file()
    const store = sqlite({ path, pruneIntervalMs: 0 })
    const db = new DatabaseSync(path)
    db.exec('DROP TABLE claims')
    db.close()
    await assert.rejects(store.claim('k', later()), (e: unknown) => {
      assert.ok(unavailable(e))
      assert.match(String((e as Error).cause), /claims/)
      return true
    })
    await store.close()
  })

  test('error: an unopenable path throws TURNPIKE_STORE_UNAVAILABLE at construction', () => {
    assert.throws(() => sqlite({ path: root }), unavailable)
  })

  test('error: a newer schema version is refused', () => {
    const path = file()
    sqlite({ path }).close()
    const db = new DatabaseSync(path)
    db.exec('PRAGMA user_version = 99')
    db.close()
    assert.throws(() => sqlite({ path }), (e: unknown) => unavailable(e) && /newer/.test(String((e as Error).cause)))
  })

  test('error: a missing path is a TypeError', () => {
    assert.throws(() => sqlite({} as sqlite.Options), TypeError)
  })
})
