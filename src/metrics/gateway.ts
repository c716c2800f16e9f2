/**
 * The gateway's metric families and the observer that feeds them from decisions. Every update is
 * an in-memory counter increment: the paid path gains no I/O.
 * @module
 */
import type { Config } from '../Config.ts'
import type { Observer } from '../Gateway.ts'
import type { Backend } from '../Lightning.ts'
import type { Registry } from '../Metrics.ts'
import type { Decision } from '../RequestView.ts'

/** Invoice-creation latency buckets (seconds): a local node answers in ms, a remote one in 100s of ms. */
export const invoiceBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const

/** The turnpike metric families, defined on one registry. */
export type GatewayMetrics = ReturnType<typeof define>

/** Defines (or reuses) every turnpike metric family on `r`. */
export function define(r: Registry) {
  return {
    requests: r.counter('turnpike_requests_total', 'Requests decided by the gateway, by route, outcome and access model.', ['route', 'outcome', 'access']),
    challenges: r.counter('turnpike_challenges_issued_total', 'L402 challenges (402 with a fresh invoice) sent.', ['route', 'access']),
    verified: r.counter('turnpike_payments_verified_total', 'Requests let through on a valid paid credential.', ['route', 'access']),
    failures: r.counter('turnpike_payment_failures_total', 'Credentials refused, by reason (no credential at all is not a failure).', ['route', 'reason']),
    rateLimited: r.counter('turnpike_rate_limited_total', 'Requests refused by a rate limit.', ['route']),
    dryRun: r.counter('turnpike_dry_run_total', 'Dry-run (shadow) requests by what enforcement would have done; all were let through.', ['route', 'outcome']),
    invoiceSeconds: r.histogram('turnpike_invoice_creation_seconds', 'Time the Lightning backend took to create an invoice.', ['backend', 'outcome'], invoiceBuckets),
    backendErrors: r.counter('turnpike_backend_errors_total', 'Lightning backend calls that failed, by operation.', ['backend', 'operation']),
    upstreamErrors: r.counter('turnpike_upstream_errors_total', 'Allowed requests whose upstream failed (connection error, timeout).', ['route']),
    pages: r.counter('turnpike_payment_pages_total', 'HTML payment pages served instead of the JSON 402 body.', ['route']),
    streams: r.gauge('turnpike_settlement_streams', 'Open settlement event streams (payment pages waiting for a payment).', []),
  }
}

const allowOutcomes = new Set(['free', 'paid', 'options'])
const denyOutcomes: Record<string, string> = {
  'malformed-credential': 'malformed',
  'backend-unavailable': 'backend_unavailable',
  'store-unavailable': 'store_unavailable',
  'no-route': 'no_route',
  'bad-path': 'bad_request',
  internal: 'internal',
}

/** Maps a refusal reason (free text from token verification) onto a small fixed label set. */
export function failureReason(reason: string): string {
  if (reason === 'credential already used') return 'replayed'
  if (reason.startsWith('preimage')) return 'preimage_mismatch'
  if (reason === 'invalid macaroon signature') return 'bad_signature'
  if (reason === 'token expired') return 'expired'
  if (reason === 'token revoked') return 'revoked'
  if (reason === 'credits used up') return 'credits_exhausted'
  if (/^service .* not allowed$/.test(reason)) return 'wrong_service'
  if (reason === 'path not allowed' || reason === 'request path has dot segments') return 'wrong_path'
  if (/^method .* not allowed$/.test(reason)) return 'wrong_method'
  if (reason === 'capability not allowed') return 'wrong_capability'
  if (/widens|malformed caveat|caveat/.test(reason)) return 'bad_caveat'
  return 'invalid'
}

/** Reason of a challenge for a request that sent no credential (not a failure). */
const noCredential = 'no credential'

/**
 * An observer for {@link Gateway.create} that counts every decision. O(1) per call: a few map
 * lookups and increments.
 */
export function observer(m: GatewayMetrics, config: Pick<Config, 'routes'>): Observer {
  const access = new Map(config.routes.map((r) => [r.name, r.access.kind as string]))
  const failures = new Map<string, string>()
  const bucket = (reason: string): string => {
    let b = failures.get(reason)
    if (b === undefined) {
      b = failureReason(reason)
      if (failures.size < 512) failures.set(reason, b)
    }
    return b
  }
  return {
    decided(d: Decision) {
      const route = d.route ?? ''
      const acc = access.get(route) ?? 'none'
      if (d.kind === 'allow') {
        if (d.reason.startsWith('dry-run')) {
          m.requests.inc([route, 'dry_run', acc])
          m.dryRun.inc([route, d.reason.slice(8) || 'unknown'])
          return
        }
        const outcome = allowOutcomes.has(d.reason) ? d.reason : 'allowed'
        m.requests.inc([route, outcome, acc])
        if (outcome === 'paid') m.verified.inc([route, acc])
        return
      }
      if (d.kind === 'challenge') {
        m.requests.inc([route, 'challenge', acc])
        if (d.status === 402) m.challenges.inc([route, acc])
        if (d.reason !== noCredential) m.failures.inc([route, bucket(d.reason)])
        return
      }
      if (d.status === 429) {
        m.requests.inc([route, 'rate_limited', acc])
        m.rateLimited.inc([route])
        return
      }
      const outcome = denyOutcomes[d.reason] ?? (d.status === 402 ? 'challenge' : 'denied')
      m.requests.inc([route, outcome, acc])
      if (outcome === 'malformed') m.failures.inc([route, 'malformed'])
      else if (d.status === 402) m.failures.inc([route, bucket(d.reason)])
    },
  }
}

/**
 * Wraps a backend so invoice creation is timed and failed calls are counted. Every other member is
 * the original's (the wrapper inherits from it).
 */
export function instrument(backend: Backend, m: GatewayMetrics): Backend {
  const name = backend.name
  const wrapped = Object.create(backend) as Backend & Record<string, unknown>
  Object.defineProperties(wrapped, {
    createInvoice: {
      value: async (p: Parameters<Backend['createInvoice']>[0]) => {
        const t0 = performance.now()
        try {
          const invoice = await backend.createInvoice(p)
          m.invoiceSeconds.observe([name, 'ok'], (performance.now() - t0) / 1000)
          return invoice
        } catch (e) {
          m.invoiceSeconds.observe([name, 'error'], (performance.now() - t0) / 1000)
          m.backendErrors.inc([name, 'create_invoice'])
          throw e
        }
      },
    },
    lookupInvoice: {
      value: async (hash: string, o?: { signal?: AbortSignal }) => {
        try {
          return await backend.lookupInvoice(hash, o)
        } catch (e) {
          if ((e as { code?: string }).code !== 'TURNPIKE_INVOICE_UNKNOWN') m.backendErrors.inc([name, 'lookup_invoice'])
          throw e
        }
      },
    },
  })
  return wrapped
}
