/** `turnpike serve`: the standalone reverse proxy. */
import * as Config from '../Config.ts'
import { ConfigError } from '../Errors.ts'
import { createLogger, type Logger } from '../internal/log.ts'
import { formatPrice } from '../internal/units.ts'
import { createRuntime, type Runtime } from '../runtime.ts'
import { startProxy, type Proxy } from '../proxy/server.ts'
import { parseFlags, readConfigFile } from './args.ts'

export const serveHelp = `turnpike serve — put a Lightning paywall in front of an HTTP upstream

Usage:
  turnpike serve --backend dev --upstream http://127.0.0.1:3000 --price 10sat
  turnpike serve --config turnpike.yaml

Options:
  --upstream <url>       upstream base URL for every route without its own
  --price <price>        price of the catch-all route: 10sat, 2500msat (not with config routes)
  --access <model>       per-request (default) or pass:<duration>, e.g. pass:1h
  --listen <addr>        host:port to listen on (default 127.0.0.1:8402)
  --backend <type>       Lightning backend; required. "dev" = built-in simulated node (no real money)
  --dev-network <net>    dev node network: regtest (default), testnet, signet, mainnet
  --dev-pay-open         let non-loopback clients use /.turnpike/dev/pay (dev backend only)
  --store <store>        sqlite (default), memory, redis://…, postgres://…
  --config <file>        YAML config file with routes (flags override its top-level settings)
  --data-dir <dir>       data directory (default ./.turnpike, or $TURNPIKE_DATA_DIR)
  --secret-file <file>   file holding the master secret (or set $TURNPIKE_SECRET)
  --lsat                 also send Aperture's leading LSAT challenge line
  --log-format <fmt>     text (default) or json
  -h, --help             show this help
`

export const serveOptions = {
  upstream: { type: 'string' },
  price: { type: 'string' },
  access: { type: 'string' },
  listen: { type: 'string' },
  backend: { type: 'string' },
  'dev-network': { type: 'string' },
  'dev-pay-open': { type: 'boolean' },
  store: { type: 'string' },
  config: { type: 'string' },
  'data-dir': { type: 'string' },
  'secret-file': { type: 'string' },
  lsat: { type: 'boolean' },
  'log-format': { type: 'string' },
} as const

type Flags = { [K in keyof typeof serveOptions]?: (typeof serveOptions)[K]['type'] extends 'boolean' ? boolean : string }

/** Merges a config file and flags into one raw object for Config.parse. */
export function rawConfig(flags: Flags, env: NodeJS.ProcessEnv): Record<string, unknown> {
  const raw: Record<string, unknown> = flags.config ? readConfigFile(flags.config) : {}
  const issues: { path: string; message: string }[] = []
  if (flags.upstream !== undefined) raw.upstream = flags.upstream
  if (flags.listen !== undefined) raw.listen = flags.listen
  if (flags['data-dir'] !== undefined) raw.dataDir = flags['data-dir']
  else if (raw.dataDir === undefined && env.TURNPIKE_DATA_DIR) raw.dataDir = env.TURNPIKE_DATA_DIR
  if (flags['secret-file'] !== undefined) raw.secretFile = flags['secret-file']
  if (flags.backend !== undefined || flags['dev-network'] !== undefined) {
    const prior = typeof raw.backend === 'object' && raw.backend !== null ? raw.backend : typeof raw.backend === 'string' ? { type: raw.backend } : {}
    raw.backend = { ...prior, ...(flags.backend ? { type: flags.backend } : {}), ...(flags['dev-network'] ? { network: flags['dev-network'] } : {}) }
  }
  if (flags.store !== undefined) {
    const s = flags.store
    raw.store = /^rediss?:/.test(s) ? { type: 'redis', url: s } : /^postgres(ql)?:/.test(s) ? { type: 'postgres', url: s } : s.endsWith('.db') ? { type: 'sqlite', path: s } : s
  }
  if (flags['log-format'] !== undefined) raw.log = { ...(raw.log as object), format: flags['log-format'] }
  if (flags.lsat) raw.challenge = { ...(raw.challenge as object), lsat: true }
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
      access: r.access.kind === 'pass' ? `pass ${r.access.seconds}s` : 'per-request',
      upstream: r.upstream ?? config.upstream,
    })
  }
  if (rt.devNode) {
    log.warn(
      `DEV BACKEND: invoices are signed by a simulated ${rt.devNode.network} node inside turnpike. NO REAL MONEY MOVES. ` +
        `Pay with: turnpike pay <invoice> --gateway ${proxy.url}`,
    )
  }
}

/** Starts runtime + proxy from raw config; used by serve and demo. */
export async function start(raw: Record<string, unknown>, log?: Logger) {
  const config = Config.parse(raw)
  const logger = log ?? createLogger({ format: config.log.format })
  const rt = await createRuntime(config, { logger })
  try {
    const proxy = await startProxy(rt, logger)
    return { rt, proxy, logger }
  } catch (e) {
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
  const { rt, proxy, logger } = await start(rawConfig(values as Flags, process.env))
  banner(rt, proxy, logger)
  await untilSignal()
  logger.info('shutting down')
  await proxy.close()
  await rt.close()
  return 0
}

/** Resolves on SIGINT or SIGTERM. */
export function untilSignal(): Promise<void> {
  return new Promise((resolve) => {
    process.once('SIGINT', () => resolve())
    process.once('SIGTERM', () => resolve())
  })
}
