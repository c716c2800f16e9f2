import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { is } from './Errors.ts'
import * as Identifier from './Identifier.ts'
import { fromHex, toHex } from './internal/hex.ts'

// Vector A (protocols.md §1.10): 0000 ‖ payment hash ‖ 22×32.
const paymentHash = '72cd6e8422c407fb6d098690f1130b7ded7ec2f7f5e1d30bd9d521f015363793'
const tokenId = '22'.repeat(32)
const identifier = '0000' + paymentHash + tokenId

const malformed = (e: unknown): boolean => is(e, 'TURNPIKE_IDENTIFIER_MALFORMED')

describe('encode', () => {
  test('behavior: vector A layout', () => {
    const b = Identifier.encode({ version: 0, paymentHash: fromHex(paymentHash), tokenId: fromHex(tokenId) })
    assert.equal(b.length, 66)
    assert.equal(toHex(b), identifier)
  })

  test('error: hashes that are not 32 bytes, unknown version', () => {
    const ok = { version: 0 as const, paymentHash: new Uint8Array(32), tokenId: new Uint8Array(32) }
    assert.throws(() => Identifier.encode({ ...ok, paymentHash: new Uint8Array(31) }), malformed)
    assert.throws(() => Identifier.encode({ ...ok, tokenId: new Uint8Array(33) }), malformed)
    assert.throws(() => Identifier.encode({ ...ok, version: 1 as 0 }), malformed)
  })
})

describe('decode', () => {
  test('behavior: vector A fields, round trip', () => {
    const d = Identifier.decode(fromHex(identifier))
    assert.equal(d.version, 0)
    assert.equal(toHex(d.paymentHash), paymentHash)
    assert.equal(toHex(d.tokenId), tokenId)
    assert.equal(toHex(Identifier.encode(d)), identifier)
  })

  test('behavior: works on a view with a byte offset', () => {
    const big = fromHex('ffff' + identifier + 'ff')
    const d = Identifier.decode(big.subarray(2, 68))
    assert.equal(toHex(d.paymentHash), paymentHash)
    assert.equal(toHex(d.tokenId), tokenId)
  })

  test('error: not exactly 66 bytes', () => {
    for (const n of [0, 2, 34, 65, 67, 100]) assert.throws(() => Identifier.decode(new Uint8Array(n)), malformed)
  })

  test('error: unknown version', () => {
    for (const v of ['0001', '0100', 'ffff']) {
      assert.throws(() => Identifier.decode(fromHex(v + paymentHash + tokenId)), malformed)
    }
  })
})
