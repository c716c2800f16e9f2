/**
 * One validated config schema for the proxy, forward-auth and CLI. `parse()` reports every
 * issue at once, each with its path, then returns a frozen config.
 * @module
 */
import { ConfigError } from './Errors.ts'
import { parseDuration, parsePrice } from './internal/units.ts'
import type { Network } from './Bolt11.ts'
import { parseCashu, type CashuConfig } from './cashu/config.ts'
import { nodeBackendTypes, parseNodeBackend, satOnlyBackends, type NodeBackendConfig } from './lightning/internal/backendConfig.ts'
import { parseWalletBackend, walletBackendTypes, type WalletBackendConfig } from './lightning/walletConfig.ts'
import * as Operator from './internal/operator.ts'
import { parseCredits, type Credits } from './access/credits.ts'
import { parseFreeAllowance, type FreeAllowance } from './access/free.ts'
import { parsePriceHook, type PriceHook } from './access/priceHook.ts'
import { parseMeter, type Meter } from './access/metering.ts'
import { parseService, parseTier, type Tier } from './access/tiers.ts'
import * as Limits from './ratelimit/config.ts'
import { storeFromString } from './store/url.ts'
import type { ChallengeLimit, RateLimit } from './ratelimit/config.ts'
import type { AdminConfig, DryRun, ManifestConfig, PageConfig } from './internal/operator.ts'
import { parseH2c, parseTls, type TlsConfig } from './proxy/tlsConfig.ts'

export type { AdminConfig, DryRun, ManifestConfig, PageConfig }

export type Access = { readonly kind: 'per-request' } | { readonly kind: 'pass'; readonly seconds: number } | Credits

/** The access model as published in the manifest, admin API and logs. */
export type AccessInfo =
  | { readonly type: 'per-request' }
  | { readonly type: 'pass'; readonly duration_secs: number }
  | { readonly type: 'credits'; readonly unit: string; readonly amount: number; readonly cost: number }

/** Describes an access model for the manifest, admin API and start-up banner. */
export function accessInfo(a: Access): AccessInfo {
  if (a.kind === 'pass') return { type: 'pass', duration_secs: a.seconds }
  if (a.kind === 'credits') return { type: 'credits', unit: a.unit, amount: a.amount, cost: a.cost }
  return { type: 'per-request' }
}

/** Payment schemes a route offers, all backed by one invoice per challenge (protocols.md §8). */
export type Scheme = 'l402' | 'payment' | 'cashu' | 'x402'
export const schemeNames: readonly Scheme[] = ['l402', 'payment', 'cashu', 'x402']

export type Route = {
  readonly name: string
  /** Exact host (no port), `*.example.com`, or undefined for any host. */
  readonly host: string | undefined
  /** `/exact`, `/prefix/*` or `/*`. */
  readonly path: string
  /** Upper-case methods, or undefined for all. */
  readonly methods: readonly string[] | undefined
  readonly priceMsat: bigint
  readonly access: Access
  readonly upstream: string | undefined
  readonly description: string
  /** Offered schemes, default `['l402']`; challenge lines follow protocols.md §8, not this order. */
  readonly schemes: readonly Scheme[]
  /** Shadow mode: evaluated and counted, always let through, no state changed. */
  readonly dryRun?: DryRun | undefined
  /** Left out of `/.well-known/l402-services`. */
  readonly hidden?: boolean
  /** Token bucket for this route, shared through the store; absent = unlimited. */
  readonly rateLimit?: RateLimit | undefined
  /**
   * Settlement detection (lightning/settlement.ts): `true` also accepts a macaroon without its
   * preimage once the backend reports the invoice settled; `'strict'` additionally confirms every
   * preimage credential with the backend on first use. Absent = preimage only, no backend call.
   */
  readonly autoDetect?: boolean | 'strict'
  /** Requests per client address per period served free before payment is asked (access/free.ts). */
  readonly freeAllowance?: FreeAllowance | undefined
  /** Asked what each request costs; its answer replaces `priceMsat` (access/priceHook.ts). */
  readonly priceHook?: PriceHook | undefined
  /** The price can be changed at runtime through the store (`turnpike price set`, access/overrides.ts). */
  readonly priceOverride?: boolean
  /** Metered pricing on an msat credits route (access/metering.ts). */
  readonly meter?: Meter | undefined
  /** Bound into tokens (`services=`, `<service>_…` caveats); default the route name (access/tiers.ts). */
  readonly service?: string
  /** Capability tier: the capability required, and what this route's tokens carry (access/tiers.ts). */
  readonly tier?: Tier | undefined
}

