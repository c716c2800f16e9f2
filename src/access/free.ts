/**
 * Free allowance: N requests per client address per period before payment is asked, counted in the
 * store's token bucket (`Store.take`), so it holds across instances. The bucket refills continuously
 * (N per period), not in fixed windows. A store failure asks for payment: never free by accident.
 * @module
 */
import type { Store } from '../Store.ts'
import { parseDuration } from '../internal/units.ts'
import type { Logger } from '../internal/log.ts'

export type FreeAllowance = { readonly requests: number; readonly perSeconds: number }

type Issue = { path: string; message: string }

/** `freeAllowance: 10/1d` or `{ requests: 10, per: 1d }`. */
export function parseFreeAllowance(v: unknown, at: string, priced: boolean, issues: Issue[]): FreeAllowance | undefined {
  if (v === undefined) return undefined
  let requests: unknown
  let per: unknown
  if (typeof v === 'string' && v.includes('/')) [requests, per] = v.split('/', 2).map((s) => s.trim())
  else if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
    const o = v as Record<string, unknown>
    for (const k of Object.keys(o)) if (k !== 'requests' && k !== 'per') issues.push({ path: `${at}.${k}`, message: 'unknown key (allowed: requests, per)' })
    ;({ requests, per } = o)
  } else {
    issues.push({ path: at, message: 'must be { requests, per } or a shorthand like "10/1d"' })
    return undefined
  }
  const n = typeof requests === 'number' ? requests : /^[1-9][0-9]{0,8}$/.test(String(requests)) ? Number(requests) : NaN
  const s = parseDuration(per as string | number)
  if (!Number.isSafeInteger(n) || n <= 0) issues.push({ path: `${at}.requests`, message: 'must be a positive whole number' })
  if (s === undefined || s <= 0) issues.push({ path: `${at}.per`, message: 'must be a duration like 1h or 1d' })
  if (!priced) issues.push({ path: at, message: 'needs a priced route (a free route is free anyway)' })
  return Number.isSafeInteger(n) && n > 0 && s !== undefined && s > 0 ? { requests: n, perSeconds: s } : undefined
}

/** Takes one free request for `client` on `route`; resolves the number left, or undefined when none. */
export async function takeFree(store: Store, log: Logger, route: string, client: string, a: FreeAllowance, now: number): Promise<number | undefined> {
  if (store.take === undefined) return undefined
  try {
    const r = await store.take(`free:${route}:${client}`, { capacity: a.requests, refillPerSecond: a.requests / a.perSeconds }, now)
    return r.allowed ? Math.floor(r.remaining) : undefined
  } catch (e) {
    log.warn('store failed to count a free request; asking for payment', { route, store: store.name, error: e })
    return undefined
  }
}
