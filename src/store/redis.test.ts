import { Redis } from 'ioredis'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { createServer, type AddressInfo, type Socket } from 'node:net'
import { after, describe, test } from 'node:test'
import { is } from '../Errors.ts'
import { describeStore } from './conformance.ts'
import type { Store } from '../Store.ts'
import { redis } from './redis.ts'

const client = new Redis({ host: '127.0.0.1', port: 6379, lazyConnect: true })
after(() => client.quit())
const run = `turnpike-test:${randomUUID()}:`
let n = 0
const later = (): number => Date.now() + 3_600_000
const unavailable = (e: unknown): boolean =>
  is(e, 'TURNPIKE_STORE_UNAVAILABLE') && e.message === 'Redis store unavailable' && e.retryAfter === 1

/** Deletes every key under `prefix`. */
async function drop(prefix: string): Promise<void> {
  let cursor = '0'
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000)
    if (keys.length > 0) await client.del(...keys)
    cursor = next
  } while (cursor !== '0')
}

/** A store on a TCP peer that accepts and stays silent: a hung Redis, without pausing the shared one. */
async function withHungRedis(fn: (store: Store) => Promise<void>): Promise<void> {
  const sockets = new Set<Socket>()
  const silent = createServer((s) => void sockets.add(s))
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r))
  const { port } = silent.address() as AddressInfo
  const hung = new Redis({ host: '127.0.0.1', port, commandTimeout: 100, enableReadyCheck: false, maxRetriesPerRequest: 0 })
  hung.on('error', () => {})
  const store = redis(hung)
  try {
    await fn(store)
  } finally {
    await store.close()
    hung.disconnect()
    for (const s of sockets) s.destroy()
    await new Promise((r) => silent.close(r))
  }
}

describeStore(
  'redis',
  async () => {
    const prefix = `${run}${n++}:`
    const store = redis(client, { prefix })
    return {
      store,
      async teardown() {
        await store.close()
        await drop(prefix)
      },
    }
  },
  { prunes: false },
)

