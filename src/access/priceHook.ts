/**
 * Dynamic prices: a route's `priceHook` is asked (HTTP POST, with a timeout, cached) what a request
 * costs. The answer becomes the challenge's invoice amount and the caveat `<route>_price=<msat>`, so a
 * credential bought at a low price cannot unlock a request that now costs more. The hook down, slow
 * or answering garbage → 503 `TURNPIKE_PRICE_UNAVAILABLE`, never a free request.
 * @module
 */
import { TurnpikeError } from '../Errors.ts'
import type { RequestView } from '../RequestView.ts'
import type { Logger } from '../internal/log.ts'
import { parseDuration, parsePrice } from '../internal/units.ts'

export type PriceHook = {
  readonly url: string
  readonly timeoutMs: number
  /** How long an answer is reused for the same route, method, path, headers and body size; 0 = never. */
  readonly cacheMs: number
  /** Lower-case request header names sent to the hook. */
  readonly headers: readonly string[]
}

type Issue = { path: string; message: string }

/** `priceHook: <url>` or `{ url, timeout: 2s, cache: 30s, headers: [x-model] }`. */
export function parsePriceHook(v: unknown, at: string, issues: Issue[]): PriceHook | undefined {
  if (v === undefined) return undefined
  const o = typeof v === 'string' ? { url: v } : v
  if (typeof o !== 'object' || o === null || Array.isArray(o)) {
    issues.push({ path: at, message: 'must be a URL or { url, timeout, cache, headers }' })
    return undefined
  }
  const r = o as Record<string, unknown>
  for (const k of Object.keys(r)) if (!['url', 'timeout', 'cache', 'headers'].includes(k)) issues.push({ path: `${at}.${k}`, message: 'unknown key (allowed: url, timeout, cache, headers)' })
  let url: string | undefined
  try {
    const u = new URL(String(r.url))
    if (u.protocol === 'http:' || u.protocol === 'https:') url = u.href
  } catch {
    // reported below
  }
  if (url === undefined) issues.push({ path: `${at}.url`, message: 'must be an http or https URL' })
  const dur = (x: unknown, key: string, fallback: number): number => {
    if (x === undefined) return fallback
    if (x === 0 || x === '0') return 0
    const ms = typeof x === 'string' && /^\d+ms$/.test(x) ? Number(x.slice(0, -2)) : (parseDuration(x as string | number) ?? NaN) * 1000
    if (!Number.isFinite(ms) || ms < 0) issues.push({ path: `${at}.${key}`, message: 'must be a duration like 500ms, 2s or 1m' })
    return Number.isFinite(ms) ? ms : fallback
  }
  const timeoutMs = dur(r.timeout, 'timeout', 2000)
  if (timeoutMs <= 0) issues.push({ path: `${at}.timeout`, message: 'must be more than 0' })
  const headers = r.headers ?? []
  if (!Array.isArray(headers) || !headers.every((h) => typeof h === 'string' && /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(h))) {
    issues.push({ path: `${at}.headers`, message: 'must be a list of header names' })
  }
  if (url === undefined) return undefined
  return { url, timeoutMs, cacheMs: dur(r.cache, 'cache', 30_000), headers: Array.isArray(headers) ? headers.map((h) => String(h).toLowerCase()) : [] }
}

/** The caveat condition of a route's price. */
const condition = (service: string): string => `${service}_price`

/** `<service>_price=<msat>`. */
export const priceCaveat = (service: string, msat: bigint): string => `${condition(service)}=${msat}`

/** The smallest `<service>_price` caveat (later ones only narrow); undefined when none or malformed. */
export function paidPrice(caveats: readonly string[], service: string): bigint | undefined {
  const prefix = `${condition(service)}=`
  let min: bigint | undefined
  for (const c of caveats) {
    if (!c.startsWith(prefix)) continue
    const v = c.slice(prefix.length)
    if (!/^\d{1,18}$/.test(v)) return undefined
    const n = BigInt(v)
    min = min === undefined || n < min ? n : min
  }
  return min
}

const maxCached = 10_000

export type Pricer = { price(route: string, hook: PriceHook, view: RequestView, path: string): Promise<bigint> }

/** Asks hooks for prices, caching answers; rejects with TURNPIKE_PRICE_UNAVAILABLE. */
export function createPricer(o: { log: Logger; now: () => number }): Pricer {
  const cache = new Map<string, { msat: bigint; until: number }>()
  const inflight = new Map<string, Promise<bigint>>()
  const unavailable = (why: string, cause?: unknown) =>
    new TurnpikeError('TURNPIKE_PRICE_UNAVAILABLE', `The price of this request could not be determined (${why}); retry later`, { retryAfter: 2, ...(cause ? { cause } : {}) })

  async function ask(hook: PriceHook, body: string): Promise<bigint> {
    let res: Response
    try {
      res = await fetch(hook.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body, signal: AbortSignal.timeout(hook.timeoutMs) })
    } catch (e) {
      throw unavailable('price hook unreachable or slow', e)
    }
    if (res.status !== 200) {
      await res.body?.cancel()
      throw unavailable(`price hook answered ${res.status}`)
    }
    let price: unknown
    try {
      price = ((await res.json()) as { price?: unknown })?.price
    } catch (e) {
      throw unavailable('price hook answered no JSON', e)
    }
    const msat = typeof price === 'string' || typeof price === 'number' ? parsePrice(price) : undefined
    if (msat === undefined) throw unavailable('price hook answered no valid price')
    return msat
  }

  return {
    price(route, hook, view, path) {
      const headers: Record<string, string> = {}
      for (const h of hook.headers) {
        const v = view.header(h)
        if (v !== undefined) headers[h] = v.join(', ')
      }
      const size = view.header('content-length')?.[0]
      const body = JSON.stringify({ route, method: view.method, path, headers, bodySize: size !== undefined && /^\d+$/.test(size) ? Number(size) : null })
      const key = `${hook.url}\n${body}`
      const hit = cache.get(key)
      if (hit !== undefined && hit.until > o.now()) return Promise.resolve(hit.msat)
      let p = inflight.get(key)
      if (p === undefined) {
        p = ask(hook, body)
          .then((msat) => {
            if (hook.cacheMs > 0) {
              if (cache.size >= maxCached) cache.delete(cache.keys().next().value!)
              cache.set(key, { msat, until: o.now() + hook.cacheMs })
            }
            return msat
          }, (e: unknown) => {
            o.log.warn('price hook failed; answering 503', { route, error: e })
            throw e
          })
          .finally(() => inflight.delete(key))
        inflight.set(key, p)
      }
      return p
    },
  }
}
