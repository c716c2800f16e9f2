/**
 * First-party caveat grammar (`condition=value`, split on the first `=`), the request checker with the
 * narrowing rule, and builders for the minting side. See protocols.md §1.9.
 * @module
 */
import { TurnpikeError } from './Errors.ts'

/** The request facts caveats are checked against. `now` is unix seconds. */
export type Context = {
  service: string
  path: string
  method: string
  now: number
  capability?: string | undefined
}

/** Outcome of `check`. `ignored` lists caveats not evaluated (unknown, or for another service). */
export type Result = { ok: true; ignored: string[] } | { ok: false; reason: string }

/** Splits a caveat on the first `=`. Throws TURNPIKE_CAVEAT_MALFORMED without `=` or with an empty condition. */
export function parse(s: string): { condition: string; value: string } {
  const i = s.indexOf('=')
  if (i < 0) throw new TurnpikeError('TURNPIKE_CAVEAT_MALFORMED', 'caveat has no "="')
  if (i === 0) throw new TurnpikeError('TURNPIKE_CAVEAT_MALFORMED', 'caveat condition is empty')
  return { condition: s.slice(0, i), value: s.slice(i + 1) }
}

// ---- value grammars; each returns undefined when malformed (the checker then fails closed)

/** Decimal digits only, at most `max`. */
function uint(s: string, max: number): number | undefined {
  if (s.length === 0 || s.length > 16) return undefined
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 0x30 || c > 0x39) return undefined
  }
  const n = Number(s)
  return n <= max ? n : undefined
}

function list(s: string): string[] | undefined {
  const items = s.split(',')
  for (const x of items) if (x.length === 0) return undefined
  return items
}