export type BackendConfig = { readonly type: 'dev'; readonly network: Network } | NodeBackendConfig | WalletBackendConfig
export type { LnurlBackendConfig, NwcBackendConfig, WalletBackendConfig } from './lightning/walletConfig.ts'
export type { ClnBackendConfig, EclairBackendConfig, LnbitsBackendConfig, LndBackendConfig, NodeBackendConfig, PhoenixdBackendConfig } from './lightning/internal/backendConfig.ts'

export type StoreConfig =
  | { readonly type: 'sqlite'; readonly path: string | undefined }
  | { readonly type: 'memory' }
  | { readonly type: 'redis'; readonly url: string }
  | { readonly type: 'postgres'; readonly url: string }

export type Config = {
  readonly listen: { readonly host: string; readonly port: number }
  readonly upstream: string | undefined
  readonly backend: BackendConfig | undefined
  readonly store: StoreConfig
  readonly dataDir: string
  readonly secretFile: string | undefined
  readonly challenge: {
    /** Add Aperture's leading `LSAT` line. */
    readonly lsat: boolean
    /** Append `version="0", token="…"` to the L402 line. */
    readonly spec: boolean
    readonly invoiceExpirySeconds: number
    /** How long a per-request credential stays redeemable after its challenge. */
    readonly tokenTtlSeconds: number
  }
  readonly upstreamTimeoutMs: number
  readonly trustProxy: readonly string[]
  /**
   * Run as a forward-auth verdict service for nginx/Caddy/Traefik/Envoy instead of a proxy: no
   * upstream needed; forwarded headers believed only from `trustProxy` (default: loopback only).
   */
  readonly forwardAuth?: boolean
  readonly dev: { readonly payOpen: boolean }
  readonly log: { readonly format: 'text' | 'json' }
  readonly routes: readonly Route[]
  /** Limit on new invoices per client address, with challenge reuse; absent = unlimited. */
  readonly challengeLimit?: ChallengeLimit | undefined
  /** `turnpike serve` worker processes (node:cluster); absent = 1. */
  readonly workers?: number | undefined
  /** Separate listener for /metrics, the admin API and the dashboard; absent = off. */
  readonly admin?: AdminConfig | undefined
  readonly manifest?: ManifestConfig
  readonly page?: PageConfig
  /** Accepted Cashu mints and mode, for routes offering the `cashu` scheme. */
  readonly cashu?: CashuConfig | undefined
  /** HTTPS (HTTP/1.1 and HTTP/2 by ALPN) on the listen port; absent = plain HTTP. */
  readonly tls?: TlsConfig | undefined
  /** Cleartext HTTP/2 with prior knowledge (gRPC) on the listen port, beside HTTP/1.1. */
  readonly h2c?: boolean
}

type Issue = { path: string; message: string }

const networks = ['mainnet', 'testnet', 'signet', 'regtest'] as const
const methodRe = /^[A-Z]+$/
const routeNameRe = /^[a-z0-9][a-z0-9-]{0,62}$/
const topKeys = [
  'listen', 'upstream', 'backend', 'store', 'dataDir', 'secretFile', 'challenge', 'upstreamTimeout',
  'trustProxy', 'dev', 'log', 'routes', 'lightning', 'admin', 'manifest', 'page', 'dryRun', 'forwardAuth',
  'challengeLimit', 'workers', 'cashu', 'tls', 'h2c',
]

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v)

function unknownKeys(obj: Record<string, unknown>, allowed: readonly string[], at: string, issues: Issue[]) {
  for (const k of Object.keys(obj)) {
    if (!allowed.includes(k)) {
      issues.push({ path: at ? `${at}.${k}` : k, message: `unknown key (allowed: ${allowed.join(', ')})` })
    }
  }
}

