/**
 * Base64 codecs (RFC 4648 §4 std and §5 url-safe). Internal, never exported from the package.
 * @module
 */
import { Buffer } from 'node:buffer'
import { TurnpikeError } from '../Errors.ts'

// Decode table over char codes 0..127: 0..63 for both alphabets, -1 for anything else.
const table = new Int8Array(128).fill(-1)
const std = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'
for (let i = 0; i < 64; i++) table[std.charCodeAt(i)] = i
table[0x2d] = 62 // '-'
table[0x5f] = 63 // '_'

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

function malformed(why: string): never {
  throw new TurnpikeError('TURNPIKE_CREDENTIAL_MALFORMED', `invalid base64: ${why}`)
}

/**
 * Decodes std or url-safe base64, padded or not (both alphabets may even mix).
 * Throws TURNPIKE_CREDENTIAL_MALFORMED on any other character, misplaced padding or impossible length.
 */
export function decodeAny(s: string): Uint8Array {
  let end = s.length
  // Padding: at most two '=' and, when present, the padded length must be a multiple of 4.
  if (end > 0 && s.charCodeAt(end - 1) === 0x3d) {
    end--
    if (end > 0 && s.charCodeAt(end - 1) === 0x3d) end--
    if (s.length % 4 !== 0) malformed('bad padding')
  }
  const rem = end & 3
  if (rem === 1) malformed('bad length')
  if (s.length !== end && rem === 0) malformed('bad padding')
  const out = new Uint8Array((end >> 2) * 3 + (rem === 0 ? 0 : rem - 1))
  const full = end - rem
  let o = 0
  let i = 0
  for (; i < full; i += 4) {
    const a = dec(s, i)
    const b = dec(s, i + 1)
    const c = dec(s, i + 2)
    const d = dec(s, i + 3)
    if ((a | b | c | d) < 0) malformed('bad character')
    const n = (a << 18) | (b << 12) | (c << 6) | d
    out[o++] = n >> 16
    out[o++] = (n >> 8) & 0xff
    out[o++] = n & 0xff
  }
  if (rem !== 0) {
    const a = dec(s, i)
    const b = dec(s, i + 1)
    const c = rem === 3 ? dec(s, i + 2) : 0
    if ((a | b | c) < 0) malformed('bad character')
    const n = (a << 18) | (b << 12) | (c << 6)
    out[o++] = n >> 16
    if (rem === 3) out[o++] = (n >> 8) & 0xff
  }
  return out
}

function dec(s: string, i: number): number {
  const c = s.charCodeAt(i)
  return c < 128 ? (table[c] as number) : -1
}
