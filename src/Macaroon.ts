/**
 * Macaroon V2 binary codec (go-macaroon / libmacaroons layout), HMAC chain, verify and attenuate.
 * See protocols.md §1.6–1.7.
 * @module
 */
import { Buffer } from 'node:buffer'
import { hash } from 'node:crypto'
import { TurnpikeError } from './Errors.ts'
import { decodeAny, encodeStd } from './internal/base64.ts'
import { equal } from './internal/constantTime.ts'

/** A caveat: first-party when `verificationId` is absent. */
export type Caveat = {
  readonly id: Uint8Array
  readonly verificationId?: Uint8Array
  readonly location?: string
}

/** A decoded macaroon. Byte fields returned by `decode` are views into the input (no copies). */
export type Macaroon = {
  readonly location: string | undefined
  readonly identifier: Uint8Array
  readonly caveats: readonly Caveat[]
  readonly signature: Uint8Array
}

// Packet types (go-macaroon marshal-v2.go). Not the table in lightninglabs/L402 macaroon-spec.md.
const EOS = 0
const LOCATION = 1
const IDENTIFIER = 2
const VID = 4
const SIGNATURE = 6

const utf8Encoder = new TextEncoder()
const utf8Strict = new TextDecoder('utf-8', { fatal: true })
const utf8Lenient = new TextDecoder('utf-8')
const LSAT = utf8Encoder.encode('lsat')
// HMAC key of the root-key derivation, as go-macaroon, libmacaroons and js-macaroon do.
const GENERATOR = utf8Encoder.encode('macaroons-key-generator')

// ---- HMAC-SHA256 on node:crypto one-shot hash(). createHmac costs several times more per call, and
// hash() with a 'binary' (latin1) string digest is ~3x cheaper than with a Buffer digest, so chain values travel
// as 32-char latin1 strings and are written into reused pad buffers. Everything here is synchronous,
// so sharing the scratch buffers is safe.
let inner = Buffer.allocUnsafeSlow(64 + 192) // (key ^ ipad) ‖ message
const outer = Buffer.allocUnsafeSlow(64 + 32) // (key ^ opad) ‖ inner digest
const last = Buffer.allocUnsafeSlow(32)

/** HMAC-SHA256(key, msg) as a latin1 string; `key` and `msg` are bytes or latin1 strings (one char per byte). */
function hmac(key: Uint8Array | string, msg: Uint8Array | string): string {
  if (typeof key !== 'string' && key.length > 64) key = hash('sha256', key, 'binary')
  const n = 64 + msg.length
  let buf = inner
  if (n > buf.length) buf = n <= 4096 ? (inner = Buffer.allocUnsafeSlow(n)) : Buffer.allocUnsafeSlow(n)
  const kl = key.length
  for (let i = 0; i < 64; i++) {
    const b = i >= kl ? 0 : typeof key === 'string' ? key.charCodeAt(i) : (key[i] as number)
    buf[i] = b ^ 0x36
    outer[i] = b ^ 0x5c
  }
  if (typeof msg === 'string') buf.write(msg, 64, 'latin1')
  else buf.set(msg, 64)
  outer.write(hash('sha256', n === buf.length ? buf : buf.subarray(0, n), 'binary'), 64, 'latin1')
  return hash('sha256', outer, 'binary')
}

/** sig_0 = HMAC(HMAC("macaroons-key-generator", rootKey), identifier). */
function start(rootKey: Uint8Array | string, identifier: Uint8Array): string {
  return hmac(hmac(GENERATOR, rootKey), identifier)
}

function toBytes(sig: string): Uint8Array {
  const out = new Uint8Array(32)
  for (let i = 0; i < 32; i++) out[i] = sig.charCodeAt(i)
  return out
}

function malformed(why: string): never {
  throw new TurnpikeError('TURNPIKE_MACAROON_MALFORMED', `malformed macaroon: ${why}`)
}

/** Mints a macaroon: location defaults to `lsat` (Aperture); caveats are first-party condition strings. */
export function mint(p: {
  rootKey: Uint8Array
  identifier: Uint8Array
  location?: string
  caveats?: readonly string[]
}): Macaroon {
  const identifier = new Uint8Array(p.identifier)
  let sig = start(p.rootKey, identifier)
  const caveats: Caveat[] = []
  for (const c of p.caveats ?? []) {
    const id = utf8Encoder.encode(c)
    sig = hmac(sig, id)
    caveats.push({ id })
  }
  return { location: p.location ?? 'lsat', identifier, caveats, signature: toBytes(sig) }
}

/** Appends a first-party caveat, extending the chain from `m.signature` (no root key needed). */
export function attenuate(m: Macaroon, caveat: string): Macaroon {
  const id = utf8Encoder.encode(caveat)
  return {
    location: m.location,
    identifier: m.identifier,
    caveats: [...m.caveats, { id }],
    signature: toBytes(hmac(m.signature, id)),
  }
}

// ---- encode

function uvarintSize(n: number): number {
  let s = 1
  while (n >= 0x80) {
    n = Math.floor(n / 128)
    s++
  }
  return s
}

function fieldSize(len: number): number {
  return 1 + uvarintSize(len) + len
}

function utf8(s: string): Uint8Array {
  return s === 'lsat' ? LSAT : utf8Encoder.encode(s)
}

