/**
 * Composes one 402 for one invoice across every scheme a route offers (protocols.md §8):
 * `LSAT`?, `L402`, then `Payment` on `WWW-Authenticate`; `X-Cashu` and `PAYMENT-REQUIRED` as their
 * own headers. `Accept-Payment` may move the `Payment` line first or drop it.
 * @module
 */
import type { Route } from '../Config.ts'
import * as L402 from '../L402.ts'
import type { Invoice } from '../Lightning.ts'
import * as Mpp from '../Mpp.ts'
import * as X402 from '../X402.ts'
import type { RequestView } from '../RequestView.ts'
import type { Refused } from './outcome.ts'
import { hostOnly } from './route.ts'

export type ComposeParameters = {
  readonly route: Route
  readonly view: RequestView
  readonly invoice: Invoice
  /** Serialized macaroon bound to the invoice. */
  readonly macaroon: string
  readonly lsat: boolean
  readonly spec: boolean
  readonly mppSecret: Uint8Array
  /** Why a credential was refused, when this is a re-challenge. */
  readonly failure?: Refused | undefined
  /** Extra challenge headers from schemes composed elsewhere (`x-cashu`, `payment-required`). */
  readonly extra?: readonly (readonly [string, string])[] | undefined
}

export type Composed = {
  /** Challenge header lines, in wire order. */
  readonly lines: [string, string][]
  readonly contentType: string
  readonly body: string
  /** The `Payment` challenge id, when one was offered. */
  readonly challengeId?: string
}

/** Whether the `Payment` line is offered, and first, given the client's `Accept-Payment`. */
function paymentPlacement(route: Route, view: RequestView): 'none' | 'after' | 'first' {
  if (!route.schemes.includes('payment')) return 'none'
  const ranges = Mpp.parseAcceptPayment(view.header('accept-payment'))
  if (ranges === undefined) return 'after'
  const q = Mpp.preference(ranges, 'lightning', 'charge')
  if (q !== undefined && q > 0) return 'first' // an MPP client asked for it: Alby's fetch402 reads the first line
  return route.schemes.length > 1 ? 'none' : 'after' // a refusal that would leave nothing to pay is ignored
}

export function compose(p: ComposeParameters): Composed {
  const { route, invoice, failure } = p
  const l402 = route.schemes.includes('l402')
  const lines: [string, string][] = []
  const placement = paymentPlacement(route, p.view)
  let payment: Mpp.Challenge | undefined
  if (placement !== 'none') {
    payment = Mpp.offer({
      secret: p.mppSecret,
      realm: hostOnly(p.view.host) || 'turnpike',
      invoice,
      amountSat: route.priceMsat / 1000n,
      description: route.description,
    })
  }
  if (payment && placement === 'first') lines.push(['www-authenticate', Mpp.serializeChallenge(payment)])
  if (l402) {
    for (const v of L402.challenge({ macaroon: p.macaroon, invoice: invoice.paymentRequest, lsat: p.lsat, spec: p.spec })) {
      lines.push(['www-authenticate', v])
    }
  }
  if (payment && placement === 'after') lines.push(['www-authenticate', Mpp.serializeChallenge(payment)])
  for (const [k, v] of p.extra ?? []) lines.push([k, v])
  if (route.schemes.includes('x402')) {
    const required: X402.PaymentRequired = {
      x402Version: 2,
      ...(failure ? { error: failure.detail } : {}),
      resource: X402.resource(p.view, route.description),
      accepts: [X402.requirements(invoice)],
    }
    lines.push(['payment-required', X402.encodeRequired(required)])
  }

  const extras = {
    invoice: invoice.paymentRequest,
    ...(l402 ? { macaroon: p.macaroon } : {}),
    payment_hash: invoice.paymentHash,
    amount_msat: Number(invoice.amountMsat),
    expires_at: Math.floor(invoice.expiresAt / 1000),
    description: route.description,
  }
  const detail =
    failure?.detail ??
    (l402 ? 'Pay the invoice, then retry with Authorization: L402 <macaroon>:<preimage>' : 'Pay the invoice, then retry with the credential of an offered scheme')
  const body = payment
    ? {
        type: failure?.type ?? Mpp.problemBase + 'payment-required',
        title: failure?.title ?? Mpp.problems['payment-required'].title,
        status: 402,
        detail,
        ...(failure ? { code: failure.code, ...failure.members } : {}),
        challengeId: payment.id,
        ...extras,
      }
    : {
        type: failure?.type ?? 'https://turnpike.dev/errors#turnpike_payment_required',
        title: failure?.title ?? 'Payment required',
        status: 402,
        detail,
        ...(failure ? { code: failure.code, ...failure.members } : {}),
        ...extras,
      }
  return {
    lines,
    contentType: payment ? 'application/problem+json' : 'application/json',
    body: JSON.stringify(body),
    ...(payment ? { challengeId: payment.id } : {}),
  }
}
