/**
 * Fetch adapter: a RequestView over a WHATWG `Request`, and a `Response` from a challenge or deny
 * decision. Used by the Hono middleware; runs wherever Request/Response exist (Node, Bun, Deno,
 * Workers). `Headers` joins repeated lines with ", ", so `header()` splits authorization-style
 * values where a new scheme starts (protocols.md §1.3), never at the commas inside one credential.
 * @module
 */
import type { Reply, RequestView } from '../RequestView.ts'

// A new credential or challenge starts where a comma is followed by a scheme and a space.
const schemeSplit =
  /,[ \t]*(?=(?:L402|LSAT|Payment|Bearer|Basic|Digest|Cashu|Negotiate|NTLM|HOBA|Mutual|DPoP|GNAP|Token|AWS4-HMAC-SHA256)(?:[ \t]|$))/i
const bySchemes = new Set(['authorization', 'proxy-authorization', 'www-authenticate'])
// Hex macaroons carry no commas, so every comma separates two lines.
const byCommas = new Set(['macaroon', 'grpc-metadata-macaroon'])

/** The original lines of a fetch-joined header value, where they can be told apart. */
export function splitJoined(name: string, value: string): string[] {
  if (!value.includes(',')) return [value]
  if (bySchemes.has(name)) return value.split(schemeSplit)
  if (byCommas.has(name)) return value.split(',').map((s) => s.trim()).filter(Boolean)
  return [value]
}

/**
 * A RequestView over a `Request`. The path is the raw request target's path (percent-encoding
 * kept); the client address is whatever the runtime says (`o.clientAddress`), since `Request` has none.
 * @example
 * const d = await gateway.decide(toView(request))
 * if (d.kind !== 'allow') return toResponse(d)
 */
export function toView(request: Request, o: { clientAddress?: string | undefined } = {}): RequestView {
  const url = request.url
  const authority = url.indexOf('://') + 3
  const slash = url.indexOf('/', authority)
  let end = url.length
  for (const c of ['?', '#']) {
    const i = url.indexOf(c, slash === -1 ? authority : slash)
    if (i !== -1 && i < end) end = i
  }
  const headers = request.headers
  return {
    method: request.method,
    path: slash === -1 || slash > end ? '/' : url.slice(slash, end),
    host: headers.get('host') ?? url.slice(authority, slash === -1 ? end : Math.min(slash, end)),
    header(name) {
      const v = headers.get(name)
      return v === null ? undefined : splitJoined(name, v)
    },
    clientAddress: o.clientAddress,
  }
}

/** The challenge or deny reply as a `Response`; repeated header names stay separate lines. */
export function toResponse(d: Reply): Response {
  const headers = new Headers()
  for (const [k, v] of d.headers) headers.append(k, v)
  return new Response(d.body, { status: d.status, headers })
}
