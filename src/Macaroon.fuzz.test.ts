import assert from 'node:assert/strict'
import { Buffer } from 'node:buffer'
import { createHmac } from 'node:crypto'
import { describe, test } from 'node:test'
import fc from 'fast-check'
import * as Identifier from './Identifier.ts'
import { decodeAny, encodeStd, encodeUrl } from './internal/base64.ts'
import { equal } from './internal/constantTime.ts'
import { fromHex, toHex } from './internal/hex.ts'
import * as Macaroon from './Macaroon.ts'
import { anyText, returnsOrTurnpike, runs } from '../test/fuzz.ts'

/** Runs `f`; anything thrown must be a TurnpikeError. Returns the value or undefined. */

const mintParams = fc.record({
  rootKey: fc.uint8Array({ minLength: 0, maxLength: 80 }),
  identifier: fc.uint8Array({ minLength: 0, maxLength: 200 }),
  location: fc.option(fc.string({ unit: 'binary', maxLength: 20 }), { nil: undefined }),
  caveats: fc.array(fc.string({ unit: 'binary', maxLength: 150 }), { maxLength: 5 }),
})

function mint(p: { rootKey: Uint8Array; identifier: Uint8Array; location: string | undefined; caveats: string[] }): Macaroon.Macaroon {
  return Macaroon.mint({ rootKey: p.rootKey, identifier: p.identifier, caveats: p.caveats, ...(p.location === undefined ? {} : { location: p.location }) })
}

/** Byte-level mutations of a valid encoding. */
const mutation = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
)

type Mutation = { kind: string; at: number; bit?: number; byte?: number }

function mutate(b: Uint8Array, muts: readonly Mutation[]): Uint8Array {
  let out = Array.from(b)
  for (const m of muts) {
    const at = out.length === 0 ? 0 : m.at % (out.length + 1)
    if (m.kind === 'flip' && at < out.length) out[at] = (out[at] as number) ^ (1 << (m.bit ?? 0))
    else if (m.kind === 'set' && at < out.length) out[at] = m.byte ?? 0
    else if (m.kind === 'insert') out.splice(at, 0, m.byte ?? 0)
    else if (m.kind === 'delete') out.splice(at, 1)
    else if (m.kind === 'truncate') out = out.slice(0, at)
  }
  return new Uint8Array(out)
}

describe('Macaroon fuzz', () => {
  test('behavior: decode of random bytes returns or throws a TurnpikeError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), (b) => {
        returnsOrTurnpike(() => Macaroon.decode(b))
        returnsOrTurnpike(() => Macaroon.decode(Uint8Array.of(2, ...b)))
      }),
      runs,
    )
  })

  test('behavior: mutated encodings either fail cleanly or re-encode to the same bytes', () => {
    fc.assert(
      fc.property(mintParams, fc.array(mutation, { minLength: 1, maxLength: 4 }), (p, muts) => {
        const m = mint(p)
        const bytes = mutate(Macaroon.encode(m), muts)
        const d = returnsOrTurnpike(() => Macaroon.decode(bytes))
        if (d) {
          assert.deepEqual(Macaroon.encode(d), bytes) // the decoder accepts one encoding per macaroon
          const ok = Macaroon.verifySignature(d, p.rootKey)
          assert.equal(typeof ok, 'boolean')
          if (ok) {
            // only unsigned data (locations) can change without breaking the signature
            assert.deepEqual(d.identifier, m.identifier)
            assert.deepEqual(d.caveats.map((c) => c.id), m.caveats.map((c) => c.id))
            assert.deepEqual(d.signature, m.signature)
          }
          assert.ok(Array.isArray(Macaroon.firstPartyCaveats(d)))
        }
      }),
      runs,
    )
  })

  test('behavior: deserialize of random strings returns or throws a TurnpikeError', () => {
    fc.assert(
      fc.property(anyText, (s) => {
        returnsOrTurnpike(() => Macaroon.deserialize(s))
      }),
      runs,
    )
  })

  test('behavior: mint → serialize → deserialize round trip verifies', () => {
    fc.assert(
      fc.property(mintParams, fc.boolean(), (p, urlSafe) => {
        const m = mint(p)
        const s = urlSafe ? encodeUrl(Macaroon.encode(m)) : Macaroon.serialize(m)
        const d = Macaroon.deserialize(s)
        assert.deepEqual(Macaroon.encode(d), Macaroon.encode(m))
        assert.equal(d.location, p.location ?? 'lsat')
        assert.deepEqual(Macaroon.firstPartyCaveats(d), p.caveats.map((c) => new TextDecoder().decode(new TextEncoder().encode(c))))
        assert.ok(Macaroon.verifySignature(d, p.rootKey))
      }),
      runs,
    )
  })

  test('behavior: the signature chain equals a createHmac reference (go-macaroon key derivation)', () => {
    const ref = (rootKey: Uint8Array, identifier: Uint8Array, caveats: readonly Uint8Array[]): Uint8Array => {
      let sig: Uint8Array = createHmac('sha256', 'macaroons-key-generator').update(rootKey).digest()
      sig = createHmac('sha256', sig).update(identifier).digest()
      for (const c of caveats) sig = createHmac('sha256', sig).update(c).digest()
      return new Uint8Array(sig)
    }
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 200 }),
        fc.oneof(fc.uint8Array({ maxLength: 100 }), fc.uint8Array({ minLength: 4000, maxLength: 6000 })),
        fc.array(fc.string({ maxLength: 300 }), { maxLength: 4 }),
        fc.uint8Array({ minLength: 65, maxLength: 150 }),
        (rootKey, identifier, caveats, longSig) => {
          const m = Macaroon.mint({ rootKey, identifier, caveats })
          assert.deepEqual(m.signature, ref(rootKey, identifier, m.caveats.map((c) => c.id)))
          // keys longer than the HMAC block are hashed first (only reachable with a hand-built macaroon)
          const a = Macaroon.attenuate({ ...m, signature: longSig }, 'x=y')
          assert.deepEqual(a.signature, new Uint8Array(createHmac('sha256', longSig).update('x=y').digest()))
        },
      ),
      { numRuns: 500 },
    )
  })

  test('behavior: attenuation verifies; changing any caveat or the key does not', () => {
    fc.assert(
      fc.property(mintParams, fc.string({ maxLength: 60 }), fc.uint8Array({ minLength: 1, maxLength: 40 }), (p, extra, other) => {
        const a = Macaroon.attenuate(Macaroon.deserialize(Macaroon.serialize(mint(p))), extra)
        assert.ok(Macaroon.verifySignature(a, p.rootKey))
        assert.equal(Macaroon.verifySignature({ ...a, caveats: a.caveats.slice(0, -1) }, p.rootKey), false)
        if (!equal(other, p.rootKey)) assert.equal(Macaroon.verifySignature(a, other), false)
      }),
      runs,
    )
  })
})