/** `host:port`, `:port` or `port` → listen address. */
export function parseListen(v: unknown): { host: string; port: number } | undefined {
  const s = typeof v === 'number' ? String(v) : v
  if (typeof s !== 'string') return undefined
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s]*)):(\d{1,5})$|^(\d{1,5})$/.exec(s.trim())
  if (!m) return undefined
  const port = Number(m[3] ?? m[4])
  if (port > 65535) return undefined
  return { host: m[1] ?? (m[2] || '127.0.0.1'), port }
}

function parseUrl(v: unknown, at: string, issues: Issue[], protocols = ['http:', 'https:']): string | undefined {
  if (v === undefined) return undefined
  if (typeof v !== 'string') {
    issues.push({ path: at, message: 'must be a URL string' })
    return undefined
  }
  try {
    const u = new URL(v)
    if (!protocols.includes(u.protocol)) throw new Error()
    return v.replace(/\/+$/, '')
  } catch {
    issues.push({ path: at, message: `must be a ${protocols.join(' or ')} URL, got ${JSON.stringify(v)}` })
    return undefined
  }
}

function parseAccess(v: unknown, at: string, issues: Issue[], cost?: unknown, route = at.slice(0, at.lastIndexOf('.'))): Access {
  if (typeof v === 'string' && v.startsWith('credits:')) return parseCredits(v, cost, route, issues) ?? { kind: 'per-request' }
  parseCredits(v, cost, route, issues)
  if (v === undefined || v === 'per-request') return { kind: 'per-request' }
  if (typeof v === 'string' && v.startsWith('pass:')) {
    const seconds = parseDuration(v.slice(5))
    if (seconds !== undefined) return { kind: 'pass', seconds }
  }
  issues.push({ path: at, message: `must be "per-request", "pass:<duration>" (e.g. pass:1h) or "credits:<N>" (e.g. credits:100, credits:5000sat), got ${JSON.stringify(v)}` })
  return { kind: 'per-request' }
}

function parseRoute(v: unknown, i: number, issues: Issue[]): Route | undefined {
  const at = `routes[${i}]`
  if (!isObject(v)) {
    issues.push({ path: at, message: 'must be an object' })
    return undefined
  }
  unknownKeys(v, ['name', 'host', 'path', 'methods', 'price', 'access', 'upstream', 'description', 'schemes', 'dryRun', 'hidden', 'rateLimit', 'autoDetect', 'cost', 'freeAllowance', 'priceHook', 'priceOverride', 'meter', 'service', 'require', 'grants'], at, issues)
  if (v.autoDetect !== undefined && v.autoDetect !== true && v.autoDetect !== false && v.autoDetect !== 'strict') {
    issues.push({ path: `${at}.autoDetect`, message: 'must be true, false or "strict"' })
  }
  const name = v.name ?? `route-${i}`
  if (typeof name !== 'string' || !routeNameRe.test(name)) {
    issues.push({ path: `${at}.name`, message: 'must match [a-z0-9][a-z0-9-]* (it is bound into tokens)' })
  }
  const path = v.path ?? '/*'
  if (typeof path !== 'string' || !path.startsWith('/') || (path.includes('*') && !path.endsWith('/*'))) {
    issues.push({ path: `${at}.path`, message: 'must be an absolute path, optionally ending in /* for a prefix' })
  }
  let host: string | undefined
  if (v.host !== undefined) {
    if (typeof v.host !== 'string' || !/^(\*\.)?[a-z0-9.-]+$/i.test(v.host)) {
      issues.push({ path: `${at}.host`, message: 'must be a host name, optionally starting with *.' })
    } else host = v.host.toLowerCase()
  }
  let methods: string[] | undefined
  if (v.methods !== undefined) {
    const list = typeof v.methods === 'string' ? v.methods.split(',') : v.methods
    if (!Array.isArray(list) || list.length === 0 || !list.every((m) => typeof m === 'string' && methodRe.test(m.trim().toUpperCase()))) {
      issues.push({ path: `${at}.methods`, message: 'must be a non-empty list of HTTP methods' })
    } else methods = list.map((m: string) => m.trim().toUpperCase())
  }
  const priceMsat = v.price === undefined ? undefined : parsePrice(v.price as string | number)
  if (priceMsat === undefined) {
    issues.push({ path: `${at}.price`, message: 'must be a price like 10sat, 2500msat or 0 (free)' })
  }
  // A metered route's `cost` is optional (default 0: only the metered amount is drawn).
  const metered = v.meter !== undefined && v.cost === undefined
  const parsedAccess = parseAccess(v.access, `${at}.access`, issues, metered ? '1msat' : v.cost)
  const access = metered && parsedAccess.kind === 'credits' ? { ...parsedAccess, cost: 0 } : parsedAccess
  const meter = parseMeter(v.meter, access.kind === 'credits' && access.unit === 'msat', `${at}.meter`, issues)
  if (access.kind === 'credits' && priceMsat === 0n) issues.push({ path: `${at}.price`, message: 'a credits route needs a price: what one bundle costs' })
  const upstream = parseUrl(v.upstream, `${at}.upstream`, issues)
  if (v.description !== undefined && typeof v.description !== 'string') {
    issues.push({ path: `${at}.description`, message: 'must be a string' })
  }
  return {
    name: String(name),
    host,
    path: String(path),
    methods,
    priceMsat: priceMsat ?? 0n,
    access,
    upstream,
    description: typeof v.description === 'string' ? v.description : `turnpike: ${String(name)}`,
    schemes: parseSchemes(v.schemes, priceMsat, at, issues),
    ...(v.autoDetect === true || v.autoDetect === 'strict' ? { autoDetect: v.autoDetect } : {}),
    ...withFree(parseFreeAllowance(v.freeAllowance, `${at}.freeAllowance`, priceMsat !== 0n, issues)),
    ...withHook(parsePriceHook(v.priceHook, `${at}.priceHook`, issues), access, priceMsat, at, issues),
    ...withOverride(v.priceOverride, v.priceHook !== undefined, access, at, issues),
    ...(meter ? { meter } : {}),
    ...withTier(v.service === undefined ? undefined : parseService(v.service, String(name), at, issues), parseTier(v.require, v.grants, at, issues)),
  }
}

