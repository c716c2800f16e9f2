import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { describe, it } from 'node:test'
import { secp256k1 } from '@noble/curves/secp256k1.js'
import * as Bolt11 from '../../Bolt11.ts'
import { TurnpikeError } from '../../Errors.ts'
import { readInvoiceFields, verifyInvoice } from './invoice.ts'
import { referenceDir } from '../../../test/reference.ts'

type Vector = { name: string; invoice: string; expected: { network: string; amountMsat: string | null; timestamp: number; paymentHash: string; expirySeconds?: number; expirySecondsDefault?: number; reason?: string } }
let vectors: { valid: Vector[]; invalid: Vector[] } | undefined
try {
  vectors = JSON.parse(readFileSync(`${referenceDir}data/bolt11-vectors.json`, 'utf8')) as typeof vectors
} catch {
  vectors = undefined
}

describe('readInvoiceFields (the challenge-path check, no signature recovery)', () => {
  it('behavior: agrees with Bolt11.decode on every valid BOLT #11 vector', { skip: vectors ? false : 'vectors not available' }, () => {
    for (const v of vectors!.valid) {
      const f = readInvoiceFields(v.invoice)
      const d = Bolt11.decode(v.invoice)
      assert.equal(f.network, d.network, v.name)
      assert.equal(f.amountMsat, d.amountMsat, v.name)
      assert.equal(f.timestamp, d.timestamp, v.name)
      assert.equal(f.expiry, d.expiry, v.name)
      assert.equal(f.paymentHash, d.paymentHash, v.name)
      assert.equal(f.paymentHash, v.expected.paymentHash, v.name)
    }
  })

  it('error: refuses bad checksums, prefixes, sub-msat amounts and truncation', { skip: vectors ? false : 'vectors not available' }, () => {
    const refused = vectors!.invalid.filter((v) => /checksum|separator|mixed case|too short|multiplier|sub-millisatoshi/.test(v.expected.reason ?? ''))
    assert.ok(refused.length >= 5)
    for (const v of refused) assert.throws(() => readInvoiceFields(v.invoice), Error, v.name)
  })

  it('behavior: verifyInvoice checks the reported hash and the requested amount', () => {
    const key = secp256k1.utils.randomSecretKey()
    const hash = 'ab'.repeat(32)
    const pr = Bolt11.encode({ network: 'regtest', amountMsat: 2500n, timestamp: 1_700_000_000, paymentHash: hash, paymentSecret: 'cd'.repeat(32), expiry: 900, privateKey: key })
    assert.deepEqual(verifyInvoice('x', 'w', pr, hash.toUpperCase(), 2500n), {
      paymentRequest: pr, paymentHash: hash, amountMsat: 2500n, createdAt: 1_700_000_000_000, expiresAt: 1_700_000_900_000,
    })
    const isError = (e: unknown) => e instanceof TurnpikeError && e.code === 'TURNPIKE_BACKEND_ERROR'
    assert.throws(() => verifyInvoice('x', 'w', pr, 'cd'.repeat(32), 2500n), isError)
    assert.throws(() => verifyInvoice('x', 'w', pr, hash, 2000n), isError)
    assert.throws(() => verifyInvoice('x', 'w', 'lnbcrt1garbage', hash, 2500n), isError)
    assert.throws(() => verifyInvoice('x', 'w', 42, hash, 2500n), (e) => e instanceof TurnpikeError && e.code === 'TURNPIKE_BACKEND_UNAVAILABLE')
  })
})