describe('Identifier fuzz', () => {
  test('behavior: decode returns or throws a TurnpikeError; round trip', () => {
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 100 }), fc.uint8Array({ minLength: 66, maxLength: 66 })), (b) => {
        const d = returnsOrTurnpike(() => Identifier.decode(b))
        if (d) assert.deepEqual(Identifier.encode(d), b)
      }),
      runs,
    )
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ minLength: 32, maxLength: 32 }), (paymentHash, tokenId) => {
        const d = Identifier.decode(Identifier.encode({ version: 0, paymentHash, tokenId }))
        assert.deepEqual(d, { version: 0, paymentHash, tokenId })
      }),
      runs,
    )
  })
})

describe('base64 / hex fuzz', () => {
  test('behavior: decodeAny returns or throws a TurnpikeError, and agrees with Node on what it accepts', () => {
    const b64ish = fc.string({ unit: fc.constantFrom(...'AQgw+/-_=Z9a'.split('')), maxLength: 40 })
    fc.assert(
      fc.property(fc.oneof(anyText, b64ish), (s) => {
        const d = returnsOrTurnpike(() => decodeAny(s))
        if (d) assert.deepEqual(Buffer.from(d), Buffer.from(s, 'base64'))
      }),
      runs,
    )
  })

  test('behavior: base64 round trips in both flavours, padded or not', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
        const std = encodeStd(b)
        assert.equal(std, Buffer.from(b).toString('base64'))
        assert.deepEqual(decodeAny(std), b)
        assert.deepEqual(decodeAny(std.replace(/=+$/, '')), b)
        assert.deepEqual(decodeAny(encodeUrl(b)), b)
        assert.equal(Object.getPrototypeOf(decodeAny(std)), Uint8Array.prototype)
      }),
      runs,
    )
  })

  test('behavior: fromHex returns or throws a TurnpikeError, and agrees with Node on what it accepts', () => {
    const hexish = fc.string({ unit: fc.constantFrom(...'0123456789abcdefABCDEFgG '.split('')), maxLength: 40 })
    fc.assert(
      fc.property(fc.oneof(anyText, hexish), (s) => {
        const d = returnsOrTurnpike(() => fromHex(s))
        if (d) assert.equal(toHex(d), s.toLowerCase())
      }),
      runs,
    )
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), (b) => {
        assert.deepEqual(fromHex(toHex(b)), b)
        assert.deepEqual(fromHex(toHex(b).toUpperCase()), b)
      }),
      runs,
    )
  })

  test('behavior: constant-time equal matches a plain comparison', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 8 }), fc.uint8Array({ maxLength: 8 }), (a, b) => {
        assert.equal(equal(a, b), Buffer.from(a).equals(Buffer.from(b)))
        assert.equal(equal(a, a.slice()), true)
      }),
      runs,
    )
  })
})