/** `service` is only set when it differs from the name; `tier` when the route has `require`. */
const withTier = (service: string | undefined, tier: Tier | undefined): { service?: string; tier?: Tier } => ({
  ...(service !== undefined ? { service } : {}),
  ...(tier ? { tier } : {}),
})

const withFree = (f: FreeAllowance | undefined): { freeAllowance?: FreeAllowance } => (f ? { freeAllowance: f } : {})

function withOverride(v: unknown, hooked: boolean, access: Access, at: string, issues: Issue[]): { priceOverride?: true } {
  if (v === undefined || v === false) return {}
  if (v !== true) issues.push({ path: `${at}.priceOverride`, message: 'must be true or false' })
  else if (hooked) issues.push({ path: `${at}.priceOverride`, message: 'cannot be combined with priceHook' })
  else if (access.kind === 'credits') issues.push({ path: `${at}.priceOverride`, message: 'cannot price a credits route (its price is the bundle\'s)' })
  return v === true ? { priceOverride: true } : {}
}

function withHook(h: PriceHook | undefined, access: Access, priceMsat: bigint | undefined, at: string, issues: Issue[]): { priceHook?: PriceHook } {
  if (h === undefined) return {}
  if (access.kind === 'credits') issues.push({ path: `${at}.priceHook`, message: 'cannot price a credits route (its price is the bundle\'s)' })
  if (priceMsat === 0n) issues.push({ path: `${at}.price`, message: 'a priceHook route needs a non-zero price (the advertised one)' })
  return { priceHook: h }
}

function parseSchemes(v: unknown, priceMsat: bigint | undefined, at: string, issues: Issue[]): Scheme[] {
  if (v === undefined) return ['l402']
  const list = typeof v === 'string' ? v.split(',').map((s) => s.trim()) : v
  if (!Array.isArray(list) || list.length === 0 || !list.every((s) => typeof s === 'string' && schemeNames.includes(s as Scheme))) {
    issues.push({ path: `${at}.schemes`, message: `must be a non-empty list of ${schemeNames.join(', ')}` })
    return ['l402']
  }
  const schemes = [...new Set(list as Scheme[])]
  if (priceMsat !== undefined && priceMsat % 1000n !== 0n && schemes.some((s) => s === 'payment' || s === 'cashu')) {
    issues.push({ path: `${at}.price`, message: 'the payment and cashu schemes price in whole satoshis' })
  }
  return schemes
}

