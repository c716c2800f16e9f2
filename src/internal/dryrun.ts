/**
 * Dry-run (shadow mode): a dry-run route is decided by a shadow copy of the gateway whose store
 * writes nothing (claims are not taken, invoices not recorded, rate-limit buckets untouched) and
 * whose backend creates an invoice only for a sampled share of would-be challenges. The request is
 * always let through, with what enforcement would have done in `X-Turnpike-Dry-Run`.
 * @module
 */
import type { Route } from '../Config.ts'
import { TurnpikeError } from '../Errors.ts'
import { randomBytes } from 'node:crypto'
import type { Backend, CreateInvoiceParameters, Invoice } from '../Lightning.ts'
import type { Allow, Decision, RequestView } from '../RequestView.ts'
import type { Store } from '../Store.ts'
import type { Logger } from './log.ts'

export const header = 'x-turnpike-dry-run'

/** Store methods that only read; every other method is answered without touching the store. */
const reads = new Set(['name', 'getInvoice', 'getValue', 'listInvoices', 'listRevoked'])

/**
 * A view of `store` that changes nothing: `claim` always wins (so a valid per-request credential
 * stays unspent), writes are dropped, rate-limit buckets always allow. An unknown write method
 * (added to the contract later) rejects rather than writes.
 */
export function shadowStore(store: Store): Store {
  const answers: Record<string, (...a: unknown[]) => unknown> = {
    claim: async () => true,
    release: async () => {},
    putInvoice: async () => {},
    putValue: async () => true,
    deleteValue: async () => {},
    take: async (_k: unknown, limit: unknown) => ({ allowed: true, remaining: (limit as { capacity: number }).capacity, retryAfterMs: 0 }),
    prune: async () => 0,
    close: async () => {},
  }
  // Both shadow gateways refresh revocations through this one view: one store read a second between them.
  let revoked: { at: number; list: Promise<readonly string[]> } | undefined
  if (store.listRevoked) {
    const list = store.listRevoked.bind(store)
    answers.listRevoked = () => {
      if (!revoked || Date.now() - revoked.at > 900) revoked = { at: Date.now(), list: list() }
      return revoked.list
    }
  }
  return new Proxy(store, {
    get(target, prop, receiver) {
      if (typeof prop !== 'string') return Reflect.get(target, prop, receiver)
      const value = Reflect.get(target, prop, receiver) as unknown
      if (prop === 'listRevoked' && answers.listRevoked) return answers.listRevoked
      if (reads.has(prop) || typeof value !== 'function') return typeof value === 'function' ? value.bind(target) : value
      return answers[prop] ?? (async () => {
        throw new TurnpikeError('TURNPIKE_INTERNAL', `dry-run: store.${prop} would change state`)
      })
    },
  })
}

/**
 * A backend whose `createInvoice` asks no node: it returns a placeholder invoice (random hash, an
 * unpayable `paymentRequest`) so the shadow gateway still builds its challenge and reports why.
 * The placeholder never leaves the process: a dry-run decision is always turned into an allow.
 */
export function unsampledBackend(backend: Backend): Backend {
  const b = Object.create(backend) as Backend
  Object.defineProperty(b, 'createInvoice', {
    value: async (p: CreateInvoiceParameters): Promise<Invoice> => {
      const createdAt = Math.floor(Date.now() / 1000) * 1000
      return { paymentRequest: 'lnbc1dryrunnotaninvoice', paymentHash: randomBytes(32).toString('hex'), amountMsat: p.amountMsat, createdAt, expiresAt: createdAt + p.expirySeconds * 1000 }
    },
  })
  return b
}

/** What enforcement would have done, from the shadow decision. */
export function outcomeOf(d: Decision): string {
  if (d.kind === 'allow') return d.reason === 'paid' ? 'paid' : d.reason
  if (d.kind === 'challenge') return d.reason === 'no credential' ? 'challenge' : 'invalid'
  if (d.status === 429) return 'rate-limited'
  switch (d.reason) {
    case 'backend-unavailable':
      return 'backend-error'
    case 'malformed-credential':
      return 'malformed'
    case 'store-unavailable':
      return 'store-error'
    default:
      return d.status === 402 ? 'invalid' : 'denied'
  }
}

/**
 * Decides a dry-run request with the shadow gateways and turns the result into an allow.
 * `sampled` decides with invoices, `unsampled` without.
 */
export function decideDry(
  route: Route,
  view: RequestView,
  shadows: { sampled: (v: RequestView) => Decision | Promise<Decision>; unsampled: (v: RequestView) => Decision | Promise<Decision> },
  strip: readonly string[],
  log: Logger,
): Promise<Decision> {
  const sampled = (route.dryRun?.invoiceSample ?? 0) > 0 && Math.random() < route.dryRun!.invoiceSample
  const done = (outcome: string, reason?: string): Allow => {
    log.info('dry-run', { route: route.name, method: view.method, path: view.path, outcome, ...(reason ? { reason } : {}) })
    return {
      kind: 'allow',
      route: route.name,
      stripHeaders: strip,
      requestHeaders: [],
      responseHeaders: [[header, outcome]],
      reason: `dry-run:${outcome}`,
    }
  }
  return Promise.resolve()
    .then(() => (sampled ? shadows.sampled : shadows.unsampled)(view))
    .then(
      (d) => done(outcomeOf(d), d.kind === 'allow' ? undefined : d.reason),
      () => done('error'),
    )
}
