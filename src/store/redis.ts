/**
 * Redis store over an injected client (ioredis, or any object with the same `set`/`get`/`del`).
 * Claims are `SET key 1 PX ttl NX`; Redis expires keys itself, so `prune` is a no-op.
 * @module
 */
import { TurnpikeError } from '../Errors.ts'
import type { InvoiceRecord, Store } from '../Store.ts'

/**
 * A {@link Store} in Redis under `prefix` (`<prefix>claim:<key>`, `<prefix>invoice:<paymentHash>`).
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

  return {
    name: 'redis',
    async claim(key, expiresAt) {
      if (!Number.isFinite(expiresAt)) throw new TypeError('claim: expiresAt must be finite unix ms')
      const k = `${prefix}claim:${key}`
      return use(async () => (await client.set(k, '1', 'PX', ttl(expiresAt), 'NX')) === 'OK')
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
