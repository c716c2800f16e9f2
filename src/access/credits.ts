/**
 * Credit bundles: one payment buys a balance (a number of requests, or millisatoshis) that each
 * request draws down atomically in the store. The bundle size is minted into the macaroon as the
 * caveat `<service>_credits=<N>` or `<service>_credits=<N>msat`, so it cannot be forged; a client may
 * add a smaller one (attenuation), never a larger one. See docs/access-models.md.
 * @module
 */
import { parsePrice } from '../internal/units.ts'

/** `access: credits:<N>` (N requests) or `credits:<amount>` (an msat balance, `cost` per request). */
export type Credits = {
  readonly kind: 'credits'
  /** `requests`: the balance counts requests; `msat`: millisatoshis. */
  readonly unit: 'requests' | 'msat'
  /** Bundle size in `unit`: a positive safe integer. */
  readonly amount: number
  /** Drawn per request, in `unit`; default 1 for request bundles, required for msat bundles. */
  readonly cost: number
}

type Issue = { path: string; message: string }

/**
 * Parses `credits:<spec>` (the route's `access`) with the route's optional `cost`; undefined when
 * `v` is not a credits access. Issues carry their paths.
 */
export function parseCredits(v: unknown, cost: unknown, at: string, issues: Issue[]): Credits | undefined {
  if (typeof v !== 'string' || !v.startsWith('credits:')) {
    if (cost !== undefined) issues.push({ path: `${at}.cost`, message: 'is only for credits routes (access: credits:<N>)' })
    return undefined
  }
  const spec = v.slice('credits:'.length).trim()
  const requests = /^[1-9][0-9]{0,15}$/.test(spec)
  const amount = requests ? Number(spec) : toSafe(parsePrice(spec))
  if (amount === undefined || amount <= 0 || !Number.isSafeInteger(amount)) {
    issues.push({ path: `${at}.access`, message: `must be credits:<requests> (e.g. credits:100) or credits:<amount> (e.g. credits:5000sat), got ${JSON.stringify(v)}` })
    return undefined
  }
  const unit = requests ? 'requests' : 'msat'
  let c: number | undefined = 1
  if (unit === 'msat') {
    c = cost === undefined ? undefined : toSafe(parsePrice(cost as string | number))
    if (cost === undefined) issues.push({ path: `${at}.cost`, message: 'is required for an amount bundle: what one request draws, e.g. 10sat' })
    else if (c === undefined || c <= 0) issues.push({ path: `${at}.cost`, message: 'must be a positive price like 10sat or 2500msat' })
  } else if (cost !== undefined) {
    c = typeof cost === 'number' ? cost : /^[1-9][0-9]{0,15}$/.test(String(cost)) ? Number(cost) : undefined
    if (c === undefined || !Number.isSafeInteger(c) || c <= 0) issues.push({ path: `${at}.cost`, message: 'must be a positive whole number of requests' })
  }
  if (c !== undefined && c > amount) issues.push({ path: `${at}.cost`, message: 'is larger than the whole bundle' })
  return { kind: 'credits', unit, amount, cost: c !== undefined && c > 0 ? c : 1 }
}

const toSafe = (x: bigint | undefined): number | undefined =>
  x === undefined || x > BigInt(Number.MAX_SAFE_INTEGER) ? undefined : Number(x)

/** The caveat condition of a service's bundle. */
export const condition = (service: string): string => `${service}_credits`

/** The minted caveat: `<service>_credits=<N>` or `<service>_credits=<N>msat`. */
export function caveat(service: string, c: Credits): string {
  return `${condition(service)}=${c.amount}${c.unit === 'msat' ? 'msat' : ''}`
}

/**
 * The bundle a verified token carries for `service`: the smallest of its credits caveats (later ones
 * may only narrow), or undefined when there is none or one is malformed or of another unit (fail closed).
 */
export function bundleOf(caveats: readonly string[], service: string, unit: Credits['unit']): number | undefined {
  const prefix = `${condition(service)}=`
  let min: number | undefined
  for (const c of caveats) {
    if (!c.startsWith(prefix)) continue
    const m = /^([1-9][0-9]{0,15})(msat)?$/.exec(c.slice(prefix.length))
    if (!m || (m[2] === 'msat') !== (unit === 'msat')) return undefined
    const n = Number(m[1])
    if (!Number.isSafeInteger(n)) return undefined
    min = min === undefined ? n : Math.min(min, n)
  }
  return min
}

/** The `X-Turnpike-Balance` value: requests left, or `<N>msat`. */
export function balanceHeader(c: Credits, left: number): readonly [string, string] {
  return ['x-turnpike-balance', c.unit === 'msat' ? `${left}msat` : String(left)]
}

/** The store account of one paid bundle (one payment hash on one route). */
export const account = (service: string, paymentHash: string): string => `${service}:${paymentHash}`

// A refund travels as the Allow decision's `claim`, which every adapter hands back to
// `gateway.release` when the upstream failed; store claim keys never start with this prefix.
const refundPrefix = 'refund:credits:'

/** The release handle that returns `amount` to `acct`. */
export const refundHandle = (acct: string, amount: number): string => `${refundPrefix}${amount}:${acct}`

/** Decodes a release handle made by {@link refundHandle}; undefined for an ordinary claim key. */
export function parseRefund(handle: string): { account: string; amount: number } | undefined {
  if (!handle.startsWith(refundPrefix)) return undefined
  const rest = handle.slice(refundPrefix.length)
  const i = rest.indexOf(':')
  const amount = Number(rest.slice(0, i))
  return i > 0 && Number.isSafeInteger(amount) && amount > 0 ? { account: rest.slice(i + 1), amount } : undefined
}
