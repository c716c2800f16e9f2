/**
 * Capability tiers: routes sharing one `service` name can sell different capabilities at different
 * prices. A route with `require: <cap>` mints `<service>_capabilities=<grants>` into its challenge's
 * macaroon (grants default to `[require]`) and refuses tokens whose capabilities lack `<cap>`
 * (Caveat.check with `ctx.capability`; a token without any capabilities caveat is refused here).
 * Tier tokens are scoped to the whole service (`path=/*`, any method), so a premium token that lists
 * `basic` also works on the basic route. See docs/access-models.md.
 * @module
 */
import * as Caveat from '../Caveat.ts'

/** A route's tier settings, parsed. */
export type Tier = {
  /** The capability a token must carry on this route. */
  readonly require: string
  /** What a token bought on this route carries; always includes `require`. */
  readonly grants: readonly string[]
}

type Issue = { path: string; message: string }

const capRe = /^[A-Za-z0-9][A-Za-z0-9._-]*$/
const serviceRe = /^[a-z0-9][a-z0-9-]*$/

/** Parses a route's `service` (default: its name); issues carry paths. */
export function parseService(v: unknown, name: string, at: string, issues: Issue[]): string {
  if (v === undefined) return name
  if (typeof v !== 'string' || !serviceRe.test(v)) {
    issues.push({ path: `${at}.service`, message: 'must match [a-z0-9][a-z0-9-]* (it is bound into tokens)' })
    return name
  }
  return v
}

/** Parses a route's `require` and `grants`; undefined when the route has no tier. */
export function parseTier(require: unknown, grants: unknown, at: string, issues: Issue[]): Tier | undefined {
  if (require === undefined) {
    if (grants !== undefined) issues.push({ path: `${at}.grants`, message: 'needs require: <capability>' })
    return undefined
  }
  if (typeof require !== 'string' || !capRe.test(require)) {
    issues.push({ path: `${at}.require`, message: 'must be a capability name like premium (letters, digits, . _ -)' })
    return undefined
  }
  if (grants === undefined) return { require, grants: [require] }
  const list = typeof grants === 'string' ? grants.split(',').map((g) => g.trim()) : grants
  if (!Array.isArray(list) || list.length === 0 || !list.every((g) => typeof g === 'string' && capRe.test(g))) {
    issues.push({ path: `${at}.grants`, message: 'must be a non-empty list of capability names' })
    return undefined
  }
  if (!list.includes(require)) issues.push({ path: `${at}.grants`, message: `must include the required capability ${JSON.stringify(require)}` })
  return { require, grants: [...new Set(list as string[])] }
}

/** The caveat a tier route's challenge mints. */
export const caveat = (service: string, t: Tier): string => Caveat.capabilities(service, t.grants)

/**
 * Why a verified token is refused on a tier route, or undefined. Caveat.check already refused a
 * capabilities caveat lacking the capability; this refuses a token with none at all (fail closed).
 */
export function refused(caveats: readonly string[], service: string, t: Tier): string | undefined {
  const prefix = `${service}_capabilities=`
  return caveats.some((c) => c.startsWith(prefix) && c.slice(prefix.length).split(',').includes(t.require)) ? undefined : 'capability not allowed'
}
