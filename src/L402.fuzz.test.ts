import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import fc from 'fast-check'
import * as Caveat from './Caveat.ts'
import { encodeStd, encodeUrl } from './internal/base64.ts'
import { toHex } from './internal/hex.ts'
import * as L402 from './L402.ts'
import * as Macaroon from './Macaroon.ts'
import { anyText, returnsOrTurnpike, runs } from '../test/fuzz.ts'

// Strings built from the grammar's own characters hit the interesting branches far more often.
const headerish = fc.string({
  unit: fc.constantFrom('L402', 'LSAT', 'l402', 'Payment', 'Bearer', ' ', '\t', ',', ':', '=', '"', "'", '\\', 'A', 'g', '+', '/', '-', '_', '0', 'f', 'macaroon', 'invoice', 'token', 'version'),
  maxLength: 40,
})
const bytes32 = fc.uint8Array({ minLength: 32, maxLength: 32 })
const token = fc.uint8Array({ minLength: 1, maxLength: 120 })

/** Random character-level edits of a valid string. */
const edits = fc.array(
  fc.record({ at: fc.nat(), del: fc.integer({ min: 0, max: 3 }), ins: fc.oneof(fc.constant(''), fc.string({ maxLength: 3 }), headerish) }),
  { minLength: 1, maxLength: 3 },
)
function edit(s: string, es: readonly { at: number; del: number; ins: string }[]): string {
  for (const e of es) {
    const at = e.at % (s.length + 1)
    s = s.slice(0, at) + e.ins + s.slice(at + e.del)
  }
  return s
}

function credentialLine(scheme: string, tokens: readonly Uint8Array[], preimage: Uint8Array, url: boolean, upper: boolean): string {
  const hex = toHex(preimage)
  return `${scheme} ${tokens.map((t) => (url ? encodeUrl(t) : encodeStd(t))).join(',')}:${upper ? hex.toUpperCase() : hex}`
}

describe('parseAuthorization fuzz', () => {
  test('behavior: random lines return or throw a TurnpikeError', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(anyText, headerish), { maxLength: 4 }), (lines) => {
        const r = returnsOrTurnpike(() => L402.parseAuthorization(lines))
        if (r) assert.ok(r.length <= 8)
      }),
      runs,
    )
  })

  test('behavior: edited valid lines return or throw a TurnpikeError', () => {
    fc.assert(
      fc.property(fc.array(token, { minLength: 1, maxLength: 3 }), bytes32, edits, (tokens, pre, es) => {
        const line = edit(credentialLine('L402', tokens, pre, false, false), es)
        returnsOrTurnpike(() => L402.parseAuthorization([line]))
        returnsOrTurnpike(() => L402.parseAuthorization([`LSAT x:y, ${line}`, line]))
      }),
      runs,
    )
  })

  test('behavior: round trip of any scheme case, flavour and joining', () => {
    const cred = fc.record({
      scheme: fc.constantFrom('L402', 'LSAT', 'l402', 'lsat', 'LsAt'),
      tokens: fc.array(token, { minLength: 1, maxLength: 8 }),
      preimage: bytes32,
      url: fc.boolean(),
      upper: fc.boolean(),
    })
    fc.assert(
      fc.property(fc.array(cred, { minLength: 1, maxLength: 5 }), fc.boolean(), (creds, joined) => {
        const lines = creds.map((c) => credentialLine(c.scheme, c.tokens, c.preimage, c.url, c.upper))
        const got = L402.parseAuthorization(joined ? [lines.join(', ')] : lines)
        // distinct (tokens, preimage) in first-seen order
        const want: typeof creds = []
        for (const c of creds) {
          const key = (x: (typeof creds)[number]): string => toHex(x.preimage) + x.tokens.map(toHex).join(',')
          if (!want.some((w) => key(w) === key(c))) want.push(c)
        }
        assert.deepEqual(
          got.map((c) => ({ scheme: c.scheme, tokens: c.tokens.map(toHex), preimage: toHex(c.preimage) })),
          want.map((c) => ({ scheme: c.scheme.toUpperCase(), tokens: c.tokens.map(toHex), preimage: toHex(c.preimage) })),
        )
      }),
      runs,
    )
  })
})

