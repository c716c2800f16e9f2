/**
 * Per-host mapping: where each host proxy puts the original request's method, URI and host
 * (protocols.md §9). Each endpoint reads only its own host's headers, so a header a client sends
 * itself, which the host passes along, cannot stand in for the one the host sets: a client's
 * `X-Original-URI` means nothing on the Caddy/Traefik endpoint, and its `X-Forwarded-Uri` means
 * nothing on the nginx one.
 * @module
 */
import type { IncomingMessage } from 'node:http'

/**
 * - `nginx`: `X-Original-Method` + `X-Original-URI`, host from the subrequest's `Host` (our include
 *   sets all three).
 * - `ingress-nginx`: `X-Original-Method` + `X-Original-URL` (scheme://host/path?query), which the
 *   controller's auth location sets.
 * - `forwarded`: `X-Forwarded-Method`, `-Uri`, `-Host` (Caddy `forward_auth`, Traefik ForwardAuth).
 * - `envoy`: ext_authz HTTP service: original method, `path_prefix` + original path, original `Host`.
 *
 * nginx and ingress-nginx pass every client header on to the auth request and each sets only one of
 * `X-Original-URI`/`X-Original-URL`, so each has its own endpoint: reading both would let a client
 * supply the one its host does not set.
 */
export type Style = 'nginx' | 'ingress-nginx' | 'forwarded' | 'envoy'

/** The request the host proxy is asking about. `uri` is path plus query, as received. */
export type Original = { readonly method: string; readonly uri: string; readonly host: string }

const absolute = /^[a-z][a-z0-9+.-]*:\/\/([^/?#]*)(.*)$/i

function one(req: IncomingMessage, name: string, missing: string[]): string | undefined {
  const v = req.headersDistinct[name]
  if (v === undefined) return undefined
  // A host sets these once; two lines mean someone else added one. Refuse rather than guess.
  if (v.length !== 1) {
    missing.push(`${name} (sent ${v.length} times)`)
    return undefined
  }
  return v[0]!.trim()
}

/** Splits `scheme://authority/path?q` into its authority and request target. */
function splitAbsolute(url: string): { host: string; target: string } | undefined {
  const m = absolute.exec(url)
  if (!m) return undefined
  const target = m[2] || '/'
  return { host: m[1]!.replace(/^.*@/, ''), target: target.startsWith('/') ? target : `/${target}` }
}

/**
 * Reads the original request for one host style, or says which header is missing.
 * @param envoyPrefix the ext_authz `path_prefix` this endpoint is mounted at.
 */
export function originalOf(style: Style, req: IncomingMessage, envoyPrefix: string): Original | { error: string } {
  const bad: string[] = []
  let method: string | undefined
  let uri: string | undefined
  let host: string | undefined
  switch (style) {
    case 'nginx':
      method = one(req, 'x-original-method', bad)
      uri = one(req, 'x-original-uri', bad)
      host = req.headers.host
      if (method === undefined && !bad.length) bad.push('x-original-method')
      if (uri === undefined && !bad.length) bad.push('x-original-uri')
      break
    case 'ingress-nginx': {
      method = one(req, 'x-original-method', bad)
      const url = one(req, 'x-original-url', bad)
      const abs = url === undefined ? undefined : splitAbsolute(url)
      if (url !== undefined && !abs) bad.push('x-original-url (not an absolute URL)')
      uri = abs?.target
      host = abs?.host
      if (method === undefined && !bad.length) bad.push('x-original-method')
      if (url === undefined && !bad.length) bad.push('x-original-url')
      break
    }
    case 'forwarded':
      method = one(req, 'x-forwarded-method', bad)
      uri = one(req, 'x-forwarded-uri', bad)
      host = one(req, 'x-forwarded-host', bad) ?? req.headers.host
      if (method === undefined && !bad.length) bad.push('x-forwarded-method')
      if (uri === undefined && !bad.length) bad.push('x-forwarded-uri')
      break
    case 'envoy':
      method = req.method
      uri = (req.url ?? '/').slice(envoyPrefix.length) || '/'
      host = req.headers.host
      break
  }
  if (bad.length > 0 || method === undefined || uri === undefined) {
    return { error: `the forward-auth request lacks a usable ${bad.join(', ') || 'method or URI'}` }
  }
  if (!uri.startsWith('/')) {
    const abs = splitAbsolute(uri)
    if (abs) uri = abs.target
  }
  return { method: method.toUpperCase(), uri, host: host ?? '' }
}

/** The path part of a request target (no query, no fragment). */
export function pathOf(uri: string): string {
  const q = uri.search(/[?#]/)
  return q === -1 ? uri : uri.slice(0, q)
}
