/**
 * The core: decides challenge / allow / deny from a minimal request view. It knows no server
 * framework; the proxy, forward-auth and middleware adapters are thin layers around it.
 * The paid path is pure CPU (parse, HMAC chain, sha256) plus one atomic claim for per-request routes.
 * @module
 */
import type { Config, Route } from './Config.ts'
import { TurnpikeError, is } from './Errors.ts'
import * as Caveat from './Caveat.ts'
import * as Cashu from './Cashu.ts'
import * as L402 from './L402.ts'
import * as Mpp from './Mpp.ts'
import type { Backend } from './Lightning.ts'
import type { Allow, Decision, HeaderLines, Reply, RequestView } from './RequestView.ts'
import type { Store } from './Store.ts'
import * as Token from './Token.ts'
import * as X402 from './X402.ts'
import { fromHex } from './internal/hex.ts'
import { compose } from './internal/compose.ts'
import * as DryRun from './internal/dryrun.ts'
import { silent, type Logger } from './internal/log.ts'
import type { Outcome, Refused } from './internal/outcome.ts'
import { normalizePath } from './internal/path.ts'
import { exposeHeaders, problem, problemOf } from './internal/problem.ts'
import { findRoute } from './internal/route.ts'
import { createLimiter } from './RateLimit.ts'
import { createAccessGate } from './access/gate.ts'
import { createSettlementChecker, verifyBare } from './lightning/settlement.ts'

/** Header names that carry payment credentials and never reach the upstream. */
export const credentialHeaders = ['macaroon', 'grpc-metadata-macaroon', 'x-cashu', 'payment-signature', 'x-payment'] as const

export type Gateway = {
  readonly config: Config
  /** Decides for one request. Synchronous unless a claim or a challenge is needed. */
  decide(view: RequestView): Decision | Promise<Decision>
  /** Releases a per-request claim after the upstream failed, so the client can retry. */
  release(claim: string): Promise<void>
  /** Normalised path the decision applied to (what the upstream must receive). */
  normalize(path: string): string | undefined
  /** Stops background pollers (revocations, price overrides). The store is closed by its owner. */
  close(): void
}

export type CreateOptions = {
  readonly config: Config
  readonly backend: Backend
  readonly store: Store
  readonly secret: Uint8Array
  readonly logger?: Logger
  /** Unix milliseconds. */
  readonly now?: () => number
  /** Optional: sees every final decision (metrics, logs). */
  readonly observer?: Observer
}

/** Watches decisions. Called synchronously once per request; MUST be O(1) and MUST NOT throw. */
export type Observer = {
  decided?(d: Decision, view: RequestView): void
}

const challengeHeaders: HeaderLines = [
  ['cache-control', 'no-store'],
  ['content-type', 'application/json'],
  ['access-control-allow-origin', '*'],
  ['access-control-expose-headers', exposeHeaders],
]

/**
 * Collects every L402 credential of a request: all Authorization lines plus Aperture's hex carriers.
 * Throws TURNPIKE_CREDENTIAL_MALFORMED only when credentials were sent and none of them parses.
 */
function credentials(view: RequestView): L402.Credential[] {
  let malformed: unknown
  let found: L402.Credential[] = []
  try {
    found = L402.parseAuthorization(view.header('authorization'))
  } catch (e) {
    malformed = e
  }
  for (const name of ['macaroon', 'grpc-metadata-macaroon']) {
    for (const value of view.header(name) ?? []) {
      try {
        found.push(L402.parseMacaroonHeader(value))
      } catch (e) {
        malformed ??= e
      }
    }
  }
  if (found.length === 0 && malformed !== undefined) throw malformed
  return found
}

/**
 * Credentials that already passed the preimage and HMAC-chain checks, keyed by the exact
 * `Authorization` line they came in. A `pass` or credit token is sent again and again; remembering
 * it turns the repeat into a map lookup plus the caveat check, which still runs on every request (so
 * expiry, path, method and capabilities are judged afresh), as do revocation and price checks in
 * `grant`. Only exact strings hit, so nothing unverified is ever accepted. Bounded: the oldest entry
 * goes first. Per-request credentials are never stored (each is sent once). One per gateway, so a
 * new secret or config starts empty.
 */
