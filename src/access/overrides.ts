/**
 * Runtime price overrides: `turnpike price set <route> <price>` writes `price:<route>` to the shared
 * store; every gateway polls the overrides of its `priceOverride: true` routes every `intervalMs`
 * (default 1 s), so a change reaches every instance within about a second, with no store read on the
 * request path. Such routes mint their price as a caveat (`<route>_price`), like `priceHook` routes.
 * @module
 */
import type { Route } from '../Config.ts'
import type { Store } from '../Store.ts'
import type { Logger } from '../internal/log.ts'
import { poll } from '../internal/poll.ts'

/** The store key of a route's override (through `putValue`/`getValue`). */
export const overrideKey = (route: string): string => `price:${route}`

/** An override lives this long unless cleared (store values need an expiry). */
export const overrideTtlMs = 10 * 365 * 86_400_000

export type Overrides = {
  /** The overridden price of `route` in msat, as of the last refresh; undefined when none. */
  get(route: string): bigint | undefined
  refresh(): Promise<void>
  stop(): void
}

export function watchOverrides(store: Store, routes: readonly Route[], log: Logger, intervalMs = 1000): Overrides | undefined {
  const names = routes.filter((r) => r.priceOverride).map((r) => r.name)
  const get = store.getValue?.bind(store)
  if (names.length === 0 || get === undefined) return undefined
  let current = new Map<string, bigint>()
  const poller = poll({
    load: () => Promise.all(names.map(async (n) => [n, await get(overrideKey(n))] as const)),
    apply(pairs) {
      const next = new Map<string, bigint>()
      for (const [n, v] of pairs) if (v !== undefined && /^\d{1,18}$/.test(v)) next.set(n, BigInt(v))
      current = next
    },
    intervalMs,
    log,
    what: 'price overrides',
    fields: { store: store.name },
  })
  return { get: (n) => current.get(n), ...poller }
}
