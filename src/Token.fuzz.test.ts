import assert from 'node:assert/strict'
import { createHash, createHmac } from 'node:crypto'
import { describe, test } from 'node:test'
import fc from 'fast-check'
import * as Caveat from './Caveat.ts'
import * as Identifier from './Identifier.ts'
import * as Macaroon from './Macaroon.ts'
import * as Token from './Token.ts'
import { runs } from '../test/fuzz.ts'

/** The root key as RFC 2104 HMAC from node:crypto: the reference Token's hand-rolled HMAC must equal. */
const reference = (secret: Uint8Array, identifier: Uint8Array): Buffer =>
  createHmac('sha256', secret).update('turnpike/root-key/v0\0').update(identifier).digest()

describe('Token', () => {
  test('behavior: rootKey equals createHmac for any secret length, also when the secret changes in place', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 129 }), fc.uint8Array({ minLength: 66, maxLength: 66 }), (secret, identifier) => {
        assert.deepEqual(Buffer.from(Token.rootKey(secret, identifier)), reference(secret, identifier))
        secret[0] = (secret[0]! + 1) & 0xff
        assert.deepEqual(Buffer.from(Token.rootKey(secret, identifier)), reference(secret, identifier))
      }),
      { numRuns: Math.min(runs.numRuns, 500) },
    )
  })

  test('behavior: verify accepts a macaroon chained from the reference root key and the matching preimage only', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 129 }), fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ minLength: 32, maxLength: 32 }), (secret, preimage, tokenId) => {
        const paymentHash = createHash('sha256').update(preimage).digest()
        const identifier = Identifier.encode({ version: 0, paymentHash, tokenId })
        const caveats = [Caveat.services([{ name: 'api', tier: 0 }]), Caveat.path('/*')]
        const m = Macaroon.mint({ rootKey: reference(secret, identifier), identifier, caveats })
        const ctx = { service: 'api', path: '/x', method: 'GET', now: 1 }
        const ok = Token.verify({ scheme: 'L402', tokens: [Macaroon.encode(m)], preimage }, secret, ctx)
        assert.ok(ok.ok, JSON.stringify(ok))
        assert.equal(ok.paymentHash, paymentHash.toString('hex'))
        const wrong = Uint8Array.from(preimage, (b, i) => (i === 0 ? b ^ 1 : b))
        const bad = Token.verify({ scheme: 'L402', tokens: [Macaroon.encode(m)], preimage: wrong }, secret, ctx)
        assert.deepEqual(bad, { ok: false, reason: 'preimage does not match the payment hash' })
        const other = Uint8Array.from(secret, (b, i) => (i === 0 ? b ^ 1 : b))
        assert.deepEqual(Token.verify({ scheme: 'L402', tokens: [Macaroon.encode(m)], preimage }, other, ctx), { ok: false, reason: 'invalid macaroon signature' })
      }),
      { numRuns: Math.min(runs.numRuns, 300) },
    )
  })
})
