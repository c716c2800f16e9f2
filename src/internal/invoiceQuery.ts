/**
 * Shared pieces of `Store.listInvoices`: the opaque cursor (`<createdAt>.<paymentHash>` of the last
 * row of a page) and paging over records already in memory (memory and Redis stores).
 * @module
 */
import type { InvoicePage, InvoiceQuery, InvoiceRecord } from '../Store.ts'

export type Cursor = { readonly createdAt: number; readonly paymentHash: string }

export function encodeCursor(r: Pick<InvoiceRecord, 'createdAt' | 'paymentHash'>): string {
  return `${r.createdAt}.${r.paymentHash}`
}

/** Decodes a cursor; throws a TypeError on anything else. */
export function decodeCursor(s: string): Cursor {
  const m = /^(\d{1,16})\.([0-9a-f]{1,128})$/.exec(s)
  if (!m) throw new TypeError('listInvoices: malformed cursor')
  return { createdAt: Number(m[1]), paymentHash: m[2]! }
}

/** Throws a TypeError unless `q` is a valid query. */
export function checkQuery(q: InvoiceQuery): { limit: number; cursor: Cursor | undefined } {
  if (!Number.isInteger(q.limit) || q.limit < 1 || q.limit > 1000) throw new TypeError('listInvoices: limit must be 1–1000')
  for (const t of [q.since, q.until]) if (t !== undefined && !Number.isFinite(t)) throw new TypeError('listInvoices: since/until must be unix ms')
  return { limit: q.limit, cursor: q.cursor === undefined ? undefined : decodeCursor(q.cursor) }
}

/** True when `r` sorts after the cursor (older, or same time with a smaller hash). */
export function after(r: Pick<InvoiceRecord, 'createdAt' | 'paymentHash'>, c: Cursor | undefined): boolean {
  return c === undefined || r.createdAt < c.createdAt || (r.createdAt === c.createdAt && r.paymentHash < c.paymentHash)
}

/** Filters, sorts newest first and pages records held in memory. */
export function pageOf(records: Iterable<InvoiceRecord>, q: InvoiceQuery): InvoicePage {
  const { limit, cursor } = checkQuery(q)
  const rows: InvoiceRecord[] = []
  for (const r of records) {
    if (q.route !== undefined && r.route !== q.route) continue
    if (q.since !== undefined && r.createdAt < q.since) continue
    if (q.until !== undefined && r.createdAt >= q.until) continue
    if (after(r, cursor)) rows.push(r)
  }
  rows.sort((a, b) => b.createdAt - a.createdAt || (a.paymentHash < b.paymentHash ? 1 : a.paymentHash > b.paymentHash ? -1 : 0))
  const invoices = rows.slice(0, limit)
  return rows.length > limit ? { invoices, next: encodeCursor(invoices[invoices.length - 1]!) } : { invoices }
}
