/**
 * SIGHUP reload of `turnpike serve --config <file>` (single process): the file is read and validated
 * again; when valid, routes, prices, challenge settings and the other per-request settings take
 * effect at once (routes/live.ts swaps the core; live admin route changes stay applied on top).
 * Settings bound at start-up (listen address, backend, store, …) keep their running values and the
 * log says a restart is needed. An invalid file changes nothing; every issue is logged.
 * Chained with, not replacing, the TLS certificate reload on the same signal (proxy/tls.ts).
 * @module
 */
import * as Config from '../Config.ts'
import { ConfigError } from '../Errors.ts'
import type { Logger } from '../internal/log.ts'
import type { LiveRoutes } from './live.ts'

/** Settings read once at start-up: a change needs a restart. */
export const restartKeys = ['listen', 'backend', 'store', 'dataDir', 'secretFile', 'admin', 'tls', 'h2c', 'workers', 'forwardAuth', 'trustProxy', 'upstreamTimeoutMs', 'log', 'manifest', 'page', 'dev'] as const

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a, (_k, v) => (typeof v === 'bigint' ? v.toString() : v)) === JSON.stringify(b, (_k, v) => (typeof v === 'bigint' ? v.toString() : v))

/** Re-reads the config with `load` and applies it; never throws (logs instead). */
export async function reload(load: () => Record<string, unknown>, live: LiveRoutes, log: Logger): Promise<boolean> {
  let next: Config.Config
  try {
    next = Config.parse(load())
  } catch (e) {
    if (e instanceof ConfigError) for (const i of e.issues) log.error('config reload rejected; keeping the running config', { path: i.path, issue: i.message })
    else log.error('config reload failed; keeping the running config', { error: e })
    return false
  }
  const running = live.base()
  const pinned: Record<string, unknown> = {}
  const changed: string[] = []
  for (const k of restartKeys) {
    if (!same(next[k], running[k])) changed.push(k)
    pinned[k] = running[k]
  }
  if (changed.length > 0) log.warn(`config reload: ${changed.join(', ')} changed; these need a restart and keep their running values`, { keys: changed.join(',') })
  try {
    await live.setBase(Object.freeze({ ...next, ...pinned }) as Config.Config)
  } catch (e) {
    if (e instanceof ConfigError) for (const i of e.issues) log.error('config reload rejected (live routes no longer validate); keeping the running config', { path: i.path, issue: i.message })
    else log.error('config reload failed; keeping the running config', { error: e })
    return false
  }
  log.info('config reloaded', { routes: live.config().routes.map((r) => `${r.name}=${r.priceMsat}msat`).join(',') })
  return true
}

/** Reloads on every SIGHUP (added beside other SIGHUP listeners); returns the remover. */
export function onSighup(load: () => Record<string, unknown>, live: LiveRoutes, log: Logger): () => void {
  let running: Promise<unknown> = Promise.resolve()
  const handler = (): void => {
    log.info('SIGHUP: reloading the config file')
    running = running.then(() => reload(load, live, log))
  }
  process.on('SIGHUP', handler)
  log.info('SIGHUP reloads the config file')
  return () => void process.off('SIGHUP', handler)
}
