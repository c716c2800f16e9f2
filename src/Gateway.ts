/**
 * The core: decides challenge / allow / deny from a minimal request view. It knows no server
 * framework; the proxy, forward-auth and middleware adapters are thin layers around it.
 * The paid path is pure CPU (parse, HMAC chain, sha256) plus one atomic claim for per-request routes.
 * @module
 */
import type { Config, Route } from './Config.ts'
import { TurnpikeError, is } from './Errors.ts'
import * as L402 from './L402.ts'
import type { Backend } from './Lightning.ts'
import type { Allow, Decision, HeaderLines, Reply, RequestView } from './RequestView.ts'
import type { Store } from './Store.ts'
import * as Token from './Token.ts'
import { fromHex } from './internal/hex.ts'
import { silent, type Logger } from './internal/log.ts'
import { normalizePath } from './internal/path.ts'
import { exposeHeaders, problem, problemOf } from './internal/problem.ts'
import { findRoute } from './internal/route.ts'

/** Header names that carry payment credentials and never reach the upstream. */
export const credentialHeaders = ['macaroon', 'grpc-metadata-macaroon', 'x-cashu'] as const

export type Gateway = {
  readonly config: Config
  /** Decides for one request. Synchronous unless a claim or a challenge is needed. */
  decide(view: RequestView): Decision | Promise<Decision>
  /** Releases a per-request claim after the upstream failed, so the client can retry. */
  release(claim: string): Promise<void>
  /** Normalised path the decision applied to (what the upstream must receive). */
  normalize(path: string): string | undefined
}

export type CreateOptions = {
  readonly config: Config
  readonly backend: Backend
  readonly store: Store
  readonly secret: Uint8Array
  readonly logger?: Logger
  /** Unix milliseconds. */
  readonly now?: () => number
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

/** Creates the gateway core. */
export function create(o: CreateOptions): Gateway {
  const { config, backend, store, secret } = o
  const log = o.logger ?? silent
  const now = o.now ?? Date.now
  const { invoiceExpirySeconds, tokenTtlSeconds } = config.challenge
  // A claim must outlive every token that could present the same payment hash.
  const claimTtlMs = (invoiceExpirySeconds + tokenTtlSeconds + 3600) * 1000

  async function challenge(route: Route, view: RequestView, path: string, reason: string): Promise<Reply> {
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
    const token = Token.mint({
      secret,
      paymentHash: fromHex(invoice.paymentHash),
      service: route.name,
      path: pass ? route.path : path,
      methods: pass ? route.methods : [view.method],
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
    const headers: [string, string][] = L402.challenge({
      macaroon: token.serialized,
      invoice: invoice.paymentRequest,
      lsat: config.challenge.lsat,
      spec: config.challenge.spec,
    }).map((v) => ['www-authenticate', v])
    headers.push(...(challengeHeaders as [string, string][]))
    const body = JSON.stringify({
      type: 'https://turnpike.dev/errors#turnpike_payment_required',
      title: 'Payment required',
      status: 402,
      detail: `Pay the invoice, then retry with Authorization: L402 <macaroon>:<preimage>`,
      invoice: invoice.paymentRequest,
      macaroon: token.serialized,
      payment_hash: invoice.paymentHash,
      amount_msat: Number(invoice.amountMsat),
      expires_at: Math.floor(invoice.expiresAt / 1000),
      description: route.description,
    })
    return { kind: 'challenge', status: 402, headers, body, route: route.name, reason }
  }

  function allow(route: Route, reason: string, extra: Partial<Allow> = {}): Allow {
    return { kind: 'allow', route: route.name, stripHeaders: credentialHeaders, requestHeaders: [], responseHeaders: [], reason, ...extra }
  }

  async function claimThenAllow(route: Route, view: RequestView, path: string, paymentHash: string): Promise<Decision> {
    const key = `l402:${paymentHash}`
    let won: boolean
    try {
      won = await store.claim(key, now() + claimTtlMs)
    } catch (e) {
      log.error('store failed to claim a credential', { route: route.name, store: store.name, error: e })
      return problem(new TurnpikeError('TURNPIKE_STORE_UNAVAILABLE', 'The state store is unavailable; your credential was not used, retry later', { retryAfter: 2 }), 'store-unavailable', route.name)
    }
    return won ? allow(route, 'paid', { claim: key, paymentHash }) : challenge(route, view, path, 'credential already used')
  }

  function decide(view: RequestView): Decision | Promise<Decision> {
    const path = normalizePath(view.path)
    if (path === undefined) return problemOf('TURNPIKE_BAD_REQUEST', 'The request path is not acceptable', 'bad-path')
    const method = view.method
    const route = findRoute(config.routes, view.host, method, path)
    if (method === 'OPTIONS') {
      return { kind: 'allow', route: route?.name ?? '', stripHeaders: credentialHeaders, requestHeaders: [], responseHeaders: [], reason: 'options' }
    }
    if (!route) return problemOf('TURNPIKE_NOT_FOUND', 'No route matches this request', 'no-route')
    if (route.priceMsat === 0n) return allow(route, 'free')

    let creds: L402.Credential[]
    try {
      creds = credentials(view)
    } catch (e) {
      if (!is(e)) throw e
      return problem(e, 'malformed-credential', route.name)
    }
    if (creds.length === 0) return challenge(route, view, path, 'no credential')

    const ctx = { service: route.name, path, method, now: Math.floor(now() / 1000) }
    let reason = ''
    for (const c of creds) {
      const r = Token.verify(c, secret, ctx)
      if (r.ok) {
        if (r.ignored.length > 0) log.debug('ignored unknown caveats', { route: route.name, caveats: r.ignored })
        if (route.access.kind === 'pass') return allow(route, 'paid', { paymentHash: r.paymentHash })
        return claimThenAllow(route, view, path, r.paymentHash)
      }
      reason = r.reason
    }
    return challenge(route, view, path, reason)
  }

  return {
    config,
    decide,
    normalize: normalizePath,
    async release(claim) {
      try {
        await store.release(claim)
      } catch (e) {
        log.error('store failed to release a claim; the credential stays spent', { error: e })
      }
    },
  }
}
