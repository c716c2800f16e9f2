import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import fc from 'fast-check'
import { canonicalize, canonicalizeText } from './internal/jcs.ts'
import * as Mpp from './Mpp.ts'
import { anyText, returnsOrTurnpike, runs } from '../test/fuzz.ts'

const headerish = fc.string({
  unit: fc.constantFrom('Payment', 'payment', 'L402', 'Basic', ' ', '\t', ',', '=', '==', '"', '\\', 'id', 'realm', 'method', 'intent', 'request', 'expires', 'a', 'cQ', 'lightning', 'charge'),
  maxLength: 50,
})
const b64ish = fc.string({ unit: fc.constantFrom('A', 'B', 'z', '0', '-', '_', '+', '/', '=', '\n', 'e', 'y', 'J'), maxLength: 40 })
const edits = fc.array(fc.record({ at: fc.nat(), del: fc.integer({ min: 0, max: 3 }), ins: fc.oneof(fc.constant(''), fc.string({ maxLength: 3 }), headerish) }), {
  minLength: 1,
  maxLength: 3,
})
function edit(s: string, es: readonly { at: number; del: number; ins: string }[]): string {
  for (const e of es) {
    const at = e.at % (s.length + 1)
    s = s.slice(0, at) + e.ins + s.slice(at + e.del)
  }
  return s
}
// Values a quoted-string can carry: HTAB, VCHAR, SP, obs-text.
const paramValue = fc.string({ unit: fc.oneof(fc.constantFrom('"', '\\', ',', '=', ' ', '\t', 'é', 'Payment id='), fc.string({ unit: 'grapheme-ascii', maxLength: 1 })), minLength: 1, maxLength: 20 })
  .filter((s) => /^[\t\x20-\x7e\u0080-\uffff]+$/.test(s))
const challenge = fc.record(
  { id: paramValue, realm: paramValue, method: fc.constant('lightning'), intent: fc.constantFrom('charge', 'session'), request: paramValue, expires: paramValue, description: paramValue, opaque: paramValue, digest: paramValue },
  { requiredKeys: ['id', 'realm', 'method', 'intent', 'request'] },
)

describe('Mpp parsers fuzz', () => {
  test('behavior: parseChallenges on random and grammar-shaped input returns or throws a TurnpikeError', () => {
    fc.assert(fc.property(fc.oneof(anyText, headerish), (h) => void returnsOrTurnpike(() => Mpp.parseChallenges(h))), runs)
  })

  test('behavior: serializeChallenge → parseChallenges round-trips any quotable values', () => {
    fc.assert(
      fc.property(fc.array(challenge, { minLength: 1, maxLength: 3 }), (cs) => {
        const joined = cs.map((c) => Mpp.serializeChallenge(c as Mpp.Challenge)).join(', ')
        assert.deepEqual(Mpp.parseChallenges(joined), cs.map((c) => ({ ...c })))
      }),
      runs,
    )
  })

  test('behavior: edited challenge headers never throw anything but a TurnpikeError', () => {
    fc.assert(
      fc.property(challenge, edits, (c, es) => void returnsOrTurnpike(() => Mpp.parseChallenges(edit(Mpp.serializeChallenge(c as Mpp.Challenge), es)))),
      runs,
    )
  })

  test('behavior: decodeBase64Url is strict and round-trips', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), b64ish, (bytes, junk) => {
        assert.deepEqual(Buffer.from(Mpp.decodeBase64Url(Mpp.encodeBase64Url(bytes))), Buffer.from(bytes))
        const d = returnsOrTurnpike(() => Mpp.decodeBase64Url(junk))
        // Whatever decodes has exactly one unpadded spelling.
        if (d) assert.equal(Mpp.encodeBase64Url(d), junk.replace(/=+$/, ''))
      }),
      runs,
    )
  })

  test('behavior: parseCredential / findCredentials / parseReceipt / parseAcceptPayment never throw non-Turnpike errors', () => {
    fc.assert(
      fc.property(fc.oneof(anyText, headerish, b64ish.map((s) => `Payment ${s}`)), (s) => {
        returnsOrTurnpike(() => Mpp.parseCredential(s))
        returnsOrTurnpike(() => Mpp.parseReceipt(s))
        const found = returnsOrTurnpike(() => Mpp.findCredentials([s, s]))
        if (found) assert.ok(found.length <= 5)
        const ranges = Mpp.parseAcceptPayment([s])
        if (ranges) for (const r of ranges) assert.ok(r.q >= 0 && r.q <= 1)
      }),
      runs,
    )
  })

  test('behavior: arbitrary JSON payloads as credentials: parse or TurnpikeError; verify and accept never throw', () => {
    const secret = new Uint8Array(32).fill(3)
    fc.assert(
      fc.property(fc.oneof(fc.jsonValue(), fc.record({ challenge: fc.oneof(challenge, fc.jsonValue()), payload: fc.oneof(fc.jsonValue(), fc.record({ preimage: fc.oneof(fc.string(), fc.jsonValue()) })) })), (v) => {
        const header = `Payment ${Mpp.encodeBase64Url(JSON.stringify(v) ?? 'null')}`
        const cred = returnsOrTurnpike(() => Mpp.parseCredential(header))
        const p = { secret, amountSat: 10n, now: Date.now(), graceSeconds: 60 }
        if (cred) assert.equal(Mpp.verify(cred, p).ok, false)
        assert.equal(Mpp.accept([header], p).ok, false)
      }),
      runs,
    )
  })

  test('behavior: canonicalize is idempotent over JSON values and canonicalizeText only throws TurnpikeErrors', () => {
    fc.assert(
      fc.property(fc.jsonValue(), anyText, (v, t) => {
        const c = canonicalize(v)
        assert.equal(canonicalizeText(c), c)
        returnsOrTurnpike(() => canonicalizeText(t))
      }),
      runs,
    )
  })
})
