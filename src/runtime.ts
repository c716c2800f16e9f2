/**
 * Builds the running parts from a validated config: master secret, store, Lightning backend and
 * the gateway core. Shared by `turnpike serve`, `turnpike demo` and the forward-auth service.
 * @module
 */
import { join } from 'node:path'
import type { Config, StoreConfig } from './Config.ts'
import { ConfigError, TurnpikeError } from './Errors.ts'
import * as Gateway from './Gateway.ts'
import type { Backend } from './Lightning.ts'
import * as Metrics from './Metrics.ts'
import * as GatewayMetrics from './metrics/gateway.ts'
import { macaroonHash } from './page/macaroon.ts'
import type { Store } from './Store.ts'
import { dev, type DevBackend } from './lightning/dev.ts'
import type { Logger } from './internal/log.ts'
import { resolveSecret } from './internal/secret.ts'
import { liveRoutes, type LiveRoutes } from './routes/live.ts'

export type Runtime = {
  readonly config: Config
  readonly gateway: Gateway.Gateway
  readonly backend: Backend
  /** Set when the backend is the built-in dev node. */
  readonly devNode: DevBackend | undefined
  readonly store: Store
  /** This process's metrics (a cluster primary adds its workers' snapshots when it renders). */
  readonly metrics: Metrics.Registry
  readonly gatewayMetrics: GatewayMetrics.GatewayMetrics
  /** The payment hash of a macaroon this gateway minted (its signature verifies), else undefined. */
  macaroonHash(serialized: string): string | undefined
  /** The swappable routing table (admin route changes, SIGHUP reload); `config` is its current config. */
  readonly live?: LiveRoutes
  close(): Promise<void>
}

async function loadDriver<T>(name: string, purpose: string): Promise<T> {
  try {
    return (await import(name)) as T
  } catch (cause) {
    throw new TurnpikeError('TURNPIKE_CONFIG_INVALID', `The ${purpose} needs the "${name}" package: npm install ${name}`, { cause })
  }
}

/**
 * Opens the configured store. Drivers for Redis and PostgreSQL are loaded only when used, with
 * bounded timeouts so an outage fails closed fast (503) and the gateway recovers without a restart.
 * PostgreSQL is migrated here; an unreachable database is logged and retried on first use.
 */
export async function openStore(s: StoreConfig, dataDir: string, log?: Logger): Promise<Store> {
  switch (s.type) {
    case 'memory':
      return (await import('./store/memory.ts')).memory()
    case 'sqlite':
      return (await import('./store/sqlite.ts')).sqlite({ path: s.path ?? join(dataDir, 'turnpike.db') })
    case 'redis': {
      type Client = { on(e: string, f: (e: Error) => void): unknown; once(e: string, f: () => void): unknown; quit(): Promise<unknown>; disconnect(): void; status: string }
      const mod = await loadDriver<{ default: new (url: string, o: object) => Client }>('ioredis', 'Redis store')
      // `?prefix=` picks the key prefix (several deployments on one Redis); the rest goes to ioredis.
      const url = new URL(s.url)
      const prefix = url.searchParams.get('prefix') ?? undefined
      url.searchParams.delete('prefix')
      const client = new mod.default(url.href, {
        maxRetriesPerRequest: 0, enableOfflineQueue: false, connectTimeout: 2_000, commandTimeout: 1_500,
        // A command that timed out was answered as 503 "not used": it must never run after a reconnect.
        autoResendUnfulfilledCommands: false,
        // Reconnect quickly and forever: recovery needs no restart.
        retryStrategy: (times: number) => Math.min(times * 100, 1_000),
      })
      let lastError = 0
      client.on('error', (e) => {
        if (Date.now() - lastError > 10_000) log?.warn('redis connection error (retrying)', { error: e })
        lastError = Date.now()
      })
      // Commands fail fast until connected (no offline queue), so wait briefly for the first connection.
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 3_000)
        client.once('ready', () => (clearTimeout(timer), resolve()))
      })
      const store = (await import('./store/redis.ts')).redis(client as never, prefix === undefined ? {} : { prefix })
      const end = (): void => void (client.status === 'ready' ? client.quit().catch(() => client.disconnect()) : client.disconnect())
      return { ...store, close: async () => { await store.close(); end() } }
    }
    case 'postgres': {
      type Pool = { end(): Promise<void>; on(e: string, f: (e: Error) => void): unknown }
      const mod = await loadDriver<{ default: { Pool: new (o: object) => Pool } }>('pg', 'PostgreSQL store')
      // `?schema=` and `?tablePrefix=` place the tables; the rest goes to pg.
      const url = new URL(s.url)
      const where = Object.fromEntries(['schema', 'tablePrefix'].flatMap((k) => {
        const v = url.searchParams.get(k)
        url.searchParams.delete(k)
        return v === null ? [] : [[k, v]]
      })) as { schema?: string; tablePrefix?: string }
      const pool = new mod.default.Pool({ connectionString: url.href, max: 10, connectionTimeoutMillis: 2_000, query_timeout: 2_000 })
      // An idle connection that breaks (database restart, network cut) must not crash the process.
      pool.on('error', (e) => log?.warn('postgres connection error', { error: e }))
      const store = (await import('./store/postgres.ts')).postgres(pool as never, where)
      try {
        const version = await store.migrate()
        log?.debug('postgres schema ready', { version })
      } catch (e) {
        log?.error('postgres store unavailable at start-up; requests that need it get 503 until it is back', { error: e })
      }
      return { ...store, close: async () => { await store.close(); await pool.end() } }
    }
  }
}

