/**
 * The Lightning backend contract. Implementations live in `lightning/` and pass
 * `lightning/conformance.ts`.
 * @module
 */
import { TurnpikeError } from './Errors.ts'

/** A fresh invoice. */
export type Invoice = {
  /** BOLT11 string, signed by the backend's node. */
  readonly paymentRequest: string
  /** Lowercase hex; MUST equal the invoice's `p` field. */
  readonly paymentHash: string
  readonly amountMsat: bigint
  /** Unix milliseconds. */
  readonly createdAt: number
  /** Unix milliseconds (createdAt + expiry). */
  readonly expiresAt: number
}

export type InvoiceStatus = 'open' | 'settled' | 'expired' | 'canceled'

export type InvoiceState = {
  readonly paymentHash: string
  readonly status: InvoiceStatus
  /** Present only when settled (lowercase hex). */
  readonly preimage?: string
  readonly amountMsat?: bigint
  /** Unix milliseconds. */
  readonly settledAt?: number
}

export type CreateInvoiceParameters = {
  readonly amountMsat: bigint
  readonly description?: string
  /** Seconds. */
  readonly expirySeconds: number
  readonly signal?: AbortSignal
}

export type NodeInfo = { readonly pubkey: string; readonly network: string; readonly alias?: string }

/** A Lightning node or wallet the gateway can invoice through. */
export type Backend = {
  readonly name: string
  /**
   * Creates an invoice. MUST return a signed BOLT11 whose payment hash equals `paymentHash`.
   * MUST reject with `TURNPIKE_BACKEND_UNAVAILABLE` (or `TURNPIKE_BACKEND_ERROR`) on failure.
   */
  createInvoice(p: CreateInvoiceParameters): Promise<Invoice>
  /**
   * Looks an invoice up. MUST derive `settled` from the node's state, never from the presence of
   * a preimage (an unpaid invoice's preimage is known to its node).
   */
  lookupInvoice(paymentHash: string, o?: { signal?: AbortSignal }): Promise<InvoiceState>
  /** Optional: settlement updates as they happen. */
  subscribe?(o: { signal: AbortSignal }): AsyncIterable<InvoiceState>
  /** Optional. */
  getInfo?(): Promise<NodeInfo>
  close?(): Promise<void>
}

/** Options of {@link waitForSettlement}. */
export type WaitForSettlementOptions = {
  readonly signal?: AbortSignal
  /** Polling period in ms (default 1000, at least 10). */
  readonly intervalMs?: number
  /** Gives up after this many ms with a `TimeoutError` DOMException (default: never). */
  readonly timeoutMs?: number
}

/**
 * Resolves with the `settled` state of `paymentHash`. Follows `backend.subscribe` when offered
 * (filtered on the hash, with a lookup every 10 × `intervalMs` as a safety net for missed updates
 * and expiry) and polls `lookupInvoice` every `intervalMs` otherwise or once the stream ends.
 * @remarks Rejects with `TURNPIKE_INVOICE_EXPIRED` when the invoice is expired or canceled, with a
 * `TimeoutError` DOMException after `timeoutMs`, with `signal.reason` on abort, and with any lookup
 * error except `TURNPIKE_BACKEND_UNAVAILABLE` (transient: retried at the next tick).
 * @example
 * const state = await waitForSettlement(backend, invoice.paymentHash, { timeoutMs: 60_000 })
 */
export async function waitForSettlement(
  backend: Backend,
  paymentHash: string,
  o: WaitForSettlementOptions = {},
): Promise<InvoiceState> {
  const intervalMs = Math.max(10, o.intervalMs ?? 1000)
  const stop = new AbortController()
  const signals = [stop.signal]
  if (o.signal !== undefined) signals.push(o.signal)
  if (o.timeoutMs !== undefined) signals.push(AbortSignal.timeout(Math.max(0, o.timeoutMs)))
  const signal = AbortSignal.any(signals)
  let updates: AsyncIterator<InvoiceState> | undefined
  try {
    signal.throwIfAborted()
    let next: Promise<IteratorResult<InvoiceState>> | undefined
    if (backend.subscribe !== undefined) {
      try {
        // Ask for the first update before the initial lookup so that a settlement in between is
        // not missed (async generators only start running on the first `next()`).
        updates = backend.subscribe({ signal })[Symbol.asyncIterator]()
        next = updates.next()
        next.catch(() => {})
      } catch {
        updates = undefined
      }
    }
    let state = await lookup(backend, paymentHash, signal)
    let lookupAt = Date.now() + (next === undefined ? intervalMs : intervalMs * 10)
    for (;;) {
      if (state !== undefined) {
        if (state.status === 'settled') return state
        if (state.status === 'expired' || state.status === 'canceled') {
          throw new TurnpikeError('TURNPIKE_INVOICE_EXPIRED', `invoice ${state.status}`)
        }
      }
      const timer = sleep(lookupAt - Date.now(), signal)
      if (next === undefined) {
        await timer.done
      } else {
        const r = await Promise.race([
          next.then(
            (value) => ({ value }),
            () => ({ value: undefined }),
          ),
          timer.done.then(() => 'tick' as const),
        ])
        timer.cancel()
        if (r !== 'tick') {
          signal.throwIfAborted()
          if (r.value === undefined || r.value.done === true) {
            next = undefined // the stream failed or ended: poll from now on
            lookupAt = Date.now()
          } else {
            next = updates!.next()
            next.catch(() => {})
            if (r.value.value.paymentHash === paymentHash) state = r.value.value
            continue
          }
        }
      }
      state = await lookup(backend, paymentHash, signal)
      lookupAt = Date.now() + (next === undefined ? intervalMs : intervalMs * 10)
    }
  } finally {
    stop.abort()
    updates?.return?.().catch(() => {})
  }
}

/** One lookup; `undefined` when the backend is transiently unavailable. */
async function lookup(backend: Backend, paymentHash: string, signal: AbortSignal): Promise<InvoiceState | undefined> {
  try {
    return await backend.lookupInvoice(paymentHash, { signal })
  } catch (e) {
    signal.throwIfAborted()
    if (e instanceof TurnpikeError && e.code === 'TURNPIKE_BACKEND_UNAVAILABLE') return undefined
    throw e
  }
}

function sleep(ms: number, signal: AbortSignal): { done: Promise<void>; cancel(): void } {
  let cancel = (): void => {}
  const done = new Promise<void>((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason)
    const onAbort = (): void => {
      clearTimeout(timer)
      reject(signal.reason)
    }
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort)
      resolve()
    }, Math.max(0, ms))
    signal.addEventListener('abort', onAbort, { once: true })
    cancel = () => {
      clearTimeout(timer)
      signal.removeEventListener('abort', onAbort)
      resolve()
    }
  })
  return { done, cancel }
}
