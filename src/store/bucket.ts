/**
 * Token-bucket arithmetic shared by the stores: argument checks, the refill rule and the result.
 * Every engine applies the same rule atomically in its own way (JS, SQL upsert, Lua).
 * @module
 */
import type { BucketLimit, TakeResult } from '../Store.ts'

/** A checked {@link BucketLimit} with `cost` filled in. */
export type Limit = { readonly capacity: number; readonly refillPerSecond: number; readonly cost: number }

/** Validates `take` arguments; throws TypeError (a caller bug, not an outage). */
export function checkTake(key: string, limit: BucketLimit, now: number): Limit {
  if (typeof key !== 'string') throw new TypeError('take: key must be a string')
  const { capacity, refillPerSecond } = limit ?? ({} as BucketLimit)
  const cost = limit?.cost ?? 1
  if (!(Number.isFinite(capacity) && capacity > 0)) throw new TypeError('take: capacity must be a finite number > 0')
  if (!(Number.isFinite(refillPerSecond) && refillPerSecond > 0)) {
    throw new TypeError('take: refillPerSecond must be a finite number > 0')
  }
  if (!(Number.isFinite(cost) && cost > 0 && cost <= capacity)) throw new TypeError('take: cost must be > 0 and ≤ capacity')
  if (!Number.isFinite(now)) throw new TypeError('take: now must be finite unix ms')
  return { capacity, refillPerSecond, cost }
}

/** The refilled level of a bucket last left at `tokens` at `updatedAt`; a missing bucket is full. */
export function refill(l: Limit, tokens: number | undefined, updatedAt: number | undefined, now: number): number {
  if (tokens === undefined || updatedAt === undefined) return l.capacity
  return Math.min(l.capacity, tokens + (Math.max(0, now - updatedAt) * l.refillPerSecond) / 1000)
}

/** The result for a bucket at `remaining` tokens after the call. */
export function result(l: Limit, allowed: boolean, remaining: number): TakeResult {
  const retryAfterMs = allowed ? 0 : Math.max(1, Math.ceil(((l.cost - remaining) * 1000) / l.refillPerSecond))
  return { allowed, remaining, retryAfterMs }
}

/** Unix ms at which a bucket at `remaining` tokens is full again, so its row may be pruned. */
export function fullAt(l: Limit, remaining: number, now: number): number {
  return now + Math.ceil(((l.capacity - remaining) * 1000) / l.refillPerSecond) + 1
}
