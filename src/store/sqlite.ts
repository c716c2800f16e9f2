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

/** Schema version kept in `PRAGMA user_version`. */
const VERSION = 1

const migrations: readonly string[] = [
  // 0 → 1
  `CREATE TABLE IF NOT EXISTS claims (key TEXT PRIMARY KEY, expires_at INTEGER NOT NULL);
   CREATE INDEX IF NOT EXISTS claims_expires_at ON claims (expires_at);
   CREATE TABLE IF NOT EXISTS invoices (
     payment_hash TEXT PRIMARY KEY, payment_request TEXT NOT NULL,
     amount_msat TEXT NOT NULL, route TEXT NOT NULL, token_id TEXT NOT NULL,
     created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL);
   CREATE INDEX IF NOT EXISTS invoices_expires_at ON invoices (expires_at);`,
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
  const use = <T>(fn: () => T): Promise<T> => {
    if (closed) return Promise.reject(unavailable(new Error('store is closed')))
    try {
      return Promise.resolve(fn())
    } catch (e) {
      return Promise.reject(unavailable(e))
    }
  }
  const prune = (now: number): number =>
    Number(q.pruneClaims.run(now).changes) + Number(q.pruneInvoices.run(now).changes)

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
    prune(now = Date.now()) {
      return use(() => prune(now))
    },
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

type Statements = 'claim' | 'release' | 'putInvoice' | 'getInvoice' | 'pruneClaims' | 'pruneInvoices'

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
  }
}

const unavailable = (cause: unknown): TurnpikeError =>
  new TurnpikeError('TURNPIKE_STORE_UNAVAILABLE', 'SQLite store unavailable', { cause, retryAfter: 1 })
