/**
 * `turnpike doctor`: checks the configured Lightning backend the way the gateway will use it —
 * credentials readable, node reachable, the node's identity and network, an invoice created and
 * looked up — and says plainly what is wrong. Exit codes: 0 all checks passed (warnings allowed),
 * 1 a check failed, 2 usage error, 78 invalid configuration.
 * @module
 */
import { randomBytes } from 'node:crypto'
import * as Bolt11 from '../Bolt11.ts'
import * as Config from '../Config.ts'
import { ConfigError, is } from '../Errors.ts'
import type { Backend, NodeInfo } from '../Lightning.ts'
import { applyBackendFlags, backendFlagHelp, backendFlagOptions, type BackendFlags } from '../lightning/internal/backendFlags.ts'
import { parseFlags, readConfigFile } from './args.ts'

export const doctorHelp = `turnpike doctor — check the Lightning backend: credentials, connectivity, node and network

Usage:
  turnpike doctor --config turnpike.yaml
  turnpike doctor --backend lnd --lnd-url https://127.0.0.1:8080 \\
                  --lnd-macaroon-file invoice.macaroon --lnd-tls-cert tls.cert --network mainnet

Options:
  --config <file>        the config file turnpike serve uses (its backend section is checked)
  --backend <type>       dev, lnd, cln, eclair, phoenixd or lnbits (overrides the config file)
  --network <net>        the network the node must be on: mainnet, testnet, signet or regtest
                         (default: the backend section's network, if set)
  --skip-invoice         do not create the 1 sat test invoice (it expires unpaid after 60 s)
  --json                 print the results as JSON
  -h, --help             show this help
${backendFlagHelp}
Exit codes: 0 all checks passed, 1 a check failed, 2 usage error, 78 invalid configuration.
`

export const doctorOptions = {
  config: { type: 'string' },
  backend: { type: 'string' },
  network: { type: 'string' },
  'dev-network': { type: 'string' },
  'skip-invoice': { type: 'boolean' },
  json: { type: 'boolean' },
  ...backendFlagOptions,
} as const

export type CheckStatus = 'ok' | 'warn' | 'fail' | 'skip'
export type Check = { readonly name: string; readonly status: CheckStatus; readonly detail: string }
export type Report = { readonly ok: boolean; readonly backend: string | undefined; readonly checks: readonly Check[] }

type Flags = BackendFlags & { config?: string; backend?: string; network?: string; 'dev-network'?: string; 'skip-invoice'?: boolean }

const networks = ['mainnet', 'testnet', 'signet', 'regtest']
/** Node spellings → turnpike's network names. */
const networkAliases: Record<string, string> = { bitcoin: 'mainnet', main: 'mainnet', testnet3: 'testnet', testnet4: 'testnet', test: 'testnet' }
const normalizeNetwork = (n: string): string => networkAliases[n.toLowerCase()] ?? n.toLowerCase()

/** The config the checks run on: the file and flags, with placeholders for what a check does not need. */
export function doctorConfig(flags: Flags): Config.Config {
  const raw: Record<string, unknown> = flags.config ? readConfigFile(flags.config) : {}
  const issues: { path: string; message: string }[] = []
  if (flags.backend !== undefined || flags['dev-network'] !== undefined) {
    const key = raw.backend === undefined && raw.lightning !== undefined ? 'lightning' : 'backend'
    const prior = typeof raw[key] === 'object' && raw[key] !== null ? raw[key] : typeof raw[key] === 'string' ? { type: raw[key] } : {}
    const sameType = flags.backend === undefined || (prior as { type?: unknown }).type === flags.backend
    raw[key] = { ...(sameType ? prior : {}), ...(flags.backend ? { type: flags.backend } : {}), ...(flags['dev-network'] ? { network: flags['dev-network'] } : {}) }
  }
  applyBackendFlags(raw, flags, issues)
  if (flags.network !== undefined && !networks.includes(flags.network)) issues.push({ path: '--network', message: `must be one of ${networks.join(', ')}` })
  if (issues.length > 0) throw new ConfigError(issues)
  // Routes and upstream are not what doctor checks; placeholders keep parse() focused on the rest.
  if (raw.routes === undefined) raw.routes = [{ name: 'doctor', path: '/*', price: '1sat' }]
  if (raw.upstream === undefined && raw.forwardAuth !== true) raw.upstream = 'http://127.0.0.1:9'
  return Config.parse(raw)
}

