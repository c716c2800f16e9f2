/**
 * Store-backed revocation without a store read per request: each gateway keeps the live revoked
 * token ids in memory and refreshes them from the store every `intervalMs` (default 1 s), so a
 * `turnpike token revoke` reaches every instance sharing the store within about a second.
 * @module
 */
import type { Store } from '../Store.ts'
import type { Logger } from '../internal/log.ts'
import { poll } from '../internal/poll.ts'

export type Revocations = {
  /** True when `tokenId` (lowercase hex) was revoked, as of the last refresh. O(1). */
  has(tokenId: string): boolean
  /** Refreshes now (also runs on the timer); never rejects. */
  refresh(): Promise<void>
  stop(): void
}

/** Watches the store's revocations; a store without `listRevoked` revokes nothing. */
export function watchRevocations(store: Store, log: Logger, intervalMs = 1000): Revocations {
  let revoked: ReadonlySet<string> = new Set()
  const list = store.listRevoked?.bind(store)
  if (list === undefined) return { has: () => false, refresh: async () => {}, stop() {} }
  // The last known set stays in force on failure; per-request and credits routes hit the store anyway.
  const poller = poll({ load: list, apply: (ids) => (revoked = new Set(ids)), intervalMs, log, what: 'revoked tokens', fields: { store: store.name } })
  return { has: (id) => revoked.size > 0 && revoked.has(id), ...poller }
}