type Authenticated = { readonly paymentHash: string; readonly tokenId: string; readonly caveats: readonly string[] }
const authCacheSize = 4096
/** Longer lines (a token padded with client caveats) are verified every time, so the map stays under ~10 MB. */
const authCacheLineMax = 2048

/** Two shadow gateways for dry-run routes (with and without invoices), writing nothing to the store. */
function shadowGateways(o: CreateOptions) {
  const { observer: _observer, ...rest } = o
  const config = { ...o.config, routes: o.config.routes.map(({ dryRun: _dryRun, ...r }) => r) }
  const base = { ...rest, config, store: DryRun.shadowStore(o.store), logger: silent }
  return { sampled: create(base).decide, unsampled: create({ ...base, backend: DryRun.unsampledBackend(o.backend) }).decide }
}

/** A Cashu token from `X-Cashu` (NUT-24) or a legacy `Authorization: Cashu <token>` line. */
function cashuToken(view: RequestView): string | undefined {
  const x = view.header('x-cashu')?.find((v) => /^\s*(cashu:)?cashu[AB]/.test(v))
  if (x !== undefined) return x.trim()
  for (const line of view.header('authorization') ?? []) {
    const m = /(?:^|,)\s*cashu\s+((?:cashu:)?cashu[AB][A-Za-z0-9+/_=-]+)/i.exec(line)
    if (m) return m[1]
  }
  return undefined
}