/** Adds a route's `rateLimit`. */
function withRateLimit(route: Route, raw: unknown, i: number, issues: Issue[]): Route {
  const r = isObject(raw) ? raw : {}
  const rateLimit = Limits.parseRateLimit(r.rateLimit, `routes[${i}].rateLimit`, route.priceMsat > 0n, issues)
  return rateLimit ? { ...route, rateLimit } : route
}

/** Adds a route's `dryRun` (falling back to the top-level one) and `hidden`. */
function withOperatorFields(route: Route, raw: unknown, i: number, topDryRun: DryRun | null | undefined, issues: Issue[]): Route {
  const r = isObject(raw) ? raw : {}
  const dryRun = r.dryRun === undefined ? topDryRun : Operator.parseDryRun(r.dryRun, `routes[${i}].dryRun`, issues)
  if (r.hidden !== undefined && typeof r.hidden !== 'boolean') issues.push({ path: `routes[${i}].hidden`, message: 'must be true or false' })
  return { ...route, ...(dryRun ? { dryRun } : {}), ...(r.hidden === true ? { hidden: true } : {}) }
}

function parseBackend(v: unknown, issues: Issue[], at = 'backend'): BackendConfig | undefined {
  if (v === undefined) return undefined
  const obj = typeof v === 'string' ? { type: v } : v
  if (!isObject(obj)) {
    issues.push({ path: at, message: 'must be a backend type or an object with `type`' })
    return undefined
  }
  if (nodeBackendTypes.includes(obj.type as NodeBackendConfig['type'])) return parseNodeBackend(obj, at, issues)
  if (walletBackendTypes.includes(obj.type as WalletBackendConfig['type'])) return parseWalletBackend(obj, at, issues)
  if (obj.type !== 'dev') {
    issues.push({ path: `${at}.type`, message: `unsupported backend ${JSON.stringify(obj.type)} (supported: dev, ${[...nodeBackendTypes, ...walletBackendTypes].join(', ')})` })
    return undefined
  }
  unknownKeys(obj, ['type', 'network'], at, issues)
  const network = obj.network ?? 'regtest'
  if (!networks.includes(network as Network)) {
    issues.push({ path: `${at}.network`, message: `must be one of ${networks.join(', ')}` })
  }
  return { type: 'dev', network: network as Network }
}

function parseStore(v: unknown, issues: Issue[]): StoreConfig {
  // A string is a type name or a URL (`redis://…`, `postgres://…`, `sqlite:<path>`).
  const named = typeof v === 'string' ? storeFromString(v) : v
  const obj = v === undefined ? { type: 'sqlite' } : typeof named === 'string' ? { type: named } : named
  if (!isObject(obj)) {
    issues.push({ path: 'store', message: 'must be a store type or an object with `type`' })
    return { type: 'sqlite', path: undefined }
  }
  switch (obj.type) {
    case 'sqlite':
      unknownKeys(obj, ['type', 'path'], 'store', issues)
      if (obj.path !== undefined && typeof obj.path !== 'string') issues.push({ path: 'store.path', message: 'must be a file path' })
      return { type: 'sqlite', path: typeof obj.path === 'string' ? obj.path : undefined }
    case 'memory':
      unknownKeys(obj, ['type'], 'store', issues)
      return { type: 'memory' }
    case 'redis':
    case 'postgres': {
      unknownKeys(obj, ['type', 'url'], 'store', issues)
      const url = parseUrl(obj.url, 'store.url', issues, obj.type === 'redis' ? ['redis:', 'rediss:'] : ['postgres:', 'postgresql:'])
      if (obj.url === undefined) issues.push({ path: 'store.url', message: 'is required' })
      return { type: obj.type, url: url ?? '' }
    }
    default:
      issues.push({ path: 'store.type', message: `unsupported store ${JSON.stringify(obj.type)} (supported: sqlite, memory, redis, postgres)` })
      return { type: 'sqlite', path: undefined }
  }
}

