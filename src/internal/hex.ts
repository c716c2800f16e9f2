/**
 * Hex codecs. Internal, never exported from the package.
 * @module
 */
import { Buffer } from 'node:buffer'
import { TurnpikeError } from '../Errors.ts'

/** Lowercase hex of `bytes`. */
export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')
}

function nibble(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30 // 0-9
  const l = c | 0x20 // ASCII lower-case fold
  if (l >= 0x61 && l <= 0x66) return l - 0x57 // a-f
  return -1
}

/** Decodes hex in any case. Throws TURNPIKE_CREDENTIAL_MALFORMED on odd length or a non-hex character. */
export function fromHex(s: string): Uint8Array {
  if ((s.length & 1) !== 0) throw new TurnpikeError('TURNPIKE_CREDENTIAL_MALFORMED', 'invalid hex: odd length')
  const out = new Uint8Array(s.length >> 1)
  for (let i = 0, o = 0; i < s.length; i += 2, o++) {
    const hi = nibble(s.charCodeAt(i))
    const lo = nibble(s.charCodeAt(i + 1))
    if ((hi | lo) < 0) throw new TurnpikeError('TURNPIKE_CREDENTIAL_MALFORMED', 'invalid hex: bad character')
    out[o] = (hi << 4) | lo
  }
  return out
}