describe('redis', () => {
  test('behavior: keys are prefixed and carry the claim TTL', async () => {
    const prefix = `${run}layout:`
    const store = redis(client, { prefix })
    try {
      assert.equal(await store.claim('k', Date.now() + 60_000), true)
      const pttl = await client.pttl(`${prefix}claim:k`)
      assert.ok(pttl > 59_000 && pttl <= 60_000, String(pttl))
      await store.putInvoice({
        paymentHash: 'ab'.repeat(32), paymentRequest: 'lnbc1', amountMsat: 2n ** 70n, route: 'r',
        tokenId: 'cd'.repeat(32), createdAt: 1, expiresAt: Date.now() + 30_000,
      })
      const raw = JSON.parse((await client.get(`${prefix}invoice:${'ab'.repeat(32)}`)) ?? 'null')
      assert.equal(raw.amountMsat, (2n ** 70n).toString())
      assert.ok((await client.pttl(`${prefix}invoice:${'ab'.repeat(32)}`)) > 29_000)
    } finally {
      await store.close()
      await drop(prefix)
    }
  })

  test('behavior: buckets and values carry TTLs, so Redis bounds its own growth', async () => {
    const prefix = `${run}ttl:`
    const store = redis(client, { prefix })
    try {
      // A bucket expires once it would be full again: 2 tokens short at 4/s = 500 ms.
      await store.take!('b', { capacity: 2, refillPerSecond: 4, cost: 2 })
      const pttl = await client.pttl(`${prefix}bucket:b`)
      assert.ok(pttl > 400 && pttl <= 502, String(pttl))
      await store.putValue!('v', 'x', Date.now() + 200)
      assert.ok((await client.pttl(`${prefix}value:v`)) > 100)
      await store.claim('c', Date.now() + 200)
      await new Promise((r) => setTimeout(r, 650))
      assert.equal(await client.exists(`${prefix}bucket:b`, `${prefix}value:v`, `${prefix}claim:c`), 0)
    } finally {
      await store.close()
      await drop(prefix)
    }
  })

  test('behavior: parallel takes through separate connections share one bucket', async () => {
    const prefix = `${run}shared:`
    const clients = Array.from({ length: 3 }, () => new Redis({ host: '127.0.0.1', port: 6379 }))
    const stores = clients.map((c) => redis(c, { prefix }))
    try {
      const now = Date.now()
      const results = await Promise.all(
        Array.from({ length: 90 }, (_, i) => stores[i % 3]!.take!('shared', { capacity: 25, refillPerSecond: 0.001 }, now)),
      )
      assert.equal(results.filter((r) => r.allowed).length, 25)
    } finally {
      await Promise.all(clients.map((c) => c.quit()))
      await drop(prefix)
    }
  })

  test('behavior: without eval the store has no take; a NOSCRIPT reply falls back to eval', async () => {
    const base = { set: client.set.bind(client), get: client.get.bind(client), del: client.del.bind(client) } as redis.Client
    assert.equal(redis(base).take, undefined)
    const prefix = `${run}noscript:`
    // A server that forgot its scripts (restart, SCRIPT FLUSH), without flushing the shared one.
    let evals = 0
    const forgetful: redis.Client = {
      ...base,
      evalsha: async () => { throw new Error('NOSCRIPT No matching script. Please use EVAL.') },
      eval: (...a: [string, number, ...string[]]) => (evals++, client.eval(...a)),
    }
    const store = redis(forgetful, { prefix })
    try {
      assert.equal((await store.take!('k', { capacity: 1, refillPerSecond: 1 })).allowed, true)
      assert.equal((await store.take!('k', { capacity: 1, refillPerSecond: 1 })).allowed, false)
      assert.equal(evals, 2)
    } finally {
      await store.close()
      await drop(prefix)
    }
  })

  test('behavior: close does not quit the injected client', async () => {
    const store = redis(client, { prefix: `${run}close:` })
    await store.close()
    assert.equal(await client.ping(), 'PONG')
  })

  test('error: a dead server rejects claims with TURNPIKE_STORE_UNAVAILABLE, quickly', async () => {
    const dead = new Redis({
      host: '127.0.0.1', port: 1, lazyConnect: true, maxRetriesPerRequest: 0,
      enableOfflineQueue: false, retryStrategy: () => null,
    })
    dead.on('error', () => {})
    const store = redis(dead)
    try {
      const started = performance.now()
      for (let i = 0; i < 3; i++) await assert.rejects(store.claim(`k${i}`, later()), unavailable)
      await assert.rejects(store.getInvoice('aa'), unavailable)
      await assert.rejects(store.putInvoice({
        paymentHash: 'aa', paymentRequest: 'x', amountMsat: 1n, route: 'r', tokenId: 'bb', createdAt: 1, expiresAt: later(),
      }), unavailable)
      assert.ok(performance.now() - started < 2_000)
    } finally {
      await store.close()
      dead.disconnect()
    }
  })

  test('behavior: claims made together go out as one script call; the same key twice wins once', async () => {
    const prefix = `${run}batch:`
    const store = redis(client, { prefix })
    // Script calls so far (EVALSHA, or EVAL on a cold script cache), from Redis' own counters.
    const scripts = async (): Promise<number> => {
      const stats = await client.info('commandstats')
      return ['evalsha', 'eval'].reduce((a, c) => a + Number(new RegExp(`cmdstat_${c}:calls=(\\d+)`).exec(stats)?.[1] ?? 0), 0)
    }
    const before = await scripts()
    try {
      // 40 claims in one tick, 8 keys each claimed 5 times: exactly one winner per key.
      const keys = Array.from({ length: 40 }, (_, i) => `k${i % 8}`)
      const won = await Promise.all(keys.map((k) => store.claim(k, Date.now() + 60_000)))
      for (let k = 0; k < 8; k++) assert.equal(won.filter((w, i) => w && keys[i] === `k${k}`).length, 1, `k${k}`)
      assert.equal(won.filter(Boolean).length, 8)
      // The winner is the first claim made (queue order is kept), and every key has its TTL.
      assert.deepEqual(won.slice(0, 8), Array(8).fill(true))
      const pttl = await client.pttl(`${prefix}claim:k3`)
      assert.ok(pttl > 59_000 && pttl <= 60_000, String(pttl))
      // The batch went through the claim script, not as 40 separate SETs.
      assert.ok((await scripts()) > before, 'a script call was made')
      // Claims made later are judged against what the batch stored.
      assert.equal(await store.claim('k0', Date.now() + 60_000), false)
      assert.equal(await store.claim('fresh', Date.now() + 60_000), true)
    } finally {
      await store.close()
      await drop(prefix)
    }
  })

  test('error: a batch of claims to a hung server fails closed, every one of them', () =>
    withHungRedis(async (store) => {
      const results = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => store.claim(`k${i}`, later())))
      for (const r of results) assert.ok(r.status === 'rejected' && unavailable(r.reason), JSON.stringify(r))
    }))

  test('error: a server that never answers times out as TURNPIKE_STORE_UNAVAILABLE', () =>
    withHungRedis(async (store) => {
      const started = performance.now()
      await assert.rejects(store.claim('k', later()), unavailable)
      assert.ok(performance.now() - started < 1_000)
    }))

  test('error: a server error reply or a corrupt row is wrapped', async () => {
    const prefix = `${run}corrupt:`
    const store = redis(client, { prefix })
    try {
      await client.hset(`${prefix}invoice:aa`, 'x', '1')
      await assert.rejects(store.getInvoice('aa'), (e: unknown) => unavailable(e) && /WRONGTYPE/.test(String((e as Error).cause)))
      await client.set(`${prefix}invoice:bb`, '{not json')
      await assert.rejects(store.getInvoice('bb'), unavailable)
    } finally {
      await store.close()
      await drop(prefix)
    }
  })

  test('error: clients without set/get/del, and raw node-redis clients, are refused', () => {
    assert.throws(() => redis({} as redis.Client), TypeError)
    const nodeRedisLike = { isOpen: true, set: async () => 'OK', get: async () => null, del: async () => 0 }
    assert.throws(() => redis(nodeRedisLike), /node-redis/)
  })
})
