/**
 * Constant-time comparison. Internal, never exported from the package.
 * @module
 */
import { timingSafeEqual } from 'node:crypto'

/** True when `a` and `b` hold the same bytes; time depends only on the length. Length mismatch → false. */
export function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && timingSafeEqual(a, b)
}
