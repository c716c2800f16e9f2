/**
 * PostgreSQL store over an injected client (`pg` Pool/Client, or anything with `query(text, params)`).
 * Tables are created on first use; the claim is one `INSERT … ON CONFLICT … RETURNING`.
 * @module
 */
import { TurnpikeError } from '../Errors.ts'
import type { InvoiceRecord, Store } from '../Store.ts'

/**
 * A {@link Store} in PostgreSQL: tables `<tablePrefix>claims` and `<tablePrefix>invoices` in `schema`.
 *
 * @remarks
 * The store never ends `client`; `close()` only stops the prune timer and makes later calls reject.
 * Bound fail-closed latency on the client (`pg`: `connectionTimeoutMillis`, `query_timeout`); every
 * rejection becomes `TURNPIKE_STORE_UNAVAILABLE`. Times are stored as integer ms (a fractional
 * `expiresAt` is rounded up), amounts as `NUMERIC`.
 * @example
 * import pg from 'pg'
 * import { postgres } from 'turnpike/store/postgres'
 * const store = postgres(new pg.Pool({ connectionString: process.env.DATABASE_URL }))
 */
export function postgres(client: postgres.Client, o: postgres.Options = {}): Store {
  if (typeof client?.query !== 'function') {
    throw new TypeError('postgres() requires a client with query(text, params), e.g. a pg Pool')
  }
  const prefix = o.tablePrefix ?? 'turnpike_'
  // Identifiers are interpolated into SQL, so only plain ones are accepted (63-byte name limit).
  if (typeof prefix !== 'string' || !/^[A-Za-z0-9_]{0,40}$/.test(prefix)) {
    throw new TypeError('postgres(): `tablePrefix` must match [A-Za-z0-9_]{0,40}')
  }
  if (o.schema !== undefined && !/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(o.schema)) {
    throw new TypeError('postgres(): `schema` must be a plain identifier ([A-Za-z_][A-Za-z0-9_]*)')
  }
  const ns = o.schema === undefined ? '' : `"${o.schema}".`
  const claims = `${ns}"${prefix}claims"`
  const invoices = `${ns}"${prefix}invoices"`

  // One simple-protocol query (no params) runs as one transaction, so the advisory lock serialises
  // concurrent first use across processes; the retry covers clients that lose that atomicity.
  const ddl = `SELECT pg_advisory_xact_lock(hashtext('turnpike.store.postgres.migrate'));
    ${o.schema === undefined ? '' : `CREATE SCHEMA IF NOT EXISTS "${o.schema}";`}
    CREATE TABLE IF NOT EXISTS ${claims} (key TEXT PRIMARY KEY, expires_at BIGINT NOT NULL);
    CREATE INDEX IF NOT EXISTS "${prefix}claims_expires_at" ON ${claims} (expires_at);
    CREATE TABLE IF NOT EXISTS ${invoices} (
      payment_hash TEXT PRIMARY KEY, payment_request TEXT NOT NULL, amount_msat NUMERIC NOT NULL,
      route TEXT NOT NULL, token_id TEXT NOT NULL, created_at BIGINT NOT NULL, expires_at BIGINT NOT NULL);
    CREATE INDEX IF NOT EXISTS "${prefix}invoices_expires_at" ON ${invoices} (expires_at);`
  let ready: Promise<void> | undefined
  const migrate = (): Promise<void> =>
    (ready ??= (async () => {
      try {
        await client.query(ddl)
      } catch (e) {
        if (!['23505', '42P06', '42P07'].includes((e as { code?: string }).code ?? '')) throw e
        await client.query(ddl)
      }
    })().catch((e: unknown) => {
      ready = undefined // retry on the next call
      throw e
    }))

  let closed = false
  const query = async (text: string, params: unknown[]): Promise<unknown[]> => {
    if (closed) throw unavailable(new Error('store is closed'))
    try {
      await migrate()
      return (await client.query(text, params)).rows
    } catch (e) {
      throw unavailable(e)
    }
  }

  const interval = o.pruneIntervalMs ?? 60_000
  const timer = interval > 0 ? setInterval(() => store.prune().catch(() => {}), interval) : undefined
  timer?.unref()

  const store: Store = {
    name: 'postgres',
    async claim(key, expiresAt) {
      if (!Number.isFinite(expiresAt)) throw new TypeError('claim: expiresAt must be finite unix ms')
      // Atomic: a conflicting row is locked and taken over only if it has expired.
      const rows = await query(
        `INSERT INTO ${claims} AS c (key, expires_at) VALUES ($1, $2)
         ON CONFLICT (key) DO UPDATE SET expires_at = EXCLUDED.expires_at WHERE c.expires_at <= $3
         RETURNING 1`,
        [key, Math.ceil(expiresAt), Date.now()],
      )
      return rows.length === 1
    },
    async release(key) {
      await query(`DELETE FROM ${claims} WHERE key = $1`, [key])
    },
    async putInvoice(r) {
      await query(
        `INSERT INTO ${invoices}
           (payment_hash, payment_request, amount_msat, route, token_id, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (payment_hash) DO NOTHING`,
        [
          r.paymentHash, r.paymentRequest, r.amountMsat.toString(), r.route, r.tokenId,
          Math.trunc(r.createdAt), Math.ceil(r.expiresAt),
        ],
      )
    },
    async getInvoice(paymentHash) {
      const rows = (await query(
        `SELECT payment_hash, payment_request, amount_msat::text AS amount_msat, route, token_id,
           created_at::text AS created_at, expires_at::text AS expires_at
         FROM ${invoices} WHERE payment_hash = $1`,
        [paymentHash],
      )) as Row[]
      const row = rows[0]
      return row === undefined ? undefined : toRecord(row)
    },
    async prune(now = Date.now()) {
      const rows = (await query(
        `WITH c AS (DELETE FROM ${claims} WHERE expires_at <= $1 RETURNING 1),
              i AS (DELETE FROM ${invoices} WHERE expires_at <= $1 RETURNING 1)
         SELECT ((SELECT count(*) FROM c) + (SELECT count(*) FROM i))::text AS n`,
        [Math.floor(now)],
      )) as { n: string }[]
      return Number(rows[0]?.n ?? 0)
    },
    async close() {
      closed = true
      clearInterval(timer)
    },
  }
  return store
}

export declare namespace postgres {
  /** What the store calls; a `pg` Pool or Client fits as is. */
  type Client = {
    query(text: string, params?: unknown[]): Promise<{ rows: unknown[]; rowCount?: number | null }>
  }
  /** Options for {@link postgres}. */
  type Options = {
    /** Schema for the tables, created if missing. Default: the connection's `search_path`. */
    readonly schema?: string
    /** Table name prefix. Default `'turnpike_'`. */
    readonly tablePrefix?: string
    /** Expired-row sweep interval (ms). Default 60 000; 0 disables. The timer is unref'd. */
    readonly pruneIntervalMs?: number
  }
}

type Column = 'payment_hash' | 'payment_request' | 'amount_msat' | 'route' | 'token_id'
type Row = Record<Column | 'created_at' | 'expires_at', string>

const toRecord = (row: Row): InvoiceRecord => ({
  paymentHash: row.payment_hash,
  paymentRequest: row.payment_request,
  amountMsat: BigInt(row.amount_msat),
  route: row.route,
  tokenId: row.token_id,
  createdAt: Number(row.created_at),
  expiresAt: Number(row.expires_at),
})

const unavailable = (cause: unknown): TurnpikeError =>
  new TurnpikeError('TURNPIKE_STORE_UNAVAILABLE', 'PostgreSQL store unavailable', { cause, retryAfter: 1 })
