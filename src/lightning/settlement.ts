/**
 * Settlement auto-detection, for routes with `autoDetect`: a client may retry with its macaroon
 * alone (`Authorization: L402 <macaroon>` or `L402 <macaroon>:`) and the gateway asks the Lightning
 * backend whether the invoice settled, within a bound (3 s by default). A settled answer is cached
 * in the store (`settled:<hash>`, via the optional `putValue`/`getValue`), so later polls and the
 * strict check cost no backend call. A poll of an unpaid invoice never mints a new invoice: it gets
 * 402 `TURNPIKE_PAYMENT_PENDING` with the same invoice again. A lookup that fails or times out
 * means "unknown", not "unpaid": 503 with `Retry-After`.
 *
 * `autoDetect: strict` also confirms every preimage credential with the backend on first use,
 * for backends that hand out preimages of unpaid invoices (LNbits answers
 * `GET /api/v1/payments/{hash}` without a key).
 *
 * Trade-off of the macaroon-only path: the macaroon alone becomes the bearer credential once the
 * invoice is paid, so anyone who saw the challenge can race the payer for a per-request route.
 * Preimage credentials do not have that weakness; this is why it is opt-in per route.
 * @module
 */
import { Buffer } from 'node:buffer'
import * as Caveat from '../Caveat.ts'
import { TurnpikeError, is } from '../Errors.ts'
import * as Identifier from '../Identifier.ts'
import * as L402 from '../L402.ts'
import type { Backend, InvoiceState } from '../Lightning.ts'
import * as Macaroon from '../Macaroon.ts'
import type { Reply } from '../RequestView.ts'
import type { Store } from '../Store.ts'
import * as Token from '../Token.ts'
import { silent, type Logger } from '../internal/log.ts'
import { problem } from '../internal/problem.ts'

/** Default bound on one settlement lookup. */
export const defaultLookupTimeoutMs = 3000

/** A macaroon-only credential that verified: signature and caveats, no preimage. */
export type BareVerified =
  | {
      readonly ok: true
      readonly paymentHash: string
      readonly tokenId: string
      /** Every first-party caveat, as `Token.verify` returns them (credits read their own). */
      readonly caveats: readonly string[]
      /** The token as sent, std base64. */
      readonly macaroon: string
    }
  | { readonly ok: false; readonly reason: string }

/**
 * Verifies macaroon-only credentials like `Token.verify` does, minus the preimage check: the
 * signature under the token's root key and every first-party caveat against `ctx`. Returns the first
 * token that passes, or the last reason; undefined when `creds` is empty.
 */
export function verifyBare(creds: readonly L402.BareCredential[], secret: Uint8Array, ctx: Caveat.Context): BareVerified | undefined {
  let result: BareVerified | undefined
  for (const c of creds) {
    for (const bytes of c.tokens) {
      try {
        const m = Macaroon.decode(bytes)
        const id = Identifier.decode(m.identifier)
        if (!Macaroon.verifySignature(m, Token.rootKey(secret, m.identifier))) {
          result = { ok: false, reason: 'invalid macaroon signature' }
          continue
        }
        const caveats = Macaroon.firstPartyCaveats(m)
        const checked = Caveat.check(caveats, ctx)
        if (!checked.ok) {
          result = { ok: false, reason: checked.reason }
          continue
        }
        return {
          ok: true,
          paymentHash: Buffer.from(id.paymentHash).toString('hex'),
          tokenId: Buffer.from(id.tokenId).toString('hex'),
          caveats,
          macaroon: Buffer.from(bytes).toString('base64'),
        }
      } catch (e) {
        if (!is(e)) throw e
        result = { ok: false, reason: e.message }
      }
    }
  }
  return result
}

/** What a settlement check concluded. */
export type SettlementOutcome =
  /** Paid: proceed as with a preimage. */
  | { readonly kind: 'settled' }
  /** Answer with this (402 pending with the same invoice, or 503 when the backend could not tell). */
  | { readonly kind: 'reply'; readonly reply: Reply }
  /** Expired, canceled or unknown to the node: a fresh challenge is in order. */
  | { readonly kind: 'fresh'; readonly reason: string }

