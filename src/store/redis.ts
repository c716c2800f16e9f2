/**
 * Redis store over an injected client (ioredis, or any object with the same `set`/`get`/`del`,
 * plus `eval`/`evalsha` for rate limits). Claims are `SET key 1 PX ttl NX`; token buckets are one
 * Lua script; every key carries a TTL and Redis expires keys itself, so `prune` is a no-op.
 * @module
 */
import { createHash } from 'node:crypto'
import { TurnpikeError } from '../Errors.ts'
import type { InvoiceRecord, Store } from '../Store.ts'
import { checkTake, result } from './bucket.ts'
import { checkQuery, pageOf } from '../internal/invoiceQuery.ts'
import { checkDebit, checkRefund, checkRevoke } from '../access/storeArgs.ts'

/**
 * The token bucket as one Lua script, so it is atomic on the server. Numbers travel as strings
 * (Lua integers would truncate fractions); the key expires once the bucket would be full again.
 */
const takeScript = `
local cap, rate, cost, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local v = redis.call('HMGET', KEYS[1], 't', 'u')
local level, updated = cap, now
if v[1] and v[2] then
  updated = tonumber(v[2])
  level = math.min(cap, tonumber(v[1]) + math.max(0, now - updated) * rate / 1000)
end
local granted = 0
if level >= cost then
  level = level - cost
  granted = 1
end
if now > updated then updated = now end
redis.call('HSET', KEYS[1], 't', string.format('%.17g', level), 'u', string.format('%.17g', updated))
redis.call('PEXPIRE', KEYS[1], string.format('%d', math.max(1, math.ceil((cap - level) * 1000 / rate) + 1)))
return {granted, string.format('%.17g', level)}`
const takeSha = createHash('sha1').update(takeScript).digest('hex')

/**
 * Many claims in one round trip: `SET key 1 PX ttl NX` for each key in order, 1 where it was set.
 * The same key twice in one batch: the first wins. Each SET is atomic on its own, as when sent alone.
 */
const claimManyScript = `
local r = {}
for i = 1, #KEYS do
  r[i] = redis.call('SET', KEYS[i], '1', 'PX', ARGV[i], 'NX') and 1 or 0
end
return r`
const claimManySha = createHash('sha1').update(claimManyScript).digest('hex')

type Pending = { key: string; ttl: number; resolve: (won: boolean) => void; reject: (e: unknown) => void }

/**
 * A {@link Store} in Redis under `prefix` (`<prefix>claim:<key>`, `<prefix>invoice:<paymentHash>`,
 * `<prefix>bucket:<key>`, `<prefix>value:<key>`).
 *
 * @remarks
 * The store never connects, quits or disconnects `client`: `close()` only makes later calls reject.
 * Bound fail-closed latency on the client (ioredis `commandTimeout`, `enableOfflineQueue: false`,
 * `maxRetriesPerRequest`); every rejection it produces becomes `TURNPIKE_STORE_UNAVAILABLE`.
 * A claim whose `expiresAt` is not in the future is still set atomically, with the 1 ms minimum TTL.
 * node-redis takes SET options as an object, so wrap it: `{ set: (k, v, _px, ms) =>
 * c.set(k, v, { PX: ms, NX: true }), get: (k) => c.get(k), del: (k) => c.del(k) }`.
 * @example
 * import { Redis } from 'ioredis'
 * import { redis } from 'turnpike/store/redis'
 * const store = redis(new Redis(process.env.REDIS_URL), { prefix: 'turnpike:' })
 */
