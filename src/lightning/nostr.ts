/**
 * The Nostr primitives the NWC backend needs, on the project's own dependencies (`@noble/curves`,
 * `@noble/hashes`, `node:crypto`): NIP-01 events (id, BIP340 signature), NIP-44 v2 and NIP-04
 * encryption. `nostr-tools` is only a dev dependency; the tests check interoperability against it.
 * @module
 */
import { createCipheriv, createDecipheriv, randomBytes as nodeRandomBytes, timingSafeEqual } from 'node:crypto'
import { schnorr, secp256k1 } from '@noble/curves/secp256k1.js'
import { expand, extract } from '@noble/hashes/hkdf.js'
import { hmac } from '@noble/hashes/hmac.js'
import { sha256 } from '@noble/hashes/sha2.js'
import { bytesToHex, concatBytes, hexToBytes, utf8ToBytes } from '@noble/hashes/utils.js'

/** A signed Nostr event (NIP-01). */
export type NostrEvent = {
  readonly id: string
  readonly pubkey: string
  readonly created_at: number
  readonly kind: number
  readonly tags: readonly (readonly string[])[]
  readonly content: string
  readonly sig: string
}

export type EventTemplate = Omit<NostrEvent, 'id' | 'pubkey' | 'sig'>

/** A relay filter (NIP-01); `#x` keys filter on single-letter tags. */
export type Filter = {
  ids?: string[]
  authors?: string[]
  kinds?: number[]
  since?: number
  until?: number
  limit?: number
  [tag: `#${string}`]: string[]
}

const hex32 = /^[0-9a-f]{64}$/
const hex64 = /^[0-9a-f]{128}$/

/** The x-only (BIP340) public key of a 32-byte secret key, as hex. */
export function publicKeyOf(secretKey: Uint8Array): string {
  return bytesToHex(schnorr.getPublicKey(secretKey))
}

/** True for a lowercase 64-hex x-only key that lies on the curve. */
export function isPublicKey(hex: string): boolean {
  if (typeof hex !== 'string' || !hex32.test(hex)) return false
  try {
    schnorr.utils.lift_x(BigInt(`0x${hex}`))
    return true
  } catch {
    return false
  }
}

function eventHash(pubkey: string, e: EventTemplate): string {
  const serialized = JSON.stringify([0, pubkey, e.created_at, e.kind, e.tags, e.content])
  return bytesToHex(sha256(utf8ToBytes(serialized)))
}

/** Computes the id and signs (BIP340, fresh auxiliary randomness). */
export function finalizeEvent(template: EventTemplate, secretKey: Uint8Array): NostrEvent {
  const pubkey = publicKeyOf(secretKey)
  const id = eventHash(pubkey, template)
  const sig = bytesToHex(schnorr.sign(hexToBytes(id), secretKey))
  return { ...template, id, pubkey, sig }
}

/** Checks the shape, that the id is the hash of the content and that the signature verifies. */
export function verifyEvent(e: unknown): e is NostrEvent {
  if (typeof e !== 'object' || e === null) return false
  const v = e as Record<string, unknown>
  if (typeof v.id !== 'string' || !hex32.test(v.id)) return false
  if (typeof v.pubkey !== 'string' || !hex32.test(v.pubkey)) return false
  if (typeof v.sig !== 'string' || !hex64.test(v.sig)) return false
  if (!Number.isSafeInteger(v.created_at) || !Number.isSafeInteger(v.kind) || typeof v.content !== 'string') return false
  if (!Array.isArray(v.tags) || !v.tags.every((t) => Array.isArray(t) && t.every((x) => typeof x === 'string'))) return false
  if (eventHash(v.pubkey, v as unknown as EventTemplate) !== v.id) return false
  try {
    return schnorr.verify(hexToBytes(v.sig), hexToBytes(v.id), hexToBytes(v.pubkey))
  } catch {
    return false
  }
}

/** The first value of tag `name`, if any. */
export function tagValue(e: { readonly tags: readonly (readonly string[])[] }, name: string): string | undefined {
  return e.tags.find((t) => t[0] === name)?.[1]
}

/** ECDH x coordinate with an x-only public key (both NIP-04 and NIP-44 use it unhashed). */
function sharedX(secretKey: Uint8Array, publicKey: string): Uint8Array {
  return secp256k1.getSharedSecret(secretKey, hexToBytes(`02${publicKey}`)).subarray(1, 33)
}

// ---------------------------------------------------------------------------------------------
// NIP-44 v2

const nip44Salt = utf8ToBytes('nip44-v2')

/** The NIP-44 v2 conversation key between `secretKey` and `publicKey` (symmetric). */
export function nip44ConversationKey(secretKey: Uint8Array, publicKey: string): Uint8Array {
  return extract(sha256, sharedX(secretKey, publicKey), nip44Salt)
}

