import assert from 'node:assert/strict'
import { createHash, createHmac } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { describe, it } from 'node:test'
import { is } from './Errors.ts'
import { canonicalize, canonicalizeText } from './internal/jcs.ts'
import * as Mpp from './Mpp.ts'
import { referenceDir } from '../test/reference.ts'

type Vectors = {
  hmacSecretHex: string
  canonicalization: { name: string; input: string; canonical?: string; error?: boolean }[]
  base64url: { name: string; encoded: string; decodedHex?: string; canonical: boolean; error?: boolean }[]
  challengeHeaders: { name: string; params: Mpp.Challenge; header: string; parsed: Mpp.Challenge }[]
  challengeLists: { name: string; header: string; challenges?: Mpp.Challenge[]; error?: boolean }[]
  challengeIds: { name: string; params: Mpp.Challenge; hmacInput: string }[]
  credentials: { name: string; credentialJson: string; header: string; error?: boolean }[]
  receipts: { name: string; receiptJson: string; header: string }[]
}

const reference = referenceDir
const vectors = JSON.parse(readFileSync(`${reference}data/mpp-vectors.json`, 'utf8')) as Vectors
const vectorSecret = Buffer.from(vectors.hmacSecretHex, 'hex')

function throwsTurnpike(f: () => unknown, code?: Parameters<typeof is>[1]) {
  assert.throws(f, (e: unknown) => is(e, code))
}

describe('JCS (mpp-vectors canonicalization)', () => {
  for (const v of vectors.canonicalization) {
    it(`vector: ${v.name}`, () => {
      if (v.error) return throwsTurnpike(() => canonicalizeText(v.input), 'TURNPIKE_BAD_REQUEST')
      assert.equal(canonicalizeText(v.input), v.canonical)
    })
  }
  it('error: refuses values JSON cannot carry', () => {
    throwsTurnpike(() => canonicalize({ a: Number.NaN }))
    throwsTurnpike(() => canonicalize({ a: 1n }))
  })
})

describe('base64url (mpp-vectors base64url)', () => {
  for (const v of vectors.base64url) {
    it(`vector: ${v.name}`, () => {
      if (v.error) return throwsTurnpike(() => Mpp.decodeBase64Url(v.encoded), 'TURNPIKE_CREDENTIAL_MALFORMED')
      const bytes = Mpp.decodeBase64Url(v.encoded)
      assert.equal(Buffer.from(bytes).toString('hex'), v.decodedHex ?? '')
      if (v.canonical) assert.equal(Mpp.encodeBase64Url(bytes), v.encoded)
    })
  }
})

describe('challenge headers (mpp-vectors challengeHeaders)', () => {
  for (const v of vectors.challengeHeaders) {
    it(`vector: ${v.name}`, () => {
      assert.equal(Mpp.serializeChallenge(v.params), v.header)
      assert.deepEqual(Mpp.parseChallenges(v.header), [v.parsed])
    })
  }
  it('error: a control character cannot be serialised', () => {
    throwsTurnpike(() => Mpp.serializeChallenge({ id: 'a', realm: 'a\r\nX: y', method: 'lightning', intent: 'charge', request: 'cQ' }))
  })
})

describe('challenge lists (mpp-vectors challengeLists)', () => {
  for (const v of vectors.challengeLists) {
    it(`vector: ${v.name}`, () => {
      if (v.error) return throwsTurnpike(() => Mpp.parseChallenges(v.header), 'TURNPIKE_CHALLENGE_MALFORMED')
      assert.deepEqual(Mpp.parseChallenges(v.header), v.challenges)
    })
  }
  it('behavior: L402 lines joined before a Payment line are skipped', () => {
    const h = 'L402 macaroon="AgE=", invoice="lnbc1", version="0", token="AgE=", Payment id="x", realm="r", method="lightning", intent="charge", request="cQ"'
    assert.deepEqual(Mpp.parseChallenges(h), [{ id: 'x', realm: 'r', method: 'lightning', intent: 'charge', request: 'cQ' }])
  })
})

describe('challenge ids (mpp-vectors challengeIds)', () => {
  for (const v of vectors.challengeIds) {
    it(`vector: ${v.name}`, () => {
      assert.equal(Mpp.challengeId(vectorSecret, v.params), v.params.id)
      assert.equal(createHmac('sha256', vectorSecret).update(v.hmacInput).digest('base64url'), v.params.id)
    })
  }
})

describe('credentials (mpp-vectors credentials)', () => {
  for (const v of vectors.credentials) {
    it(`vector: ${v.name}`, () => {
      if (v.error) return throwsTurnpike(() => Mpp.parseCredential(v.header), 'TURNPIKE_CREDENTIAL_MALFORMED')
      assert.deepEqual(Mpp.parseCredential(v.header), JSON.parse(v.credentialJson))
    })
  }
  it('behavior: findCredentials splits joined lines, dedupes and ignores other schemes', () => {
    const a = vectors.credentials[0]!.header
    assert.deepEqual(Mpp.findCredentials([`L402 AAA:${'0'.repeat(64)}, ${a}`, a]), [a])
    assert.deepEqual(Mpp.findCredentials(['Bearer x']), [])
    assert.deepEqual(Mpp.findCredentials(undefined), [])
  })
})

