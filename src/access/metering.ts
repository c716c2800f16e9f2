/**
 * Metered pricing on msat credit routes: the request is admitted against the bundle's balance, the
 * proxy counts what the upstream answered (response bytes, or units the upstream reports in a
 * response header or trailer) without buffering, and the metered amount is drawn from the balance
 * once the response is over. See docs/access-models.md.
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Store } from '../Store.ts'
import type { Logger } from '../internal/log.ts'
import { parsePrice } from '../internal/units.ts'

/** A route's `meter`: what one unit is and what it costs. */
export type Meter = {
  /** Response header (or trailer) reporting the units, lower-case; undefined: count response bytes. */
  readonly header: string | undefined
  /** Millisatoshis per unit: a positive safe integer. */
  readonly priceMsat: number
  /** `finish`: let the response complete even past the balance; `cut`: stop at the balance (bytes only). */
  readonly onExhausted: 'finish' | 'cut'
}

/** What the Allow decision asks the proxy to do for a metered request. */
export type Metering = {
  /** Header/trailer carrying the units; undefined: count response bytes. */
  readonly header: string | undefined
  /** `cut` mode: the most response bytes forwarded; undefined: no limit. */
  readonly limit: number | undefined
  /** Draws the metered units from the balance. Called once, after the response; never rejects. */
  settle(units: number): Promise<void>
}

type Issue = { path: string; message: string }

const headerRe = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/

/** Parses a route's `meter` (`{ per: byte | header: <name>, price, onExhausted }`); issues carry paths. */
export function parseMeter(v: unknown, msatCredits: boolean, at: string, issues: Issue[]): Meter | undefined {
  if (v === undefined) return undefined
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    issues.push({ path: at, message: 'must be { per: byte, price } or { header: <name>, price }' })
    return undefined
  }
  const r = v as Record<string, unknown>
  for (const k of Object.keys(r)) if (!['per', 'header', 'price', 'onExhausted'].includes(k)) issues.push({ path: `${at}.${k}`, message: 'unknown key (allowed: per, header, price, onExhausted)' })
  if (!msatCredits) issues.push({ path: at, message: 'needs an amount bundle (access: credits:<amount>, e.g. credits:5000sat)' })
  if ((r.per === undefined) === (r.header === undefined)) issues.push({ path: at, message: 'needs exactly one of per: byte or header: <name>' })
  if (r.per !== undefined && r.per !== 'byte') issues.push({ path: `${at}.per`, message: 'must be byte' })
  if (r.header !== undefined && (typeof r.header !== 'string' || !headerRe.test(r.header))) issues.push({ path: `${at}.header`, message: 'must be a header name' })
  const p = typeof r.price === 'string' || typeof r.price === 'number' ? parsePrice(r.price) : undefined
  if (p === undefined || p <= 0n || p > BigInt(Number.MAX_SAFE_INTEGER)) issues.push({ path: `${at}.price`, message: 'must be a positive price per unit like 1msat or 2sat' })
  const onExhausted = r.onExhausted ?? 'finish'
  if (onExhausted !== 'finish' && onExhausted !== 'cut') issues.push({ path: `${at}.onExhausted`, message: 'must be finish or cut' })
  else if (onExhausted === 'cut' && r.header !== undefined) issues.push({ path: `${at}.onExhausted`, message: 'cut needs per: byte (reported units are only known at the end)' })
  return {
    header: typeof r.header === 'string' ? r.header.toLowerCase() : undefined,
    priceMsat: p === undefined ? 1 : Number(p),
    onExhausted: onExhausted === 'cut' ? 'cut' : 'finish',
  }
}

/**
 * Draws up to `amount` from `account`: all of it, or, when the balance holds less, what is left
 * (to zero). Uses only `Store.debit` (which never overdraws): a refused draw is retried at the last
 * known balance, then halved, and any success drains the remainder it reports. Resolves what was drawn.
 */
