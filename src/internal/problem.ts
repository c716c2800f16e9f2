/** Builds problem+json replies from TurnpikeErrors. */
import { TurnpikeError, type Code } from '../Errors.ts'
import type { HeaderLines, Reply } from '../RequestView.ts'

export const exposeHeaders = 'WWW-Authenticate, Payment-Receipt, X-Cashu, PAYMENT-REQUIRED, PAYMENT-RESPONSE'

/** A deny decision carrying the error's RFC 9457 body; adds Retry-After when the error has one. */
export function problem(e: TurnpikeError, reason: string, route?: string, extra: HeaderLines = []): Reply {
  const headers: [string, string][] = [
    ['content-type', 'application/problem+json'],
    ['cache-control', 'no-store'],
    ['access-control-allow-origin', '*'],
    ...extra.map(([k, v]) => [k, v] as [string, string]),
  ]
  if (e.retryAfter !== undefined) headers.push(['retry-after', String(e.retryAfter)])
  return { kind: 'deny', status: e.status, headers, body: JSON.stringify(e.toProblemDetails()), reason, ...(route ? { route } : {}) }
}

/** Shorthand for `problem(new TurnpikeError(code, message))`. */
export function problemOf(code: Code, message: string, reason: string = code, route?: string): Reply {
  return problem(new TurnpikeError(code, message), reason, route)
}
