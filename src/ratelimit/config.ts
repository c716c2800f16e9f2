/**
 * Config for scale-out features, parsed for `Config.parse`: per-route `rateLimit`, the global
 * `challengeLimit`, `workers` and the `trustProxy` entries. Every issue is reported with its path.
 * @module
 */
import { availableParallelism } from 'node:os'
import { parseDuration } from '../internal/units.ts'
import { trustEntryProblem } from '../internal/ip.ts'

type Issue = { path: string; message: string }

/** A route's token bucket: `requests` per `perSeconds`, bursts up to `burst`, one bucket per client or per token. */
export type RateLimit = {
  readonly requests: number
  readonly perSeconds: number
  /** Bucket capacity; default `requests`. */
  readonly burst: number
  /** `client`: one bucket per client address (every request counts, paid or not); `token`: one per paid token id. */
  readonly by: 'client' | 'token'
}

/** The limit on new invoices per client address, and challenge reuse for clients that poll. */
export type ChallengeLimit = {
  readonly perClient: number
  readonly perSeconds: number
  readonly burst: number
  /** A client asking again for the same thing within this many seconds gets its unpaid challenge back; 0 = off. */
  readonly reuseSeconds: number
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)
const positiveInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v > 0

/** `10/s`, `100/1m`, `5/30s` → requests and seconds. */
function shorthand(v: string): { requests: unknown; per: unknown } | undefined {
  const m = /^\s*(\d+)\s*\/\s*(\w+)\s*$/.exec(v)
  if (!m) return undefined
  return { requests: Number(m[1]), per: /^\d/.test(m[2]!) ? m[2] : `1${m[2]}` }
}

function rate(
  obj: Record<string, unknown>,
  countKey: 'requests' | 'perClient',
  at: string,
  issues: Issue[],
): { count: number; perSeconds: number; burst: number } {
  const count = obj[countKey]
  if (!positiveInt(count)) issues.push({ path: `${at}.${countKey}`, message: 'must be a whole number > 0' })
  const perSeconds = obj.per === undefined ? 1 : parseDuration(obj.per as string | number)
  if (perSeconds === undefined) issues.push({ path: `${at}.per`, message: 'must be a duration like 1s, 1m or 1h' })
  const burst = obj.burst ?? count
  if (obj.burst !== undefined && !positiveInt(burst)) issues.push({ path: `${at}.burst`, message: 'must be a whole number > 0' })
  return {
    count: positiveInt(count) ? count : 1,
    perSeconds: perSeconds ?? 1,
    burst: positiveInt(burst) ? burst : positiveInt(count) ? count : 1,
  }
}

/**
 * Parses a route's `rateLimit`: `{ requests: 10, per: 1s, by: client|token, burst?: 20 }` or `"10/s"`.
 * `by: token` needs a priced route (free requests carry no token).
 */
export function parseRateLimit(v: unknown, at: string, priced: boolean, issues: Issue[]): RateLimit | undefined {
  if (v === undefined) return undefined
  const obj = typeof v === 'string' ? shorthand(v) : v
  if (!isObject(obj)) {
    issues.push({ path: at, message: 'must be { requests, per, by } or a shorthand like "10/s"' })
    return undefined
  }
  for (const k of Object.keys(obj)) {
    if (!['requests', 'per', 'by', 'burst'].includes(k)) issues.push({ path: `${at}.${k}`, message: 'unknown key (allowed: requests, per, by, burst)' })
  }
  const by = obj.by ?? 'client'
  if (by !== 'client' && by !== 'token') issues.push({ path: `${at}.by`, message: 'must be client or token' })
  else if (by === 'token' && !priced) issues.push({ path: `${at}.by`, message: 'token needs a priced route (free requests carry no token); use client' })
  const r = rate(obj, 'requests', at, issues)
  return { requests: r.count, perSeconds: r.perSeconds, burst: r.burst, by: by === 'token' ? 'token' : 'client' }
}

/** Parses the top-level `challengeLimit: { perClient: 30, per: 1m, burst?, reuse?: 30s | 0 }`. */
export function parseChallengeLimit(v: unknown, issues: Issue[]): ChallengeLimit | undefined {
  if (v === undefined) return undefined
  const obj = typeof v === 'string' ? (s => s && { perClient: s.requests, per: s.per })(shorthand(v)) : v
  if (!isObject(obj)) {
    issues.push({ path: 'challengeLimit', message: 'must be { perClient, per, reuse } or a shorthand like "30/1m"' })
    return undefined
  }
  for (const k of Object.keys(obj)) {
    if (!['perClient', 'per', 'burst', 'reuse'].includes(k)) {
      issues.push({ path: `challengeLimit.${k}`, message: 'unknown key (allowed: perClient, per, burst, reuse)' })
    }
  }
  const r = rate(obj, 'perClient', 'challengeLimit', issues)
  let reuseSeconds = 30
  if (obj.reuse === 0 || obj.reuse === false || obj.reuse === '0') reuseSeconds = 0
  else if (obj.reuse !== undefined) {
    const s = parseDuration(obj.reuse as string | number)
    if (s === undefined) issues.push({ path: 'challengeLimit.reuse', message: 'must be a duration like 30s, or 0 to turn reuse off' })
    reuseSeconds = s ?? 30
  }
  return { perClient: r.count, perSeconds: r.perSeconds, burst: r.burst, reuseSeconds }
}

/** Parses `workers`: a whole number ≥ 1 or `auto` (one per CPU). The memory store cannot be shared. */
export function parseWorkers(v: unknown, storeType: string, issues: Issue[]): number | undefined {
  if (v === undefined) return undefined
  const n = v === 'auto' ? availableParallelism() : typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v
  if (!positiveInt(n) || n > 256) {
    issues.push({ path: 'workers', message: 'must be a whole number from 1 to 256, or auto' })
    return undefined
  }
  if (n > 1 && storeType === 'memory') {
    issues.push({ path: 'workers', message: 'the memory store is private to each process; use sqlite, redis or postgres with several workers' })
  }
  return n
}

/** Reports each `trustProxy` entry that is not an address, a CIDR range or a known name. */
export function checkTrustProxy(v: unknown, issues: Issue[]): void {
  if (!Array.isArray(v)) return
  v.forEach((entry, i) => {
    if (typeof entry !== 'string') return
    const problem = trustEntryProblem(entry)
    if (problem) issues.push({ path: `trustProxy[${i}]`, message: problem })
  })
}
