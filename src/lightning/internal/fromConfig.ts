/**
 * Builds a node backend from its validated config section: reads credential files (or the
 * environment fallback), reports problems as ConfigError issues with their config paths, and
 * describes where each credential came from (for `turnpike doctor` and the startup log) without
 * ever including a secret.
 * @module
 */
import { ConfigError } from '../../Errors.ts'
import type { Backend } from '../../Lightning.ts'
import { cln } from '../cln.ts'
import { eclair } from '../eclair.ts'
import { lnbits } from '../lnbits.ts'
import { lnd } from '../lnd.ts'
import { phoenixd } from '../phoenixd.ts'
import { credentialEnv, type NodeBackendConfig } from './backendConfig.ts'
import { macaroonHex, readMacaroonFile, readPemFile, readSecretFile } from './credentials.ts'
import type { Fetch } from './http.ts'

export type BuiltBackend = {
  readonly backend: Backend
  /** Human-readable, secret-free notes: where the credentials and certificate came from. */
  readonly sources: readonly string[]
}

/**
 * Creates the backend for `cfg`. `at` is the config key the section came from (`backend` or
 * `lightning`). Throws ConfigError listing every credential problem.
 */
export function createNodeBackend(cfg: NodeBackendConfig, o: { env: NodeJS.ProcessEnv; at?: string; fetch?: Fetch }): BuiltBackend {
  const at = o.at ?? 'backend'
  const issues: { path: string; message: string }[] = []
  const sources: string[] = []
  const cred = credentialEnv[cfg.type]
  const fileKey = cred.file
  const file = (cfg as unknown as Record<string, string | undefined>)[fileKey]

  /** The secret from the configured file, else from the environment; undefined + an issue when neither. */
  function secret(read: (f: string) => string, fromEnv: (v: string) => string): string | undefined {
    if (file !== undefined) {
      try {
        const s = read(file)
        sources.push(`${cred.what} from ${file}`)
        return s
      } catch (e) {
        issues.push({ path: `${at}.${fileKey}`, message: (e as Error).message })
        return undefined
      }
    }
    const v = o.env[cred.env]
    if (v !== undefined && v.trim() !== '') {
      try {
        const s = fromEnv(v.trim())
        sources.push(`${cred.what} from $${cred.env}`)
        return s
      } catch (e) {
        issues.push({ path: `${at}.${fileKey}`, message: `$${cred.env}: ${(e as Error).message}` })
        return undefined
      }
    }
    issues.push({ path: `${at}.${fileKey}`, message: `no ${cred.what}: set ${at}.${fileKey} to a file holding it, or set $${cred.env}` })
    return undefined
  }

  function cert(f: string | undefined): string | undefined {
    if (f === undefined) return undefined
    try {
      const pem = readPemFile(f)
      sources.push(`TLS certificate pinned from ${f}`)
      return pem
    } catch (e) {
      issues.push({ path: `${at}.tlsCertFile`, message: (e as Error).message })
      return undefined
    }
  }

  const fetch = o.fetch === undefined ? {} : { fetch: o.fetch }
  const build = (): Backend | undefined => {
    switch (cfg.type) {
      case 'lnd': {
        const macaroon = secret(readMacaroonFile, (v) => macaroonHex(v, `$${cred.env}`))
        if (cfg.tlsCertFile === undefined && cfg.url.startsWith('https:')) sources.push('TLS verified against the system trust store (no tlsCertFile)')
        cert(cfg.tlsCertFile) // validated here for the issue path; lnd() re-reads the file to reload it
        if (macaroon === undefined || issues.length > 0) return undefined
        return lnd({ url: cfg.url, macaroon, tlsCertFile: cfg.tlsCertFile, timeoutMs: cfg.timeoutMs, ...fetch })
      }
      case 'cln': {
        if (cfg.socket !== undefined) {
          sources.push(`JSON-RPC over the unix socket ${cfg.socket}`)
          return cln({ socket: cfg.socket, timeoutMs: cfg.timeoutMs })
        }
        const rune = secret((f) => readSecretFile(f, 'rune'), (v) => v)
        const tlsCert = cert(cfg.tlsCertFile)
        if (rune === undefined || issues.length > 0) return undefined
        return cln({ url: cfg.url, rune, tlsCert, timeoutMs: cfg.timeoutMs, ...fetch })
      }
      case 'eclair': {
        const password = secret((f) => readSecretFile(f, 'Eclair API password'), (v) => v)
        if (password === undefined) return undefined
        return eclair({ url: cfg.url, password, timeoutMs: cfg.timeoutMs, ...fetch })
      }
      case 'phoenixd': {
        const password = secret((f) => readSecretFile(f, 'phoenixd password'), (v) => v)
        if (password === undefined) return undefined
        return phoenixd({ url: cfg.url, password, timeoutMs: cfg.timeoutMs, ...fetch })
      }
      case 'lnbits': {
        const apiKey = secret((f) => readSecretFile(f, 'LNbits API key'), (v) => v)
        if (apiKey === undefined) return undefined
        return lnbits({ url: cfg.url, apiKey, timeoutMs: cfg.timeoutMs, ...fetch })
      }
    }
  }
  let backend: Backend | undefined
  try {
    backend = build()
  } catch (e) {
    // A factory's own check (a malformed macaroon, a certificate that is not PEM…).
    if (!(e instanceof TypeError)) throw e
    issues.push({ path: at, message: e.message.replace(/^\w+\(\): /, '') })
  }
  if (issues.length > 0 || backend === undefined) throw new ConfigError(issues.length > 0 ? issues : [{ path: at, message: 'invalid backend' }])
  return { backend, sources }
}
