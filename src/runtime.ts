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
import type { Store } from './Store.ts'
import { dev, type DevBackend } from './lightning/dev.ts'
import type { Logger } from './internal/log.ts'
import { resolveSecret } from './internal/secret.ts'

export type Runtime = {
  readonly config: Config
  readonly gateway: Gateway.Gateway
  readonly backend: Backend
  /** Set when the backend is the built-in dev node. */
  readonly devNode: DevBackend | undefined
  readonly store: Store
  close(): Promise<void>
}

async function loadDriver<T>(name: string, purpose: string): Promise<T> {
  try {
    return (await import(name)) as T
  } catch (cause) {
    throw new TurnpikeError('TURNPIKE_CONFIG_INVALID', `The ${purpose} needs the "${name}" package: npm install ${name}`, { cause })
  }
}

/** Opens the configured store. Drivers for Redis and PostgreSQL are loaded only when used. */
export async function openStore(s: StoreConfig, dataDir: string): Promise<Store> {
  switch (s.type) {
    case 'memory':
      return (await import('./store/memory.ts')).memory()
    case 'sqlite':
      return (await import('./store/sqlite.ts')).sqlite({ path: s.path ?? join(dataDir, 'turnpike.db') })
    case 'redis': {
      const mod = await loadDriver<{ default: new (url: string, o: object) => unknown }>('ioredis', 'Redis store')
      const client = new mod.default(s.url, { maxRetriesPerRequest: 1, enableOfflineQueue: false })
      const store = (await import('./store/redis.ts')).redis(client as never)
      return { ...store, close: async () => { await store.close(); (client as { quit(): Promise<unknown> }).quit().catch(() => {}) } }
    }
    case 'postgres': {
      const mod = await loadDriver<{ default: { Pool: new (o: object) => { end(): Promise<void> } } }>('pg', 'PostgreSQL store')
      const pool = new mod.default.Pool({ connectionString: s.url, max: 10 })
      const store = (await import('./store/postgres.ts')).postgres(pool as never)
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
  }
  const store = await openStore(config.store, config.dataDir)
  const gateway = Gateway.create({ config, backend, store, secret: secret.key, logger: log })
  return {
    config,
    gateway,
    backend,
    devNode,
    store,
    async close() {
      await store.close()
      await backend.close?.()
    },
  }
}