function messageKeys(conversationKey: Uint8Array, nonce: Uint8Array) {
  const keys = expand(sha256, conversationKey, nonce, 76)
  return { chachaKey: keys.subarray(0, 32), chachaNonce: keys.subarray(32, 44), hmacKey: keys.subarray(44, 76) }
}

function paddedLength(length: number): number {
  if (length <= 32) return 32
  const nextPower = 1 << (Math.floor(Math.log2(length - 1)) + 1)
  const chunk = nextPower <= 256 ? 32 : nextPower / 8
  return chunk * (Math.floor((length - 1) / chunk) + 1)
}

function chacha20(key: Uint8Array, nonce: Uint8Array, data: Uint8Array): Uint8Array {
  // OpenSSL's chacha20 takes a 16-byte IV: a 32-bit little-endian block counter, then the nonce.
  const cipher = createCipheriv('chacha20', key, concatBytes(new Uint8Array(4), nonce))
  return new Uint8Array(Buffer.concat([cipher.update(data), cipher.final()]))
}

/** NIP-44 v2 encryption; `nonce` (32 bytes) is for tests only. */
export function nip44Encrypt(plaintext: string, conversationKey: Uint8Array, nonce: Uint8Array = nodeRandomBytes(32)): string {
  const bytes = utf8ToBytes(plaintext)
  if (bytes.length < 1 || bytes.length > 65535) throw new RangeError('NIP-44 plaintext must be 1 to 65535 bytes')
  const padded = new Uint8Array(2 + paddedLength(bytes.length))
  new DataView(padded.buffer).setUint16(0, bytes.length)
  padded.set(bytes, 2)
  const { chachaKey, chachaNonce, hmacKey } = messageKeys(conversationKey, nonce)
  const ciphertext = chacha20(chachaKey, chachaNonce, padded)
  const mac = hmac(sha256, hmacKey, concatBytes(nonce, ciphertext))
  return Buffer.from(concatBytes(new Uint8Array([2]), nonce, ciphertext, mac)).toString('base64')
}

/** NIP-44 v2 decryption; throws on a bad version, size, MAC or padding. */
export function nip44Decrypt(payload: string, conversationKey: Uint8Array): string {
  if (typeof payload !== 'string' || payload.length < 132 || payload.length > 87472 || payload[0] === '#') {
    throw new Error('NIP-44: unknown version or invalid payload size')
  }
  const data = new Uint8Array(Buffer.from(payload, 'base64'))
  if (data.length < 99 || data.length > 65603 || data[0] !== 2) throw new Error('NIP-44: unknown version or invalid payload size')
  const nonce = data.subarray(1, 33)
  const ciphertext = data.subarray(33, data.length - 32)
  const mac = data.subarray(data.length - 32)
  const { chachaKey, chachaNonce, hmacKey } = messageKeys(conversationKey, nonce)
  if (!timingSafeEqual(hmac(sha256, hmacKey, concatBytes(nonce, ciphertext)), mac)) throw new Error('NIP-44: invalid MAC')
  const padded = chacha20(chachaKey, chachaNonce, ciphertext)
  const length = new DataView(padded.buffer, padded.byteOffset).getUint16(0)
  if (length === 0 || padded.length !== 2 + paddedLength(length)) throw new Error('NIP-44: invalid padding')
  return new TextDecoder('utf-8', { fatal: true }).decode(padded.subarray(2, 2 + length))
}

// ---------------------------------------------------------------------------------------------
// NIP-04 (legacy: AES-256-CBC under the unhashed ECDH x coordinate, no MAC)

export function nip04Encrypt(plaintext: string, secretKey: Uint8Array, publicKey: string): string {
  const iv = nodeRandomBytes(16)
  const cipher = createCipheriv('aes-256-cbc', sharedX(secretKey, publicKey), iv)
  const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()])
  return `${ct.toString('base64')}?iv=${iv.toString('base64')}`
}

export function nip04Decrypt(payload: string, secretKey: Uint8Array, publicKey: string): string {
  const m = /^([A-Za-z0-9+/=]+)\?iv=([A-Za-z0-9+/=]+)$/.exec(payload)
  if (m === null) throw new Error('NIP-04: malformed payload')
  const iv = Buffer.from(m[2]!, 'base64')
  if (iv.length !== 16) throw new Error('NIP-04: bad IV')
  const decipher = createDecipheriv('aes-256-cbc', sharedX(secretKey, publicKey), iv)
  return Buffer.concat([decipher.update(Buffer.from(m[1]!, 'base64')), decipher.final()]).toString('utf8')
}
