/**
 * In-process store backed by `Map`s. For tests and single-process deployments only: state is
 * lost on restart and is not shared between cluster workers.
 * @module
 */
import { TurnpikeError } from '../Errors.ts'
import type { InvoiceRecord, Store } from '../Store.ts'
import { checkTake, fullAt, refill, result } from './bucket.ts'
import { pageOf } from '../internal/invoiceQuery.ts'
import { checkDebit, checkRefund, checkRevoke } from '../access/storeArgs.ts'

/**
 * A `Map`-based {@link Store}; expired rows are swept every `pruneIntervalMs` (default 60 000, 0 disables).
 * @example
 * import { memory } from 'turnpike/store/memory'
 * const store = memory()
 */
export function memory(o: memory.Options = {}): Store {
  const claims = new Map<string, number>()
  const invoices = new Map<string, InvoiceRecord>()
  const buckets = new Map<string, { tokens: number; updatedAt: number; expiresAt: number }>()
  const values = new Map<string, { value: string; expiresAt: number }>()
  const access = { credits: new Map<string, { balance: number; expiresAt: number }>(), revoked: new Map<string, number>() }
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
    for (const [key, b] of buckets) if (b.expiresAt <= now && buckets.delete(key)) n++
    for (const [key, v] of values) if (v.expiresAt <= now && values.delete(key)) n++
    for (const [key, v] of access.credits) if (v.expiresAt <= now && access.credits.delete(key)) n++
    for (const [key, at] of access.revoked) if (at <= now && access.revoked.delete(key)) n++
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
    async listInvoices(q) {
      open()
      const page = pageOf(invoices.values(), q)
      return { ...page, invoices: page.invoices.map((r) => ({ ...r })) }
    },
    async prune(now = Date.now()) {
      open()
      return prune(now)
    },
    async take(key, limit, now = Date.now()) {
      open()
      const l = checkTake(key, limit, now)
      // No await between read and write: atomic on the single JS thread.
      const b = buckets.get(key)
      const level = refill(l, b?.tokens, b?.updatedAt, now)
      const allowed = level >= l.cost
      const remaining = allowed ? level - l.cost : level
      const updatedAt = Math.max(b?.updatedAt ?? now, now)
      buckets.set(key, { tokens: remaining, updatedAt, expiresAt: fullAt(l, remaining, updatedAt) })
      return result(l, allowed, remaining)
    },
    async putValue(key, value, expiresAt) {
      open()
      if (!Number.isFinite(expiresAt)) throw new TypeError('putValue: expiresAt must be finite unix ms')
      const current = values.get(key)
      if (current !== undefined && current.expiresAt > Date.now()) return false
      values.set(key, { value: String(value), expiresAt })
      return true
    },
    async getValue(key) {
      open()
      const v = values.get(key)
      return v !== undefined && v.expiresAt > Date.now() ? v.value : undefined
    },
    async deleteValue(key) {
      open()
      values.delete(key)
    },
    ...accessMethods(open, access),
    async close() {
      closed = true
      clearInterval(timer)
      access.credits.clear()
      access.revoked.clear()
      claims.clear()
      invoices.clear()
      buckets.clear()
      values.clear()
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

/**
 * Credit balances and revocations (access/): separate from the core methods above. Each runs without
 * an await between read and write, so it is atomic on the single JS thread.
 */
function accessMethods(
  open: () => void,
  m: { credits: Map<string, { balance: number; expiresAt: number }>; revoked: Map<string, number> },
): Pick<Required<Store>, 'debit' | 'refund' | 'revoke' | 'listRevoked'> {
  return {
    async debit(account, amount, initial, expiresAt) {
      checkDebit(account, amount, initial, expiresAt)
      open()
      const now = Date.now()
      let c = m.credits.get(account)
      if (c === undefined || c.expiresAt <= now) c = { balance: initial, expiresAt }
      if (c.balance < amount) return undefined
      m.credits.set(account, { balance: c.balance - amount, expiresAt: c.expiresAt })
      return c.balance - amount
    },
    async refund(account, amount) {
      checkRefund(account, amount)
      open()
      const c = m.credits.get(account)
      if (c !== undefined && c.expiresAt > Date.now()) c.balance += amount
    },
    async revoke(tokenId, expiresAt) {
      checkRevoke(tokenId, expiresAt)
      open()
      m.revoked.set(tokenId, Math.max(expiresAt, m.revoked.get(tokenId) ?? 0))
    },
    async listRevoked() {
      open()
      const now = Date.now()
      return [...m.revoked].filter(([, at]) => at > now).map(([id]) => id)
    },
  }
}
