/**
 * The `backend:` config section for real nodes (lnd, cln, eclair, phoenixd, lnbits): validation
 * with every issue reported at its path. Credentials come from files or environment variables
 * only, never from the config text or the command line; see {@link credentialEnv}.
 * @module
 */
import type { Network } from '../../Bolt11.ts'
import { parseDuration } from '../../internal/units.ts'

type Common = {
  /** Per-call timeout in ms (config `timeout`, default 10s). */
  readonly timeoutMs: number
  /** Expected node network; `turnpike doctor` checks it when set. */
  readonly network: Network | undefined
}

export type LndBackendConfig = Common & {
  readonly type: 'lnd'
  readonly url: string
  /** Macaroon file (binary or hex); else `$TURNPIKE_LND_MACAROON` (hex). */
  readonly macaroonFile: string | undefined
  /** `tls.cert`, pinned; required for https unless the node has a publicly trusted certificate. */
  readonly tlsCertFile: string | undefined
}

export type ClnBackendConfig = Common & {
  readonly type: 'cln'
  /** clnrest base URL; exactly one of `url` and `socket`. */
  readonly url: string | undefined
  /** Path of `lightning-rpc` (JSON-RPC over a unix socket, no rune needed). */
  readonly socket: string | undefined
  /** Rune file for clnrest; else `$TURNPIKE_CLN_RUNE`. */
  readonly runeFile: string | undefined
  /** clnrest's CA certificate (`ca.pem`) for https, pinned. */
  readonly tlsCertFile: string | undefined
}

export type EclairBackendConfig = Common & {
  readonly type: 'eclair'
  readonly url: string
  /** API password file; else `$TURNPIKE_ECLAIR_PASSWORD`. */
  readonly passwordFile: string | undefined
}

export type PhoenixdBackendConfig = Common & {
  readonly type: 'phoenixd'
  readonly url: string
  /** `http-password-limited-access` file; else `$TURNPIKE_PHOENIXD_PASSWORD`. */
  readonly passwordFile: string | undefined
}

export type LnbitsBackendConfig = Common & {
  readonly type: 'lnbits'
  readonly url: string
  /** Invoice/read key file; else `$TURNPIKE_LNBITS_API_KEY`. */
  readonly apiKeyFile: string | undefined
}

export type NodeBackendConfig = LndBackendConfig | ClnBackendConfig | EclairBackendConfig | PhoenixdBackendConfig | LnbitsBackendConfig

export type NodeBackendType = NodeBackendConfig['type']

export const nodeBackendTypes: readonly NodeBackendType[] = ['lnd', 'cln', 'eclair', 'phoenixd', 'lnbits']

/** Backends that invoice whole satoshis only (route prices must be whole sats). */
export const satOnlyBackends: readonly NodeBackendType[] = ['phoenixd', 'lnbits']

/** The environment variable holding each backend's secret when no file is configured. */
export const credentialEnv: Readonly<Record<NodeBackendType, { key: string; file: string; env: string; what: string }>> = {
  lnd: { key: 'macaroon', file: 'macaroonFile', env: 'TURNPIKE_LND_MACAROON', what: 'macaroon (hex)' },
  cln: { key: 'rune', file: 'runeFile', env: 'TURNPIKE_CLN_RUNE', what: 'rune' },
  eclair: { key: 'password', file: 'passwordFile', env: 'TURNPIKE_ECLAIR_PASSWORD', what: 'API password' },
  phoenixd: { key: 'password', file: 'passwordFile', env: 'TURNPIKE_PHOENIXD_PASSWORD', what: 'limited-access password' },
  lnbits: { key: 'apiKey', file: 'apiKeyFile', env: 'TURNPIKE_LNBITS_API_KEY', what: 'invoice/read API key' },
}

const defaultUrls: Readonly<Record<NodeBackendType, string | undefined>> = {
  lnd: 'https://127.0.0.1:8080',
  cln: undefined,
  eclair: 'http://127.0.0.1:8080',
  phoenixd: 'http://127.0.0.1:9740',
  lnbits: undefined,
}

const networks = ['mainnet', 'testnet', 'signet', 'regtest'] as const
const commonKeys = ['type', 'url', 'timeout', 'network']
const keysByType: Readonly<Record<NodeBackendType, readonly string[]>> = {
  lnd: [...commonKeys, 'macaroonFile', 'tlsCertFile'],
  cln: [...commonKeys, 'socket', 'runeFile', 'tlsCertFile'],
  eclair: [...commonKeys, 'passwordFile'],
  phoenixd: [...commonKeys, 'passwordFile'],
  lnbits: [...commonKeys, 'apiKeyFile'],
}
/** Inline secrets people will try; each is refused with the file/env alternative spelled out. */
const inlineSecrets = ['macaroon', 'rune', 'password', 'apiKey', 'api_key', 'key', 'adminKey', 'invoiceKey']

