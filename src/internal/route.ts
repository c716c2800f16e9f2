/** Route matching by host, path and method. First match wins. */
import type { Route } from '../Config.ts'
import { matchPath } from './path.ts'

/** Lower-cased host without port. */
export function hostOnly(host: string): string {
  const h = host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.split(':', 1)[0]!
  return h.toLowerCase()
}

function matchHost(pattern: string | undefined, host: string): boolean {
  if (pattern === undefined) return true
  if (pattern.startsWith('*.')) return host.endsWith(pattern.slice(1)) && host.length > pattern.length - 1
  return pattern === host
}

/** The first route matching host, method and normalised path. */
export function findRoute(routes: readonly Route[], host: string, method: string, path: string): Route | undefined {
  const h = hostOnly(host)
  for (const r of routes) {
    if (!matchHost(r.host, h)) continue
    if (r.methods && !r.methods.includes(method)) continue
    if (matchPath(r.path, path)) return r
  }
  return undefined
}