/** Creates the runtime. Refuses to start without an explicitly chosen Lightning backend. */
export async function createRuntime(config: Config, o: { logger: Logger; env?: NodeJS.ProcessEnv }): Promise<Runtime> {
  const log = o.logger
  if (!config.backend) {
    throw new ConfigError([
      {
        path: 'backend',
        message:
          'no Lightning backend configured. Choose one explicitly, e.g. --backend dev for the built-in ' +
          'simulated node (no real money), or set `backend:` in the config file. turnpike never starts a paywall ' +
          'that cannot issue invoices.',
      },
    ])
  }
  const secret = resolveSecret({ env: o.env ?? process.env, secretFile: config.secretFile, dataDir: config.dataDir })
  if (secret.source === 'generated') {
    log.warn('generated a new master secret; keep it to keep issued tokens valid', { path: secret.path })
  } else {
    log.info('master secret loaded', { source: secret.source, ...(secret.path ? { path: secret.path } : {}) })
  }
  let devNode: DevBackend | undefined
  let backend: Backend
  switch (config.backend.type) {
    case 'dev':
      devNode = dev({ dataDir: config.dataDir, network: config.backend.network })
      backend = devNode
      break
    case 'nwc':
    case 'lnurl':
      backend = (await import('./lightning/walletConfig.ts')).createWalletBackend(config.backend, o.env ?? process.env)
      log.info('lightning backend configured', { backend: backend.name })
      break
    default: {
      const built = (await import('./lightning/internal/fromConfig.ts')).createNodeBackend(config.backend, { env: o.env ?? process.env })
      backend = built.backend
      log.info('lightning backend configured', { backend: backend.name, credentials: built.sources.join('; ') })
    }
  }
  const store = await openStore(config.store, config.dataDir, log)
  const metrics = Metrics.create()
  const gatewayMetrics = GatewayMetrics.define(metrics)
  const instrumented = GatewayMetrics.instrument(backend, gatewayMetrics)
  // Routes can change at runtime (admin API, SIGHUP): a core per routing table, swapped atomically (routes/live.ts).
  const live = liveRoutes({
    base: config,
    store,
    log,
    build: (c) => Gateway.create({ config: c, backend: instrumented, store, secret: secret.key, logger: log, observer: GatewayMetrics.observer(gatewayMetrics, c) }),
  })
  await live.refresh().catch((e: unknown) => log.warn('could not read the live routes at start-up; serving the config routes', { error: e }))
  const gateway = live.gateway
  return {
    get config() {
      return live.config()
    },
    gateway,
    live,
    backend,
    devNode,
    store,
    metrics,
    gatewayMetrics,
    macaroonHash: (serialized) => macaroonHash(secret.key, serialized),
    async close() {
      gateway.close()
      await store.close()
      await backend.close?.()
    },
  }
}
