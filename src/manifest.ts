/**
 * The discovery manifest at `/.well-known/l402-services` (RFC 8615): which routes are paid, their
 * prices, access models and accepted schemes, so an agent given only the host can onboard itself.
 * The shape is ngx_l402's (`version`, `service`, `payment_methods`, `routes[].path`,
 * `routes[].price.{type,amount_msat}`, `routes[].caveats_required`, `routes[].macaroon_timeout_secs`),
 * plus turnpike's own fields on each route (`name`, `host`, `methods`, `access`, `schemes`,
 * `description`). Free routes and routes with `hidden: true` are left out.
 * @module
 */
import type { ServerResponse } from 'node:http'
import { accessInfo, type AccessInfo, type Config, type Route } from './Config.ts'

export const path = '/.well-known/l402-services'

export type ManifestRoute = {
  readonly path: string
  readonly price: { readonly type: 'static'; readonly amount_msat: number }
  readonly caveats_required: readonly string[]
  readonly macaroon_timeout_secs: number
  readonly name: string
  readonly host?: string
  readonly methods?: readonly string[]
  readonly description: string
  readonly access: AccessInfo
  /** Authorization schemes accepted: `L402`, `LSAT`, `Payment` (MPP), `Cashu` (NUT-24), `x402`. */
  readonly schemes: readonly string[]
  /** Present when the route only observes (shadow mode): requests pass without payment. */
  readonly dry_run?: true
}

export type Manifest = {
  readonly version: '1'
  readonly service: Readonly<Record<string, string>>
  readonly payment_methods: readonly Readonly<Record<string, unknown>>[]
  readonly routes: readonly ManifestRoute[]
}

const schemeLabels: Record<string, string> = { l402: 'L402', payment: 'Payment', cashu: 'Cashu', x402: 'x402' }

function schemesOf(r: Route, lsat: boolean): string[] {
  const out: string[] = []
  for (const s of r.schemes ?? ['l402']) {
    if (s === 'l402' && lsat) out.push('LSAT')
    out.push(schemeLabels[s] ?? s)
  }
  return out
}

function caveats(r: Route, validFor: number): string[] {
  const pass = r.access.kind === 'pass'
  return [
    `services=${r.name}:0`,
    pass ? `path=${r.path}` : 'path=<request path>',
    ...(pass ? (r.methods ? [`method=${r.methods.join(',')}`] : []) : ['method=<METHOD>']),
    `${r.name}_valid_until=<now + ${validFor}>`,
  ]
}

/** Builds the manifest for a config. `backend` is the Lightning backend's name (`dev`, `lnd`, …). */
export function build(config: Config, o: { backend: string; network?: string }): Manifest {
  const { invoiceExpirySeconds, tokenTtlSeconds } = config.challenge
  const routes: ManifestRoute[] = []
  const used = new Set<string>()
  for (const r of config.routes) {
    if (r.priceMsat === 0n || r.hidden) continue
    const timeout = r.access.kind === 'pass' ? r.access.seconds : invoiceExpirySeconds + tokenTtlSeconds
    const schemes = schemesOf(r, config.challenge.lsat)
    for (const s of schemes) used.add(s)
    routes.push({
      path: r.path,
      price: { type: 'static', amount_msat: Number(r.priceMsat) },
      caveats_required: caveats(r, timeout),
      macaroon_timeout_secs: timeout,
      name: r.name,
      ...(r.host ? { host: r.host } : {}),
      ...(r.methods ? { methods: r.methods } : {}),
      description: r.description,
      access: accessInfo(r.access),
      schemes,
      ...(r.dryRun ? { dry_run: true as const } : {}),
    })
  }
  const methods: Record<string, unknown>[] = [
    { type: 'lightning', backend: o.backend.toUpperCase(), ...(o.network ? { network: o.network } : {}), schemes: [...used].filter((s) => s !== 'Cashu') },
  ]
  if (used.has('Cashu')) methods.push({ type: 'cashu', challenge_header: 'X-Cashu' })
  return { version: '1', service: { ...(config.manifest?.service ?? {}) }, payment_methods: methods, routes }
}

/**
 * A node:http responder for the manifest, or undefined when it is turned off. The body is built
 * once; it changes only with the config.
 */
export function responder(config: Config, o: { backend: string; network?: string }): ((method: string, res: ServerResponse) => void) | undefined {
  if (config.manifest?.enabled === false) return undefined
  const body = JSON.stringify(build(config, o), null, 2) + '\n'
  const length = String(Buffer.byteLength(body))
  return (method, res) => {
    if (method !== 'GET' && method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-length': '0' })
      return void res.end()
    }
    res.writeHead(200, {
      'content-type': 'application/json',
      'content-length': length,
      'cache-control': 'public, max-age=60',
      'access-control-allow-origin': '*',
      'x-content-type-options': 'nosniff',
    })
    res.end(method === 'HEAD' ? undefined : body)
  }
}
