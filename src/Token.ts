/**
 * turnpike's L402 tokens: minting a macaroon for a challenge and verifying a credential, pure CPU.
 * Root keys are derived per token from the master secret, so verification needs no store read.
 * @module
 */
import { hash, randomBytes } from 'node:crypto'
import * as Caveat from './Caveat.ts'
import * as Identifier from './Identifier.ts'
import type { Credential } from './L402.ts'
import * as Macaroon from './Macaroon.ts'
import { equal } from './internal/constantTime.ts'
import { toHex } from './internal/hex.ts'
import { is } from './Errors.ts'

const rootKeyLabel = Buffer.from('turnpike/root-key/v0\0')

// HMAC-SHA256 (RFC 2104) on two one-shot hash() calls over per-secret pad blocks, computed once.
// createHmac() given raw key bytes re-imports the key on every call, which made the root key the
// largest single item of a paid request's CPU profile; one-shot hashing also allocates no stream
// object. The pads are rebuilt whenever the secret's bytes differ from the cached ones, so a secret
// that is replaced or mutated in place is never served stale pads. Synchronous, so the shared
// scratch buffers are safe.
let pads: { secret: Buffer; inner: Buffer; outer: Buffer } | undefined
function padsFor(secret: Uint8Array) {
  if (pads !== undefined && pads.secret.equals(secret)) return pads
  const key = secret.length > 64 ? hash('sha256', secret, 'buffer') : secret
  const inner = Buffer.alloc(64 + rootKeyLabel.length + 66)
  const outer = Buffer.alloc(64 + 32)
  for (let i = 0; i < 64; i++) {
    const k = i < key.length ? (key[i] as number) : 0
    inner[i] = k ^ 0x36
    outer[i] = k ^ 0x5c
  }
  rootKeyLabel.copy(inner, 64)
  pads = { secret: Buffer.from(secret), inner, outer }
  return pads
}

/** Root key of one token: HMAC-SHA256(secret, label ‖ identifier). */
export function rootKey(secret: Uint8Array, identifier: Uint8Array): Uint8Array {
  return Buffer.from(rootKeyLatin1(secret, identifier), 'latin1')
}

/** {@link rootKey} as a latin1 string (one char per byte): the verify path's form, cheaper to produce. */
function rootKeyLatin1(secret: Uint8Array, identifier: Uint8Array): string {
  const p = padsFor(secret)
  const n = 64 + rootKeyLabel.length + identifier.length
  let inner = p.inner
  if (n !== inner.length) {
    // Identifiers are 66 bytes; any other length gets its own buffer.
    inner = Buffer.alloc(n)
    p.inner.copy(inner, 0, 0, 64 + rootKeyLabel.length)
  }
  inner.set(identifier, 64 + rootKeyLabel.length)
  // A latin1-string digest costs about half what a Buffer digest does in node:crypto's one-shot hash.
  p.outer.write(hash('sha256', inner, 'binary'), 64, 'latin1')
  return hash('sha256', p.outer, 'binary')
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

// sha256(preimage) of the credential being verified; verify() is synchronous, so one buffer serves.
const preimageScratch = Buffer.allocUnsafeSlow(32)

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
  const preimageHash = preimageScratch
  preimageHash.write(hash('sha256', credential.preimage, 'binary'), 0, 'latin1')
  let reason = 'no token'
  for (const bytes of credential.tokens) {
    try {
      const m = Macaroon.decode(bytes)
      const id = Identifier.decode(m.identifier)
      if (!equal(preimageHash, id.paymentHash)) {
        reason = 'preimage does not match the payment hash'
        continue
      }
      if (!Macaroon.verifySignature(m, rootKeyLatin1(secret, m.identifier))) {
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