function parseServices(s: string): Map<string, number> | undefined {
  const items = list(s)
  if (!items) return undefined
  const out = new Map<string, number>()
  for (const item of items) {
    const i = item.indexOf(':')
    if (i <= 0) return undefined
    const name = item.slice(0, i)
    const tier = uint(item.slice(i + 1), 255)
    if (tier === undefined) return undefined
    const seen = out.get(name)
    if (seen !== undefined && seen !== tier) return undefined
    out.set(name, tier)
  }
  return out
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/

function parseMethods(s: string): string[] | undefined {
  const items = list(s)
  if (!items) return undefined
  for (let i = 0; i < items.length; i++) {
    const m = items[i] as string
    if (!TOKEN.test(m)) return undefined
    items[i] = m.toUpperCase()
  }
  return items
}

function validPattern(p: string): boolean {
  return p.charCodeAt(0) === 0x2f && !/[\s\x00-\x1f\x7f]/.test(p)
}

/** `/api/*` matches `/api` and everything below `/api/`, never `/apix`. Anything else matches exactly. */
function pathMatches(pattern: string, path: string): boolean {
  if (!pattern.endsWith('/*')) return path === pattern
  const base = pattern.slice(0, -2)
  return path === base || (path.startsWith(base) && path.charCodeAt(base.length) === 0x2f)
}

/** True when everything `next` matches is also matched by `prev`. */
function pathCovers(prev: string, next: string): boolean {
  if (!prev.endsWith('/*')) return next === prev
  return pathMatches(prev, next.endsWith('/*') ? next.slice(0, -2) : next)
}

// A `.`/`..` segment would let `/api/../admin` pass a `/api/*` caveat and reach `/admin` upstream.
const DOT_SEGMENT = /(?:^|[/\\])\.\.?(?:[/\\]|$)/

function subset(next: readonly string[], prev: readonly string[]): boolean {
  for (const x of next) if (!prev.includes(x)) return false
  return true
}

const fail = (reason: string): Result => ({ ok: false, reason })

/**
 * Checks caveats against a request. Every caveat must hold, and within a condition each later caveat
 * must be at least as strict as the one before (a widening attempt fails the whole check).
 * Malformed values of known conditions fail closed; unknown conditions and other services' caveats are
 * skipped and reported in `ignored`; `preimage=` carriers are skipped silently. Never throws.
 */
export function check(caveats: readonly string[], ctx: Context): Result {
  const ignored: string[] = []
  const untilKey = `${ctx.service}_valid_until`
  const capsKey = `${ctx.service}_capabilities`
  let services: Map<string, number> | undefined
  let pattern: string | undefined
  let methods: string[] | undefined
  let until: number | undefined
  let caps: string[] | undefined
  for (const c of caveats) {
    const i = c.indexOf('=')
    if (i <= 0) {
      ignored.push(c)
      continue
    }
    const cond = c.slice(0, i)
    const value = c.slice(i + 1)
    if (cond === 'services') {
      const s = parseServices(value)
      if (!s) return fail('malformed services caveat')
      if (services) {
        for (const [name, tier] of s) {
          if (services.get(name) !== tier) return fail('services caveat widens an earlier one')
        }
      }
      services = s
      if (!s.has(ctx.service)) return fail(`service ${ctx.service} not allowed`)
    } else if (cond === 'path') {
      if (!validPattern(value)) return fail('malformed path caveat')
      if (pattern !== undefined && !pathCovers(pattern, value)) return fail('path caveat widens an earlier one')
      pattern = value
      if (DOT_SEGMENT.test(ctx.path)) return fail('request path has dot segments')
      if (!pathMatches(value, ctx.path)) return fail('path not allowed')
    } else if (cond === 'method') {
      const m = parseMethods(value)
      if (!m) return fail('malformed method caveat')
      if (methods && !subset(m, methods)) return fail('method caveat widens an earlier one')
      methods = m
      if (!m.includes(ctx.method.toUpperCase())) return fail(`method ${ctx.method} not allowed`)
    } else if (cond === 'preimage') {
      // A carrier for Aperture's Macaroon header (protocols.md §1.3), not a restriction.
    } else if (cond === untilKey) {
      const t = uint(value, Number.MAX_SAFE_INTEGER)
      if (t === undefined) return fail('malformed valid_until caveat')
      if (until !== undefined && t > until) return fail('valid_until caveat widens an earlier one')
      until = t
      if (!(ctx.now < t)) return fail('token expired')
    } else if (cond === capsKey) {
      const cs = list(value)
      if (!cs) return fail('malformed capabilities caveat')
      if (caps && !subset(cs, caps)) return fail('capabilities caveat widens an earlier one')
      caps = cs
      if (ctx.capability === undefined || !cs.includes(ctx.capability)) return fail('capability not allowed')
    } else {
      ignored.push(c)
    }
  }
  return { ok: true, ignored }
}

// ---- builders (minting side); misuse throws TURNPIKE_CAVEAT_MALFORMED

function bad(why: string): never {
  throw new TurnpikeError('TURNPIKE_CAVEAT_MALFORMED', why)
}

const NAME = /^[^\s,:=]+$/

/** `services=<name>:<tier>,…` (tier 0–255). */
export function services(list: readonly { name: string; tier: number }[]): string {
  if (list.length === 0) bad('services caveat needs at least one service')
  const parts: string[] = []
  for (const s of list) {
    if (!NAME.test(s.name)) bad(`invalid service name ${JSON.stringify(s.name)}`)
    if (!Number.isInteger(s.tier) || s.tier < 0 || s.tier > 255) bad(`invalid tier ${s.tier}`)
    parts.push(`${s.name}:${s.tier}`)
  }
  return `services=${parts.join(',')}`
}

/** `<service>_valid_until=<unix seconds>`: valid while now < unixSeconds. */
export function validUntil(service: string, unixSeconds: number): string {
  if (!NAME.test(service)) bad(`invalid service name ${JSON.stringify(service)}`)
  if (!Number.isSafeInteger(unixSeconds) || unixSeconds < 0) bad(`invalid unix time ${unixSeconds}`)
  return `${service}_valid_until=${unixSeconds}`
}

/** `<service>_capabilities=<cap>,…`. */
export function capabilities(service: string, caps: readonly string[]): string {
  if (!NAME.test(service)) bad(`invalid service name ${JSON.stringify(service)}`)
  if (caps.length === 0) bad('capabilities caveat needs at least one capability')
  for (const c of caps) if (!/^[^\s,]+$/.test(c)) bad(`invalid capability ${JSON.stringify(c)}`)
  return `${service}_capabilities=${caps.join(',')}`
}

/** `path=<pattern>`: an absolute path, exact, or a subtree when it ends with `/*`. */
export function path(pattern: string): string {
  if (!validPattern(pattern)) bad(`invalid path pattern ${JSON.stringify(pattern)}`)
  return `path=${pattern}`
}

/** `method=<M>,…` (upper-cased). */
export function method(methods: string | readonly string[]): string {
  const ms = typeof methods === 'string' ? [methods] : methods
  if (ms.length === 0) bad('method caveat needs at least one method')
  for (const m of ms) if (!TOKEN.test(m)) bad(`invalid method ${JSON.stringify(m)}`)
  return `method=${ms.map((m) => m.toUpperCase()).join(',')}`
}