type Issue = { path: string; message: string }

/**
 * Validates one node backend section (`obj.type` is one of {@link nodeBackendTypes}), pushing
 * issues with paths under `at` (`backend` or `lightning`).
 */
export function parseNodeBackend(obj: Record<string, unknown>, at: string, issues: Issue[]): NodeBackendConfig {
  const type = obj.type as NodeBackendType
  const cred = credentialEnv[type]
  const allowed = keysByType[type]
  for (const k of Object.keys(obj)) {
    if (allowed.includes(k)) continue
    if (inlineSecrets.includes(k)) {
      issues.push({
        path: `${at}.${k}`,
        message: `secrets are not accepted in the config; put the ${cred.what} in a file (${at}.${cred.file}) or in $${cred.env}`,
      })
    } else {
      issues.push({ path: `${at}.${k}`, message: `unknown key for ${type} (allowed: ${allowed.join(', ')})` })
    }
  }
  const url = urlOf(obj.url ?? defaultUrls[type], `${at}.url`, issues)
  if (url !== undefined && type === 'lnd' && url.startsWith('http:') && !isLoopback(url)) {
    issues.push({ path: `${at}.url`, message: 'lnd speaks https; plain http would send the macaroon in clear text' })
  }
  const file = (k: string): string | undefined => {
    const v = obj[k]
    if (v === undefined) return undefined
    if (typeof v !== 'string' || v.trim() === '') {
      issues.push({ path: `${at}.${k}`, message: 'must be a file path' })
      return undefined
    }
    return v
  }
  let timeoutMs = 10_000
  if (obj.timeout !== undefined) {
    const s = parseDuration(obj.timeout as string | number)
    if (s === undefined) issues.push({ path: `${at}.timeout`, message: 'must be a duration like 5s or 1m' })
    else timeoutMs = s * 1000
  }
  let network: Network | undefined
  if (obj.network !== undefined) {
    if (!networks.includes(obj.network as Network)) issues.push({ path: `${at}.network`, message: `must be one of ${networks.join(', ')}` })
    else network = obj.network as Network
  }
  const common = { timeoutMs, network }
  switch (type) {
    case 'lnd':
      return { type, url: url ?? '', macaroonFile: file('macaroonFile'), tlsCertFile: file('tlsCertFile'), ...common }
    case 'cln': {
      const socket = file('socket')
      if ((obj.url === undefined) === (obj.socket === undefined)) {
        issues.push({ path: `${at}.url`, message: 'set exactly one of url (clnrest) and socket (path of lightning-rpc)' })
      }
      if (socket !== undefined && (obj.runeFile !== undefined || obj.tlsCertFile !== undefined)) {
        issues.push({ path: `${at}.socket`, message: 'the unix socket needs no rune or certificate; remove runeFile/tlsCertFile or use url' })
      }
      return { type, url: obj.url === undefined ? undefined : url, socket, runeFile: file('runeFile'), tlsCertFile: file('tlsCertFile'), ...common }
    }
    case 'eclair':
    case 'phoenixd':
      return { type, url: url ?? '', passwordFile: file('passwordFile'), ...common }
    case 'lnbits':
      if (obj.url === undefined) issues.push({ path: `${at}.url`, message: 'is required (your LNbits instance, e.g. https://lnbits.example.com)' })
      return { type, url: url ?? '', apiKeyFile: file('apiKeyFile'), ...common }
  }
}

function urlOf(v: unknown, at: string, issues: Issue[]): string | undefined {
  if (v === undefined) return undefined
  if (typeof v !== 'string') {
    issues.push({ path: at, message: 'must be a URL string' })
    return undefined
  }
  try {
    const u = new URL(v)
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('protocol')
    if (u.username !== '' || u.password !== '') {
      issues.push({ path: at, message: 'must not embed credentials; use the credential file or environment variable' })
      return undefined
    }
    return v.replace(/\/+$/, '')
  } catch {
    issues.push({ path: at, message: `must be an http or https URL, got ${JSON.stringify(v)}` })
    return undefined
  }
}

function isLoopback(url: string): boolean {
  const h = new URL(url).hostname
  return h === 'localhost' || h === '[::1]' || h.startsWith('127.')
}
