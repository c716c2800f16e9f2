/**
 * SQLite store on the built-in `node:sqlite`. One file can be shared by several processes (cluster
 * workers): WAL journal, a busy timeout, and a single-statement atomic claim.
 *
 * `node:sqlite` is synchronous, so everything here runs on the event loop, and is kept cheap there:
 * the writes of one event-loop turn are committed together in one `BEGIN IMMEDIATE` transaction
 * (group commit, `sqlite-batch.ts`) instead of one commit each, and WAL checkpoints, whose fsyncs
 * blocked the loop for 4–20 ms every 1000 WAL pages, mostly run on a worker thread
 * (`sqlite-checkpoint.ts`, see `checkpointer` below).
 * @module
 */
import { mkdirSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import type { DatabaseSync, StatementSync } from 'node:sqlite'
import { TurnpikeError } from '../Errors.ts'
import type { InvoiceRecord, Store } from '../Store.ts'
import { checkTake, result } from './bucket.ts'
import { checkQuery, encodeCursor } from '../internal/invoiceQuery.ts'
import { checkDebit, checkRefund, checkRevoke, checked } from '../access/storeArgs.ts'
import { batcher } from './sqlite-batch.ts'

/** Schema version kept in `PRAGMA user_version`. */
const VERSION = 2

const migrations: readonly string[] = [
  // 0 → 1
  `CREATE TABLE IF NOT EXISTS claims (key TEXT PRIMARY KEY, expires_at INTEGER NOT NULL);
   CREATE INDEX IF NOT EXISTS claims_expires_at ON claims (expires_at);
   CREATE TABLE IF NOT EXISTS invoices (
     payment_hash TEXT PRIMARY KEY, payment_request TEXT NOT NULL,
     amount_msat TEXT NOT NULL, route TEXT NOT NULL, token_id TEXT NOT NULL,
     created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL);
   CREATE INDEX IF NOT EXISTS invoices_expires_at ON invoices (expires_at);`,
  // 1 → 2: token buckets (rate limits) and short-lived values (challenge reuse)
  `CREATE TABLE IF NOT EXISTS buckets (key TEXT PRIMARY KEY, tokens REAL NOT NULL,
     updated_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, granted INTEGER NOT NULL);
   CREATE INDEX IF NOT EXISTS buckets_expires_at ON buckets (expires_at);
   CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL, expires_at INTEGER NOT NULL);
   CREATE INDEX IF NOT EXISTS kv_expires_at ON kv (expires_at);`,
]

/**
 * A {@link Store} in a SQLite file (or `':memory:'`), created with its directory (0700) if missing.
 *
 * @remarks
 * Writes (claims, releases, invoices, buckets, values, credits, prunes) are queued and run together,
 * in call order, in one `BEGIN IMMEDIATE` transaction flushed by `setImmediate`; a read runs at once,
 * or after the writes queued before it. Each call is decided by its own statement (the second claim
 * of a key in a batch loses) and resolves once the transaction has committed. A statement that fails
 * rejects its own call; a transaction that fails (the write lock not obtained within
 * `busyTimeoutMs`, which blocks the event loop meanwhile, a full disk, an I/O error) is rolled back
 * and rejects every call in it. Any driver failure, including at open, is a
 * `TURNPIKE_STORE_UNAVAILABLE`. `close()` first runs what is still queued.
 * @example
 * import { sqlite } from 'turnpike/store/sqlite'
 * const store = sqlite({ path: './data/turnpike.db' })
 */
export function sqlite(o: sqlite.Options): Store {
  if (typeof o?.path !== 'string') {
    throw new TypeError('sqlite() requires `path`: a file path or ":memory:"')
  }
  let db: DatabaseSync
  let q: ReturnType<typeof prepare>
  let memory = false
  try {
    // Loaded here, not at import: importing the module costs nothing until a store is made.
    const { DatabaseSync } = process.getBuiltinModule('node:sqlite') as typeof import('node:sqlite')
    memory = o.path === ':memory:' || o.path === ''
    if (!memory) mkdirSync(dirname(o.path), { recursive: true, mode: 0o700 })
    db = new DatabaseSync(o.path)
    try {
      // First, so that switching to WAL and migrating also wait for other processes.
      const busy = o.busyTimeoutMs ?? 5_000
      db.exec(`PRAGMA busy_timeout = ${Number.isFinite(busy) ? Math.max(0, Math.trunc(busy)) : 5_000}`)
      if (!memory) db.exec('PRAGMA journal_mode = WAL')
      db.exec('PRAGMA synchronous = NORMAL')
      db.exec(`PRAGMA wal_autocheckpoint = ${autocheckpointPages}`)
      migrate(db)
      q = prepare(db)
    } catch (e) {
      db.close()
      throw e
    }
  } catch (e) {
    throw unavailable(e)
  }

  let closed = false
  let list: StatementSync | undefined
  // Absolute: the thread starts later, and the working directory may have changed by then.
  const checkpoints = memory ? undefined : checkpointer(resolve(o.path))
  const batch = batcher(db, { fail: unavailable, ...(checkpoints ? { committed: checkpoints.written } : {}) })
  /** Runs `fn` through the group commit; `write` for anything that changes the database. */
  const use = <T>(fn: () => T, write = false): Promise<T> =>
    closed ? Promise.reject(unavailable(new Error('store is closed'))) : batch.run(fn, write)
  // Expired rows go in chunks, one chunk per table per event-loop turn, so a large sweep (hours of
  // claims expiring together) never holds the loop for long: one unbounded DELETE of 10 % of a
  // 300 000-row table blocked it for about 180 ms on the test machine.
  const prune = async (now: number): Promise<number> => {
    let total = 0
    for (const stmt of [q.pruneClaims, q.pruneInvoices, q.pruneBuckets, q.pruneValues]) {
      let n: number
      do {
        n = await use(() => Number(stmt.run(now, pruneChunk).changes), true)
        total += n
      } while (n >= pruneChunk)
    }
    return total
  }

  const interval = o.pruneIntervalMs ?? 60_000
  let sweeping = false
  const sweep = (): void => {
    if (sweeping) return
    sweeping = true
    prune(Date.now()).catch(() => {}).finally(() => (sweeping = false))
  }
  const timer = interval > 0 ? setInterval(sweep, interval) : undefined
  timer?.unref()

  return {
    name: 'sqlite',
    claim(key, expiresAt) {
      if (!Number.isFinite(expiresAt)) {
        return Promise.reject(new TypeError('claim: expiresAt must be finite unix ms'))
      }
      return use(() => Number(q.claim.run(key, expiresAt, Date.now()).changes) === 1, true)
    },
    release(key) {
      return use(() => void q.release.run(key), true)
    },
    putInvoice(r) {
      return use(() => {
        const { paymentHash, paymentRequest, amountMsat, route, tokenId, createdAt, expiresAt } = r
        const amount = amountMsat.toString()
        q.putInvoice.run(paymentHash, paymentRequest, amount, route, tokenId, createdAt, expiresAt)
      }, true)
    },
    getInvoice(paymentHash) {
      return use(() => {
        const row = q.getInvoice.get(paymentHash) as Row | undefined
        return row === undefined ? undefined : toRecord(row)
      })
    },
    listInvoices(query) {
      let c: ReturnType<typeof checkQuery>
      try {
        c = checkQuery(query)
      } catch (e) {
        return Promise.reject(e)
      }
      return use(() => {
        // Admin only: prepared on demand, not kept with the request-path statements.
        list ??= db.prepare(
          `SELECT * FROM invoices WHERE (:route IS NULL OR route = :route) AND created_at >= :since AND created_at < :until
             AND (created_at < :at OR (created_at = :at AND payment_hash < :hash))
           ORDER BY created_at DESC, payment_hash DESC LIMIT :limit`,
        )
        const rows = list.all({
          route: query.route ?? null, since: query.since ?? 0, until: query.until ?? 8.64e15,
          at: c.cursor?.createdAt ?? 8.64e15, hash: c.cursor?.paymentHash ?? '', limit: c.limit + 1,
        }) as Row[]
        const invoices = rows.slice(0, c.limit).map(toRecord)
        return rows.length > c.limit ? { invoices, next: encodeCursor(invoices[invoices.length - 1]!) } : { invoices }
      })
    },
    prune(now = Date.now()) {
      return closed ? Promise.reject(unavailable(new Error('store is closed'))) : prune(now)
    },
    take(key, limit, now = Date.now()) {
      let l: ReturnType<typeof checkTake>
      try {
        l = checkTake(key, limit, now)
      } catch (e) {
        return Promise.reject(e)
      }
      return use(() => {
        const { capacity: cap, refillPerSecond: rate, cost } = l
        const row = q.take.get({ key, cap, rate, cost, now }) as { tokens: number; granted: number }
        return result(l, row.granted === 1, row.tokens)
      }, true)
    },
    putValue(key, value, expiresAt) {
      if (!Number.isFinite(expiresAt)) {
        return Promise.reject(new TypeError('putValue: expiresAt must be finite unix ms'))
      }
      return use(() => Number(q.putValue.run(key, String(value), Math.ceil(expiresAt), Date.now()).changes) === 1, true)
    },
    getValue(key) {
      return use(() => (q.getValue.get(key, Date.now()) as { value: string } | undefined)?.value)
    },
    deleteValue(key) {
      return use(() => void q.deleteValue.run(key), true)
    },
    ...accessMethods(db, use),
    async close() {
      if (closed) return
      closed = true
      clearInterval(timer)
      // Whatever is queued still runs (and settles) before the connection goes.
      batch.flush()
      await checkpoints?.stop()
      try {
        db.close()
      } catch {
        // Already closed underneath; nothing left to release.
      }
    },
  }
}

export declare namespace sqlite {
  /** Options for {@link sqlite}. */
  type Options = {
    /** Database file, or `':memory:'` (private to this instance). */
    readonly path: string
    /** Expired-row sweep interval (ms). Default 60 000; 0 disables. The timer is unref'd. */
    readonly pruneIntervalMs?: number
    /** How long a call waits for another process's write lock (ms). Default 5 000. */
    readonly busyTimeoutMs?: number
  }
}

/** Rows one prune statement deletes per event-loop turn. */
const pruneChunk = 500

/** Write calls between two checkpoints of the checkpoint thread. */
const checkpointEvery = 100
/** WAL size (pages) at which the connection checkpoints by itself after a commit (SQLite's default). */
const autocheckpointPages = 1000

/**
 * Runs WAL checkpoints on a worker thread (`sqlite-checkpoint.ts`) for a file database, started after
 * the first {@link checkpointEvery} writes and asked for a checkpoint after every such run of writes,
 * one at a time. A checkpoint copies WAL pages into the database file and fsyncs both files: 4–20 ms
 * per 1000 pages, nearly all of it the fsyncs, that blocked the event loop when the connection did it.
 *
 * @remarks
 * The WAL only starts over when a transaction begins with every frame copied, which a thread racing
 * the commits rarely achieves; the connection's own automatic checkpoint (at
 * {@link autocheckpointPages}) copies the few frames left after a commit and so restarts it. The
 * thread is only asked right after a commit, never when it answers, so every automatic checkpoint
 * following its work finds it idle (a busy checkpointer would make it skip). It also bounds the WAL
 * alone when the thread cannot start or dies.
 */
function checkpointer(path: string): { written(calls: number): void; stop(): Promise<void> } {
  let worker: import('node:worker_threads').Worker | undefined
  let dead = false
  let busy = false
  let pending = 0
  const kick = (): void => {
    if (worker === undefined) {
      try {
        const { Worker } = process.getBuiltinModule('node:worker_threads') as typeof import('node:worker_threads')
        const file = import.meta.url.endsWith('.ts') ? './sqlite-checkpoint.ts' : './sqlite-checkpoint.js'
        // No inherited flags: some are refused by threads (those of a `node --test` child) or make
        // them fail (`--input-type` of a process started with `-e`); this thread needs none.
        const w = new Worker(new URL(file, import.meta.url), { workerData: { path }, execArgv: [] })
        w.on('message', () => {
          busy = false
        })
        const gone = (): void => {
          dead = true
          worker = undefined
        }
        w.on('error', gone).on('exit', gone)
        // After the listeners: a 'message' listener would hold the process open again.
        w.unref()
        worker = w
      } catch {
        dead = true
        return
      }
    }
    pending = 0
    busy = true
    worker.postMessage(0)
  }
  return {
    written(calls) {
      pending += calls
      if (!busy && !dead && pending >= checkpointEvery) kick()
    },
    async stop() {
      dead = true
      const w = worker
      worker = undefined
      await w?.terminate()
    },
  }
}

type Row = {
  payment_hash: string
  payment_request: string
  amount_msat: string
  route: string
  token_id: string
  created_at: number
  expires_at: number
}

const toRecord = (row: Row): InvoiceRecord => ({
  paymentHash: row.payment_hash,
  paymentRequest: row.payment_request,
  amountMsat: BigInt(row.amount_msat),
  route: row.route,
  tokenId: row.token_id,
  createdAt: row.created_at,
  expiresAt: row.expires_at,
})

/** Brings the schema to {@link VERSION}; `BEGIN IMMEDIATE` serialises processes opening a new file. */
function migrate(db: DatabaseSync): void {
  const version = (): number =>
    Number((db.prepare('PRAGMA user_version').get() as { user_version: number }).user_version)
  if (version() === VERSION) return
  db.exec('BEGIN IMMEDIATE')
  try {
    const from = version()
    if (from > VERSION) throw new Error(`schema version ${from} is newer than supported ${VERSION}`)
    for (let v = from; v < VERSION; v++) db.exec(migrations[v] as string)
    db.exec(`PRAGMA user_version = ${VERSION}`)
    db.exec('COMMIT')
  } catch (e) {
    try {
      db.exec('ROLLBACK')
    } catch {
      // SQLite already rolled back; keep the original error.
    }
    throw e
  }
}

type Statements =
  | 'claim' | 'release' | 'putInvoice' | 'getInvoice' | 'pruneClaims' | 'pruneInvoices'
  | 'take' | 'putValue' | 'getValue' | 'deleteValue' | 'pruneBuckets' | 'pruneValues'

/** The refilled level of the stored bucket (SET expressions see the row before the update). */
const level = 'min(:cap, buckets.tokens + max(0, :now - buckets.updated_at) * :rate / 1000.0)'
const after = `CASE WHEN ${level} >= :cost THEN ${level} - :cost ELSE ${level} END`

/** Prepares every statement once; they are held privately for the store's lifetime. */
function prepare(db: DatabaseSync): Record<Statements, StatementSync> {
  return {
    // One statement: insert, or take over a row only when it has expired; `changes` says which.
    claim: db.prepare(
      `INSERT INTO claims (key, expires_at) VALUES (?, ?)
       ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at WHERE claims.expires_at <= ?`,
    ),
    release: db.prepare('DELETE FROM claims WHERE key = ?'),
    putInvoice: db.prepare(
      `INSERT INTO invoices
         (payment_hash, payment_request, amount_msat, route, token_id, created_at, expires_at)
       VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (payment_hash) DO NOTHING`,
    ),
    getInvoice: db.prepare('SELECT * FROM invoices WHERE payment_hash = ?'),
    pruneClaims: db.prepare('DELETE FROM claims WHERE rowid IN (SELECT rowid FROM claims WHERE expires_at <= ? LIMIT ?)'),
    pruneInvoices: db.prepare('DELETE FROM invoices WHERE rowid IN (SELECT rowid FROM invoices WHERE expires_at <= ? LIMIT ?)'),
    // One statement, so atomic across processes: a new bucket starts full and pays `cost`; an
    // existing one is refilled for the time since its last use, then pays if it can. The row may be
    // pruned once it would be full again (`expires_at`).
    take: db.prepare(
      `INSERT INTO buckets (key, tokens, updated_at, expires_at, granted)
       VALUES (:key, :cap - :cost, :now, :now + CAST(:cost * 1000.0 / :rate AS INTEGER) + 1, 1)
       ON CONFLICT (key) DO UPDATE SET
         granted = ${level} >= :cost,
         tokens = ${after},
         updated_at = max(buckets.updated_at, :now),
         expires_at = max(buckets.updated_at, :now) + CAST((:cap - ${after}) * 1000.0 / :rate AS INTEGER) + 1
       RETURNING tokens, granted`,
    ),
    putValue: db.prepare(
      `INSERT INTO kv (key, value, expires_at) VALUES (?, ?, ?)
       ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at
       WHERE kv.expires_at <= ?`,
    ),
    getValue: db.prepare('SELECT value FROM kv WHERE key = ? AND expires_at > ?'),
    deleteValue: db.prepare('DELETE FROM kv WHERE key = ?'),
    pruneBuckets: db.prepare('DELETE FROM buckets WHERE rowid IN (SELECT rowid FROM buckets WHERE expires_at <= ? LIMIT ?)'),
    pruneValues: db.prepare('DELETE FROM kv WHERE rowid IN (SELECT rowid FROM kv WHERE expires_at <= ? LIMIT ?)'),
  }
}

const unavailable = (cause: unknown): TurnpikeError =>
  new TurnpikeError('TURNPIKE_STORE_UNAVAILABLE', 'SQLite store unavailable', { cause, retryAfter: 1 })

// ---- credit balances and revocations (access/), kept in the `kv` table so they expire and prune
// with it: `credits:<account>` holds the balance, `revoked:<tokenId>` marks a revoked token.

function accessMethods(db: DatabaseSync, use: <T>(fn: () => T, write?: boolean) => Promise<T>): Pick<Required<Store>, 'debit' | 'refund' | 'revoke' | 'listRevoked'> {
  let s: Record<'get' | 'put' | 'set' | 'refund' | 'revoke' | 'list', StatementSync> | undefined
  // Prepared on first use, not with the core statements.
  const st = () => (s ??= {
    get: db.prepare('SELECT value FROM kv WHERE key = ? AND expires_at > ?'),
    put: db.prepare('INSERT INTO kv (key, value, expires_at) VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at'),
    set: db.prepare('UPDATE kv SET value = ? WHERE key = ?'),
    refund: db.prepare("UPDATE kv SET value = CAST(CAST(value AS INTEGER) + ? AS TEXT) WHERE key = ? AND expires_at > ?"),
    revoke: db.prepare(
      `INSERT INTO kv (key, value, expires_at) VALUES (?, '1', ?)
       ON CONFLICT(key) DO UPDATE SET expires_at = MAX(kv.expires_at, excluded.expires_at)`,
    ),
    list: db.prepare("SELECT key FROM kv WHERE key >= 'revoked:' AND key < 'revoked;' AND expires_at > ?"),
  })
  return {
    debit(account, amount, initial, expiresAt) {
      return checked(() => checkDebit(account, amount, initial, expiresAt)) ?? use(() => {
        const q = st()
        const key = `credits:${account}`
        // A write runs in the batch's `BEGIN IMMEDIATE` transaction, which took the write lock before
        // this read, so processes sharing the file serialise here.
        const row = q.get.get(key, Date.now()) as { value: string } | undefined
        const balance = row === undefined ? initial : Number(row.value)
        if (balance < amount) return undefined
        const left = balance - amount
        if (row === undefined) q.put.run(key, String(left), Math.ceil(expiresAt))
        else q.set.run(String(left), key)
        return left
      }, true)
    },
    refund(account, amount) {
      return checked(() => checkRefund(account, amount)) ?? use(() => void st().refund.run(amount, `credits:${account}`, Date.now()), true)
    },
    revoke(tokenId, expiresAt) {
      return checked(() => checkRevoke(tokenId, expiresAt)) ?? use(() => void st().revoke.run(`revoked:${tokenId}`, Math.ceil(expiresAt)), true)
    },
    listRevoked() {
      return use(() => (st().list.all(Date.now()) as { key: string }[]).map((r) => r.key.slice('revoked:'.length)))
    },
  }
}
