/**
 * SQLite store on the built-in `node:sqlite`. One file can be shared by several processes (cluster
 * workers): WAL journal, a busy timeout, and a single-statement atomic claim.
 * @module
 */
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import type { DatabaseSync, StatementSync } from 'node:sqlite'
import { TurnpikeError } from '../Errors.ts'
import type { InvoiceRecord, Store } from '../Store.ts'
import { checkTake, result } from './bucket.ts'
import { checkQuery, encodeCursor } from '../internal/invoiceQuery.ts'
import { checkDebit, checkRefund, checkRevoke, checked } from '../access/storeArgs.ts'

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
 * Calls are synchronous underneath: under write contention a call can block the event loop for up to
 * `busyTimeoutMs`. Any driver failure, including at open, is a `TURNPIKE_STORE_UNAVAILABLE`.
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
  try {
    // Loaded here, not at import: importing the module costs nothing until a store is made.
    const { DatabaseSync } = process.getBuiltinModule('node:sqlite') as typeof import('node:sqlite')
    const memory = o.path === ':memory:' || o.path === ''
    if (!memory) mkdirSync(dirname(o.path), { recursive: true, mode: 0o700 })
    db = new DatabaseSync(o.path)
    try {
      // First, so that switching to WAL and migrating also wait for other processes.
      const busy = o.busyTimeoutMs ?? 5_000
      db.exec(`PRAGMA busy_timeout = ${Number.isFinite(busy) ? Math.max(0, Math.trunc(busy)) : 5_000}`)
      if (!memory) db.exec('PRAGMA journal_mode = WAL')
      db.exec('PRAGMA synchronous = NORMAL')
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
  const use = <T>(fn: () => T): Promise<T> => {
    if (closed) return Promise.reject(unavailable(new Error('store is closed')))
    try {
      return Promise.resolve(fn())
    } catch (e) {
      return Promise.reject(unavailable(e))
    }
  }
  const prune = (now: number): number =>
    Number(q.pruneClaims.run(now).changes) + Number(q.pruneInvoices.run(now).changes) +
    Number(q.pruneBuckets.run(now).changes) + Number(q.pruneValues.run(now).changes)

  const interval = o.pruneIntervalMs ?? 60_000
  const sweep = (): void => void use(() => prune(Date.now())).catch(() => {})
  const timer = interval > 0 ? setInterval(sweep, interval) : undefined
  timer?.unref()

  return {
    name: 'sqlite',
    claim(key, expiresAt) {
      if (!Number.isFinite(expiresAt)) {
        return Promise.reject(new TypeError('claim: expiresAt must be finite unix ms'))
      }
      return use(() => Number(q.claim.run(key, expiresAt, Date.now()).changes) === 1)
    },
    release(key) {
      return use(() => void q.release.run(key))
    },
    putInvoice(r) {
      return use(() => {
        const { paymentHash, paymentRequest, amountMsat, route, tokenId, createdAt, expiresAt } = r
        const amount = amountMsat.toString()
        q.putInvoice.run(paymentHash, paymentRequest, amount, route, tokenId, createdAt, expiresAt)
      })
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
      return use(() => prune(now))
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
      })
    },
    putValue(key, value, expiresAt) {
      if (!Number.isFinite(expiresAt)) {
        return Promise.reject(new TypeError('putValue: expiresAt must be finite unix ms'))
      }
      return use(() => Number(q.putValue.run(key, String(value), Math.ceil(expiresAt), Date.now()).changes) === 1)
    },
    getValue(key) {
      return use(() => (q.getValue.get(key, Date.now()) as { value: string } | undefined)?.value)
    },
    deleteValue(key) {
      return use(() => void q.deleteValue.run(key))
    },
    ...accessMethods(db, use),
    async close() {
      if (closed) return
      closed = true
      clearInterval(timer)
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
    pruneClaims: db.prepare('DELETE FROM claims WHERE expires_at <= ?'),
    pruneInvoices: db.prepare('DELETE FROM invoices WHERE expires_at <= ?'),
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
    pruneBuckets: db.prepare('DELETE FROM buckets WHERE expires_at <= ?'),
    pruneValues: db.prepare('DELETE FROM kv WHERE expires_at <= ?'),
  }
}

const unavailable = (cause: unknown): TurnpikeError =>
  new TurnpikeError('TURNPIKE_STORE_UNAVAILABLE', 'SQLite store unavailable', { cause, retryAfter: 1 })

// ---- credit balances and revocations (access/), kept in the `kv` table so they expire and prune
// with it: `credits:<account>` holds the balance, `revoked:<tokenId>` marks a revoked token.

function accessMethods(db: DatabaseSync, use: <T>(fn: () => T) => Promise<T>): Pick<Required<Store>, 'debit' | 'refund' | 'revoke' | 'listRevoked'> {
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
        // IMMEDIATE takes the write lock before reading, so processes sharing the file serialise here.
        db.exec('BEGIN IMMEDIATE')
        try {
          const row = q.get.get(key, Date.now()) as { value: string } | undefined
          const balance = row === undefined ? initial : Number(row.value)
          let left: number | undefined
          if (balance >= amount) {
            left = balance - amount
            if (row === undefined) q.put.run(key, String(left), Math.ceil(expiresAt))
            else q.set.run(String(left), key)
          }
          db.exec('COMMIT')
          return left
        } catch (e) {
          db.exec('ROLLBACK')
          throw e
        }
      })
    },
    refund(account, amount) {
      return checked(() => checkRefund(account, amount)) ?? use(() => void st().refund.run(amount, `credits:${account}`, Date.now()))
    },
    revoke(tokenId, expiresAt) {
      return checked(() => checkRevoke(tokenId, expiresAt)) ?? use(() => void st().revoke.run(`revoked:${tokenId}`, Math.ceil(expiresAt)))
    },
    listRevoked() {
      return use(() => (st().list.all(Date.now()) as { key: string }[]).map((r) => r.key.slice('revoked:'.length)))
    },
  }
}