export async function drain(store: Store, account: string, amount: number, knownLeft: number, expiresAt: number): Promise<number> {
  let owed = amount
  let guess = Math.min(owed, Math.max(1, knownLeft))
  let r = await store.debit!(account, owed, 0, expiresAt)
  if (r !== undefined) return amount
  for (let i = 0; i < 64 && owed > 0 && guess > 0; i++) {
    r = await store.debit!(account, guess, 0, expiresAt)
    if (r === undefined) guess = Math.floor(guess / 2)
    else {
      owed -= guess
      if (r === 0) break
      guess = Math.min(owed, r)
    }
  }
  return amount - owed
}

/**
 * The Metering of one admitted request. `held` was drawn at admission (the route's `cost`, at least
 * 1 msat) and `left` is the balance after that; the request's whole charge is `cost + units × price`,
 * settled against the hold: the rest is drawn (to zero at most), an unused hold is refunded.
 */
export function createMetering(o: { store: Store; log: Logger; route: string; account: string; meter: Meter; cost: number; held: number; left: number; expiresAt: number }): Metering {
  const { meter } = o
  const available = o.left + o.held - o.cost
  return {
    header: meter.header,
    limit: meter.onExhausted === 'cut' && meter.header === undefined ? Math.max(0, Math.floor(available / meter.priceMsat)) : undefined,
    async settle(units) {
      const charge = Math.min(Number.MAX_SAFE_INTEGER, o.cost + units * meter.priceMsat)
      try {
        if (charge > o.held) {
          const owed = charge - o.held
          const drawn = await drain(o.store, o.account, owed, o.left, o.expiresAt)
          if (drawn < owed) o.log.info('metered charge exceeded the balance; drew it to zero', { route: o.route, owed, drawn })
        } else if (charge < o.held && o.store.refund) await o.store.refund(o.account, o.held - charge)
      } catch (e) {
        o.log.error('store failed to settle a metered charge', { route: o.route, error: e })
      }
    },
  }
}

/** Units reported by the upstream: a trailer wins over a header; missing or malformed → undefined. */
export function reportedUnits(ur: IncomingMessage, header: string): number | undefined {
  const v = ur.trailers[header] ?? ur.headers[header]
  const s = Array.isArray(v) ? v[v.length - 1] : v
  if (s === undefined || !/^\s*\d{1,15}(\.\d+)?\s*$/.test(s)) return undefined
  return Math.ceil(Number(s))
}

/**
 * Pipes the upstream response to the client like `pipe()` (honouring back-pressure, no buffering),
 * counting bytes; with `m.limit`, forwards at most that many bytes and then aborts the response (the
 * client sees a truncated body, never a clean end). Calls `done(units)` once, when the response ended
 * or closed. Only used when the Allow decision asks for metering.
 */
export function pipeMetered(ur: IncomingMessage, res: ServerResponse, m: Metering, log: Logger, route: string, done: (units: number) => void): void {
  let bytes = 0
  let finished = false
  const finish = () => {
    if (finished) return
    finished = true
    let units = bytes
    if (m.header !== undefined) {
      const u = reportedUnits(ur, m.header)
      if (u === undefined) log.warn('metered route: the upstream reported no units; nothing metered', { route, header: m.header })
      units = u ?? 0
    }
    done(units)
  }
  ur.on('data', (chunk: Buffer) => {
    if (m.limit !== undefined && bytes + chunk.length > m.limit) {
      const slice = chunk.subarray(0, m.limit - bytes)
      bytes += slice.length
      ur.removeAllListeners('data')
      ur.destroy()
      log.info('metered route: balance used up; cutting the response', { route, bytes })
      const cut = () => {
        finish()
        res.destroy()
      }
      if (slice.length > 0) res.write(slice, cut)
      else cut()
      return
    }
    bytes += chunk.length
    if (!res.write(chunk)) ur.pause()
  })
  res.on('drain', () => ur.resume())
  ur.on('end', () => {
    finish()
    res.end()
  })
  res.on('close', finish)
}
