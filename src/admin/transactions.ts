/**
 * Transactions and revenue for the admin API: invoices the gateway issued (from the store's
 * `listInvoices`) with their payment status (from the backend, cached once final).
 * @module
 */
import { TurnpikeError } from '../Errors.ts'
import type { Backend, InvoiceStatus } from '../Lightning.ts'
import type { InvoicePage, InvoiceQuery, InvoiceRecord, Store } from '../Store.ts'

export type Status = InvoiceStatus | 'unknown'

export type Transaction = {
  readonly payment_hash: string
  readonly route: string
  readonly amount_msat: string
  /** ISO 8601. */
  readonly created_at: string
  readonly status: Status
  readonly settled_at?: string
  readonly payment_request: string
  readonly token_id: string
}

export type RevenueBucket = { issued_count: number; issued_msat: string; settled_count: number; settled_msat: string }

/** Looks up payment status with a bounded cache of final states and bounded concurrency. */
export function statusLookup(backend: Backend, o: { cacheSize?: number; concurrency?: number; timeoutMs?: number } = {}) {
  const cache = new Map<string, { status: Status; settledAt?: number }>()
  const max = o.cacheSize ?? 50_000
  const concurrency = o.concurrency ?? 8
  const timeoutMs = o.timeoutMs ?? 5000

  async function one(hash: string): Promise<{ status: Status; settledAt?: number }> {
    const hit = cache.get(hash)
    if (hit) return hit
    try {
      const s = await backend.lookupInvoice(hash, { signal: AbortSignal.timeout(timeoutMs) })
      const v = { status: s.status as Status, ...(s.settledAt !== undefined ? { settledAt: s.settledAt } : {}) }
      if (s.status !== 'open') {
        if (cache.size >= max) cache.delete(cache.keys().next().value!)
        cache.set(hash, v)
      }
      return v
    } catch {
      // Unknown to the backend (e.g. a dev node restarted) or unreachable: not a reason to fail the page.
      return { status: 'unknown' }
    }
  }

  return async function statuses(hashes: readonly string[]): Promise<Map<string, { status: Status; settledAt?: number }>> {
    const out = new Map<string, { status: Status; settledAt?: number }>()
    let next = 0
    const worker = async () => {
      while (next < hashes.length) {
        const h = hashes[next++]!
        out.set(h, await one(h))
      }
    }
    await Promise.all(Array.from({ length: Math.min(concurrency, hashes.length) }, worker))
    return out
  }
}

export type Statuses = ReturnType<typeof statusLookup>

function needList(store: Store): NonNullable<Store['listInvoices']> {
  if (!store.listInvoices) throw new TurnpikeError('TURNPIKE_NOT_IMPLEMENTED', `The ${store.name} store cannot list invoices`)
  return store.listInvoices.bind(store)
}

async function page(store: Store, q: InvoiceQuery): Promise<InvoicePage> {
  try {
    return await needList(store)(q)
  } catch (e) {
    if (e instanceof TypeError) throw new TurnpikeError('TURNPIKE_BAD_REQUEST', `cursor: ${e.message}`, { details: { param: 'cursor' } })
    throw e
  }
}

const iso = (ms: number): string => new Date(ms).toISOString()

/** One page of transactions; `status` filters within the page (a page may come back short). */
export async function listTransactions(
  store: Store,
  statuses: Statuses,
  q: InvoiceQuery & { status?: Status | undefined; lookup: boolean },
): Promise<{ transactions: Transaction[]; next?: string }> {
  const p = await page(store, q)
  const st = q.lookup ? await statuses(p.invoices.map((r) => r.paymentHash)) : new Map<string, { status: Status; settledAt?: number }>()
  const transactions = p.invoices
    .map((r: InvoiceRecord): Transaction => {
      const s = st.get(r.paymentHash) ?? { status: 'unknown' as const }
      return {
        payment_hash: r.paymentHash,
        route: r.route,
        amount_msat: r.amountMsat.toString(),
        created_at: iso(r.createdAt),
        status: s.status,
        ...(s.settledAt !== undefined ? { settled_at: iso(s.settledAt) } : {}),
        payment_request: r.paymentRequest,
        token_id: r.tokenId,
      }
    })
    .filter((t) => q.status === undefined || t.status === q.status)
  return { transactions, ...(p.next ? { next: p.next } : {}) }
}

/** Issued and settled totals over a time range, per route; scans at most `maxScan` invoices. */
export async function revenue(
  store: Store,
  statuses: Statuses,
  q: { since?: number | undefined; until?: number | undefined; route?: string | undefined; maxScan: number },
) {
  const byRoute = new Map<string, { ic: number; im: bigint; sc: number; sm: bigint }>()
  let scanned = 0
  let cursor: string | undefined
  let truncated = false
  do {
    const p = await page(store, { since: q.since, until: q.until, route: q.route, limit: Math.min(500, q.maxScan - scanned), cursor })
    const st = await statuses(p.invoices.map((r) => r.paymentHash))
    for (const r of p.invoices) {
      let b = byRoute.get(r.route)
      if (!b) byRoute.set(r.route, (b = { ic: 0, im: 0n, sc: 0, sm: 0n }))
      b.ic++
      b.im += r.amountMsat
      if (st.get(r.paymentHash)?.status === 'settled') {
        b.sc++
        b.sm += r.amountMsat
      }
    }
    scanned += p.invoices.length
    cursor = p.next
    if (cursor && scanned >= q.maxScan) {
      truncated = true
      break
    }
  } while (cursor)
  const total = { ic: 0, im: 0n, sc: 0, sm: 0n }
  const routes: Record<string, RevenueBucket> = {}
  for (const [name, b] of [...byRoute].sort(([a], [b]) => (a < b ? -1 : 1))) {
    routes[name] = { issued_count: b.ic, issued_msat: b.im.toString(), settled_count: b.sc, settled_msat: b.sm.toString() }
    total.ic += b.ic
    total.im += b.im
    total.sc += b.sc
    total.sm += b.sm
  }
  return {
    ...(q.since !== undefined ? { since: iso(q.since) } : {}),
    ...(q.until !== undefined ? { until: iso(q.until) } : {}),
    total: { issued_count: total.ic, issued_msat: total.im.toString(), settled_count: total.sc, settled_msat: total.sm.toString() },
    routes,
    scanned,
    truncated,
  }
}