/** V2 binary encoding, byte-exact with go-macaroon (a defined location is always written). */
export function encode(m: Macaroon): Uint8Array {
  if (m.signature.length !== 32) malformed('signature must be 32 bytes')
  const loc = m.location === undefined ? undefined : utf8(m.location)
  const cavLocs: (Uint8Array | undefined)[] = []
  let n = 1 + (loc ? fieldSize(loc.length) : 0) + fieldSize(m.identifier.length) + 1
  for (const c of m.caveats) {
    const cl = c.location === undefined ? undefined : utf8(c.location)
    cavLocs.push(cl)
    n += (cl ? fieldSize(cl.length) : 0) + fieldSize(c.id.length) + 1
    if (c.verificationId) n += fieldSize(c.verificationId.length)
  }
  n += 1 + fieldSize(32)
  const out = new Uint8Array(n)
  let o = 0
  const field = (type: number, data: Uint8Array): void => {
    out[o++] = type
    let len = data.length
    while (len >= 0x80) {
      out[o++] = (len & 0x7f) | 0x80
      len = Math.floor(len / 128)
    }
    out[o++] = len
    out.set(data, o)
    o += data.length
  }
  out[o++] = 2
  if (loc) field(LOCATION, loc)
  field(IDENTIFIER, m.identifier)
  out[o++] = EOS
  for (let i = 0; i < m.caveats.length; i++) {
    const c = m.caveats[i] as Caveat
    const cl = cavLocs[i]
    if (cl) field(LOCATION, cl)
    field(IDENTIFIER, c.id)
    if (c.verificationId) field(VID, c.verificationId)
    out[o++] = EOS
  }
  out[o++] = EOS
  field(SIGNATURE, m.signature)
  return out
}

// ---- decode (a cursor shared by the helpers; decode is synchronous and not re-entrant)

let src: Uint8Array = LSAT
let at = 0

function type(): number {
  if (at >= src.length) malformed('truncated')
  return src[at++] as number
}

/** Reads a uvarint length and returns a view of that many following bytes. */
function data(): Uint8Array {
  let len = 0
  let mul = 1
  for (let i = 0; ; i++) {
    if (i === 5) malformed('length too large')
    if (at >= src.length) malformed('truncated length')
    const c = src[at++] as number
    if (c < 0x80) {
      if (i > 0 && c === 0) malformed('non-minimal length')
      len += c * mul
      break
    }
    len += (c & 0x7f) * mul
    mul *= 128
  }
  if (len > src.length - at) malformed('truncated field')
  const v = new Uint8Array(src.buffer, src.byteOffset + at, len)
  at += len
  return v
}

function text(b: Uint8Array): string {
  if (b.length === 4 && b[0] === 0x6c && b[1] === 0x73 && b[2] === 0x61 && b[3] === 0x74) return 'lsat'
  try {
    return utf8Strict.decode(b)
  } catch {
    return malformed('location is not UTF-8')
  }
}

/** Strict V2 binary decode: version 0x02, packet order, minimal uvarints, 32-byte signature, no trailing bytes. */
export function decode(bytes: Uint8Array): Macaroon {
  src = bytes
  at = 0
  try {
    if (type() !== 2) malformed('unsupported version')
    let location: string | undefined
    let t = type()
    if (t === LOCATION) {
      location = text(data())
      t = type()
    }
    if (t !== IDENTIFIER) malformed('expected identifier')
    const identifier = data()
    if (type() !== EOS) malformed('expected end of header')
    const caveats: Caveat[] = []
    for (;;) {
      t = type()
      if (t === EOS) break
      let cloc: string | undefined
      if (t === LOCATION) {
        cloc = text(data())
        t = type()
      }
      if (t !== IDENTIFIER) malformed('expected caveat identifier')
      const c: { id: Uint8Array; verificationId?: Uint8Array; location?: string } = { id: data() }
      t = type()
      if (t === VID) {
        c.verificationId = data()
        t = type()
      }
      if (t !== EOS) malformed('expected end of caveat')
      if (cloc !== undefined) c.location = cloc
      caveats.push(c)
    }
    if (type() !== SIGNATURE) malformed('expected signature')
    const signature = data()
    if (signature.length !== 32) malformed('signature must be 32 bytes')
    if (at !== bytes.length) malformed('trailing bytes')
    return { location, identifier, caveats, signature }
  } finally {
    src = LSAT
  }
}

/** Standard padded base64 of the V2 binary (the wire form turnpike emits). */
export function serialize(m: Macaroon): string {
  return encodeStd(encode(m))
}

/** Decodes base64 in any flavour (std or url-safe, padded or not), then the V2 binary. */
export function deserialize(s: string): Macaroon {
  let bytes: Uint8Array
  try {
    bytes = decodeAny(s)
  } catch {
    return malformed('invalid base64')
  }
  return decode(bytes)
}

/**
 * True when the HMAC chain from `rootKey` (bytes, or a latin1 string of them) reproduces
 * `m.signature` (constant-time compare).
 * Always false when any caveat is third-party (has a verification id): discharges are unsupported.
 */
export function verifySignature(m: Macaroon, rootKey: Uint8Array | string): boolean {
  const cavs = m.caveats
  for (let i = 0; i < cavs.length; i++) if ((cavs[i] as Caveat).verificationId !== undefined) return false
  let sig = start(rootKey, m.identifier)
  for (let i = 0; i < cavs.length; i++) sig = hmac(sig, (cavs[i] as Caveat).id)
  last.write(sig, 0, 'latin1')
  return equal(last, m.signature)
}

/** The first-party caveat conditions as UTF-8 strings (invalid sequences become U+FFFD). */
export function firstPartyCaveats(m: Macaroon): string[] {
  const out: string[] = []
  for (const c of m.caveats) if (c.verificationId === undefined) out.push(utf8Lenient.decode(c.id))
  return out
}
