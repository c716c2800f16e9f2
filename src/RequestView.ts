/**
 * The minimal request view the core decides from, and the plain-data decision it returns.
 * Adapters (node:http proxy, forward-auth, middleware) build the view and act on the decision.
 * @module
 */
import type { Metering } from './access/metering.ts'

/** The facts the gateway needs to decide. Adapters build it without copying headers. */
export type RequestView = {
  readonly method: string
  /** Path without the query, as received (percent-encoding kept). */
  readonly path: string
  readonly host: string
  /** All values of a header (lower-case name), one entry per original line. */
  header(name: string): readonly string[] | undefined
  /** After trusted-proxy resolution. */
  readonly clientAddress: string | undefined
}

/** Header lines as pairs, so repeated names (several WWW-Authenticate lines) survive. */
export type HeaderLines = readonly (readonly [name: string, value: string])[]

export type Allow = {
  readonly kind: 'allow'
  readonly route: string
  /** Header names (lower-case) that must not reach the upstream. */
  readonly stripHeaders: readonly string[]
  /** Added to the upstream request. */
  readonly requestHeaders: HeaderLines
  /** Added to the reply. */
  readonly responseHeaders: HeaderLines
  /** Set when a single-use claim was taken: release it if the upstream fails. */
  readonly claim?: string
  /** Why the request passed: `free`, `paid`, `options`. */
  readonly reason: string
  /** Lowercase hex, when a credential was used. */
  readonly paymentHash?: string
  /**
   * Metered credit routes: count the response and settle the charge once it is over (the proxy does;
   * the only non-plain-data member). Absent on every other decision: the plain path is unchanged.
   */
  readonly meter?: Metering
}

export type Reply = {
  readonly kind: 'challenge' | 'deny'
  readonly status: number
  readonly headers: HeaderLines
  readonly body: string
  readonly route?: string
  /** For logs and metrics; never contains secrets. */
  readonly reason: string
}

/** What the core concluded. Plain data; each adapter turns it into its host's response. */
export type Decision = Allow | Reply

/** Builds a RequestView over a plain header record (lower-case keys). For tests and forward-auth. */
export function fromRecord(p: {
  method: string
  path: string
  host?: string
  headers?: Record<string, string | readonly string[] | undefined>
  clientAddress?: string
}): RequestView {
  const headers = p.headers ?? {}
  return {
    method: p.method.toUpperCase(),
    path: p.path,
    host: p.host ?? '',
    clientAddress: p.clientAddress,
    header(name) {
      const v = headers[name]
      if (v === undefined) return undefined
      return typeof v === 'string' ? [v] : v
    },
  }
}