export function redis(client: redis.Client, o: redis.Options = {}): Store {
  if (!['set', 'get', 'del'].every((m) => typeof (client as Record<string, unknown>)?.[m] === 'function')) {
    throw new TypeError('redis() requires a client with set, get and del (e.g. an ioredis instance)')
  }
  // node-redis would read positional 'PX' … 'NX' as no options: a plain SET, and every claim granted.
  if ('isOpen' in client && !('status' in client)) {
    throw new TypeError(
      'redis() got a node-redis client; wrap its set as (k, v, _px, ms) => c.set(k, v, { PX: ms, NX: true })',
    )
  }
  const prefix = o.prefix ?? 'turnpike:'
  if (typeof prefix !== 'string') throw new TypeError('redis(): `prefix` must be a string')
  let closed = false

  const use = async <T>(fn: () => Promise<T>): Promise<T> => {
    if (closed) throw unavailable(new Error('store is closed'))
    try {
      return await fn()
    } catch (e) {
      throw unavailable(e)
    }
  }
  // PX needs a positive integer; rounding up never shortens a claim.
  const ttl = (expiresAt: number): number => Math.max(1, Math.ceil(expiresAt - Date.now()))
  const setClaim = (k: string, ms: number): Promise<boolean> =>
    client.set(k, '1', 'PX', ms, 'NX').then((reply) => reply === 'OK')

  // Claims made while the event loop reads a batch of requests go to Redis together, as one script
  // call (claimManyScript), on the next turn of the loop: under load a claim then costs a few µs of
  // client CPU instead of a command of its own. A lone claim is a plain SET. Cluster clients are
  // excluded (one script's keys must share a slot), as are clients without eval/evalsha.
  const batching = typeof client.evalsha === 'function' && typeof client.eval === 'function' && (client as { isCluster?: unknown }).isCluster !== true
  let queue: Pending[] = []
  const flush = (): void => {
    const batch = queue
    queue = []
    if (batch.length === 1) {
      const c = batch[0]!
      setClaim(c.key, c.ttl).then(c.resolve, (e: unknown) => c.reject(unavailable(e)))
      return
    }
    const args = [...batch.map((c) => c.key), ...batch.map((c) => String(c.ttl))]
    client.evalsha!(claimManySha, batch.length, ...args)
      .catch((e: unknown) => {
        if (!/NOSCRIPT/.test(String((e as Error)?.message))) throw e
        return client.eval!(claimManyScript, batch.length, ...args)
      })
      .then((reply) => {
        const won = reply as unknown[]
        if (!Array.isArray(won) || won.length !== batch.length) throw new Error('unexpected reply to the claim script')
        batch.forEach((c, i) => c.resolve(Number(won[i]) === 1))
      })
      .catch((e: unknown) => {
        // Unknown outcome (timeout, connection lost): every claim of the batch fails closed.
        const err = unavailable(e)
        for (const c of batch) c.reject(err)
      })
  }

  return {
    name: 'redis',
    async claim(key, expiresAt) {
      if (!Number.isFinite(expiresAt)) throw new TypeError('claim: expiresAt must be finite unix ms')
      const k = `${prefix}claim:${key}`
      if (!batching) return use(() => setClaim(k, ttl(expiresAt)))
      if (closed) throw unavailable(new Error('store is closed'))
      return new Promise<boolean>((resolve, reject) => {
        if (queue.length === 0) setImmediate(flush)
        queue.push({ key: k, ttl: ttl(expiresAt), resolve, reject })
      })
    },
    release(key) {
      return use(async () => void (await client.del(`${prefix}claim:${key}`)))
    },
    putInvoice(r) {
      // NX: the first write wins, an issued invoice is never rewritten.
      return use(async () => {
        const json = JSON.stringify({ ...r, amountMsat: r.amountMsat.toString() })
        const k = `${prefix}invoice:${r.paymentHash}`
        await client.set(k, json, 'PX', ttl(r.expiresAt), 'NX')
      })
    },
    getInvoice(paymentHash) {
      return use(async () => {
        const json = await client.get(`${prefix}invoice:${paymentHash}`)
        return json === null || json === undefined ? undefined : parse(json)
      })
    },
    prune() {
      return use(async () => 0)
    },
    ...(typeof client.eval === 'function'
      ? {
          async take(key: string, limit: Parameters<NonNullable<Store['take']>>[1], now = Date.now()) {
            const l = checkTake(key, limit, now)
            const k = `${prefix}bucket:${key}`
            const args = [String(l.capacity), String(l.refillPerSecond), String(l.cost), String(now)]
            return use(async () => {
              let reply: unknown
              try {
                if (typeof client.evalsha !== 'function') throw new Error('NOSCRIPT no evalsha')
                reply = await client.evalsha(takeSha, 1, k, ...args)
              } catch (e) {
                if (!/NOSCRIPT/.test(String((e as Error)?.message))) throw e
                reply = await client.eval!(takeScript, 1, k, ...args)
              }
              const [granted, level] = reply as [number, string]
              return result(l, Number(granted) === 1, Number(level))
            })
          },
        }
      : {}),
    putValue(key, value, expiresAt) {
      if (!Number.isFinite(expiresAt)) {
        return Promise.reject(new TypeError('putValue: expiresAt must be finite unix ms'))
      }
      return use(async () => (await client.set(`${prefix}value:${key}`, String(value), 'PX', ttl(expiresAt), 'NX')) === 'OK')
    },
    getValue(key) {
      return use(async () => (await client.get(`${prefix}value:${key}`)) ?? undefined)
    },
    deleteValue(key) {
      return use(async () => void (await client.del(`${prefix}value:${key}`)))
    },
    ...(typeof client.scan === 'function'
      ? {
          // Admin only: SCANs every invoice key (Redis keeps no index), then sorts in memory.
          async listInvoices(q: Parameters<NonNullable<Store['listInvoices']>>[0]) {
            checkQuery(q)
            return use(async () => {
              const match = `${prefix.replace(/[*?[\]\\]/g, '\\$&')}invoice:*`
              const records: InvoiceRecord[] = []
              let cursor = '0'
              do {
                const [next, keys] = await client.scan!(cursor, 'MATCH', match, 'COUNT', 1000)
                cursor = String(next)
                const values = await Promise.all(keys.map((k) => client.get(k)))
                for (const v of values) if (typeof v === 'string') records.push(parse(v))
              } while (cursor !== '0')
              return pageOf(records, q)
            })
          },
        }
      : {}),
    ...(typeof client.eval === 'function' ? accessMethods(client, prefix, use) : {}),
    async close() {
      closed = true
    },
  }
}

