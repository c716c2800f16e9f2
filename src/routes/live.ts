/**
 * Live routes: the routing table can change without a restart. The effective routes are the config
 * routes (reloadable with SIGHUP, `setBase`) overlaid with a delta kept as ONE versioned value in the
 * shared store (`routes:live:<version>`, written by the admin API): routes put by name (replacing a config
 * route of that name in place, else appended) and config routes deleted by name. Every gateway polls
 * the value every second and, when it changed, builds a complete new gateway core for the new table
 * and swaps it in atomically; requests in flight finish on the old one. Matching stays as cheap as
 * before (one indirection per request). A delta that does not validate on an instance is logged and
 * the current table stays in force.
 * @module
 */
import { parseRouteWith, type Config, type Route } from '../Config.ts'
import { ConfigError } from '../Errors.ts'
import type { Gateway } from '../Gateway.ts'
import type { Store } from '../Store.ts'
import type { Logger } from '../internal/log.ts'
import { normalizePath } from '../internal/path.ts'
import { poll, type Poller } from '../internal/poll.ts'

/**
 * Store keys (through `putValue`/`getValue`). Store values are write-once (`putValue` only sets an
 * absent key), so each version of the delta is its own immutable key `routes:live:<n>`, written
 * once: two admins racing for the same version cannot both win. `routes:live:head` is a hint to the
 * newest version (replaced by delete-then-put, so briefly absent); readers walk forward from it.
 */
export const versionKey = (n: number): string => `routes:live:${n}`
export const headKey = 'routes:live:head'

/** The newest stored delta as text (undefined when none was ever written), walking forward from `from`. */
export async function latest(store: Store, from = 0): Promise<{ version: number; text: string | undefined }> {
  const get = store.getValue!.bind(store)
  const hint = Number((await get(headKey)) ?? 0)
  let n = Math.max(from, Number.isSafeInteger(hint) ? hint : 0)
  let text = n > 0 ? await get(versionKey(n)) : undefined
  for (;;) {
    const next = await get(versionKey(n + 1))
    if (next === undefined) break
    n += 1
    text = next
  }
  return { version: n, text }
}

/** The delta lives this long after its last change (store values need an expiry): ten years. */
export const liveRoutesTtlMs = 10 * 365 * 86_400_000

/** The stored delta over the config routes. `put` holds raw route objects (config schema). */
export type RouteDelta = { readonly version: number; readonly put: Readonly<Record<string, unknown>>; readonly deleted: readonly string[] }

export const emptyDelta: RouteDelta = { version: 0, put: {}, deleted: [] }

/** Parses the stored text; undefined (logged by the caller) when it is not a delta. */
export function decodeDelta(text: string | undefined): RouteDelta | undefined {
  if (text === undefined) return emptyDelta
  try {
    const v = JSON.parse(text) as RouteDelta
    if (typeof v.version !== 'number' || typeof v.put !== 'object' || v.put === null || !Array.isArray(v.deleted)) return undefined
    return v
  } catch {
    return undefined
  }
}

/** The effective routes: config routes minus deleted, put routes replacing by name or appended. */
export function applyDelta(base: Config, delta: RouteDelta): Route[] {
  const put = new Map<string, Route>()
  const issues: { path: string; message: string }[] = []
  for (const [name, raw] of Object.entries(delta.put)) {
    try {
      put.set(name, parseRouteWith({ ...(raw as object), name }, base))
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e
      for (const i of e.issues) issues.push({ path: `${name}${i.path ? `.${i.path}` : ''}`, message: i.message })
    }
  }
  if (issues.length > 0) throw new ConfigError(issues)
  const deleted = new Set(delta.deleted)
  const out: Route[] = []
  for (const r of base.routes) {
    if (put.has(r.name)) out.push(put.get(r.name)!), put.delete(r.name)
    else if (!deleted.has(r.name)) out.push(r)
  }
  return [...out, ...put.values()]
}

export type LiveRoutes = {
  /** A stable gateway that delegates to the current core. */
  readonly gateway: Gateway
  /** The effective config (base with the live routes). */
  config(): Config
  /** The config the live routes apply over (the file's, reloaded on SIGHUP). */
  base(): Config
  /** The delta in force on this instance. */
  delta(): RouteDelta
  /** Replaces the base config (SIGHUP); resolves once swapped. Throws a ConfigError if the delta no longer validates. */
  setBase(config: Config): Promise<void>
  /** Reads the store now and applies a changed delta; resolves once swapped. */
  refresh(): Promise<void>
  close(): void
}

/**
 * Builds the first core from `base` and, when the store keeps values, polls the delta every
 * `intervalMs` (default 1 s).
 */
export function liveRoutes(o: { base: Config; build: (config: Config) => Gateway; store: Store; log: Logger; intervalMs?: number }): LiveRoutes {
  const { store, log } = o
  let base = o.base
  let delta = emptyDelta
  let text: string | undefined
  let current = { config: base, gateway: o.build(base) }
  let chain: Promise<void> = Promise.resolve()

  /** Builds and swaps in a core for `config`. The new core's pollers (revocations, overrides) load first. */
  const swap = async (config: Config): Promise<void> => {
    const gateway = o.build(config)
    // One store round trip behind the new core's first poll, plus a margin: its revocation list is loaded.
    await store.getValue?.(headKey).catch(() => undefined)
    await new Promise((r) => setTimeout(r, 50))
    const old = current
    current = { config, gateway }
    old.gateway.close()
  }
  const rebuild = (nextBase: Config, nextDelta: RouteDelta): Promise<void> => {
    const routes = applyDelta(nextBase, nextDelta)
    base = nextBase
    delta = nextDelta
    return swap(Object.freeze({ ...nextBase, routes }))
  }
  /** Runs swaps one at a time; `chain` itself never rejects. */
  const enqueue = (f: () => Promise<void>): Promise<void> => {
    const p = chain.then(f)
    chain = p.catch(() => undefined)
    return p
  }

  const onText = (t: string | undefined): Promise<void> => {
    if (t === text) return chain
    text = t
    const d = decodeDelta(t)
    if (d === undefined) {
      log.error('the stored live routes are not readable; keeping the current routes', { key: headKey })
      return chain
    }
    return enqueue(async () => {
      try {
        await rebuild(base, d)
        log.info('routes changed', { version: d.version, routes: current.config.routes.map((r) => r.name).join(',') })
      } catch (e) {
        if (!(e instanceof ConfigError)) throw e
        for (const i of e.issues) log.error('live route rejected; keeping the current routes', { version: d.version, path: i.path, issue: i.message })
      }
    })
  }

  const get = store.getValue?.bind(store)
  let poller: Poller | undefined
  if (get) {
    poller = poll({ load: async () => (await latest(store, delta.version)).text, apply: (t) => void onText(t).catch((e: unknown) => log.error('could not apply the live routes', { error: e })), intervalMs: o.intervalMs ?? 1000, log, what: 'live routes', fields: { store: store.name } })
  }

  const gateway: Gateway = {
    get config() {
      return current.config
    },
    decide: (view) => current.gateway.decide(view),
    release: (claim) => current.gateway.release(claim),
    normalize: normalizePath,
    close() {
      poller?.stop()
      current.gateway.close()
    },
  }
  return {
    gateway,
    config: () => current.config,
    base: () => base,
    delta: () => delta,
    setBase: (config) => enqueue(() => rebuild(config, delta)),
    async refresh() {
      if (!get) return
      await onText((await latest(store, delta.version)).text)
    },
    close: () => gateway.close(),
  }
}