/** Creates the gateway core. */
export function create(o: CreateOptions): Gateway {
  const { config, backend, store, secret } = o
  const log = o.logger ?? silent
  const now = o.now ?? Date.now
  const { invoiceExpirySeconds, tokenTtlSeconds } = config.challenge
  // A claim must outlive every token that could present the same payment hash.
  const claimTtlMs = (invoiceExpirySeconds + tokenTtlSeconds + 3600) * 1000
  // Dry-run routes are decided by shadow copies that change no state (internal/dryrun.ts).
  const shadows = config.routes.some((r) => r.dryRun) ? shadowGateways(o) : undefined
  // Challenge ids of the Payment scheme: a key derived from the master secret, never the secret itself.
  const mppSecret = Mpp.deriveSecret(secret)
  // Cashu (NUT-24) acceptor, when a route offers it; its P2PK key is derived from the master secret.
  const cashu = config.cashu && config.routes.some((r) => r.schemes.includes('cashu'))
    ? Cashu.create({ config: config.cashu, secret, store, dataDir: config.dataDir, now, logger: log })
    : undefined
  // Rate limits and challenge reuse, shared through the store (RateLimit.ts).
  const limits = createLimiter({ config, store, now, log })
  const challenge = limits.wrapChallenge(issueChallenge)
  // Credit bundles and revocation (access/gate.ts).
  const access = createAccessGate({ store, log, now, accountTtlMs: claimTtlMs, watch: true, routes: config.routes })
  // Settlement detection for `autoDetect` routes (lightning/settlement.ts); no backend call otherwise.
  const settlement = config.routes.some((r) => r.autoDetect)
    ? createSettlementChecker({ backend, store, cacheTtlMs: claimTtlMs, challenge: config.challenge, now, logger: log })
    : undefined
  const authenticated = new Map<string, Authenticated>()
  const remember = (line: string, r: Authenticated): void => {
    if (authenticated.size >= authCacheSize) authenticated.delete(authenticated.keys().next().value!)
    authenticated.set(line, { paymentHash: r.paymentHash, tokenId: r.tokenId, caveats: r.caveats })
  }
  /** The single Authorization line of a request without Aperture carriers, else undefined. */
  const soleLine = (view: RequestView): string | undefined => {
    const lines = view.header('authorization')
    if (lines === undefined || lines.length !== 1) return undefined
    return view.header('macaroon') === undefined && view.header('grpc-metadata-macaroon') === undefined ? lines[0] : undefined
  }

  async function issueChallenge(route: Route, view: RequestView, path: string, reason: string, failure?: Refused): Promise<Reply> {
    let invoice
    try {
      invoice = await backend.createInvoice({
        amountMsat: route.priceMsat,
        description: route.description,
        expirySeconds: route.access.kind === 'pass' ? Math.min(invoiceExpirySeconds, route.access.seconds) : invoiceExpirySeconds,
      })
    } catch (e) {
      log.error('lightning backend failed to create an invoice', { route: route.name, backend: backend.name, error: e })
      const err = is(e) && e.status >= 500 ? e : new TurnpikeError('TURNPIKE_BACKEND_UNAVAILABLE', 'The Lightning backend is unavailable', { cause: e, retryAfter: 5 })
      return problem(err.retryAfter === undefined ? new TurnpikeError(err.code, err.message, { retryAfter: 5 }) : err, 'backend-unavailable', route.name)
    }
    const nowS = Math.floor(now() / 1000)
    const pass = route.access.kind === 'pass'
    const wide = access.wide(route)
    const caveats = access.caveats(route)
    const token = Token.mint({
      secret,
      paymentHash: fromHex(invoice.paymentHash),
      service: route.service ?? route.name,
      // A tier token covers the whole service (access/tiers.ts): its capabilities decide where it works.
      path: route.tier ? '/*' : wide ? route.path : path,
      methods: route.tier ? undefined : wide ? route.methods : [view.method],
      ...(caveats ? { caveats } : {}),
      validUntil: pass ? nowS + (route.access as { seconds: number }).seconds : nowS + invoiceExpirySeconds + tokenTtlSeconds,
    })
    store
      .putInvoice({
        paymentHash: invoice.paymentHash,
        paymentRequest: invoice.paymentRequest,
        amountMsat: invoice.amountMsat,
        route: route.name,
        tokenId: Buffer.from(token.tokenId).toString('hex'),
        createdAt: invoice.createdAt,
        expiresAt: invoice.expiresAt + claimTtlMs,
      })
      .catch((e: unknown) => log.warn('could not record an issued invoice', { paymentHash: invoice.paymentHash, error: e }))
    // Every scheme the route offers is backed by this one invoice (protocols.md §8).
    const extra = cashu && route.schemes.includes('cashu') ? [['x-cashu', cashu.request({ amountSat: route.priceMsat / 1000n, description: route.description })] as const] : undefined
    const c = compose({ route, view, invoice, macaroon: token.serialized, lsat: config.challenge.lsat, spec: config.challenge.spec, mppSecret, failure, extra })
    const headers = c.lines
    for (const [k, v] of challengeHeaders) headers.push([k, k === 'content-type' ? c.contentType : v])
    for (const [k, v] of failure?.headers ?? []) headers.push([k, v])
    return { kind: 'challenge', status: 402, headers, body: c.body, route: route.name, reason }
  }

  function allow(route: Route, reason: string, extra: Partial<Allow> = {}): Allow {
    return { kind: 'allow', route: route.name, stripHeaders: credentialHeaders, requestHeaders: [], responseHeaders: [], reason, ...extra }
  }

  async function claimThenAllow(route: Route, view: RequestView, path: string, paymentHash: string): Promise<Decision> {
    const key = `l402:${paymentHash}`
    let won: boolean
    try {
      const forgetting = limits.forget(route, view, path)
      won = await store.claim(key, now() + claimTtlMs)
      await forgetting
    } catch (e) {
      log.error('store failed to claim a credential', { route: route.name, store: store.name, error: e })
      return problem(new TurnpikeError('TURNPIKE_STORE_UNAVAILABLE', 'The state store is unavailable; your credential was not used, retry later', { retryAfter: 2 }), 'store-unavailable', route.name)
    }
    return won ? allow(route, 'paid', { claim: key, paymentHash }) : challenge(route, view, path, 'credential already used')
  }

  /** Claims a non-L402 payment once, then allows it with its receipt headers. */
  async function settle(route: Route, view: RequestView, path: string, pending: Outcome | Promise<Outcome>): Promise<Decision> {
    let r: Outcome
    try {
      r = await pending
    } catch (e) {
      if (!is(e) || e.status < 500) throw e
      log.error('payment verification failed', { route: route.name, error: e })
      return problem(e.retryAfter === undefined ? new TurnpikeError(e.code, e.message, { retryAfter: 5 }) : e, 'verification-unavailable', route.name)
    }
    if (!r.ok) return refuse(route, view, path, r)
    let won = true
    try {
      const forgetting = limits.forget(route, view, path)
      if (r.claimKey !== undefined) won = await store.claim(r.claimKey, now() + (r.claimTtlMs ?? claimTtlMs))
      await forgetting
    } catch (e) {
      log.error('store failed to claim a credential', { route: route.name, store: store.name, error: e })
      return problem(new TurnpikeError('TURNPIKE_STORE_UNAVAILABLE', 'The state store is unavailable; your credential was not used, retry later', { retryAfter: 2 }), 'store-unavailable', route.name)
    }
    if (!won) return refuse(route, view, path, r.replayed ?? { ok: false, challenge: true, code: 'TURNPIKE_PAYMENT_INVALID', detail: 'credential already used' })
    // Never released: a consumed one-time payment credential is not re-opened (protocols.md §2.5).
    return allow(route, 'paid', { responseHeaders: r.responseHeaders, ...(r.paymentHash ? { paymentHash: r.paymentHash } : {}) })
  }

  function refuse(route: Route, view: RequestView, path: string, r: Refused): Decision | Promise<Decision> {
    if (r.challenge) return challenge(route, view, path, r.detail, r)
    const details = { ...(r.type ? { type: r.type } : {}), ...(r.title ? { title: r.title } : {}), ...r.members }
    return problem(new TurnpikeError(r.code, r.detail, { details }), r.code.toLowerCase(), route.name, r.headers)
  }

  /** Credentials of the route's other schemes (MPP, x402, Cashu); undefined when none was sent. */
  function otherSchemes(route: Route, view: RequestView, path: string): Promise<Decision> | undefined {
    const s = route.schemes
    if (s.length === 1 && s[0] === 'l402') return undefined
    if (s.includes('payment')) {
      const values = Mpp.findCredentials(view.header('authorization'))
      if (values.length > 0) {
        const p = { secret: mppSecret, amountSat: route.priceMsat / 1000n, description: route.description, now: now(), graceSeconds: tokenTtlSeconds }
        return settle(route, view, path, Mpp.accept(values, p))
      }
    }
    if (s.includes('x402')) {
      const sig = view.header('payment-signature')?.[0] ?? view.header('x-payment')?.[0]
      if (sig !== undefined) {
        const p = { route, store, backend, now: now(), lookupTimeoutMs: 5000, graceSeconds: tokenTtlSeconds, resource: X402.resource(view, route.description) }
        return settle(route, view, path, X402.accept(sig, p))
      }
    }
    if (cashu && s.includes('cashu')) {
      const token = cashuToken(view)
      if (token !== undefined) return settle(route, view, path, cashu.accept(token, route))
    }
    return undefined
  }

  /** Access for a verified, paid token: pass routes allow, per-request routes claim it once. */
  function grant(route: Route, view: RequestView, path: string, r: { paymentHash: string; tokenId: string; caveats?: readonly string[] }): Decision | Promise<Decision> {
    const refused = access.refused(route, r)
    if (refused !== undefined) return challenge(route, view, path, refused)
    const paid = (): Decision | Promise<Decision> => route.access.kind === 'pass'
      ? (limits.passUsed(route, view, r.paymentHash), allow(route, 'paid', { paymentHash: r.paymentHash }))
      : access.credits(route, r, (extra) => allow(route, 'paid', extra), (why) => Promise.resolve(limits.forget(route, view, path)).then(() => challenge(route, view, path, why)))
        ?? claimThenAllow(route, view, path, r.paymentHash)
    return route.rateLimit?.by === 'token' ? limits.token(route, r.tokenId, paid) : paid()
  }

  /** Grants once the backend (or the cached mark) says the invoice settled; never mints on a poll. */
  async function whenSettled(route: Route, view: RequestView, path: string, r: { paymentHash: string; tokenId: string; caveats?: readonly string[] }, macaroon: string): Promise<Decision> {
    const s = await settlement!.check(route.name, r.paymentHash, macaroon)
    if (s.kind === 'settled') return grant(route, view, path, r)
    return s.kind === 'fresh' ? challenge(route, view, path, s.reason) : s.reply
  }

  /** `autoDetect` routes: a macaroon sent without its preimage; undefined when there is none. */
  function detected(route: Route, view: RequestView, path: string): Promise<Decision> | undefined {
    if (settlement === undefined || !route.autoDetect) return undefined
    const ctx = { service: route.service ?? route.name, path, method: view.method, now: Math.floor(now() / 1000), capability: route.tier?.require }
    const v = verifyBare(L402.parseBareAuthorization(view.header('authorization')), secret, ctx)
    if (v === undefined) return undefined
    if (!v.ok) return Promise.resolve(challenge(route, view, path, v.reason))
    return whenSettled(route, view, path, v, v.macaroon)
  }

  function decide(view: RequestView, limitChecked = false, priced?: Route): Decision | Promise<Decision> {
    const path = normalizePath(view.path)
    if (path === undefined) return problemOf('TURNPIKE_BAD_REQUEST', 'The request path is not acceptable', 'bad-path')
    const method = view.method
    const route = priced ?? findRoute(config.routes, view.host, method, path)
    if (method === 'OPTIONS') {
      return { kind: 'allow', route: route?.name ?? '', stripHeaders: credentialHeaders, requestHeaders: [], responseHeaders: [], reason: 'options' }
    }
    if (!route) return problemOf('TURNPIKE_NOT_FOUND', 'No route matches this request', 'no-route')
    if (route.rateLimit?.by === 'client' && !route.dryRun && !limitChecked) {
      return limits.client(route, view).then((stop) => stop ?? decide(view, true))
    }
    // A `priceHook` route: decided again at the price the hook gives this request (access/priceHook.ts).
    if (route.priceHook && !priced) return access.priced(route, view, path).then((r) => ('kind' in r ? r : decide(view, true, r)))
    const overridden = priced ? undefined : access.overridden(route)
    if (overridden) return decide(view, true, overridden)
    if (route.priceMsat === 0n) return allow(route, 'free')
    if (route.dryRun && shadows) return DryRun.decideDry(route, view, shadows, credentialHeaders, log)

    const l402 = route.schemes.includes('l402')
    const line = l402 && !route.autoDetect ? soleLine(view) : undefined
    const ctx = { service: route.service ?? route.name, path, method, now: Math.floor(now() / 1000), capability: route.tier?.require }
    if (line !== undefined) {
      const known = authenticated.get(line)
      if (known !== undefined && Caveat.check(known.caveats, ctx).ok) return grant(route, view, path, known)
    }
    let creds: L402.Credential[] = []
    if (l402) {
      try {
        creds = credentials(view)
      } catch (e) {
        if (!is(e)) throw e
        return otherSchemes(route, view, path) ?? detected(route, view, path) ?? problem(e, 'malformed-credential', route.name)
      }
    }
    if (creds.length === 0) {
      return otherSchemes(route, view, path) ?? detected(route, view, path)
        ?? access.free(route, view, (extra) => allow(route, 'free-allowance', extra), () => challenge(route, view, path, 'no credential'))
    }

    let reason = ''
    for (const c of creds) {
      const r = Token.verify(c, secret, ctx)
      if (r.ok) {
        if (r.ignored.length > 0) log.debug('ignored unknown caveats', { route: route.name, caveats: r.ignored })
        if (route.autoDetect === 'strict' && settlement) return whenSettled(route, view, path, r, Buffer.from(c.tokens[0]!).toString('base64'))
        if (line !== undefined && route.access.kind !== 'per-request' && line.length <= authCacheLineMax) remember(line, r)
        return grant(route, view, path, r)
      }
      reason = r.reason
    }
    return otherSchemes(route, view, path) ?? challenge(route, view, path, reason)
  }

  const decided = o.observer?.decided
  const observed = (view: RequestView): Decision | Promise<Decision> => {
    const d = decide(view)
    if (!(d instanceof Promise)) return (decided!(d, view), d)
    return d.then((x) => (decided!(x, view), x))
  }

  return {
    config,
    decide: decided ? observed : (view: RequestView) => decide(view),
    normalize: normalizePath,
    close: () => access.close(),
    async release(claim) {
      if (await access.release(claim)) return
      try {
        await store.release(claim)
      } catch (e) {
        log.error('store failed to release a claim; the credential stays spent', { error: e })
      }
    },
  }
}
