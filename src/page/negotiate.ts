/**
 * Whether a 402 should be the HTML payment page: a browser navigating (GET/HEAD, `Accept` ranks
 * `text/html` explicitly and at least as high as JSON, `Sec-Fetch-Mode: navigate` when sent), not
 * an API client (scripts' `fetch()` sends another `Sec-Fetch-Mode`; `X-Requested-With` marks XHR).
 * @module
 */

type Headers = { readonly [name: string]: string | string[] | undefined }

/** q-value of the most specific range matching `type` (`text/html`), or 0. */
export function quality(accept: string, type: string): number {
  const [major] = type.split('/')
  let best = -1
  let q = 0
  for (const part of accept.split(',')) {
    const [range, ...params] = part.trim().toLowerCase().split(';')
    const r = range!.trim()
    const specificity = r === type ? 2 : r === `${major}/*` ? 1 : r === '*/*' ? 0 : -1
    if (specificity < 0 || specificity < best) continue
    let value = 1
    for (const p of params) {
      const m = /^\s*q\s*=\s*([0-9.]+)\s*$/.exec(p)
      if (m) value = Math.min(1, Math.max(0, Number(m[1])))
    }
    if (specificity > best || value > q) q = value
    best = specificity
  }
  return q
}

/** True when the request looks like a browser navigation that wants HTML. */
export function wantsPage(method: string, headers: Headers): boolean {
  if (method !== 'GET' && method !== 'HEAD') return false
  const one = (v: string | string[] | undefined) => (Array.isArray(v) ? v.join(',') : v)
  const accept = one(headers.accept)
  if (!accept || !/text\/html/i.test(accept)) return false
  const mode = one(headers['sec-fetch-mode'])
  if (mode !== undefined && mode !== 'navigate') return false
  if (headers['x-requested-with'] !== undefined) return false
  const html = quality(accept, 'text/html')
  return html > 0 && html >= quality(accept, 'application/json')
}