export declare namespace redis {
  /** The commands the store sends; an ioredis `Redis` fits as is. */
  type Client = {
    set(key: string, value: string, px: 'PX', milliseconds: number, nx: 'NX'): Promise<unknown>
    get(key: string): Promise<string | null | undefined>
    del(key: string): Promise<unknown>
    /** For rate limits (`take`); without it the store has no `take`. */
    eval?(script: string, numKeys: number, ...args: string[]): Promise<unknown>
    evalsha?(sha1: string, numKeys: number, ...args: string[]): Promise<unknown>
    /** For the admin API's transaction list (`listInvoices`); without it the store has none. */
    scan?(cursor: string, match: 'MATCH', pattern: string, count: 'COUNT', n: number): Promise<[cursor: string, keys: string[]]>
  }
  /** Options for {@link redis}. */
  type Options = {
    /** Key prefix. Default `'turnpike:'`. */
    readonly prefix?: string
  }
}

function parse(json: string): InvoiceRecord {
  const v = JSON.parse(json) as Record<keyof InvoiceRecord, unknown>
  if (typeof v.amountMsat !== 'string' || typeof v.paymentHash !== 'string') {
    throw new Error('malformed invoice row')
  }
  return {
    paymentHash: v.paymentHash,
    paymentRequest: String(v.paymentRequest),
    amountMsat: BigInt(v.amountMsat),
    route: String(v.route),
    tokenId: String(v.tokenId),
    createdAt: Number(v.createdAt),
    expiresAt: Number(v.expiresAt),
  }
}

const unavailable = (cause: unknown): TurnpikeError =>
  new TurnpikeError('TURNPIKE_STORE_UNAVAILABLE', 'Redis store unavailable', { cause, retryAfter: 1 })

// ---- credit balances and revocations (access/), each one Lua script so it is atomic on the server

/** Draw-down: start at ARGV[2] on first use (expiring in ARGV[3] ms), take ARGV[1] only if enough. */
const debitScript = `
local amount, initial = tonumber(ARGV[1]), tonumber(ARGV[2])
local v = redis.call('GET', KEYS[1])
if not v then
  if initial < amount then return false end
  redis.call('SET', KEYS[1], string.format('%d', initial - amount), 'PX', ARGV[3])
  return string.format('%d', initial - amount)
end
if tonumber(v) < amount then return false end
return tostring(redis.call('DECRBY', KEYS[1], ARGV[1]))`
/** Refund: only a live balance gets credits back (INCRBY keeps the TTL). */
const refundScript = `
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('INCRBY', KEYS[1], ARGV[1]) end
return 1`
/** One sorted set of revoked token ids scored by expiry; the set itself expires with its last entry. */
const revokeScript = `
local old = redis.call('ZSCORE', KEYS[1], ARGV[2])
if not old or tonumber(old) < tonumber(ARGV[1]) then redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2]) end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if last[2] then redis.call('PEXPIREAT', KEYS[1], last[2]) end
return 1`
const listRevokedScript = `return redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. ARGV[1], '+inf')`

function accessMethods(
  client: redis.Client,
  prefix: string,
  use: <T>(fn: () => Promise<T>) => Promise<T>,
): Pick<Required<Store>, 'debit' | 'refund' | 'revoke' | 'listRevoked'> {
  const run = (script: string, key: string, ...args: string[]) => use(() => client.eval!(script, 1, key, ...args))
  return {
    async debit(account, amount, initial, expiresAt) {
      checkDebit(account, amount, initial, expiresAt)
      const ttl = String(Math.max(1, Math.ceil(expiresAt - Date.now())))
      const left = await run(debitScript, `${prefix}credits:${account}`, String(amount), String(initial), ttl)
      return left === null || left === undefined ? undefined : Number(left)
    },
    async refund(account, amount) {
      checkRefund(account, amount)
      await run(refundScript, `${prefix}credits:${account}`, String(amount))
    },
    async revoke(tokenId, expiresAt) {
      checkRevoke(tokenId, expiresAt)
      await run(revokeScript, `${prefix}revoked`, String(Math.ceil(expiresAt)), tokenId, String(Date.now()))
    },
    async listRevoked() {
      return (await run(listRevokedScript, `${prefix}revoked`, String(Date.now()))) as string[]
    },
  }
}
