import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import fc from 'fast-check'
import * as Cbor from './cbor.ts'
import * as Nut11 from './nut11.ts'
import * as Token from './token.ts'
import { returnsOrTurnpike } from '../../test/fuzz.ts'

const runs = { numRuns: 1500 }

const hex = (n: number) => fc.uint8Array({ minLength: n, maxLength: n }).map((b) => Buffer.from(b).toString('hex'))
const proof = fc.record({
  amount: fc.integer({ min: 1, max: 2 ** 20 }),
  id: hex(8),
  secret: fc.string({ minLength: 1, maxLength: 80 }),
  C: hex(32).map((h) => '02' + h),
})
const token = fc.record({
  mint: fc.constantFrom('https://mint.example.com', 'http://127.0.0.1:3338'),
  unit: fc.constantFrom('sat', 'usd'),
  proofs: fc.array(proof, { minLength: 1, maxLength: 5 }),
})

describe('Cashu parsers fuzz', () => {
  test('behavior: Token.decode on random text and edited tokens returns or throws a TurnpikeError', () => {
    fc.assert(
      fc.property(token, fc.string(), fc.nat(), fc.string({ maxLength: 4 }), (t, junk, at, ins) => {
        returnsOrTurnpike(() => Token.decode(junk))
        returnsOrTurnpike(() => Token.decode('cashuB' + junk))
        returnsOrTurnpike(() => Token.decode('cashuA' + Buffer.from(junk).toString('base64url')))
        const enc = Token.encodeV4(t)
        const i = at % (enc.length + 1)
        returnsOrTurnpike(() => Token.decode(enc.slice(0, i) + ins + enc.slice(i + 1)))
      }),
      runs,
    )
  })

  test('behavior: V4 and V3 encodings round-trip (proofs grouped by keyset)', () => {
    fc.assert(
      fc.property(token, (generated) => {
        const t = structuredClone(generated) // plain prototypes, as a decoder returns
        const sorted = (x: Token.Token) => [...x.proofs].sort((a, b) => (a.secret + a.C < b.secret + b.C ? -1 : 1))
        assert.deepEqual(sorted(Token.decode(Token.encodeV4(t))), sorted(t))
        assert.deepEqual(Token.decode(Token.encodeV3(t)), t)
      }),
      runs,
    )
  })

  test('behavior: CBOR decode of random bytes returns or throws a TurnpikeError; encode/decode round-trips', () => {
    const value: fc.Arbitrary<Cbor.Value> = fc.letrec((tie) => ({
      v: fc.oneof(
        { depthSize: 'small' },
        fc.integer(),
        fc.string(),
        fc.uint8Array({ maxLength: 8 }),
        fc.boolean(),
        fc.constant(null),
        fc.array(tie('v'), { maxLength: 3 }),
        fc.dictionary(fc.string({ maxLength: 4 }).filter((k) => k !== '__proto__'), tie('v'), { maxKeys: 3 }),
      ),
    })).v as fc.Arbitrary<Cbor.Value>
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), value, (bytes, generated) => {
        const v = structuredClone(generated)
        returnsOrTurnpike(() => Cbor.decode(bytes))
        assert.deepEqual(Cbor.decode(Cbor.encode(v)), v)
      }),
      runs,
    )
  })

  test('behavior: decodeRequest and parseSecret never throw anything unexpected', () => {
    fc.assert(
      fc.property(fc.string(), fc.jsonValue(), (s, j) => {
        returnsOrTurnpike(() => Token.decodeRequest('creqA' + s))
        assert.doesNotThrow(() => Nut11.parseSecret(s))
        const secret = Nut11.parseSecret(JSON.stringify(['P2PK', j]))
        if (secret) assert.doesNotThrow(() => Nut11.conditions(secret))
        assert.equal(typeof Nut11.verifyProof({ amount: 1, id: '00', secret: JSON.stringify(['P2PK', j]), C: '02', witness: s }, 0), 'boolean')
      }),
      runs,
    )
  })
})
