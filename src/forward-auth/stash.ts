/**
 * Short-lived, single-use store of verdicts for nginx's second hop. `auth_request` can only answer
 * 2xx/401/403, so the nginx endpoint keeps the real reply (the 402 with its invoice, or a 400/404/503
 * problem) here, answers 401 with its id, and the `error_page 401` location fetches it once: the
 * client gets the reply minted on the first hop, so an unpaid request costs exactly one invoice.
 * @module
 */
import { randomBytes } from 'node:crypto'
import type { Reply } from '../RequestView.ts'

export type Stash = {
  /** Keeps a reply and returns its id (22 url-safe characters, 128 random bits). */
  put(reply: Reply): string
  /** Returns the reply once; undefined when unknown, taken or expired. */
  take(id: string): Reply | undefined
  readonly size: number
}

const idRe = /^[A-Za-z0-9_-]{22}$/

/**
 * An in-memory stash. Entries live `ttlMs` (default 30 s: nginx fetches within milliseconds) and at
 * most `max` are kept (default 10 000, oldest dropped first), which bounds memory under a flood.
 * @example
 * const s = stash()
 * const id = s.put(reply)
 * s.take(id) // reply; a second take → undefined
 */
export function stash(o: { ttlMs?: number; max?: number; now?: () => number } = {}): Stash {
  const ttlMs = o.ttlMs ?? 30_000
  const max = o.max ?? 10_000
  const now = o.now ?? Date.now
  // Insertion order is age order, so pruning only ever looks at the front.
  const entries = new Map<string, { reply: Reply; expiresAt: number }>()

  function prune(t: number) {
    for (const [id, e] of entries) {
      if (e.expiresAt > t && entries.size < max) break
      entries.delete(id)
    }
  }

  return {
    put(reply) {
      const t = now()
      prune(t)
      const id = randomBytes(16).toString('base64url')
      entries.set(id, { reply, expiresAt: t + ttlMs })
      return id
    },
    take(id) {
      if (!idRe.test(id)) return undefined
      const e = entries.get(id)
      if (!e) return undefined
      entries.delete(id)
      return e.expiresAt > now() ? e.reply : undefined
    },
    get size() {
      return entries.size
    },
  }
}
