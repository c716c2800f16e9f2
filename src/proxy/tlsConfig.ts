/** Parsing of the `tls:` and `h2c:` config keys (the listener's protocols). No I/O here. */

export type TlsConfig = {
  /** PEM certificate chain; re-read on SIGHUP. */
  readonly certFile: string
  /** PEM private key; re-read on SIGHUP. */
  readonly keyFile: string
}

type Issue = { path: string; message: string }

/** `tls: { certFile, keyFile }` → TlsConfig; every problem is reported with its path. */
export function parseTls(v: unknown, issues: Issue[]): TlsConfig | undefined {
  if (v === undefined) return undefined
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    issues.push({ path: 'tls', message: 'must be a mapping with certFile and keyFile' })
    return undefined
  }
  const o = v as Record<string, unknown>
  for (const k of Object.keys(o)) {
    if (k !== 'certFile' && k !== 'keyFile') issues.push({ path: `tls.${k}`, message: 'unknown key (allowed: certFile, keyFile)' })
  }
  const file = (k: 'certFile' | 'keyFile') => {
    const f = o[k]
    if (typeof f === 'string' && f !== '') return f
    issues.push({ path: `tls.${k}`, message: f === undefined ? 'is required' : 'must be a file path' })
    return undefined
  }
  const certFile = file('certFile')
  const keyFile = file('keyFile')
  return certFile && keyFile ? { certFile, keyFile } : undefined
}

/** `h2c: true` → cleartext HTTP/2 (prior knowledge, as gRPC clients use) on the listen port. */
export function parseH2c(v: unknown, issues: Issue[]): boolean {
  if (v === undefined) return false
  if (typeof v !== 'boolean') issues.push({ path: 'h2c', message: 'must be true or false' })
  return v === true
}
