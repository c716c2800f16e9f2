/**
 * The gateway's access-model hooks (credits, revocation), kept out of Gateway.ts: what to mint into a
 * challenge's macaroon, how a verified credit token is drawn down, and how a refund is released.
 * @module
 */
import type { Route } from '../Config.ts'
import { TurnpikeError } from '../Errors.ts'
import type { Allow, Decision } from '../RequestView.ts'
import type { Store } from '../Store.ts'
import type { Logger } from '../internal/log.ts'
import { problem } from '../internal/problem.ts'
import * as Credits from './credits.ts'
import { createMetering } from './metering.ts'
import * as Tiers from './tiers.ts'
import { watchRevocations } from './revocation.ts'
import { takeFree } from './free.ts'
import { createPricer, paidPrice, priceCaveat } from './priceHook.ts'
import { watchOverrides } from './overrides.ts'
import { is } from '../Errors.ts'
import type { Reply } from '../RequestView.ts'
import { clientKey } from '../RateLimit.ts'
import type { RequestView } from '../RequestView.ts'

type Verified = { readonly paymentHash: string; readonly tokenId: string; readonly caveats?: readonly string[] }

export type AccessGate = {
  /** Extra caveats for a challenge's macaroon on `route`. */
  caveats(route: Route): string[] | undefined
  /** True when tokens of `route` cover the whole route (pass, credits), not one path and method. */
  wide(route: Route): boolean
  /** Why a verified token is refused (revoked, or bought at a lower price), or undefined. */
  refused(route: Route, r: Verified): string | undefined
  /** The route at its runtime override price, when one is set (sync, from memory). */
  overridden(route: Route): Route | undefined
  /** The route with the price its `priceHook` gives this request, or a 503 reply. */
  priced(route: Route, view: RequestView, path: string): Promise<Route | Reply>
  /** Draws one request's cost from a credit token's balance; undefined for non-credit routes. */
  credits(route: Route, r: Verified, allow: (extra: Partial<Allow>) => Decision, exhausted: (reason: string) => Decision | Promise<Decision>): Promise<Decision> | undefined
  /** A request without a credential: served from the route's free allowance, else `challenge()`. */
  free(route: Route, view: RequestView, allow: (extra: Partial<Allow>) => Decision, challenge: () => Decision | Promise<Decision>): Decision | Promise<Decision>
  /** Handles a release handle of this module (a refund); false for an ordinary claim key. */
  release(handle: string): Promise<boolean>
  /** Stops the revocation and price-override pollers. */
  close(): void
}

export function createAccessGate(o: { store: Store; log: Logger; now: () => number; accountTtlMs: number; watch: boolean; routes: readonly Route[] }): AccessGate {
  const { store, log, now } = o
  const revocations = o.watch ? watchRevocations(store, log) : undefined
  const pricer = createPricer({ log, now })
  const overrides = o.watch ? watchOverrides(store, o.routes, log) : undefined
  const caveatPriced = (route: Route): boolean => route.priceHook !== undefined || route.priceOverride === true
  return {
    caveats(route) {
      const tier = route.tier ? [Tiers.caveat(route.service ?? route.name, route.tier)] : []
      if (route.access.kind === 'credits') return [Credits.caveat(route.name, route.access), ...tier]
      if (caveatPriced(route)) return [priceCaveat(route.name, route.priceMsat), ...tier]
      return tier.length > 0 ? tier : undefined
    },
    wide: (route) => route.access.kind !== 'per-request',
    refused(route, r) {
      if (revocations?.has(r.tokenId)) return 'token revoked'
      if (route.tier) {
        const why = Tiers.refused(r.caveats ?? [], route.service ?? route.name, route.tier)
        if (why !== undefined) return why
      }
      if (!caveatPriced(route)) return undefined
      const paid = paidPrice(r.caveats ?? [], route.name)
      return paid === undefined || paid < route.priceMsat ? 'credential bought at a lower price' : undefined
    },
    overridden(route) {
      const msat = route.priceOverride ? overrides?.get(route.name) : undefined
      return msat === undefined ? undefined : { ...route, priceMsat: msat }
    },
    async priced(route, view, path) {
      try {
        return { ...route, priceMsat: await pricer.price(route.name, route.priceHook!, view, path) }
      } catch (e) {
        if (!is(e)) throw e
        return problem(e, 'price-unavailable', route.name)
      }
    },
    credits(route, r, allow, exhausted) {
      const c = route.access
      if (c.kind !== 'credits') return undefined
      const bundle = Credits.bundleOf(r.caveats ?? [], route.name, c.unit)
      if (bundle === undefined) return Promise.resolve(exhausted('no credits caveat'))
      if (store.debit === undefined) {
        return Promise.resolve(problem(new TurnpikeError('TURNPIKE_STORE_UNAVAILABLE', `The ${store.name} store keeps no credit balances`, { retryAfter: 60 }), 'store-unavailable', route.name))
      }
      const account = Credits.account(route.name, r.paymentHash)
      // A metered route holds its cost (at least 1 msat: the balance must be positive) and settles the rest after the response.
      const meter = route.meter
      const held = meter ? Math.max(c.cost, 1) : c.cost
      const expiresAt = now() + o.accountTtlMs
      return store.debit(account, held, bundle, expiresAt).then(
        (left) => left === undefined
          ? exhausted('credits used up')
          : allow({
            paymentHash: r.paymentHash,
            responseHeaders: [Credits.balanceHeader(c, left)],
            ...(store.refund ? { claim: Credits.refundHandle(account, held) } : {}),
            ...(meter ? { meter: createMetering({ store, log, route: route.name, account, meter, cost: c.cost, held, left, expiresAt }) } : {}),
          }),
        (e: unknown) => {
          log.error('store failed to debit credits', { route: route.name, store: store.name, error: e })
          return problem(new TurnpikeError('TURNPIKE_STORE_UNAVAILABLE', 'The state store is unavailable; no credits were used, retry later', { retryAfter: 2 }), 'store-unavailable', route.name)
        },
      )
    },
    free(route, view, allow, challenge) {
      const a = route.freeAllowance
      if (a === undefined) return challenge()
      return takeFree(store, log, route.name, clientKey(view.clientAddress), a, now()).then((left) =>
        left === undefined ? challenge() : allow({ responseHeaders: [['x-turnpike-free-remaining', String(left)]] }))
    },
    close() {
      revocations?.stop()
      overrides?.stop()
    },
    async release(handle) {
      const r = Credits.parseRefund(handle)
      if (r === undefined) return false
      try {
        await store.refund?.(r.account, r.amount)
      } catch (e) {
        log.error('store failed to refund credits after an upstream failure', { error: e })
      }
      return true
    },
  }
}
