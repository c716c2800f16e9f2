/** `turnpike serve`: the standalone reverse proxy. */
import * as Config from '../Config.ts'
import { ConfigError } from '../Errors.ts'
import { createLogger, type Logger } from '../internal/log.ts'
import { formatPrice } from '../internal/units.ts'
import { createRuntime, type Runtime } from '../runtime.ts'
import { startProxy, type Proxy } from '../proxy/server.ts'
import { paths as forwardAuthPaths, startForwardAuth } from '../forward-auth/service.ts'
import { parseFlags, readConfigFile } from './args.ts'
import { storeFromString } from '../store/url.ts'
import { clustered } from '../cluster.ts'
import { applyBackendFlags, backendFlagHelp, backendFlagOptions } from '../lightning/internal/backendFlags.ts'

export const serveHelp = `turnpike serve — put a Lightning paywall in front of an HTTP upstream

Usage:
  turnpike serve --backend dev --upstream http://127.0.0.1:3000 --price 10sat
  turnpike serve --config turnpike.yaml

Options:
  --upstream <url>       upstream base URL for every route without its own
  --price <price>        price of the catch-all route: 10sat, 2500msat (not with config routes)
  --access <model>       per-request (default) or pass:<duration>, e.g. pass:1h
  --listen <addr>        host:port to listen on (default 127.0.0.1:8402)
  --tls-cert <file>      PEM certificate: serve HTTPS (HTTP/1.1 and HTTP/2, gRPC) on the listen port;
                         reloaded with the key on SIGHUP (dev pair: turnpike cert --self-signed)
  --tls-key <file>       PEM private key for --tls-cert
  --h2c                  also accept cleartext HTTP/2 (gRPC with prior knowledge) on the listen port
  --backend <type>       Lightning backend; required. "dev" = built-in simulated node (no real money)
  --dev-network <net>    dev node network: regtest (default), testnet, signet, mainnet
  --dev-pay-open         let non-loopback clients use /.turnpike/dev/pay (dev backend only)
  --store <store>        sqlite (default), sqlite:<path>, memory, redis://…, postgres://…
  --config <file>        YAML config file with routes (flags override its top-level settings)
  --data-dir <dir>       data directory (default ./.turnpike, or $TURNPIKE_DATA_DIR)
  --secret-file <file>   file holding the master secret (or set $TURNPIKE_SECRET)
  --lsat                 also send Aperture's leading LSAT challenge line
  --forward-auth         run as a forward-auth verdict service for nginx/Caddy/Traefik/Envoy (no upstream)
  --workers <n|auto>     worker processes sharing the listen port (node:cluster); default 1
  --log-format <fmt>     text (default) or json
  --admin <addr>         admin listener (metrics, admin API, dashboard), e.g. 127.0.0.1:9402
  --dry-run              shadow mode for every route: evaluate and count, never block
  -h, --help             show this help

Lightning node backends (--backend lnd|cln|eclair|phoenixd|lnbits); secrets come from files or the
environment, never from flags:
${backendFlagHelp}`