describe('receipts (mpp-vectors receipts)', () => {
  for (const v of vectors.receipts) {
    it(`vector: ${v.name}`, () => {
      const parsed = Mpp.parseReceipt(v.header)
      assert.equal(Buffer.from(v.header, 'base64url').toString('utf8'), v.receiptJson)
      // Re-encoding keeps member order and exact integers, bigints included.
      assert.equal(Mpp.serializeReceipt(parsed), v.header)
      for (const [k, x] of Object.entries(parsed)) {
        if (typeof x === 'bigint') assert.match(v.receiptJson, new RegExp(`"${k}":${x}[,}]`))
      }
    })
  }
  it('behavior: a charge receipt serialises in the vector member order', () => {
    const v = vectors.receipts[0]!
    const r = JSON.parse(v.receiptJson) as Mpp.Receipt
    assert.equal(Mpp.serializeReceipt({ status: 'success', method: r.method, timestamp: r.timestamp, reference: r.reference, challengeId: r.challengeId! }), v.header)
  })
})

describe('Accept-Payment', () => {
  it('behavior: parses ranges with q, most specific match wins', () => {
    const r = Mpp.parseAcceptPayment(['lightning/charge, */session;q=0.3', '*/*;q=0'])!
    assert.deepEqual(r, [
      { method: 'lightning', intent: 'charge', q: 1 },
      { method: '*', intent: 'session', q: 0.3 },
      { method: '*', intent: '*', q: 0 },
    ])
    assert.equal(Mpp.preference(r, 'lightning', 'charge'), 1)
    assert.equal(Mpp.preference(r, 'tempo', 'session'), 0.3)
    assert.equal(Mpp.preference(r, 'tempo', 'charge'), 0)
    assert.equal(Mpp.preference([{ method: 'tempo', intent: 'charge', q: 1 }], 'lightning', 'charge'), undefined)
  })
  it('error: malformed or absent headers are ignored (undefined)', () => {
    assert.equal(Mpp.parseAcceptPayment(undefined), undefined)
    assert.equal(Mpp.parseAcceptPayment(['lightning']), undefined)
    assert.equal(Mpp.parseAcceptPayment(['lightning/charge;q=2']), undefined)
  })
})

describe('offer and verify', () => {
  const secret = Mpp.deriveSecret(new Uint8Array(32).fill(9))
  const preimage = Buffer.alloc(32, 1)
  const paymentHash = createHash('sha256').update(preimage).digest('hex')
  const now = Date.UTC(2026, 0, 1)
  const invoice = { paymentRequest: 'lnbcrt100n1pexample', paymentHash, expiresAt: now + 600_000 }
  const c = Mpp.offer({ secret, realm: 'api.example.com', invoice, amountSat: 10n, description: 'weather' })
  const params = { secret, amountSat: 10n, description: 'weather', now, graceSeconds: 3600 }
  const cred = (over: Partial<Mpp.Challenge> = {}, pre = preimage.toString('hex')): Mpp.Credential =>
    Mpp.parseCredential(Mpp.serializeCredential({ challenge: { ...c, ...over }, payload: { preimage: pre } }))

  it('behavior: the offer carries a JCS request with methodDetails and an RFC 3339 expiry', () => {
    assert.equal(c.method, 'lightning')
    assert.equal(c.intent, 'charge')
    assert.equal(c.expires, '2026-01-01T00:10:00Z')
    const req = Mpp.decodeRequest(c.request)
    assert.deepEqual(req, { amount: '10', currency: 'sat', description: 'weather', methodDetails: { invoice: invoice.paymentRequest, network: 'regtest', paymentHash } })
    assert.equal(Buffer.from(c.request, 'base64url').toString(), canonicalize(req))
    assert.deepEqual(Mpp.parseChallenges(Mpp.serializeChallenge(c)), [c])
  })
  it('behavior: the deriveSecret key differs from the master secret', () => {
    assert.notDeepEqual(Buffer.from(secret), Buffer.alloc(32, 9))
  })
  it('behavior: a paid credential verifies, uppercase preimage too, and without optional echoes', () => {
    assert.deepEqual(Mpp.verify(cred(), params), { ok: true, paymentHash, challengeId: c.id })
    assert.equal(Mpp.verify(cred({}, preimage.toString('hex').toUpperCase()), params).ok, true)
  })
  it('error: each tampering maps to its problem type', () => {
    const problem = (x: Mpp.Credential, p = params) => {
      const r = Mpp.verify(x, p)
      assert.equal(r.ok, false)
      return (r as Mpp.Refused).problem
    }
    assert.equal(problem(cred({ realm: 'evil.example.com' })), 'invalid-challenge')
    assert.equal(problem(cred({ id: c.id.slice(0, -1) + (c.id.endsWith('A') ? 'B' : 'A') })), 'invalid-challenge')
    assert.equal(problem(cred({ expires: '2099-01-01T00:00:00Z' })), 'invalid-challenge')
    assert.equal(problem(cred({ method: 'tempo' })), 'method-unsupported')
    assert.equal(problem(cred({}, '00'.repeat(32))), 'lightning/invalid-preimage')
    assert.equal(problem(cred({}, 'xyz')), 'lightning/malformed-credential')
    assert.equal(problem(cred(), { ...params, amountSat: 11n }), 'payment-insufficient')
    assert.equal(problem(cred(), { ...params, description: 'other route' }), 'invalid-challenge')
    assert.equal(problem(cred({}, '00'.repeat(32)), { ...params, now: now + 600_000 }), 'payment-expired')
    assert.equal(problem(cred(), { ...params, now: now + 600_000 + 3600_000 }), 'payment-expired')
    // A paid credential arriving shortly after expiry is still honoured (grace).
    assert.equal(Mpp.verify(cred(), { ...params, now: now + 601_000 }).ok, true)
  })
  it('error: a request re-encoded under another secret is refused', () => {
    const other = Mpp.offer({ secret: Mpp.deriveSecret(new Uint8Array(32)), realm: 'api.example.com', invoice, amountSat: 10n, description: 'weather' })
    assert.equal(Mpp.verify(cred({ id: other.id }), params).ok, false)
  })
})

