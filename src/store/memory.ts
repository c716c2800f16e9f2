/**
 * In-process store backed by two `Map`s. For tests and single-process deployments only: state is
 * lost on restart and is not shared between cluster workers.
 * @module
 */
import { TurnpikeError } from '../Errors.ts'
import type { InvoiceRecord, Store } from '../Store.ts'

/**
 * A `Map`-based {@link Store}; expired rows are swept every `pruneIntervalMs` (default 60 000, 0 disables).
 * @example
 * import { memory } from 'turnpike/store/memory'
 * const store = memory()
 */
export function memory(o: memory.Options = {}): Store {
  const claims = new Map<string, number>()
  const invoices = new Map<string, InvoiceRecord>()
  let closed = false

  const open = (): void => {
    if (closed) {
      throw new TurnpikeError('TURNPIKE_STORE_UNAVAILABLE', 'Memory store unavailable', {
        cause: new Error('store is closed'),
        retryAfter: 1,
      })
    }
  }

  const prune = (now: number): number => {
    let n = 0
    for (const [key, expiresAt] of claims) if (expiresAt <= now && claims.delete(key)) n++
    for (const [hash, r] of invoices) if (r.expiresAt <= now && invoices.delete(hash)) n++
    return n
  }

  const interval = o.pruneIntervalMs ?? 60_000
  const timer = interval > 0 ? setInterval(() => prune(Date.now()), interval) : undefined
  timer?.unref()

  return {
    name: 'memory',
    async claim(key, expiresAt) {
      open()
      if (!Number.isFinite(expiresAt)) throw new TypeError('claim: expiresAt must be finite unix ms')
      // Runs without an await in between, so it is atomic on the single JS thread.
      const current = claims.get(key)
      if (current !== undefined && current > Date.now()) return false
      claims.set(key, expiresAt)
      return true
    },
    async release(key) {
      open()
      claims.delete(key)
    },
    async putInvoice(record) {
      open()
      // First write wins: an issued invoice is never rewritten.
      if (!invoices.has(record.paymentHash)) invoices.set(record.paymentHash, { ...record })
    },
    async getInvoice(paymentHash) {
      open()
      const r = invoices.get(paymentHash)
      return r === undefined ? undefined : { ...r }
    },
    async prune(now = Date.now()) {
      open()
      return prune(now)
    },
    async close() {
      closed = true
      clearInterval(timer)
      claims.clear()
      invoices.clear()
    },
  }
}

export declare namespace memory {
  /** Options for {@link memory}. */
  type Options = {
    /** Sweep interval for expired rows (ms). Default 60 000; 0 disables. The timer is unref'd. */
    readonly pruneIntervalMs?: number
  }
}