/**
 * Runs the checks against a backend. `expectedNetwork` comes from `--network` or the config.
 * Never throws for backend failures: each becomes a failed check.
 */
export async function runChecks(
  backend: Backend,
  o: { expectedNetwork?: string | undefined; createInvoice?: boolean; sources?: readonly string[] },
): Promise<Check[]> {
  const checks: Check[] = []
  const add = (name: string, status: CheckStatus, detail: string): void => void checks.push({ name, status, detail })
  for (const s of o.sources ?? []) add('credentials', 'ok', s)

  let info: NodeInfo | undefined
  let reachable = false
  if (backend.getInfo !== undefined) {
    const t = performance.now()
    try {
      info = await backend.getInfo()
      reachable = true
      add('node', 'ok', `${info.pubkey}${info.alias ? ` (${info.alias})` : ''} on ${info.network}, answered in ${ms(t)}`)
    } catch (e) {
      if (is(e, 'TURNPIKE_BACKEND_ERROR')) {
        reachable = true
        add('node', 'warn', `reachable, but it refused node info: ${explain(e)}. Fine if the credential is invoice-only (least privilege); the network is then read from the test invoice.`)
      } else {
        add('connection', 'fail', explain(e))
        return checks
      }
    }
  }

  let invoiceNetwork: string | undefined
  if (o.createInvoice !== false) {
    const t = performance.now()
    try {
      const inv = await backend.createInvoice({ amountMsat: 1000n, description: 'turnpike doctor (no need to pay)', expirySeconds: 60 })
      reachable = true
      const d = Bolt11.decode(inv.paymentRequest)
      invoiceNetwork = d.network
      add('invoice', 'ok', `created a 1 sat test invoice on ${d.network} signed by ${d.payee} in ${ms(t)} (it expires unpaid in 60 s)`)
      if (info !== undefined && d.payee !== info.pubkey) {
        add('invoice', 'fail', `the invoice is signed by ${d.payee}, not by the node's key ${info.pubkey}`)
      }
      const t2 = performance.now()
      const s = await backend.lookupInvoice(inv.paymentHash)
      add('lookup', s.status === 'open' ? 'ok' : 'fail', s.status === 'open' ? `the test invoice reads back as open in ${ms(t2)}` : `the test invoice reads back as ${s.status}, expected open`)
    } catch (e) {
      add(reachable ? 'invoice' : 'connection', 'fail', explain(e))
      if (!reachable) return checks
    }
  } else {
    const t = performance.now()
    try {
      await backend.lookupInvoice(randomBytes(32).toString('hex'))
      add('lookup', 'fail', 'a random payment hash was reported as known')
    } catch (e) {
      if (is(e, 'TURNPIKE_INVOICE_UNKNOWN')) add('lookup', 'ok', `invoice lookups work (unknown hash answered in ${ms(t)}); invoice creation not tested (--skip-invoice)`)
      else add(reachable ? 'lookup' : 'connection', 'fail', explain(e))
    }
  }

  const seen = info !== undefined && networks.includes(normalizeNetwork(info.network)) ? normalizeNetwork(info.network) : invoiceNetwork
  if (o.expectedNetwork !== undefined) {
    if (seen === undefined) add('network', 'warn', `cannot tell the node's network (expected ${o.expectedNetwork})`)
    else if (seen !== o.expectedNetwork) add('network', 'fail', `the node is on ${seen}, but ${o.expectedNetwork} is expected`)
    else add('network', 'ok', `on ${seen} as expected`)
  } else if (seen !== undefined) {
    add('network', seen === 'mainnet' ? 'ok' : 'warn', seen === 'mainnet' ? 'mainnet: real money' : `${seen}: not real money (set backend.network or --network to assert it)`)
  }
  return checks
}