describe('config and composition', () => {
  it('behavior: schemes default to [l402], accept a list or a comma string, dedupe', async () => {
    const { parse } = await import('./Config.ts')
    const base = { upstream: 'http://127.0.0.1:9', backend: 'dev' }
    assert.deepEqual(parse({ ...base, routes: [{ path: '/*', price: '1sat' }] }).routes[0]!.schemes, ['l402'])
    assert.deepEqual(parse({ ...base, routes: [{ path: '/*', price: '1sat', schemes: 'payment, l402, payment' }] }).routes[0]!.schemes, ['payment', 'l402'])
  })
  it('error: unknown schemes, empty lists and msat prices with payment are config errors', async () => {
    const { parse } = await import('./Config.ts')
    const base = { upstream: 'http://127.0.0.1:9', backend: 'dev' }
    assert.throws(() => parse({ ...base, routes: [{ path: '/*', price: '1sat', schemes: ['bitcoin'] }] }), /routes\[0\]\.schemes/)
    assert.throws(() => parse({ ...base, routes: [{ path: '/*', price: '1sat', schemes: [] }] }), /routes\[0\]\.schemes/)
    assert.throws(() => parse({ ...base, routes: [{ path: '/*', price: '1500msat', schemes: ['payment'] }] }), /whole satoshis/)
    assert.doesNotThrow(() => parse({ ...base, routes: [{ path: '/*', price: '1500msat', schemes: ['l402', 'x402'] }] }))
  })
  it('behavior: LSAT, L402, then Payment, all on one invoice; the HMAC key is not the master secret', async () => {
    const { parse } = await import('./Config.ts')
    const Gateway = await import('./Gateway.ts')
    const { dev } = await import('./lightning/dev.ts')
    const { memory } = await import('./store/memory.ts')
    const { fromRecord } = await import('./RequestView.ts')
    const master = new Uint8Array(32).fill(5)
    const config = parse({ upstream: 'http://127.0.0.1:9', backend: 'dev', challenge: { lsat: true }, routes: [{ name: 'api', path: '/*', price: '3sat', schemes: ['payment', 'l402'] }] })
    const gw = Gateway.create({ config, backend: dev(), store: memory({ pruneIntervalMs: 0 }), secret: master })
    const d = await gw.decide(fromRecord({ method: 'GET', path: '/x', host: 'api.example.com:8402' }))
    assert.equal(d.kind, 'challenge')
    const www = (d as { headers: readonly (readonly [string, string])[] }).headers.filter(([k]) => k === 'www-authenticate').map(([, v]) => v)
    assert.equal(www.length, 3)
    assert.match(www[0]!, /^LSAT /)
    assert.match(www[1]!, /^L402 /)
    assert.match(www[2]!, /^Payment /)
    const [c] = Mpp.parseChallenges(www[2]!)
    assert.equal(c!.realm, 'api.example.com')
    const invoice = /invoice="([^"]+)"/.exec(www[1]!)![1]
    assert.equal((Mpp.decodeRequest(c!.request).methodDetails as { invoice: string }).invoice, invoice)
    assert.equal(Mpp.challengeId(Mpp.deriveSecret(master), c!), c!.id)
    assert.notEqual(Mpp.challengeId(master, c!), c!.id, 'the raw master secret is not the HMAC key')
  })
})
