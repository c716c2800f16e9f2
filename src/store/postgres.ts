/**
 * PostgreSQL store over an injected client (`pg` Pool/Client, or anything with `query(text, params)`).
 * The schema is versioned (`<prefix>schema_version`) and migrated by `migrate()` at start-up, or on
 * first use; the claim and the token bucket are each one `INSERT … ON CONFLICT … RETURNING`.
 * @module
 */
import { TurnpikeError } from '../Errors.ts'
import type { InvoiceRecord, Store } from '../Store.ts'
import { checkTake, result } from './bucket.ts'
import { checkQuery, encodeCursor } from '../internal/invoiceQuery.ts'
import { checkDebit, checkRefund, checkRevoke } from '../access/storeArgs.ts'

/** The refilled level of the stored bucket `b` ($2 capacity, $3 refill/s, $5 now). */
const level = 'LEAST($2::float8, b.tokens + GREATEST(0, $5::float8 - b.updated_at) * $3::float8 / 1000)'
const after = `CASE WHEN ${level} >= $4::float8 THEN ${level} - $4::float8 ELSE ${level} END`

/**
 * A {@link Store} in PostgreSQL: tables `<tablePrefix>claims`, `invoices`, `buckets`, `kv` and
 * `schema_version` in `schema`.
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
export function postgres(client: postgres.Client, o: postgres.Options = {}): postgres.Store {
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
  const buckets = `${ns}"${prefix}buckets"`
  const kv = `${ns}"${prefix}kv"`
  const versions = `${ns}"${prefix}schema_version"`

  // Versioned migrations, in order; each runs once per database, recorded in `<prefix>schema_version`.
  // Version 1 is the original layout (IF NOT EXISTS adopts tables made before versioning existed).
  const migrations: readonly string[] = [
    `CREATE TABLE IF NOT EXISTS ${claims} (key TEXT PRIMARY KEY, expires_at BIGINT NOT NULL);
     CREATE INDEX IF NOT EXISTS "${prefix}claims_expires_at" ON ${claims} (expires_at);
     CREATE TABLE IF NOT EXISTS ${invoices} (
       payment_hash TEXT PRIMARY KEY, payment_request TEXT NOT NULL, amount_msat NUMERIC NOT NULL,
       route TEXT NOT NULL, token_id TEXT NOT NULL, created_at BIGINT NOT NULL, expires_at BIGINT NOT NULL);
     CREATE INDEX IF NOT EXISTS "${prefix}invoices_expires_at" ON ${invoices} (expires_at);`,
    `CREATE TABLE IF NOT EXISTS ${buckets} (key TEXT PRIMARY KEY, tokens DOUBLE PRECISION NOT NULL,
       updated_at BIGINT NOT NULL, expires_at BIGINT NOT NULL, granted BOOLEAN NOT NULL);
     CREATE INDEX IF NOT EXISTS "${prefix}buckets_expires_at" ON ${buckets} (expires_at);
     CREATE TABLE IF NOT EXISTS ${kv} (key TEXT PRIMARY KEY, value TEXT NOT NULL, expires_at BIGINT NOT NULL);
     CREATE INDEX IF NOT EXISTS "${prefix}kv_expires_at" ON ${kv} (expires_at);`,
  ]
  const latest = migrations.length
  // One simple-protocol query (no params) runs as one transaction, so the advisory lock serialises
  // concurrent start-ups across processes; the retry covers clients that lose that atomicity.
  const ddl = `SELECT pg_advisory_xact_lock(hashtext('turnpike.store.postgres.migrate'));
    ${o.schema === undefined ? '' : `CREATE SCHEMA IF NOT EXISTS "${o.schema}";`}
    CREATE TABLE IF NOT EXISTS ${versions} (version INTEGER NOT NULL);
    DO $turnpike$
    DECLARE v INTEGER;
    BEGIN
      SELECT coalesce(max(version), 0) INTO v FROM ${versions};
      IF v > ${latest} THEN
        RAISE EXCEPTION 'schema version % is newer than supported ${latest}', v;
      END IF;
      ${migrations.map((m, i) => `IF v < ${i + 1} THEN ${m} END IF;`).join('\n      ')}
      IF v < ${latest} THEN
        DELETE FROM ${versions};
        INSERT INTO ${versions} (version) VALUES (${latest});
      END IF;
    END
    $turnpike$;`
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

  const store: postgres.Store = {
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
    async listInvoices(q) {
      const c = checkQuery(q)
      const rows = (await query(
        `SELECT payment_hash, payment_request, amount_msat::text AS amount_msat, route, token_id,
           created_at::text AS created_at, expires_at::text AS expires_at
         FROM ${invoices} WHERE ($1::text IS NULL OR route = $1) AND created_at >= $2 AND created_at < $3
           AND (created_at < $4 OR (created_at = $4 AND payment_hash < $5))
         ORDER BY created_at DESC, payment_hash DESC LIMIT $6`,
        [q.route ?? null, Math.trunc(q.since ?? 0), Math.ceil(q.until ?? 8.64e15), c.cursor?.createdAt ?? 8.64e15, c.cursor?.paymentHash ?? '', c.limit + 1],
      )) as Row[]
      const list = rows.slice(0, c.limit).map(toRecord)
      return rows.length > c.limit ? { invoices: list, next: encodeCursor(list[list.length - 1]!) } : { invoices: list }
    },
    async prune(now = Date.now()) {
      const rows = (await query(
        `WITH c AS (DELETE FROM ${claims} WHERE expires_at <= $1 RETURNING 1),
              i AS (DELETE FROM ${invoices} WHERE expires_at <= $1 RETURNING 1),
              b AS (DELETE FROM ${buckets} WHERE expires_at <= $1 RETURNING 1),
              v AS (DELETE FROM ${kv} WHERE expires_at <= $1 RETURNING 1)
         SELECT ((SELECT count(*) FROM c) + (SELECT count(*) FROM i) + (SELECT count(*) FROM b)
           + (SELECT count(*) FROM v))::text AS n`,
        [Math.floor(now)],
      )) as { n: string }[]
      return Number(rows[0]?.n ?? 0)
    },
    async take(key, limit, now = Date.now()) {
      const l = checkTake(key, limit, now)
      // One upsert: the conflicting row is locked, refilled for the time since its last use, and
      // pays `cost` if it can. SET expressions see the row as it was before this update.
      const rows = (await query(
        `INSERT INTO ${buckets} AS b (key, tokens, updated_at, expires_at, granted)
         VALUES ($1, $2::float8 - $4::float8, $5::float8, ceil($5::float8 + $4::float8 * 1000 / $3::float8) + 1, true)
         ON CONFLICT (key) DO UPDATE SET
           granted = ${level} >= $4::float8,
           tokens = ${after},
           updated_at = GREATEST(b.updated_at, $5::float8),
           expires_at = ceil(GREATEST(b.updated_at, $5::float8) + ($2::float8 - ${after}) * 1000 / $3::float8) + 1
         RETURNING tokens, granted`,
        [key, l.capacity, l.refillPerSecond, l.cost, now],
      )) as { tokens: number; granted: boolean }[]
      const row = rows[0]!
      return result(l, row.granted, Number(row.tokens))
    },
    async putValue(key, value, expiresAt) {
      if (!Number.isFinite(expiresAt)) throw new TypeError('putValue: expiresAt must be finite unix ms')
      const rows = await query(
        `INSERT INTO ${kv} AS v (key, value, expires_at) VALUES ($1, $2, $3)
         ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at
         WHERE v.expires_at <= $4 RETURNING 1`,
        [key, String(value), Math.ceil(expiresAt), Date.now()],
      )
      return rows.length === 1
    },
    async getValue(key) {
      const rows = (await query(`SELECT value FROM ${kv} WHERE key = $1 AND expires_at > $2`, [key, Date.now()])) as {
        value: string
      }[]
      return rows[0]?.value
    },
    async deleteValue(key) {
      await query(`DELETE FROM ${kv} WHERE key = $1`, [key])
    },
    async migrate() {
      if (closed) throw unavailable(new Error('store is closed'))
      try {
        await migrate()
      } catch (e) {
        throw unavailable(e)
      }
      return latest
    },
    async close() {
      closed = true
      clearInterval(timer)
    },
  }
  Object.assign(store, accessMethods(kv, query))
  return store
}

export declare namespace postgres {
  /** The PostgreSQL store: a {@link Store} that can also be migrated eagerly, e.g. at start-up. */
  type Store = import('../Store.ts').Store & {
    /** Brings the schema to the latest version (once per store); resolves that version. */
    migrate(): Promise<number>
  }
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

