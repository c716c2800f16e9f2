/**
 * Rate limits for the gateway core, shared through the store so N instances enforce one limit:
 * per-route token buckets (by client address or by paid token) and the challenge-issuance limit,
 * which also re-serves a polling client's unpaid challenge instead of minting a new invoice.
 * Every limit fails closed: a store that cannot answer gives 503 + Retry-After, never a pass.
 * @module
 */
import { createHash } from 'node:crypto'
import { isIP } from 'node:net'
import type { Config, Route } from './Config.ts'
import { TurnpikeError } from './Errors.ts'
import type { Decision, Reply, RequestView } from './RequestView.ts'
import type { BucketLimit, Store } from './Store.ts'
import { normalizeIp } from './internal/ip.ts'
import type { Logger } from './internal/log.ts'
import { problem } from './internal/problem.ts'
import { hostOnly } from './internal/route.ts'

/** A challenge issuer with the gateway's signature; extra arguments (a refusal) disable reuse. */
type Issue<A extends unknown[]> = (route: Route, view: RequestView, path: string, reason: string, ...rest: A) => Promise<Reply>

export type Limiter = {
  /** The route's per-client bucket; a 429/503 reply when the request must stop, else undefined. */
  client(route: Route, view: RequestView): Promise<Reply | undefined>
  /** The route's per-token bucket, then `next()` when there is room. */
  token(route: Route, tokenId: string, next: () => Decision | Promise<Decision>): Promise<Decision>
  /** Wraps challenge issuance with the per-client invoice limit and challenge reuse. */
  wrapChallenge<A extends unknown[]>(issue: Issue<A>): Issue<A>
  /** Forgets the remembered challenge of a request whose credential is being redeemed; never rejects. */
  forget(route: Route, view: RequestView, path: string): Promise<void> | undefined
  /** A pass was used: its remembered challenge is forgotten (once per pass and process). */
  passUsed(route: Route, view: RequestView, paymentHash: string): void
}

export type LimiterOptions = {
  readonly config: Config
  readonly store: Store
  readonly now: () => number
  readonly log: Logger
}

/**
 * The key a client's buckets and remembered challenges are filed under: its address with
 * IPv4-mapped IPv6 folded to IPv4, and IPv6 cut to its /64 (one subscriber's usual allocation, so
 * rotating addresses inside it gains nothing). Requests without an address share `unknown`.
 */
export function clientKey(address: string | undefined): string {
  if (!address) return 'unknown'
  const a = normalizeIp(address)
  if (isIP(a) !== 6) return a
  const [head = '', tail] = a.toLowerCase().split('::')
  const groups = (s: string | undefined): string[] =>
    s ? s.split(':').flatMap((g) => (g.includes('.') ? ['0', '0'] : [g])) : []
  const h = groups(head)
  const t = groups(tail)
  const full = tail === undefined ? h : [...h, ...Array<string>(Math.max(0, 8 - h.length - t.length)).fill('0'), ...t]
  return `${full.slice(0, 4).map((g) => parseInt(g, 16).toString(16)).join(':')}::/64`
}

const maxPassesRemembered = 10_000

