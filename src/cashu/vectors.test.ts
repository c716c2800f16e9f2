import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { describe, it } from 'node:test'
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js'
import { sha256 } from '@noble/hashes/sha2.js'
import { is } from '../Errors.ts'
import * as Cbor from './cbor.ts'
import * as C from './crypto.ts'
import * as Nut11 from './nut11.ts'
import * as T from './token.ts'
import { referenceDir } from '../../test/reference.ts'

const reference = referenceDir
type V = { name: string; input: Record<string, any>; expected: Record<string, any> }
const vectors = JSON.parse(readFileSync(`${reference}data/cashu-vectors.json`, 'utf8')) as Record<'nut00' | 'nut02' | 'nut11' | 'nut12' | 'nut18', V[]>
const now = Math.floor(Date.now() / 1000)

/** A V4 vector input (hex i/c) as our Token. */
function v4Token(t: any): T.Token {
  return { mint: t.m, unit: t.u, ...(t.d !== undefined ? { memo: t.d } : {}), proofs: t.t.flatMap((ks: any) => ks.p.map((p: any) => ({ amount: p.a, id: ks.i, secret: p.s, C: p.c }))) }
}

describe('cashu vectors: NUT-00', () => {
  for (const v of vectors.nut00) {
    it(`vector: ${v.name}`, () => {
      const i = v.input
      if (i.message) return assert.equal(C.hashToCurve(hexToBytes(i.message)).toHex(true), v.expected.point)
      if (i.x) return assert.equal(C.blind(hexToBytes(i.x), C.scalar(i.r)).toHex(true), v.expected.B_)
      if (i.mintPrivateKey) return assert.equal(C.sign(C.point(i.B_), C.scalar(i.mintPrivateKey)).toHex(true), v.expected.C_)
      if (i.serialized !== undefined) {
        if (!v.expected.valid) return assert.throws(() => T.decode(i.serialized), (e: unknown) => is(e, 'TURNPIKE_CREDENTIAL_MALFORMED'))
        const t = T.decode(i.serialized)
        const e = v.expected.token
        return assert.deepEqual(t, { mint: e.token[0].mint, unit: e.unit, memo: e.memo, proofs: e.token[0].proofs })
      }
      if (i.token?.token) {
        const t: T.Token = { mint: i.token.token[0].mint, unit: i.token.unit, memo: i.token.memo, proofs: i.token.token[0].proofs }
        assert.equal(T.encodeV3(t), v.expected.serialized)
        return assert.deepEqual(T.decode(v.expected.serialized), t)
      }
      if (i.token?.t) {
        const t = v4Token(i.token)
        if (v.expected.rawHex) {
          assert.equal(bytesToHex(T.encodeRaw(t)), v.expected.rawHex)
          return assert.deepEqual(T.decodeRaw(hexToBytes(v.expected.rawHex)), t)
        }
        // Byte-equal up to base64 padding; decoded structures equal.
        assert.equal(T.encodeV4(t), v.expected.serialized.replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_'))
        return assert.deepEqual(T.decode(v.expected.serialized), t)
      }
      assert.fail('unhandled vector')
    })
  }
})

describe('cashu vectors: NUT-02 keyset ids', () => {
  for (const v of vectors.nut02) {
    it(`vector: ${v.name}`, () => {
      const i = v.input
      const id = i.unit ? C.keysetId(i.keys, { unit: i.unit, inputFeePpk: i.inputFeePpk, finalExpiry: i.finalExpiry }) : C.keysetId(i.keys)
      assert.equal(id, v.expected.id)
    })
  }
})

describe('cashu vectors: NUT-11 spending conditions', () => {
  for (const v of vectors.nut11) {
    it(`vector: ${v.name}`, () => {
      const i = v.input
      if (i.proof) return assert.equal(Nut11.verifyProof(i.proof, now), v.expected.valid)
      const req = i.swapRequest ?? i.meltRequest
      if (v.expected.msgToSign !== undefined) {
        const msg = Nut11.sigAllMessage(req.inputs, req.outputs, req.quote)
        assert.equal(msg, v.expected.msgToSign)
        return assert.equal(bytesToHex(sha256(new TextEncoder().encode(msg))), v.expected.sha256)
      }
      assert.equal(Nut11.verifyInputs(req.inputs, req.outputs, now, req.quote), v.expected.valid)
    })
  }
})

describe('cashu vectors: NUT-12 DLEQ', () => {
  for (const v of vectors.nut12) {
    it(`vector: ${v.name}`, () => {
      const i = v.input
      if (i.R1) return assert.equal(bytesToHex(C.hashE([i.R1, i.R2, i.K, i.C_].map(C.point))), v.expected.e)
      if (i.a) {
        const p = C.proveDleq(C.scalar(i.a), C.point(i.B_), C.point(i.C_))
        assert.deepEqual(p, { e: v.expected.e, s: v.expected.s })
        return assert.ok(C.verifyDleq(p, C.point(i.A), C.point(i.B_), C.point(i.C_)))
      }
      if (i.blindSignature) {
        assert.equal(C.verifyDleq(i.blindSignature.dleq, C.point(i.A), C.point(i.B_), C.point(i.blindSignature.C_)), v.expected.valid)
        const tampered = { ...i.blindSignature.dleq, s: i.blindSignature.dleq.e }
        return assert.equal(C.verifyDleq(tampered, C.point(i.A), C.point(i.B_), C.point(i.blindSignature.C_)), false)
      }
      assert.equal(C.verifyProofDleq(i.proof.secret, C.point(i.proof.C), i.proof.dleq, C.point(i.A)), v.expected.valid)
      assert.equal(C.verifyProofDleq(i.proof.secret + 'x', C.point(i.proof.C), i.proof.dleq, C.point(i.A)), false)
    })
  }
})

describe('cashu vectors: NUT-18 payment requests', () => {
  for (const v of vectors.nut18) {
    it(`vector: ${v.name}`, () => {
      const expected = v.expected.decodedFromEncoded ?? v.input.request
      assert.deepEqual(T.decodeRequest(v.expected.encoded), expected)
      // Our encoding decodes to the same structure (map order may differ from upstream's encoder).
      assert.deepEqual(T.decodeRequest(T.encodeRequest(v.input.request)), v.input.request)
    })
  }
  it('behavior: CBOR round-trips the shapes Cashu uses', () => {
    const v = { a: 1, b: -2, c: 'x', d: new Uint8Array([1, 2]), e: [true, false, null], f: { g: 2 ** 40 } }
    assert.deepEqual(Cbor.decode(Cbor.encode(v)), v)
  })
})
