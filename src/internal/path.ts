/** Request-path normalisation, so route matching and the upstream see the same path. */

/**
 * Resolves `.`/`..` segments (also percent-encoded), collapses repeated slashes and refuses
 * encoded slashes, backslashes and NUL, which upstreams may read differently from the gateway.
 * Returns undefined for a path that cannot be served safely.
 */
export function normalizePath(raw: string): string | undefined {
  if (!raw.startsWith('/')) return raw === '*' ? undefined : undefined
  if (/%2f|%5c|%00|\\|\0/i.test(raw)) return undefined
  if (!/\/\/|\/\.|%2e/i.test(raw)) return raw // fast path: nothing to resolve
  const out: string[] = []
  const segments = raw.split('/')
  for (let i = 1; i < segments.length; i++) {
    const seg = segments[i]!
    const plain = seg.replace(/%2e/gi, '.')
    if (seg === '' && i < segments.length - 1) continue
    if (plain === '.') {
      if (i === segments.length - 1) out.push('')
      continue
    }
    if (plain === '..') {
      if (out.length === 0) return undefined
      out.pop()
      if (i === segments.length - 1) out.push('')
      continue
    }
    out.push(seg)
  }
  return '/' + out.join('/')
}

/** Whether `pattern` (`/exact`, `/prefix/*`, `/*`) matches a normalised path. */
export function matchPath(pattern: string, path: string): boolean {
  if (!pattern.endsWith('/*')) return pattern === path
  const prefix = pattern.slice(0, -2)
  return path === prefix || path.startsWith(prefix + '/') || (prefix === '' && path.startsWith('/'))
}