/** Creates the limiter; a no-op for everything the config does not limit. */
export function createLimiter(o: LimiterOptions): Limiter {
  const { config, store, now, log } = o
  const cl = config.challengeLimit
  const limited = cl !== undefined || config.routes.some((r) => r.rateLimit !== undefined)
  if (limited && typeof store.take !== 'function') {
    throw new TurnpikeError('TURNPIKE_CONFIG_INVALID', `rate limits need a store with take(); the ${store.name} store has none`)
  }
  const reuse = cl !== undefined && cl.reuseSeconds > 0
  if (reuse && (typeof store.putValue !== 'function' || typeof store.getValue !== 'function' || typeof store.deleteValue !== 'function')) {
    throw new TurnpikeError('TURNPIKE_CONFIG_INVALID', `challenge reuse needs a store with putValue/getValue/deleteValue; set challengeLimit.reuse: 0`)
  }
  const { invoiceExpirySeconds } = config.challenge
  const passesSeen = new Map<string, true>()

  const unavailable = (route: Route, what: string, e: unknown): Reply => {
    log.error(`store failed to check a ${what}`, { route: route.name, store: store.name, error: e })
    const err = new TurnpikeError('TURNPIKE_STORE_UNAVAILABLE', 'The state store is unavailable, so the rate limit cannot be checked; retry later', { retryAfter: 2 })
    return problem(err, 'store-unavailable', route.name)
  }
  const tooMany = (route: Route, detail: string, retryAfterMs: number, reason: string): Reply =>
    problem(new TurnpikeError('TURNPIKE_RATE_LIMITED', detail, { retryAfter: Math.max(1, Math.ceil(retryAfterMs / 1000)) }), reason, route.name)
  const bucket = (count: number, perSeconds: number, burst: number): BucketLimit => ({ capacity: burst, refillPerSecond: count / perSeconds })

  /** The reuse key: everything the challenge was minted for and composed from, hashed to a fixed size. */
  function reuseKey(route: Route, view: RequestView, path: string): string {
    const pass = route.access.kind === 'pass'
    const parts = [
      route.name, pass ? '' : view.method, pass ? '' : path, clientKey(view.clientAddress), hostOnly(view.host),
      (view.header('accept-payment') ?? []).join(','), (view.header('accept') ?? []).join(','),
    ]
    return `ch:${createHash('sha256').update(JSON.stringify(parts)).digest('hex').slice(0, 40)}`
  }
  /** How long a challenge may be re-served: at most a quarter of its invoice's life, so most is left to pay. */
  const reuseMs = (route: Route): number => {
    const life = route.access.kind === 'pass' ? Math.min(invoiceExpirySeconds, route.access.seconds) : invoiceExpirySeconds
    return Math.floor(Math.min(cl!.reuseSeconds, life / 4) * 1000)
  }

  return {
    async client(route, view) {
      const rl = route.rateLimit!
      try {
        const r = await store.take!(`rl:${route.name}:c:${clientKey(view.clientAddress)}`, bucket(rl.requests, rl.perSeconds, rl.burst), now())
        if (r.allowed) return undefined
        return tooMany(route, `Rate limit of route ${route.name}: ${rl.requests} requests per ${rl.perSeconds}s per client`, r.retryAfterMs, 'rate-limited')
      } catch (e) {
        return unavailable(route, 'rate limit', e)
      }
    },

    async token(route, tokenId, next) {
      const rl = route.rateLimit!
      try {
        const r = await store.take!(`rl:${route.name}:t:${tokenId}`, bucket(rl.requests, rl.perSeconds, rl.burst), now())
        if (!r.allowed) {
          return tooMany(route, `Rate limit of route ${route.name}: ${rl.requests} requests per ${rl.perSeconds}s per token; your credential was not used`, r.retryAfterMs, 'rate-limited')
        }
      } catch (e) {
        return unavailable(route, 'rate limit', e)
      }
      return next()
    },

    wrapChallenge,
    forget,
    passUsed(route, view, paymentHash) {
      if (!reuse || passesSeen.has(paymentHash)) return
      if (passesSeen.size >= maxPassesRemembered) passesSeen.delete(passesSeen.keys().next().value!)
      passesSeen.set(paymentHash, true)
      void forget(route, view, '')
    },
  }

  function forget(route: Route, view: RequestView, path: string): Promise<void> | undefined {
    if (!reuse) return undefined
    return store.deleteValue!(reuseKey(route, view, path)).catch((e: unknown) => {
      log.warn('could not forget a redeemed challenge', { route: route.name, store: store.name, error: e })
    })
  }

  function wrapChallenge<A extends unknown[]>(issue: Issue<A>): Issue<A> {
    if (cl === undefined) return issue
    const limit = bucket(cl.perClient, cl.perSeconds, cl.burst)
    // Identical requests in flight in this process share one issuance (a client firing in parallel).
    const inflight = new Map<string, Promise<Reply>>()

    const once = async (key: string | undefined, route: Route, view: RequestView, path: string, reason: string, rest: A): Promise<Reply> => {
      try {
        if (key !== undefined) {
          const kept = decode(await store.getValue!(key))
          if (kept) return { ...kept, route: route.name, reason }
        }
        const r = await store.take!(`cl:${clientKey(view.clientAddress)}`, limit, now())
        if (!r.allowed) {
          return tooMany(route, `Too many new invoices for this client: ${cl.perClient} per ${cl.perSeconds}s`, r.retryAfterMs, 'challenge-limited')
        }
      } catch (e) {
        return unavailable(route, 'challenge limit', e)
      }
      const fresh = await issue(route, view, path, reason, ...rest)
      if (key === undefined || fresh.kind !== 'challenge' || fresh.status !== 402) return fresh
      try {
        const value = JSON.stringify({ status: fresh.status, headers: fresh.headers, body: fresh.body })
        if (await store.putValue!(key, value, Date.now() + reuseMs(route))) return fresh
        // Lost a race with a concurrent request of the same client elsewhere: serve the one remembered.
        const kept = decode(await store.getValue!(key))
        if (kept) return { ...kept, route: route.name, reason }
      } catch (e) {
        log.warn('could not remember a challenge for reuse', { route: route.name, store: store.name, error: e })
      }
      return fresh
    }

    return async (route, view, path, reason, ...rest) => {
      const key = reuse && rest.every((x) => x === undefined) ? reuseKey(route, view, path) : undefined
      if (key === undefined) return once(undefined, route, view, path, reason, rest)
      const pending = inflight.get(key)
      if (pending) return pending.then((r) => ({ ...r, reason }))
      const p = once(key, route, view, path, reason, rest).finally(() => inflight.delete(key))
      inflight.set(key, p)
      return p
    }
  }
}

/** A remembered challenge, or undefined when absent or not one. */
function decode(value: string | undefined): Omit<Reply, 'route' | 'reason'> | undefined {
  if (value === undefined) return undefined
  try {
    const v = JSON.parse(value) as { status?: unknown; headers?: unknown; body?: unknown }
    const headersOk = Array.isArray(v.headers) && v.headers.every((h) => Array.isArray(h) && h.length === 2 && h.every((x) => typeof x === 'string'))
    if (v.status !== 402 || !headersOk || typeof v.body !== 'string') return undefined
    return { kind: 'challenge', status: 402, headers: v.headers as [string, string][], body: v.body }
  } catch {
    return undefined
  }
}