export type SettlementCheckerOptions = {
  readonly backend: Backend
  readonly store: Store
  /** How long a settled mark is cached (ms); use the claim TTL so it outlives every token. */
  readonly cacheTtlMs: number
  readonly lookupTimeoutMs?: number
  readonly challenge?: { readonly lsat: boolean; readonly spec: boolean }
  readonly now?: () => number
  readonly logger?: Logger
}

export type SettlementChecker = {
  /**
   * Is the invoice of `paymentHash` settled? `macaroon` (base64) is echoed in the pending answer's
   * challenge so the client can still pay the same invoice.
   */
  check(route: string, paymentHash: string, macaroon?: string): Promise<SettlementOutcome>
}

const cacheKey = (paymentHash: string): string => `settled:${paymentHash}`

/** Creates the checker the gateway uses for `autoDetect` routes. */
export function createSettlementChecker(o: SettlementCheckerOptions): SettlementChecker {
  const { backend, store } = o
  const now = o.now ?? Date.now
  const log = o.logger ?? silent
  const timeoutMs = o.lookupTimeoutMs ?? defaultLookupTimeoutMs
  /** Concurrent polls of one hash share one backend lookup. */
  const inflight = new Map<string, Promise<InvoiceState>>()

  async function cached(hash: string): Promise<boolean> {
    if (store.getValue === undefined) return false
    try {
      return (await store.getValue(cacheKey(hash))) !== undefined
    } catch (e) {
      log.warn('store failed to read a settlement mark; asking the backend', { error: e })
      return false
    }
  }

  function lookup(hash: string): Promise<InvoiceState> {
    let p = inflight.get(hash)
    if (p === undefined) {
      p = backend.lookupInvoice(hash, { signal: AbortSignal.timeout(timeoutMs) }).finally(() => inflight.delete(hash))
      inflight.set(hash, p)
    }
    return p
  }

  async function pending(route: string, hash: string, macaroon: string | undefined): Promise<Reply> {
    const headers: [string, string][] = []
    if (macaroon !== undefined) {
      try {
        const inv = await store.getInvoice(hash)
        if (inv !== undefined) {
          for (const line of L402.challenge({ macaroon, invoice: inv.paymentRequest, lsat: o.challenge?.lsat ?? false, spec: o.challenge?.spec ?? true })) {
            headers.push(['www-authenticate', line])
          }
        }
      } catch (e) {
        log.warn('store failed to read an issued invoice', { error: e })
      }
    }
    const e = new TurnpikeError('TURNPIKE_PAYMENT_PENDING', 'The invoice is not paid yet: pay it, then retry with the same credential', {
      retryAfter: 1,
      details: { payment_hash: hash },
    })
    const reply = problem(e, 'payment pending', route, headers)
    return { ...reply, kind: 'challenge' }
  }

  return {
    async check(route, paymentHash, macaroon) {
      if (await cached(paymentHash)) return { kind: 'settled' }
      let state: InvoiceState
      const t = now()
      try {
        state = await lookup(paymentHash)
      } catch (e) {
        if (is(e, 'TURNPIKE_INVOICE_UNKNOWN')) return { kind: 'fresh', reason: 'invoice unknown to the node' }
        const timedOut = e instanceof Error && (e.name === 'TimeoutError' || e.name === 'AbortError')
        log.warn('settlement lookup failed; answering 503', { route, backend: backend.name, ms: now() - t, error: e })
        const err = new TurnpikeError(
          'TURNPIKE_BACKEND_UNAVAILABLE',
          timedOut ? 'The Lightning backend did not confirm the payment in time; retry' : 'The Lightning backend could not confirm the payment; retry',
          { cause: e, retryAfter: 2 },
        )
        return { kind: 'reply', reply: problem(err, 'settlement unknown', route) }
      }
      switch (state.status) {
        case 'settled':
          if (store.putValue !== undefined) {
            await store.putValue(cacheKey(paymentHash), '1', now() + o.cacheTtlMs).catch((e: unknown) => {
              log.warn('store failed to cache a settlement', { error: e })
            })
          }
          return { kind: 'settled' }
        case 'open':
          return { kind: 'reply', reply: await pending(route, paymentHash, macaroon) }
        case 'expired':
        case 'canceled':
          return { kind: 'fresh', reason: `invoice ${state.status}` }
      }
    },
  }
}
