/**
 * Config sections for operators: the admin listener, the discovery manifest, the payment page and
 * dry-run. Parsed here and re-exported by Config.ts, so every issue carries its path like the rest.
 * @module
 */

type Issue = { path: string; message: string }

/** Dry-run (shadow mode): evaluate and count, always let the request through, change no state. */
export type DryRun = {
  /** Share of would-be challenges that still create an invoice (0 = none, 1 = all). */
  readonly invoiceSample: number
}

export type AdminConfig = {
  readonly listen: { readonly host: string; readonly port: number }
  /** Inline bearer token (prefer `tokenFile` or `$TURNPIKE_ADMIN_TOKEN`). */
  readonly token: string | undefined
  readonly tokenFile: string | undefined
  /** Require the bearer token on `/metrics` too (default true). */
  readonly metricsAuth: boolean
  /** Serve the dashboard at `/` (default true). */
  readonly dashboard: boolean
}

export type ManifestConfig = {
  readonly enabled: boolean
  readonly service: {
    readonly name?: string
    readonly description?: string
    readonly operator?: string
    readonly contact?: string
  }
}

export type PageConfig = { readonly enabled: boolean }

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

function keys(obj: Record<string, unknown>, allowed: readonly string[], at: string, issues: Issue[]): void {
  for (const k of Object.keys(obj)) {
    if (!allowed.includes(k)) issues.push({ path: `${at}.${k}`, message: `unknown key (allowed: ${allowed.join(', ')})` })
  }
}

function flag(v: unknown, at: string, fallback: boolean, issues: Issue[]): boolean {
  if (v === undefined) return fallback
  if (typeof v !== 'boolean') issues.push({ path: at, message: 'must be true or false' })
  return v === true
}

/** `true`, `false`, or `{ invoiceSample: 0..1 }`; `undefined` when absent. `false` → `null`. */
export function parseDryRun(v: unknown, at: string, issues: Issue[]): DryRun | null | undefined {
  if (v === undefined) return undefined
  if (v === false) return null
  if (v === true) return { invoiceSample: 0 }
  if (isObject(v)) {
    keys(v, ['invoiceSample'], at, issues)
    const s = v.invoiceSample ?? 0
    if (typeof s !== 'number' || !(s >= 0 && s <= 1)) {
      issues.push({ path: `${at}.invoiceSample`, message: 'must be a number from 0 (no invoices) to 1 (every would-be challenge)' })
      return { invoiceSample: 0 }
    }
    return { invoiceSample: s }
  }
  issues.push({ path: at, message: 'must be true, false or { invoiceSample: <0..1> }' })
  return undefined
}

/** `admin:` → settings, or undefined when absent or false (no admin listener). */
export function parseAdmin(v: unknown, parseListen: (v: unknown) => { host: string; port: number } | undefined, issues: Issue[]): AdminConfig | undefined {
  if (v === undefined || v === false) return undefined
  const obj = v === true ? {} : v
  if (!isObject(obj)) {
    issues.push({ path: 'admin', message: 'must be true, false or a mapping' })
    return undefined
  }
  keys(obj, ['listen', 'token', 'tokenFile', 'metricsAuth', 'dashboard'], 'admin', issues)
  const listen = parseListen(obj.listen ?? '127.0.0.1:9402')
  if (!listen) issues.push({ path: 'admin.listen', message: 'must be host:port, [ipv6]:port or a port number' })
  if (obj.token !== undefined && (typeof obj.token !== 'string' || obj.token.trim().length < 16)) {
    issues.push({ path: 'admin.token', message: 'must be a string of at least 16 characters' })
  }
  if (obj.tokenFile !== undefined && typeof obj.tokenFile !== 'string') issues.push({ path: 'admin.tokenFile', message: 'must be a file path' })
  if (obj.token !== undefined && obj.tokenFile !== undefined) issues.push({ path: 'admin.token', message: 'set token or tokenFile, not both' })
  return {
    listen: listen ?? { host: '127.0.0.1', port: 9402 },
    token: typeof obj.token === 'string' ? obj.token.trim() : undefined,
    tokenFile: typeof obj.tokenFile === 'string' ? obj.tokenFile : undefined,
    metricsAuth: flag(obj.metricsAuth, 'admin.metricsAuth', true, issues),
    dashboard: flag(obj.dashboard, 'admin.dashboard', true, issues),
  }
}

/** `manifest:` → settings (on by default). */
export function parseManifest(v: unknown, issues: Issue[]): ManifestConfig {
  if (v === undefined || v === true) return { enabled: true, service: {} }
  if (v === false) return { enabled: false, service: {} }
  if (!isObject(v)) {
    issues.push({ path: 'manifest', message: 'must be true, false or a mapping' })
    return { enabled: true, service: {} }
  }
  const fields = ['name', 'description', 'operator', 'contact'] as const
  keys(v, ['enabled', ...fields], 'manifest', issues)
  const service: Record<string, string> = {}
  for (const f of fields) {
    const x = v[f]
    if (x === undefined) continue
    if (typeof x !== 'string' || x.length > 500) issues.push({ path: `manifest.${f}`, message: 'must be a string of at most 500 characters' })
    else service[f] = x
  }
  return { enabled: flag(v.enabled, 'manifest.enabled', true, issues), service }
}

/** `page:` → settings (on by default). */
export function parsePage(v: unknown, issues: Issue[]): PageConfig {
  if (v === undefined || v === true) return { enabled: true }
  if (v === false) return { enabled: false }
  if (!isObject(v)) {
    issues.push({ path: 'page', message: 'must be true, false or a mapping' })
    return { enabled: true }
  }
  keys(v, ['enabled'], 'page', issues)
  return { enabled: flag(v.enabled, 'page.enabled', true, issues) }
}
