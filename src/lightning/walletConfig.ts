/**
 * The `backend:` config section for wallet backends (`nwc`, `lnurl`): validation with every issue
 * at its path, and construction for the runtime. The NWC connection URI holds the wallet secret, so
 * it comes from a file (`uriFile`) or `$TURNPIKE_NWC_URI` only, never from the config text or the
 * command line.
 * @module
 */
import { readFileSync } from 'node:fs'
import type { Network } from '../Bolt11.ts'
import { ConfigError } from '../Errors.ts'
import type { Backend } from '../Lightning.ts'
import { parseDuration } from '../internal/units.ts'
import { lnurl, resolveAddress } from './lnurl.ts'
import { nwc, parseConnectionUri } from './nwc.ts'

export type NwcBackendConfig = {
  readonly type: 'nwc'
  /** File holding the `nostr+walletconnect://` URI; else `$TURNPIKE_NWC_URI`. */
  readonly uriFile: string | undefined
  /** Per request (config `timeout`, default 30s). */
  readonly timeoutMs: number
}

export type LnurlBackendConfig = {
  readonly type: 'lnurl'
  /** Lightning Address `name@domain`, `lnurl1…` or https payRequest URL. */
  readonly address: string
  /** Per HTTP request (config `timeout`, default 10s). */
  readonly timeoutMs: number
  /** Refuse invoices for another network. */
  readonly network: Network | undefined
  /** Allow http:// for a service on a loopback host. */
  readonly allowHttpLoopback: boolean
}

export type WalletBackendConfig = NwcBackendConfig | LnurlBackendConfig
export type WalletBackendType = WalletBackendConfig['type']

export const walletBackendTypes: readonly WalletBackendType[] = ['nwc', 'lnurl']

/** Where the NWC URI comes from when `uriFile` is not set. */
export const nwcUriEnv = 'TURNPIKE_NWC_URI'

type Issue = { path: string; message: string }

const networks = ['mainnet', 'testnet', 'signet', 'regtest'] as const
const inlineSecrets = ['uri', 'connectionUri', 'connection', 'url', 'secret', 'nwc']

/** Validates one wallet backend section (`obj.type` is one of {@link walletBackendTypes}). */
export function parseWalletBackend(obj: Record<string, unknown>, at: string, issues: Issue[]): WalletBackendConfig {
  const type = obj.type as WalletBackendType
  const allowed = type === 'nwc' ? ['type', 'uriFile', 'timeout'] : ['type', 'address', 'timeout', 'network', 'allowHttpLoopback']
  for (const k of Object.keys(obj)) {
    if (allowed.includes(k)) continue
    if (type === 'nwc' && inlineSecrets.includes(k)) {
      issues.push({ path: `${at}.${k}`, message: `the connection URI holds the wallet secret and is not accepted in the config; put it in a file (${at}.uriFile) or in $${nwcUriEnv}` })
    } else {
      issues.push({ path: `${at}.${k}`, message: `unknown key for ${type} (allowed: ${allowed.join(', ')})` })
    }
  }
  let timeoutMs = type === 'nwc' ? 30_000 : 10_000
  if (obj.timeout !== undefined) {
    const s = parseDuration(obj.timeout as string | number)
    if (s === undefined) issues.push({ path: `${at}.timeout`, message: 'must be a duration like 10s or 1m' })
    else timeoutMs = s * 1000
  }
  if (type === 'nwc') {
    let uriFile: string | undefined
    if (obj.uriFile !== undefined) {
      if (typeof obj.uriFile !== 'string' || obj.uriFile.trim() === '') issues.push({ path: `${at}.uriFile`, message: 'must be a file path' })
      else uriFile = obj.uriFile
    }
    return { type, uriFile, timeoutMs }
  }
  const allowHttpLoopback = obj.allowHttpLoopback === true
  if (obj.allowHttpLoopback !== undefined && typeof obj.allowHttpLoopback !== 'boolean') {
    issues.push({ path: `${at}.allowHttpLoopback`, message: 'must be true or false' })
  }
  let address = ''
  if (obj.address === undefined) {
    issues.push({ path: `${at}.address`, message: 'is required: a Lightning Address (name@domain), an lnurl1… string or an https URL' })
  } else if (typeof obj.address !== 'string') {
    issues.push({ path: `${at}.address`, message: 'must be a string' })
  } else {
    try {
      resolveAddress(obj.address, { allowHttpLoopback })
      address = obj.address.trim()
    } catch (e) {
      issues.push({ path: `${at}.address`, message: (e as Error).message })
    }
  }
  let network: Network | undefined
  if (obj.network !== undefined) {
    if (!networks.includes(obj.network as Network)) issues.push({ path: `${at}.network`, message: `must be one of ${networks.join(', ')}` })
    else network = obj.network as Network
  }
  return { type, address, timeoutMs, network, allowHttpLoopback }
}

/**
 * Builds the backend. Reads the NWC URI from `uriFile` or `$TURNPIKE_NWC_URI`.
 * @throws ConfigError (path `backend.uriFile` or `TURNPIKE_NWC_URI`); never quotes the URI.
 */
export function createWalletBackend(c: WalletBackendConfig, env: NodeJS.ProcessEnv, at = 'backend'): Backend {
  if (c.type === 'lnurl') {
    return lnurl({ address: c.address, timeoutMs: c.timeoutMs, network: c.network, allowHttpLoopback: c.allowHttpLoopback })
  }
  const path = c.uriFile !== undefined ? `${at}.uriFile` : nwcUriEnv
  let uri: string | undefined
  if (c.uriFile !== undefined) {
    try {
      uri = readFileSync(c.uriFile, 'utf8').trim()
    } catch (e) {
      throw new ConfigError([{ path, message: `cannot read ${c.uriFile}: ${(e as NodeJS.ErrnoException).code ?? 'error'}` }])
    }
    if (uri === '') throw new ConfigError([{ path, message: `${c.uriFile} is empty` }])
  } else {
    uri = env[nwcUriEnv]?.trim()
  }
  if (uri === undefined || uri === '') {
    throw new ConfigError([{ path, message: `no NWC connection URI: set ${at}.uriFile to a file holding it, or $${nwcUriEnv}` }])
  }
  try {
    parseConnectionUri(uri)
  } catch (e) {
    throw new ConfigError([{ path, message: (e as Error).message }])
  }
  return nwc({ connectionUri: uri, timeoutMs: c.timeoutMs })
}
