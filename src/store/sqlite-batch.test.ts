import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import { after, describe, test } from 'node:test'
import { batcher } from './sqlite-batch.ts'

const root = mkdtempSync(join(tmpdir(), 'turnpike-sqlite-batch-'))
after(() => rmSync(root, { recursive: true, force: true }))
let n = 0

class Failed extends Error {}
const fail = (cause: unknown): Error => new Failed('failed', { cause })

/** A real database with a table `t (k TEXT PRIMARY KEY, v INTEGER NOT NULL)`, and a batcher on it. */
function setup(path = ':memory:') {
  const db = new DatabaseSync(path)
  db.exec(`PRAGMA busy_timeout = 0; ${path === ':memory:' ? '' : 'PRAGMA journal_mode = WAL;'}
    CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER NOT NULL)`)
  const commits: number[] = []
  const b = batcher(db, { fail, committed: (calls) => commits.push(calls) })
  const ins = db.prepare('INSERT INTO t VALUES (?, ?) ON CONFLICT (k) DO NOTHING')
  const put = (k: string, v: number | null = 1) => b.run(() => Number(ins.run(k, v).changes) === 1, true)
  const get = (k: string) => b.run(() => (db.prepare('SELECT v FROM t WHERE k = ?').get(k) as { v: number } | undefined)?.v, false)
  const count = (): number => Number((db.prepare('SELECT count(*) AS n FROM t').get() as { n: number }).n)
  return { db, b, put, get, count, commits }
}

describe('sqlite-batch', () => {
  test('behavior: the writes of one turn share one transaction and are judged in call order', async () => {
    const { db, put, commits } = setup()
    const results = await Promise.all([put('a'), put('a'), put('b'), put('a')])
    assert.deepEqual(results, [true, false, true, false])
    assert.deepEqual(commits, [4])
    assert.equal(db.isTransaction, false)
    assert.deepEqual(await Promise.all([put('c'), put('b')]), [true, false])
    assert.deepEqual(commits, [4, 2])
  })

  test('behavior: a read runs at once when nothing is queued, and behind the writes it follows otherwise', async () => {
    const { b, put, get } = setup()
    let ran = false
    const read = b.run(() => (ran = true), false)
    assert.equal(ran, true, 'ran synchronously')
    await read
    const written = put('x')
    assert.equal(await get('x'), 1, 'sees the write queued before it')
    assert.equal(await written, true)
  })

  test('behavior: a call resolves once its batch is committed, visible to other connections', async () => {
    const path = join(root, `commit-${n++}.db`)
    const { put } = setup(path)
    const other = new DatabaseSync(path)
    try {
      const seen = await Promise.all(['a', 'b'].map((k) => put(k).then(() => other.prepare('SELECT k FROM t WHERE k = ?').get(k) !== undefined)))
      assert.deepEqual(seen, [true, true])
    } finally {
      other.close()
    }
  })

  test('behavior: a failing statement rejects only its caller; the rest of the batch commits', async () => {
    const { put, get, count, commits } = setup()
    const results = await Promise.allSettled([put('a'), put('bad', null), put('b')])
    assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled'])
    const bad = results[1] as PromiseRejectedResult
    assert.ok(bad.reason instanceof Failed)
    assert.match(String((bad.reason as Error).cause), /NOT NULL/)
    assert.equal(count(), 2)
    assert.equal(await get('bad'), undefined)
    assert.deepEqual(commits, [3])
  })

  test('error: a full disk mid-batch rolls the whole batch back and rejects every call, also those that ran', async () => {
    const { db, put, get, count, commits } = setup()
    await put('seed')
    const pages = Number((db.prepare('PRAGMA page_count').get() as { page_count: number }).page_count)
    // SQLITE_FULL once the file would grow by more than a page; a 100 kB key needs overflow pages.
    db.exec(`PRAGMA max_page_count = ${pages + 1}`)
    const results = await Promise.allSettled([put('before'), put('x'.repeat(100_000)), put('after'), get('before')])
    for (const r of results) {
      assert.equal(r.status, 'rejected')
      assert.ok(r.reason instanceof Failed)
      assert.match(String((r.reason as Error).cause), /full/)
    }
    assert.equal(db.isTransaction, false)
    assert.equal(count(), 1, 'only the seed row')
    assert.deepEqual(commits, [1])
    // The connection is usable again.
    db.exec('PRAGMA max_page_count = 1000000')
    assert.deepEqual(await Promise.all([put('before'), put('after')]), [true, true])
  })

  test('error: a write lock held past the busy timeout rejects the whole batch', async () => {
    const path = join(root, `busy-${n++}.db`)
    const { put, get, count, commits } = setup(path)
    const other = new DatabaseSync(path)
    other.exec('BEGIN IMMEDIATE')
    try {
      const results = await Promise.allSettled([put('a'), put('b'), get('a')])
      for (const r of results) {
        assert.equal(r.status, 'rejected')
        assert.ok(r.reason instanceof Failed)
        assert.match(String((r.reason as Error).cause), /locked|busy/i)
      }
      assert.deepEqual(commits, [])
    } finally {
      other.exec('ROLLBACK')
      other.close()
    }
    assert.equal(count(), 0)
    assert.deepEqual(await Promise.all([put('a'), put('b')]), [true, true])
  })

  test('behavior: flush() runs what is queued at once; the scheduled flush then finds nothing', async () => {
    const { b, put, count, commits } = setup()
    const p = put('a')
    b.flush()
    assert.equal(count(), 1)
    assert.equal(await p, true)
    await new Promise((r) => setImmediate(r))
    assert.deepEqual(commits, [1])
  })
})
