import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { bytesToHex } from '@noble/hashes/utils.js'
import { bech32 } from '@scure/base'
import fc from 'fast-check'
import * as Bolt11 from './Bolt11.ts'
import { TurnpikeError } from './Errors.ts'

const key = new Uint8Array(32).fill(7)
const charset = 'qpzry9x8gf2tvdw0s3jn54khce6mua7l'

/** decode returns an invoice or throws TURNPIKE_BOLT11_MALFORMED, never anything else. */
function total(input: string): void {
  try {
    const d = Bolt11.decode(input)
    assert.equal(typeof d.paymentHash, 'string')
    assert.equal(d.payee.length, 66)
  } catch (e) {
    if (!(e instanceof TurnpikeError) || e.code !== 'TURNPIKE_BOLT11_MALFORMED') throw e
  }
}

const networks = fc.constantFrom<Bolt11.Network>('mainnet', 'testnet', 'signet', 'regtest')
const hex32 = fc.uint8Array({ minLength: 32, maxLength: 32 }).map(bytesToHex)
const params = fc.record({
  network: networks,
  amountMsat: fc.option(fc.bigInt({ min: 1n, max: 2_100_000_000_000_000_000n }), { nil: undefined }),
  timestamp: fc.integer({ min: 0, max: 2 ** 35 - 1 }),
  paymentHash: hex32,
  paymentSecret: hex32,
  description: fc.string({ unit: 'binary', maxLength: 150 }),
  expiry: fc.option(fc.integer({ min: 0, max: 2 ** 40 }), { nil: undefined }),
  minFinalCltvExpiry: fc.option(fc.integer({ min: 0, max: 5000 }), { nil: undefined }),
  features: fc.uniqueArray(fc.constantFrom(8, 9, 14, 15, 16, 17, 24, 25, 48, 49, 99, 101, 255), { maxLength: 6 }),
  includePayee: fc.boolean(),
})
const valid = params.map((p) => Bolt11.encode({ ...p, privateKey: key }))

describe('decode (fuzz)', () => {
  it('behavior: arbitrary strings never throw anything but a TurnpikeError', () => {
    fc.assert(fc.property(fc.string({ maxLength: 400 }), total), { numRuns: 10_000 })
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 200 }), total), { numRuns: 2_000 })
  })

  it('behavior: bech32-alphabet strings behind an ln prefix', () => {
    const body = fc.string({ unit: fc.constantFrom(...charset), minLength: 0, maxLength: 400 })
    const hrp = fc.constantFrom('lnbc', 'lntb', 'lntbs', 'lnbcrt', 'lnbc25m', 'lnbcrt0', 'lnbc10p', 'ln')
    fc.assert(fc.property(hrp, body, (h, b) => total(`${h}1${b}`)), { numRuns: 5_000 })
  })

  it('behavior: valid checksums over random words reach the field parser', () => {
    const hrp = fc.constantFrom('lnbc', 'lntbs', 'lnbcrt100n', 'lnbc9678785340p', 'lnbc1p', 'lnbc01m')
    const words = fc.array(fc.integer({ min: 0, max: 31 }), { minLength: 0, maxLength: 500 })
    fc.assert(fc.property(hrp, words, (h, w) => total(bech32.encode(h, w, false))), { numRuns: 1_000 })
  })

  it('behavior: structured tagged fields with random lengths and contents', () => {
    const field = fc.record({
      tag: fc.oneof(fc.constantFrom(1, 3, 5, 6, 9, 13, 16, 19, 23, 24, 27), fc.integer({ min: 0, max: 31 })),
      data: fc.array(fc.integer({ min: 0, max: 31 }), { maxLength: 120 }),
    })
    const invoice = fc
      .record({
        ts: fc.array(fc.integer({ min: 0, max: 31 }), { minLength: 7, maxLength: 7 }),
        // Usually carry well-formed p and s fields so that parsing reaches the signature check.
        required: fc.boolean(),
        fields: fc.array(field, { maxLength: 8 }),
      })
      .map(({ ts, required, fields }) => {
        const words = [...ts]
        if (required) words.push(1, 1, 20, ...Array(52).fill(3), 16, 1, 20, ...Array(52).fill(4))
        for (const f of fields) words.push(f.tag, f.data.length >> 5, f.data.length & 31, ...f.data)
        return Bolt11.signWords('lnbcrt', words, key)
      })
    fc.assert(fc.property(invoice, total), { numRuns: 500 })
  })

  it('behavior: mutations of valid invoices (flips, inserts, deletes, case, truncation)', () => {
    const mutation = fc.oneof(
      fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), c: fc.constantFrom(...charset) }),
      fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), c: fc.constantFrom(...charset, '1', 'X', ' ') }),
      fc.record({ kind: fc.constant('delete' as const), at: fc.nat() }),
      fc.record({ kind: fc.constant('upper' as const), at: fc.nat() }),
      fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
    )
    fc.assert(
      fc.property(valid, fc.array(mutation, { minLength: 1, maxLength: 4 }), (invoice, ms) => {
        let s = invoice
        for (const m of ms) {
          const at = m.at % (s.length + 1)
          if (m.kind === 'flip') s = s.slice(0, at) + m.c + s.slice(at + 1)
          else if (m.kind === 'insert') s = s.slice(0, at) + m.c + s.slice(at)
          else if (m.kind === 'delete') s = s.slice(0, at) + s.slice(at + 1)
          else if (m.kind === 'upper') s = s.slice(0, at) + s.slice(at, at + 1).toUpperCase() + s.slice(at + 1)
          else s = s.slice(0, at)
        }
        total(s)
      }),
      { numRuns: 1_000 },
    )
  })

  it('behavior: word-level mutations re-signed or with the old signature', () => {
    fc.assert(
      fc.property(valid, fc.nat(), fc.integer({ min: 0, max: 31 }), fc.boolean(), (invoice, at, w, resign) => {
        const { prefix, words } = bech32.decode(invoice as `${string}1${string}`, false)
        const data = words.slice(0, -104)
        data[at % data.length] = w
        total(resign ? Bolt11.signWords(prefix, data, key) : bech32.encode(prefix, [...data, ...words.slice(-104)], false))
      }),
      { numRuns: 500 },
    )
  })

  it('behavior: encode then decode returns the same fields', () => {
    fc.assert(
      fc.property(params, (p) => {
        const unknownEven = p.features.some((b) => b % 2 === 0 && b > 49)
        const invoice = Bolt11.encode({ ...p, privateKey: key })
        if (unknownEven) {
          assert.throws(() => Bolt11.decode(invoice), (e) => e instanceof TurnpikeError)
          return
        }
        const d = Bolt11.decode(invoice)
        assert.equal(d.network, p.network)
        assert.equal(d.amountMsat, p.amountMsat)
        assert.equal(d.timestamp, p.timestamp)
        assert.equal(d.paymentHash, p.paymentHash)
        assert.equal(d.paymentSecret, p.paymentSecret)
        assert.equal(d.description, p.description)
        assert.equal(d.expiry, p.expiry ?? 3600)
        assert.equal(d.minFinalCltvExpiry, p.minFinalCltvExpiry ?? 18)
        assert.deepEqual(d.features, [...p.features].sort((a, b) => a - b))
        assert.equal(Bolt11.decode(invoice.toUpperCase()).paymentHash, p.paymentHash)
      }),
      { numRuns: 200 },
    )
  })
})
