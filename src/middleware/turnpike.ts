/**
 * What every middleware shares: building (or taking) the gateway core, and the payment facts an
 * allowed request carries to the handler (`req.turnpike`, `c.get('turnpike')`) or, in forward-auth,
 * to the upstream as `X-Turnpike-*` headers.
 * @module
 */
import * as Config from '../Config.ts'
import * as Gateway from '../Gateway.ts'
import type { Backend } from '../Lightning.ts'
import type { Allow } from '../RequestView.ts'
import type { Store } from '../Store.ts'
import type { Logger } from '../internal/log.ts'

/** Either a ready gateway, or what it takes to build one. */
export type Options =
  | { readonly gateway: Gateway.Gateway }
  | {
      /** A parsed config or a raw one (routes need no `upstream` here). */
      readonly config: Config.Config | Record<string, unknown>
      readonly backend: Backend
      readonly store: Store
      /** The master secret: ≥ 32 bytes, or its hex/base64 text. Never a constant in production. */
      readonly secret: Uint8Array | string
      readonly logger?: Logger
    }

/** The payment facts of an allowed request. */
export type TurnpikeInfo = {
  /** Route name; '' for an OPTIONS request that matched no route. */
  readonly route: string
  /** Why it passed: `paid`, `free`, `options` (and whatever the core adds later). */
  readonly reason: string
  /** Lowercase hex payment hash of the credential used, when one was. */
  readonly paymentHash: string | undefined
  /** The route's access model; undefined without a route. */
  readonly access: 'per-request' | 'pass' | 'credits' | undefined
  /** Pass length in seconds, for `pass` routes. */
  readonly passSeconds: number | undefined
  /** The route's price in millisatoshis (0n for free routes and unmatched OPTIONS). */
  readonly priceMsat: bigint
}

function isParsed(c: Config.Config | Record<string, unknown>): c is Config.Config {
  const ch = (c as { challenge?: { invoiceExpirySeconds?: unknown } }).challenge
  return typeof ch?.invoiceExpirySeconds === 'number' && Object.isFrozen(c)
}

function secretOf(s: Uint8Array | string): Uint8Array {
  let bytes: Uint8Array
  if (typeof s !== 'string') bytes = s
  else {
    const t = s.trim()
    bytes = new Uint8Array(/^[0-9a-fA-F]+$/.test(t) && t.length % 2 === 0 ? Buffer.from(t, 'hex') : Buffer.from(t, 'base64'))
  }
  if (bytes.length < 32) throw new TypeError('turnpike: `secret` must be at least 32 bytes (64 hex characters)')
  return bytes
}

/**
 * Returns the gateway core a middleware decides with: `o.gateway`, or a new one from config,
 * backend, store and secret.
 * @example
 * import { dev } from 'turnpike/lightning/dev'
 * import { memory } from 'turnpike/store/memory'
 * const gateway = createTurnpike({
 *   config: { routes: [{ path: '/api/*', price: '10sat' }] },
 *   backend: dev(), store: memory(), secret: process.env.TURNPIKE_SECRET!,
 * })
 */
export function createTurnpike(o: Options): Gateway.Gateway {
  if ('gateway' in o) {
    if (typeof o.gateway?.decide !== 'function') throw new TypeError('turnpike: `gateway` must come from Gateway.create() or createTurnpike()')
    return o.gateway
  }
  if (!o.config || !o.backend || !o.store || o.secret === undefined) {
    throw new TypeError('turnpike: pass { gateway } or { config, backend, store, secret }')
  }
  const config = isParsed(o.config) ? o.config : Config.parse(o.config, { requireUpstream: false })
  return Gateway.create({ config, backend: o.backend, store: o.store, secret: secretOf(o.secret), ...(o.logger ? { logger: o.logger } : {}) })
}

/** The facts a handler may need about an allowed request. */
export function infoOf(gateway: Gateway.Gateway, d: Allow): TurnpikeInfo {
  const route = d.route ? gateway.config.routes.find((r) => r.name === d.route) : undefined
  return {
    route: d.route,
    reason: d.reason,
    paymentHash: d.paymentHash,
    access: route?.access.kind,
    passSeconds: route?.access.kind === 'pass' ? route.access.seconds : undefined,
    priceMsat: route?.priceMsat ?? 0n,
  }
}

/**
 * The same facts as `X-Turnpike-*` header lines, for forward-auth to hand to the upstream. All four
 * are always present, empty when not applicable, so a host never falls back to a client's own copy
 * (older Caddy, 2.6 for one, keeps it and copies a literal placeholder for a missing header).
 */
export function infoHeaders(info: TurnpikeInfo): [string, string][] {
  return [
    ['x-turnpike-route', info.route],
    ['x-turnpike-payment-hash', info.paymentHash ?? ''],
    ['x-turnpike-access', info.access === 'pass' ? `pass:${info.passSeconds}s` : (info.access ?? '')],
    ['x-turnpike-price-msat', info.route ? String(info.priceMsat) : ''],
  ]
}