function seconds(v: unknown, at: string, fallback: number, issues: Issue[]): number {
  if (v === undefined) return fallback
  const s = parseDuration(v as string | number)
  if (s === undefined) issues.push({ path: at, message: 'must be a duration like 30s, 10m, 1h or 1d' })
  return s ?? fallback
}

function bool(v: unknown, at: string, fallback: boolean, issues: Issue[]): boolean {
  if (v === undefined) return fallback
  if (typeof v !== 'boolean') issues.push({ path: at, message: 'must be true or false' })
  return v === true
}

function deepFreeze<T>(o: T): T {
  if (typeof o === 'object' && o !== null) {
    for (const v of Object.values(o)) deepFreeze(v)
    Object.freeze(o)
  }
  return o
}

/**
 * Validates one route given at runtime (admin API `PUT /api/v1/routes/<name>`) with the same rules as
 * a config route, against the running config (top-level upstream, backend, cashu). The top-level
 * `dryRun` does not apply. Issue paths are relative to the route (`price`, `access`, …).
 * @throws ConfigError listing each issue with its path.
 */
export function parseRouteWith(raw: unknown, base: Config): Route {
  const issues: Issue[] = []
  const parsed = parseRoute(raw, 0, issues)
  const route = parsed && withRateLimit(withOperatorFields(parsed, raw, 0, undefined, issues), raw, 0, issues)
  if (route) {
    if (!route.upstream && !base.upstream && base.forwardAuth !== true) issues.push({ path: 'routes[0].upstream', message: 'no upstream: set it here or at the top level' })
    if (base.backend !== undefined && satOnlyBackends.includes(base.backend.type as NodeBackendConfig['type']) && route.priceMsat % 1000n !== 0n) {
      issues.push({ path: 'routes[0].price', message: `${base.backend.type} invoices whole satoshis only; use a whole-sat price` })
    }
    if (route.schemes.includes('cashu') && !base.cashu) issues.push({ path: 'routes[0].schemes', message: 'the cashu scheme needs a top-level cashu config' })
  }
  if (issues.length > 0) throw new ConfigError(issues.map((i) => ({ path: i.path.replace(/^routes\[0\]\.?/, ''), message: i.message })))
  return deepFreeze(route!)
}

/**
 * Validates a raw config object (from YAML, JSON or CLI flags) and reports every issue at once.
 * Routes need an upstream unless `forwardAuth: true` or `o.requireUpstream === false` (middleware).
 * @throws ConfigError listing each issue with its path.
 */