// ---- credit balances and revocations (access/), kept in the `kv` table so they expire and prune
// with it: `credits:<account>` holds the balance, `revoked:<tokenId>` marks a revoked token.

function accessMethods(kv: string, query: (text: string, params: unknown[]) => Promise<unknown[]>): Pick<Required<import('../Store.ts').Store>, 'debit' | 'refund' | 'revoke' | 'listRevoked'> {
  // One statement: a missing or expired row starts at $2; the conflicting row is locked, and the
  // WHERE refuses (no row returned) when the balance is short, so concurrent draws never overdraw.
  const debit = `INSERT INTO ${kv} AS k (key, value, expires_at) SELECT $1::text, ($2::bigint - $3::bigint)::text, $4::bigint WHERE $2::bigint >= $3::bigint
    ON CONFLICT (key) DO UPDATE SET
      value = ((CASE WHEN k.expires_at <= $5::bigint THEN $2::bigint ELSE k.value::bigint END) - $3::bigint)::text,
      expires_at = CASE WHEN k.expires_at <= $5::bigint THEN EXCLUDED.expires_at ELSE k.expires_at END
    WHERE (CASE WHEN k.expires_at <= $5::bigint THEN $2::bigint ELSE k.value::bigint END) >= $3::bigint
    RETURNING value`
  return {
    async debit(account, amount, initial, expiresAt) {
      checkDebit(account, amount, initial, expiresAt)
      const key = `credits:${account}`
      const rows = (await query(debit, [key, initial, amount, Math.ceil(expiresAt), Date.now()])) as { value: string }[]
      if (rows.length > 0) return Number(rows[0]!.value)
      if (initial >= amount) return undefined
      // The INSERT … SELECT inserted nothing because `initial` is short: still take from a live row.
      const r = (await query(
        `UPDATE ${kv} SET value = (value::bigint - $2::bigint)::text WHERE key = $1 AND expires_at > $3 AND value::bigint >= $2::bigint RETURNING value`,
        [key, amount, Date.now()],
      )) as { value: string }[]
      return r.length > 0 ? Number(r[0]!.value) : undefined
    },
    async refund(account, amount) {
      checkRefund(account, amount)
      await query(`UPDATE ${kv} SET value = (value::bigint + $2::bigint)::text WHERE key = $1 AND expires_at > $3`, [`credits:${account}`, amount, Date.now()])
    },
    async revoke(tokenId, expiresAt) {
      checkRevoke(tokenId, expiresAt)
      await query(
        `INSERT INTO ${kv} AS k (key, value, expires_at) VALUES ($1, '1', $2)
         ON CONFLICT (key) DO UPDATE SET expires_at = GREATEST(k.expires_at, EXCLUDED.expires_at)`,
        [`revoked:${tokenId}`, Math.ceil(expiresAt)],
      )
    },
    async listRevoked() {
      const rows = (await query(`SELECT key FROM ${kv} WHERE key >= 'revoked:' AND key < 'revoked;' AND expires_at > $1`, [Date.now()])) as { key: string }[]
      return rows.map((r) => r.key.slice('revoked:'.length))
    },
  }
}