/** Builds the backend for the config and runs the checks; ConfigError propagates (exit 78). */
export async function diagnose(config: Config.Config, o: { env: NodeJS.ProcessEnv; expectedNetwork?: string | undefined; createInvoice?: boolean }): Promise<Report> {
  const cfg = config.backend
  if (cfg === undefined) {
    throw new ConfigError([{ path: 'backend', message: 'no Lightning backend configured: use --backend or the config file\'s backend section' }])
  }
  let backend: Backend
  let sources: readonly string[] = []
  let expected = o.expectedNetwork
  if (cfg.type === 'dev') {
    const { dev } = await import('../lightning/dev.ts')
    backend = dev({ network: cfg.network })
    sources = ['dev backend: a simulated node inside turnpike, no real money']
  } else if (cfg.type === 'lnd' || cfg.type === 'cln' || cfg.type === 'eclair' || cfg.type === 'phoenixd' || cfg.type === 'lnbits') {
    const built = (await import('../lightning/internal/fromConfig.ts')).createNodeBackend(cfg, { env: o.env })
    backend = built.backend
    sources = built.sources
    expected ??= cfg.network
  } else {
    // Other backend families (wallets) are built by the runtime's own factory.
    const { createWalletBackend } = await import('../lightning/walletConfig.ts')
    backend = createWalletBackend(cfg as never, o.env)
  }
  try {
    const checks = await runChecks(backend, { expectedNetwork: expected, createInvoice: o.createInvoice ?? true, sources })
    return { ok: checks.every((c) => c.status !== 'fail'), backend: backend.name, checks }
  } finally {
    await backend.close?.()
  }
}

export async function doctor(argv: string[], out: NodeJS.WritableStream = process.stdout, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const { values } = parseFlags(argv, doctorOptions, 'doctor')
  if (values.help) {
    out.write(doctorHelp)
    return 0
  }
  const flags = values as Flags & { json?: boolean }
  let report: Report
  try {
    const config = doctorConfig(flags)
    report = await diagnose(config, { env, expectedNetwork: flags.network, createInvoice: flags['skip-invoice'] !== true })
  } catch (e) {
    if (!(e instanceof ConfigError) || !flags.json) throw e
    out.write(`${JSON.stringify({ ok: false, backend: undefined, checks: e.issues.map((i) => ({ name: 'config', status: 'fail', detail: `${i.path}: ${i.message}` })) }, null, 2)}\n`)
    return 78
  }
  if (flags.json) {
    out.write(`${JSON.stringify(report, null, 2)}\n`)
  } else {
    out.write(`turnpike doctor: ${report.backend} backend\n`)
    const mark: Record<CheckStatus, string> = { ok: '✓', warn: '!', fail: '✗', skip: '-' }
    for (const c of report.checks) out.write(`  ${mark[c.status]} ${c.name.padEnd(12)} ${c.detail}\n`)
    out.write(report.ok ? 'All checks passed.\n' : 'Some checks failed.\n')
  }
  return report.ok ? 0 : 1
}

function ms(t: number): string {
  return `${Math.round(performance.now() - t)} ms`
}

/** An operator-facing explanation: the client-safe message plus the first cause (node text, codes). */
function explain(e: unknown): string {
  if (!(e instanceof Error)) return String(e)
  const parts = [e.message]
  let c = (e as { cause?: unknown }).cause
  for (let i = 0; c instanceof Error && i < 3; i++, c = (c as { cause?: unknown }).cause) {
    const code = (c as { code?: unknown }).code
    parts.push(`${c.message}${typeof code === 'string' ? ` [${code}]` : ''}`)
  }
  return parts.join(' — ')
}