export function parse(raw: unknown, o: { requireUpstream?: boolean } = {}): Config {
  const issues: Issue[] = []
  const v = raw ?? {}
  if (!isObject(v)) throw new ConfigError([{ path: '', message: 'config must be a mapping' }])
  unknownKeys(v, topKeys, '', issues)

  const listen = parseListen(v.listen ?? '127.0.0.1:8402')
  if (!listen) issues.push({ path: 'listen', message: 'must be host:port, [ipv6]:port or a port number' })
  const upstream = parseUrl(v.upstream, 'upstream', issues)
  if (v.backend !== undefined && v.lightning !== undefined) issues.push({ path: 'lightning', message: 'is an alias of backend; set only one of them' })
  const backend = v.backend !== undefined ? parseBackend(v.backend, issues) : parseBackend(v.lightning, issues, 'lightning')
  const store = parseStore(v.store, issues)

  const challenge = isObject(v.challenge) ? v.challenge : {}
  if (v.challenge !== undefined && !isObject(v.challenge)) issues.push({ path: 'challenge', message: 'must be a mapping' })
  unknownKeys(challenge, ['lsat', 'spec', 'invoiceExpiry', 'tokenTtl'], 'challenge', issues)
  const dev = isObject(v.dev) ? v.dev : {}
  unknownKeys(dev, ['payOpen'], 'dev', issues)
  const log = isObject(v.log) ? v.log : {}
  unknownKeys(log, ['format'], 'log', issues)
  if (log.format !== undefined && log.format !== 'text' && log.format !== 'json') {
    issues.push({ path: 'log.format', message: 'must be text or json' })
  }
  const trustProxy = v.trustProxy ?? []
  if (!Array.isArray(trustProxy) || !trustProxy.every((a) => typeof a === 'string')) {
    issues.push({ path: 'trustProxy', message: 'must be a list of IP addresses' })
  }
  Limits.checkTrustProxy(trustProxy, issues)

  const topDryRun = Operator.parseDryRun(v.dryRun, 'dryRun', issues)
  const admin = Operator.parseAdmin(v.admin, parseListen, issues)
  const manifest = Operator.parseManifest(v.manifest, issues)
  const page = Operator.parsePage(v.page, issues)

  const rawRoutes = v.routes ?? []
  const routes: Route[] = []
  if (!Array.isArray(rawRoutes)) issues.push({ path: 'routes', message: 'must be a list' })
  else rawRoutes.forEach((r, i) => {
    const route = parseRoute(r, i, issues)
    if (route) routes.push(withRateLimit(withOperatorFields(route, r, i, topDryRun, issues), r, i, issues))
  })
  const names = new Set<string>()
  routes.forEach((r, i) => {
    if (names.has(r.name)) issues.push({ path: `routes[${i}].name`, message: `duplicate route name ${JSON.stringify(r.name)}` })
    names.add(r.name)
    if (!r.upstream && !upstream && v.forwardAuth !== true && o.requireUpstream !== false) issues.push({ path: `routes[${i}].upstream`, message: 'no upstream: set it here or at the top level' })
  })
  if (backend !== undefined && satOnlyBackends.includes(backend.type as NodeBackendConfig['type'])) {
    routes.forEach((r, i) => {
      if (r.priceMsat % 1000n !== 0n) issues.push({ path: `routes[${i}].price`, message: `${backend.type} invoices whole satoshis only; use a whole-sat price` })
    })
  }
  if (routes.length === 0) issues.push({ path: 'routes', message: 'at least one route is required (or use --upstream and --price)' })
  const cashu = parseCashu(v.cashu, routes, issues)

  const challengeOut = {
    lsat: bool(challenge.lsat, 'challenge.lsat', false, issues),
    spec: bool(challenge.spec, 'challenge.spec', true, issues),
    invoiceExpirySeconds: seconds(challenge.invoiceExpiry, 'challenge.invoiceExpiry', 3600, issues),
    tokenTtlSeconds: seconds(challenge.tokenTtl, 'challenge.tokenTtl', 86400, issues),
  }
  const upstreamTimeoutMs = seconds(v.upstreamTimeout, 'upstreamTimeout', 60, issues) * 1000
  const payOpen = bool(dev.payOpen, 'dev.payOpen', false, issues)
  const forwardAuth = bool(v.forwardAuth, 'forwardAuth', false, issues)
  if (v.dataDir !== undefined && typeof v.dataDir !== 'string') issues.push({ path: 'dataDir', message: 'must be a directory path' })
  if (v.secretFile !== undefined && typeof v.secretFile !== 'string') issues.push({ path: 'secretFile', message: 'must be a file path' })

  const challengeLimit = Limits.parseChallengeLimit(v.challengeLimit, issues)
  const workers = Limits.parseWorkers(v.workers, store.type, issues)
  const tls = parseTls(v.tls, issues)
  const h2c = parseH2c(v.h2c, issues)

  if (issues.length > 0) throw new ConfigError(issues)
  return deepFreeze({
    listen: listen!,
    upstream,
    backend,
    store,
    dataDir: typeof v.dataDir === 'string' ? v.dataDir : '.turnpike',
    secretFile: typeof v.secretFile === 'string' ? v.secretFile : undefined,
    challenge: challengeOut,
    upstreamTimeoutMs,
    trustProxy: Array.isArray(trustProxy) ? (trustProxy as string[]) : [],
    ...(forwardAuth ? { forwardAuth } : {}),
    dev: { payOpen },
    log: { format: log.format === 'json' ? 'json' : 'text' },
    routes,
    ...(challengeLimit ? { challengeLimit } : {}),
    ...(workers !== undefined ? { workers } : {}),
    ...(cashu ? { cashu } : {}),
    ...(tls ? { tls } : {}),
    ...(h2c ? { h2c } : {}),
    admin,
    manifest,
    page,
  })
}