export const serveOptions = {
  upstream: { type: 'string' },
  price: { type: 'string' },
  access: { type: 'string' },
  listen: { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  h2c: { type: 'boolean' },
  backend: { type: 'string' },
  'dev-network': { type: 'string' },
  'dev-pay-open': { type: 'boolean' },
  store: { type: 'string' },
  config: { type: 'string' },
  'data-dir': { type: 'string' },
  'secret-file': { type: 'string' },
  lsat: { type: 'boolean' },
  'forward-auth': { type: 'boolean' },
  'log-format': { type: 'string' },
  admin: { type: 'string' },
  'dry-run': { type: 'boolean' },
  workers: { type: 'string' },
  ...backendFlagOptions,
} as const

type Flags = { [K in keyof typeof serveOptions]?: (typeof serveOptions)[K]['type'] extends 'boolean' ? boolean : string }

/** Merges a config file and flags into one raw object for Config.parse. */
export function rawConfig(flags: Flags, env: NodeJS.ProcessEnv): Record<string, unknown> {
  const raw: Record<string, unknown> = flags.config ? readConfigFile(flags.config) : {}
  const issues: { path: string; message: string }[] = []
  if (flags.upstream !== undefined) raw.upstream = flags.upstream
  if (flags.listen !== undefined) raw.listen = flags.listen
  if (flags['tls-cert'] !== undefined || flags['tls-key'] !== undefined) {
    raw.tls = { ...(typeof raw.tls === 'object' ? (raw.tls as object) : {}), ...(flags['tls-cert'] !== undefined ? { certFile: flags['tls-cert'] } : {}), ...(flags['tls-key'] !== undefined ? { keyFile: flags['tls-key'] } : {}) }
  }
  if (flags.h2c) raw.h2c = true
  if (flags['data-dir'] !== undefined) raw.dataDir = flags['data-dir']
  else if (raw.dataDir === undefined && env.TURNPIKE_DATA_DIR) raw.dataDir = env.TURNPIKE_DATA_DIR
  if (flags['secret-file'] !== undefined) raw.secretFile = flags['secret-file']
  if (flags.backend !== undefined || flags['dev-network'] !== undefined) {
    const key = raw.backend === undefined && raw.lightning !== undefined ? 'lightning' : 'backend' // keep the file's spelling
    const prior = typeof raw[key] === 'object' && raw[key] !== null ? raw[key] : typeof raw[key] === 'string' ? { type: raw[key] } : {}
    raw[key] = { ...prior, ...(flags.backend ? { type: flags.backend } : {}), ...(flags['dev-network'] ? { network: flags['dev-network'] } : {}) }
  }
  applyBackendFlags(raw, flags, issues)
  if (flags.store !== undefined) {
    const s = flags.store
    raw.store = storeFromString(s)
  }
  if (flags.admin !== undefined) raw.admin = { ...(typeof raw.admin === 'object' ? (raw.admin as object) : {}), listen: flags.admin }
  if (flags['dry-run']) raw.dryRun = true
  if (flags['log-format'] !== undefined) raw.log = { ...(raw.log as object), format: flags['log-format'] }
  if (flags.workers !== undefined) raw.workers = flags.workers
  if (flags.lsat) raw.challenge = { ...(raw.challenge as object), lsat: true }
  if (flags['forward-auth']) raw.forwardAuth = true
  if (flags['dev-pay-open']) raw.dev = { ...(raw.dev as object), payOpen: true }
  if (flags.price !== undefined) {
    if (raw.routes !== undefined) issues.push({ path: '--price', message: 'cannot be combined with routes from --config; set prices per route' })
    else raw.routes = [{ name: 'default', path: '/*', price: flags.price, ...(flags.access ? { access: flags.access } : {}) }]
  } else if (flags.access !== undefined) {
    issues.push({ path: '--access', message: 'needs --price (with a config file, set access per route)' })
  }
  if (issues.length > 0) throw new ConfigError(issues)
  return raw
}

/** Prints what is running, plainly, including that the dev node moves no real money. */
export function banner(rt: Runtime, proxy: Proxy, log: Logger): void {
  const { config } = rt
  log.info(`turnpike listening on ${proxy.url}`, { backend: rt.backend.name, store: rt.store.name })
  for (const r of config.routes) {
    log.info('route', {
      name: r.name,
      match: `${r.host ?? '*'}${r.path}${r.methods ? ` [${r.methods.join(',')}]` : ''}`,
      price: r.priceMsat === 0n ? 'free' : formatPrice(r.priceMsat),
      access: r.access.kind === 'pass' ? `pass ${r.access.seconds}s` : r.access.kind === 'credits' ? `credits ${r.access.amount} ${r.access.unit}` : 'per-request',
      ...(config.forwardAuth ? {} : { upstream: r.upstream ?? config.upstream }),
    })
  }
  if (config.forwardAuth) {
    log.info('forward-auth endpoints', { ...forwardAuthPaths, trusted: config.trustProxy.length > 0 ? config.trustProxy.join(',') : 'loopback only' })
  }
  if (rt.devNode) {
    log.warn(
      `DEV BACKEND: invoices are signed by a simulated ${rt.devNode.network} node inside turnpike. NO REAL MONEY MOVES. ` +
        `Pay with: turnpike pay <invoice> --gateway ${proxy.url}`,
    )
  }
}

/** Starts runtime + proxy from raw config; used by serve and demo. */
export async function start(raw: Record<string, unknown>, log?: Logger, o: { admin?: boolean } = {}) {
  const config = Config.parse(raw)
  const logger = log ?? createLogger({ format: config.log.format })
  const rt = await createRuntime(config, { logger })
  let proxy: Proxy | undefined
  try {
    proxy = config.forwardAuth ? await startForwardAuth(rt, logger) : await startProxy(rt, logger)
    const admin = config.admin && o.admin !== false ? await (await import('../admin/server.ts')).startAdmin(rt, logger) : undefined
    return { rt, proxy, admin, logger }
  } catch (e) {
    await proxy?.close()
    await rt.close()
    throw e
  }
}

export async function serve(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, serveOptions, 'serve')
  if (values.help) {
    process.stdout.write(serveHelp)
    return 0
  }
  const raw = rawConfig(values as Flags, process.env)
  // `--workers N`: a node:cluster primary, or one of its workers (src/cluster.ts).
  const code = await clustered(raw, values.config ? () => rawConfig(values as Flags, process.env) : undefined)
  if (code !== undefined) return code
  const { rt, proxy, admin, logger } = await start(raw)
  banner(rt, proxy, logger)
  // SIGHUP re-reads --config (routes/reload.ts); beside the TLS certificate reload, not instead of it.
  const stopReload = values.config && rt.live ? (await import('../routes/reload.ts')).onSighup(() => rawConfig(values as Flags, process.env), rt.live, logger) : undefined
  await untilSignal()
  stopReload?.()
  logger.info('shutting down; finishing in-flight requests')
  await drain(proxy.server, 10_000)
  await admin?.close()
  await proxy.close()
  await rt.close()
  return 0
}

/** Stops accepting, closes idle keep-alive connections, and waits up to `graceMs` for in-flight requests. */
export function drain(server: import('node:http').Server, graceMs: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, graceMs)
    timer.unref()
    server.close(() => (clearTimeout(timer), resolve()))
    server.closeIdleConnections()
  })
}

/** Resolves on SIGINT or SIGTERM. */
export function untilSignal(): Promise<void> {
  return new Promise((resolve) => {
    process.once('SIGINT', () => resolve())
    process.once('SIGTERM', () => resolve())
  })
}
