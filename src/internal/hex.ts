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

const VALID = /^[0-9a-fA-F]*$/

/** Decodes hex in any case. Throws TURNPIKE_CREDENTIAL_MALFORMED on odd length or a non-hex character. */
export function fromHex(s: string): Uint8Array {
  if ((s.length & 1) !== 0) throw new TurnpikeError('TURNPIKE_CREDENTIAL_MALFORMED', 'invalid hex: odd length')
  if (!VALID.test(s)) throw new TurnpikeError('TURNPIKE_CREDENTIAL_MALFORMED', 'invalid hex: bad character')
  const b = Buffer.from(s, 'hex')
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength)
}