describe('parseMacaroonHeader fuzz', () => {
  test('behavior: random and edited input returns or throws a TurnpikeError', () => {
    const valid = fc
      .tuple(fc.uint8Array({ maxLength: 80 }), bytes32, edits)
      .map(([id, pre, es]) => {
        const m = Macaroon.attenuate(Macaroon.mint({ rootKey: new Uint8Array(32), identifier: id }), `preimage=${toHex(pre)}`)
        return edit(toHex(Macaroon.encode(m)), es)
      })
    fc.assert(
      fc.property(fc.oneof(anyText, valid, fc.uint8Array({ maxLength: 200 }).map(toHex)), (s) => {
        returnsOrTurnpike(() => L402.parseMacaroonHeader(s))
      }),
      runs,
    )
  })

  test('behavior: round trip', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), fc.array(fc.string({ maxLength: 30 }), { maxLength: 3 }), bytes32, (id, caveats, pre) => {
        const m = Macaroon.attenuate(Macaroon.mint({ rootKey: new Uint8Array(32), identifier: id, caveats }), `preimage=${toHex(pre)}`)
        const c = L402.parseMacaroonHeader(toHex(Macaroon.encode(m)))
        assert.deepEqual(c.preimage, pre)
        assert.deepEqual(c.tokens[0], Macaroon.encode(m))
      }),
      runs,
    )
  })
})

describe('parseChallenges fuzz', () => {
  test('behavior: never throws on random or edited input', () => {
    const valid = fc
      .tuple(fc.uint8Array({ minLength: 1, maxLength: 60 }), fc.stringMatching(/^lnbc[0-9a-z]{1,40}$/), fc.boolean(), edits)
      .map(([t, inv, lsat, es]) => edit(L402.challenge({ macaroon: encodeStd(t), invoice: inv, lsat }).join(', '), es))
    fc.assert(
      fc.property(fc.oneof(anyText, headerish, valid), (s) => {
        const r = L402.parseChallenges(s)
        assert.ok(Array.isArray(r))
        for (const c of r) assert.ok(c.scheme === 'L402' || c.scheme === 'LSAT')
      }),
      runs,
    )
  })

  test('behavior: our challenges round trip among other schemes with quoted commas', () => {
    const other = fc
      .tuple(fc.constantFrom('Payment', 'Bearer', 'Basic', 'Digest'), fc.string({ unit: fc.constantFrom('a', ',', ' ', '=', 'L402 ', '\\"', 'x'), maxLength: 20 }))
      .map(([scheme, v]) => `${scheme} realm="${v}", id="1"`)
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 80 }),
        fc.stringMatching(/^ln(bc|tb|bcrt)[0-9a-z]{1,60}$/),
        fc.boolean(),
        fc.boolean(),
        fc.array(other, { maxLength: 2 }),
        fc.array(other, { maxLength: 2 }),
        (t, invoice, lsat, spec, before, after) => {
          const macaroon = encodeStd(t)
          const r = L402.parseChallenges([...before, ...L402.challenge({ macaroon, invoice, lsat, spec }), ...after].join(', '))
          assert.equal(r.length, lsat ? 2 : 1)
          for (const c of r) {
            assert.equal(c.macaroon, macaroon)
            assert.equal(c.invoice, invoice)
          }
          const last = r[r.length - 1]
          assert.equal(last?.token, spec ? macaroon : undefined)
        },
      ),
      runs,
    )
  })
})

// ---- caveats

const ctxArb = fc.record({
  service: fc.constantFrom('weather', 'maps', ''),
  path: fc.constantFrom('/', '/api', '/api/', '/api/x', '/apix', '/api/../admin', 'relative', ''),
  method: fc.constantFrom('GET', 'post', 'PUT'),
  now: fc.integer({ min: 0, max: 3_000_000_000 }),
  capability: fc.option(fc.constantFrom('forecast', 'history'), { nil: undefined }),
})
const caveatArb = fc.oneof(
  anyText,
  fc.tuple(
    fc.constantFrom('services', 'path', 'method', 'preimage', 'weather_valid_until', 'weather_capabilities', 'maps_valid_until', 'x'),
    fc.oneof(
      anyText,
      fc.constantFrom('weather:0', 'maps:1,weather:0', 'weather:256', '/api/*', '/*', '/api', 'api', 'GET', 'GET,POST', '', ',', '1900000000', '100', '-1', 'forecast', 'forecast,history'),
    ),
  ).map(([c, v]) => `${c}=${v}`),
)

describe('Caveat fuzz', () => {
  test('behavior: parse returns or throws a TurnpikeError', () => {
    fc.assert(
      fc.property(anyText, (s) => {
        const r = returnsOrTurnpike(() => Caveat.parse(s))
        if (r) assert.equal(`${r.condition}=${r.value}`, s)
      }),
      runs,
    )
  })

  test('behavior: check never throws and appending a caveat never turns a failure into a pass', () => {
    fc.assert(
      fc.property(fc.array(caveatArb, { maxLength: 5 }), caveatArb, ctxArb, (caveats, extra, ctx) => {
        const before = Caveat.check(caveats, ctx)
        const after = Caveat.check([...caveats, extra], ctx)
        if (before.ok) assert.ok(before.ignored.every((c) => caveats.includes(c)))
        if (!before.ok) assert.equal(after.ok, false)
      }),
      runs,
    )
  })
})
