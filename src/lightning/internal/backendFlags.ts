/**
 * Command-line flags for the node backends. Only non-secret settings: URLs, socket and file paths.
 * Secrets themselves never travel on the command line (they would show in `ps` and shell history).
 * @module
 */
import type { NodeBackendType } from './backendConfig.ts'

/** flag → [backend type, config key]. */
const table = {
  'lnd-url': ['lnd', 'url'],
  'lnd-macaroon-file': ['lnd', 'macaroonFile'],
  'lnd-tls-cert': ['lnd', 'tlsCertFile'],
  'cln-url': ['cln', 'url'],
  'cln-socket': ['cln', 'socket'],
  'cln-rune-file': ['cln', 'runeFile'],
  'cln-tls-cert': ['cln', 'tlsCertFile'],
  'eclair-url': ['eclair', 'url'],
  'eclair-password-file': ['eclair', 'passwordFile'],
  'phoenixd-url': ['phoenixd', 'url'],
  'phoenixd-password-file': ['phoenixd', 'passwordFile'],
  'lnbits-url': ['lnbits', 'url'],
  'lnbits-key-file': ['lnbits', 'apiKeyFile'],
} as const satisfies Record<string, readonly [NodeBackendType, string]>

type FlagName = keyof typeof table

/** parseArgs options for the backend flags (spread into a command's options). */
export const backendFlagOptions = {
  ...(Object.fromEntries(Object.keys(table).map((k) => [k, { type: 'string' }])) as { [K in FlagName]: { type: 'string' } }),
  'backend-timeout': { type: 'string' },
} as const

export type BackendFlags = { [K in keyof typeof backendFlagOptions]?: string | undefined }

/** Help lines, aligned with the other options of `serve`. */
export const backendFlagHelp = `  --lnd-url <url>              LND REST URL (default https://127.0.0.1:8080)
  --lnd-macaroon-file <file>   invoice macaroon (or set $TURNPIKE_LND_MACAROON to its hex)
  --lnd-tls-cert <file>        LND's tls.cert, pinned as the only trusted certificate
  --cln-url <url>              Core Lightning clnrest URL (with --cln-rune-file or $TURNPIKE_CLN_RUNE)
  --cln-socket <path>          Core Lightning lightning-rpc socket (instead of --cln-url)
  --cln-rune-file <file>       rune for clnrest
  --cln-tls-cert <file>        clnrest CA certificate (ca.pem), pinned
  --eclair-url <url>           Eclair API URL (default http://127.0.0.1:8080)
  --eclair-password-file <f>   Eclair API password (or $TURNPIKE_ECLAIR_PASSWORD)
  --phoenixd-url <url>         phoenixd URL (default http://127.0.0.1:9740)
  --phoenixd-password-file <f> phoenixd http-password-limited-access (or $TURNPIKE_PHOENIXD_PASSWORD)
  --lnbits-url <url>           LNbits instance URL
  --lnbits-key-file <file>     LNbits invoice/read key (or $TURNPIKE_LNBITS_API_KEY)
  --backend-timeout <dur>      per-call timeout for the Lightning backend (default 10s)
`

/**
 * Applies the backend flags to `raw[key]` (`key` is `backend`, or `lightning` when the config file
 * used the alias). Flags for another backend type than the chosen one are reported.
 */
export function applyBackendFlags(raw: Record<string, unknown>, flags: BackendFlags, issues: { path: string; message: string }[]): void {
  const given = (Object.keys(table) as FlagName[]).filter((f) => flags[f] !== undefined)
  if (given.length === 0 && flags['backend-timeout'] === undefined) return
  const key = raw.backend === undefined && raw.lightning !== undefined ? 'lightning' : 'backend'
  const current = raw[key]
  const section: Record<string, unknown> =
    typeof current === 'object' && current !== null ? { ...(current as Record<string, unknown>) } : typeof current === 'string' ? { type: current } : {}
  const type = section.type
  for (const f of given) {
    const [forType, configKey] = table[f]
    if (type === undefined) {
      issues.push({ path: `--${f}`, message: `needs --backend ${forType}` })
    } else if (type !== forType) {
      issues.push({ path: `--${f}`, message: `applies to --backend ${forType}, not ${String(type)}` })
    } else {
      section[configKey] = flags[f]
    }
  }
  if (flags['backend-timeout'] !== undefined) section.timeout = flags['backend-timeout']
  raw[key] = section
}
