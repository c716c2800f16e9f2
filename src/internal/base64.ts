/**
 * Base64 codecs (RFC 4648 §4 std and §5 url-safe). Internal, never exported from the package.
 * @module
 */
import { Buffer } from 'node:buffer'
import { TurnpikeError } from '../Errors.ts'

function view(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

/** Standard alphabet with `=` padding. */
export function encodeStd(bytes: Uint8Array): string {
  return view(bytes).toString('base64')
}

/** URL-safe alphabet without padding. */
export function encodeUrl(bytes: Uint8Array): string {
  return view(bytes).toString('base64url')
}

// Either alphabet (mixing is tolerated), then at most two '=' at the very end.
const VALID = /^[A-Za-z0-9+/_-]*={0,2}$/

/**
 * Decodes std or url-safe base64, padded or not. Throws TURNPIKE_CREDENTIAL_MALFORMED on any other
 * character, misplaced padding or an impossible length. Returns a plain Uint8Array view.
 */
export function decodeAny(s: string): Uint8Array {
  if (!VALID.test(s)) malformed('bad character')
  // Padded input must be a whole number of quads; unpadded input cannot leave a single char.
  if (s.charCodeAt(s.length - 1) === 0x3d ? (s.length & 3) !== 0 : (s.length & 3) === 1) malformed('bad length')
  // Node's decoder accepts both alphabets and missing padding; validation above makes it strict.
  // (A native decode into Node's pool is several times faster than a JS loop or a fresh ArrayBuffer.)
  const b = Buffer.from(s, 'base64')
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength)
}

function malformed(why: string): never {
  throw new TurnpikeError('TURNPIKE_CREDENTIAL_MALFORMED', `invalid base64: ${why}`)
}
