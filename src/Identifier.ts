/**
 * Aperture's 66-byte macaroon identifier (`l402/identifier.go`): version uint16 BE, payment hash, token id.
 * @module
 */
import { TurnpikeError } from './Errors.ts'

/** Decoded identifier. `paymentHash` and `tokenId` are 32 bytes each. */
export type Identifier = { readonly version: 0; readonly paymentHash: Uint8Array; readonly tokenId: Uint8Array }

/** Identifier length in bytes. */
export const LENGTH = 66

function malformed(why: string): never {
  throw new TurnpikeError('TURNPIKE_IDENTIFIER_MALFORMED', `malformed identifier: ${why}`)
}

/** Encodes version 0 ‖ payment hash ‖ token id (66 bytes). */
export function encode(p: { version: 0; paymentHash: Uint8Array; tokenId: Uint8Array }): Uint8Array {
  if (p.version !== 0) malformed('unknown version')
  if (p.paymentHash.length !== 32) malformed('payment hash must be 32 bytes')
  if (p.tokenId.length !== 32) malformed('token id must be 32 bytes')
  const out = new Uint8Array(LENGTH)
  out.set(p.paymentHash, 2)
  out.set(p.tokenId, 34)
  return out
}

/** Decodes exactly 66 bytes with version 0; the hashes are views into `bytes`. */
export function decode(bytes: Uint8Array): Identifier {
  // Aperture zero-pads a short identifier by accident; anything but exactly 66 bytes is rejected.
  if (bytes.length !== LENGTH) malformed(`expected ${LENGTH} bytes, got ${bytes.length}`)
  if (bytes[0] !== 0 || bytes[1] !== 0) malformed('unknown version')
  return {
    version: 0,
    paymentHash: new Uint8Array(bytes.buffer, bytes.byteOffset + 2, 32),
    tokenId: new Uint8Array(bytes.buffer, bytes.byteOffset + 34, 32),
  }
}
