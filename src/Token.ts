/**
 * turnpike's L402 tokens: minting a macaroon for a challenge and verifying a credential, pure CPU.
 * Root keys are derived per token from the master secret, so verification needs no store read.
 * @module
 */
import { createHmac, createSecretKey, hash, randomBytes, type KeyObject } from 'node:crypto'
import * as Caveat from './Caveat.ts'
import * as Identifier from './Identifier.ts'
import type { Credential } from './L402.ts'
import * as Macaroon from './Macaroon.ts'
import { equal } from './internal/constantTime.ts'
import { toHex } from './internal/hex.ts'
import { is } from './Errors.ts'

const rootKeyLabel = Buffer.from('turnpike/root-key/v0\0')

// createHmac() given raw key bytes imports them into a new key object on every call, which is most
// of its cost (about 11 of 13 µs on Node 24, and the largest single item of a paid request's CPU
// profile). The key object is made once per secret and reused; the cache compares bytes, not
// identity, so a secret that is replaced or mutated in place is never served a stale key.
let secretKeyCache: { bytes: Buffer; key: KeyObject } | undefined
function secretKey(secret: Uint8Array): KeyObject {
  const c = secretKeyCache
  if (c !== undefined && c.bytes.length === secret.length && c.bytes.equals(secret)) return c.key
  const bytes = Buffer.from(secret)
  secretKeyCache = { bytes, key: createSecretKey(bytes) }
  return secretKeyCache.key
}

/** Root key of one token: HMAC-SHA256(secret, label ‖ identifier). */
export function rootKey(secret: Uint8Array, identifier: Uint8Array): Uint8Array {
  return createHmac('sha256', secretKey(secret)).update(rootKeyLabel).update(identifier).digest()
}

export type MintParameters = {
  readonly secret: Uint8Array
  readonly paymentHash: Uint8Array
  /** Route name; becomes the `services` caveat and the expiry prefix. */
  readonly service: string
  /** Path pattern the token is good for (`/exact` or `/prefix/*`). */
  readonly path: string
  /** Methods the token is good for, or undefined for any. */
  readonly methods: readonly string[] | undefined
  /** Unix seconds. */
  readonly validUntil: number
  readonly tokenId?: Uint8Array
  /** More first-party caveats, appended last (e.g. `<service>_credits=100`, access/credits.ts). */
  readonly caveats?: readonly string[]
}

/** Mints an Aperture-layout macaroon bound to a payment hash, a service, a path, methods and an expiry. */
export function mint(p: MintParameters): { macaroon: Macaroon.Macaroon; serialized: string; tokenId: Uint8Array } {
  const tokenId = p.tokenId ?? randomBytes(32)
  const identifier = Identifier.encode({ version: 0, paymentHash: p.paymentHash, tokenId })
  const caveats = [Caveat.services([{ name: p.service, tier: 0 }]), Caveat.path(p.path)]
  if (p.methods) caveats.push(Caveat.method(p.methods))
  caveats.push(Caveat.validUntil(p.service, p.validUntil))
  if (p.caveats) caveats.push(...p.caveats)
  const macaroon = Macaroon.mint({ rootKey: rootKey(p.secret, identifier), identifier, location: 'lsat', caveats })
  return { macaroon, serialized: Macaroon.serialize(macaroon), tokenId }
}

export type Verified = {
  readonly ok: true
  readonly paymentHash: string
  readonly tokenId: string
  /** Caveats skipped as unknown (for logs). */
  readonly ignored: readonly string[]
  /** Every first-party caveat of the verified token, for access models that read their own (credits). */
  readonly caveats: readonly string[]
}
export type Rejected = { readonly ok: false; readonly reason: string }

/**
 * Verifies one credential for a request: for each token (any may pass) the identifier parses, the
 * preimage hashes to its payment hash (constant time), the HMAC chain holds under the derived root
 * key, and every caveat, including client-added ones, holds for the request.
 */
export function verify(credential: Credential, secret: Uint8Array, ctx: Caveat.Context): Verified | Rejected {
  const preimageHash = hash('sha256', credential.preimage, 'buffer')
  let reason = 'no token'
  for (const bytes of credential.tokens) {
    try {
      const m = Macaroon.decode(bytes)
      const id = Identifier.decode(m.identifier)
      if (!equal(preimageHash, id.paymentHash)) {
        reason = 'preimage does not match the payment hash'
        continue
      }
      if (!Macaroon.verifySignature(m, rootKey(secret, m.identifier))) {
        reason = 'invalid macaroon signature'
        continue
      }
      const caveats = Macaroon.firstPartyCaveats(m)
      const checked = Caveat.check(caveats, ctx)
      if (!checked.ok) {
        reason = checked.reason
        continue
      }
      return { ok: true, paymentHash: toHex(id.paymentHash), tokenId: toHex(id.tokenId), ignored: checked.ignored, caveats }
    } catch (e) {
      if (!is(e)) throw e
      reason = e.message
    }
  }
  return { ok: false, reason }
}
