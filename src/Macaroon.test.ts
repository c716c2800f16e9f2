import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
// @ts-ignore -- macaroon@3.0.4 ships no type declarations; used only as an independent cross-check.
import macaroonPkg from 'macaroon'
import * as Caveat from './Caveat.ts'
import { is } from './Errors.ts'
import * as Identifier from './Identifier.ts'
import { decodeAny, encodeStd, encodeUrl } from './internal/base64.ts'
import { fromHex, toHex } from './internal/hex.ts'
import * as Macaroon from './Macaroon.ts'

/** The subset of npm macaroon@3.0.4 these tests use (go-macaroon/js-macaroon `macaroon.js`). */
type NpmMacaroon = {
  readonly identifier: Uint8Array
  readonly location: string
  readonly signature: Uint8Array
  readonly caveats: readonly { identifier: Uint8Array; location?: string; vid?: Uint8Array }[]
  verify(rootKey: Uint8Array, check: (cond: string) => string | null, discharges?: unknown[]): void
  addFirstPartyCaveat(id: string | Uint8Array): void
  addThirdPartyCaveat(rootKey: Uint8Array, id: string | Uint8Array, location: string): void
  exportBinary(): Uint8Array
}
const npm = macaroonPkg as {
  importMacaroon(obj: string | Uint8Array): NpmMacaroon
  newMacaroon(p: { identifier: Uint8Array | string; location?: string; rootKey: Uint8Array; version?: number }): NpmMacaroon
}

// Vector A: shared/reference/data/macaroon-vectors.json (protocols.md §1.10).
const A = {
  rootKey: '11'.repeat(32),
  paymentHash: '72cd6e8422c407fb6d098690f1130b7ded7ec2f7f5e1d30bd9d521f015363793',
  tokenId: '22'.repeat(32),
  identifier:
    '000072cd6e8422c407fb6d098690f1130b7ded7ec2f7f5e1d30bd9d521f0153637932222222222222222222222222222222222222222222222222222222222222222',
  caveats: ['services=weather:0', 'weather_capabilities=forecast', 'weather_valid_until=1893456000'],
  signature: '2c0292aac5dbd141efec337b12d1948aba9c7e68ae4a7c8a9dc31d448bd98fba',
  binary:
    '0201046c7361740242000072cd6e8422c407fb6d098690f1130b7ded7ec2f7f5e1d30bd9d521f015363793222222222222222222222222222222222222222222222222222222222222222200021273657276696365733d776561746865723a3000021d776561746865725f6361706162696c69746965733d666f72656361737400021e776561746865725f76616c69645f756e74696c3d31383933343536303030000006202c0292aac5dbd141efec337b12d1948aba9c7e68ae4a7c8a9dc31d448bd98fba',
  base64:
    'AgEEbHNhdAJCAAByzW6EIsQH+20JhpDxEwt97X7C9/Xh0wvZ1SHwFTY3kyIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiAAISc2VydmljZXM9d2VhdGhlcjowAAIdd2VhdGhlcl9jYXBhYmlsaXRpZXM9Zm9yZWNhc3QAAh53ZWF0aGVyX3ZhbGlkX3VudGlsPTE4OTM0NTYwMDAAAAYgLAKSqsXb0UHv7DN7EtGUirqcfmiuSnyKncMdRIvZj7o=',
}

// Vector B: protocols.md §1.10 (one caveat, 128 bytes).
const B = {
  rootKey: '11'.repeat(32),
  identifier: '0000' + 'aa'.repeat(32) + 'bb'.repeat(32),
  caveats: ['services=svc:0'],
  binary:
    '0201046c73617402420000' +
    'aa'.repeat(32) +
    'bb'.repeat(32) +
    '00' +
    '020e73657276696365733d7376633a30' +
    '00' +
    '00' +
    '0620' +
    '7c18639d8913bfeacc352a94cc1988e0334a2d0f0e8b10b0d381f04e7f42283a',
  base64:
    'AgEEbHNhdAJCAACqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqru7u7u7u7u7u7u7u7u7u7u7u7u7u7u7u7u7u7u7u7u7AAIOc2VydmljZXM9c3ZjOjAAAAYgfBhjnYkTv+rMNSqUzBmI4DNKLQ8OixCw04HwTn9CKDo=',
}

const rootKey = fromHex(A.rootKey)
const mintA = (): Macaroon.Macaroon =>
  Macaroon.mint({ rootKey, identifier: fromHex(A.identifier), caveats: A.caveats })

function assertMalformed(f: () => unknown): void {
  assert.throws(f, (e: unknown) => is(e, 'TURNPIKE_MACAROON_MALFORMED'))
}

describe('mint', () => {
  test('behavior: reproduces vector A byte for byte', () => {
    const m = mintA()
    assert.equal(m.location, 'lsat')
    assert.equal(toHex(m.signature), A.signature)
    assert.equal(toHex(Macaroon.encode(m)), A.binary)
    assert.equal(Macaroon.encode(m).length, 197)
    assert.equal(Macaroon.serialize(m), A.base64)
  })

  test('behavior: reproduces vector B byte for byte', () => {
    const m = Macaroon.mint({ rootKey: fromHex(B.rootKey), identifier: fromHex(B.identifier), caveats: B.caveats })
    assert.equal(toHex(Macaroon.encode(m)), B.binary)
    assert.equal(Macaroon.encode(m).length, 128)
    assert.equal(Macaroon.serialize(m), B.base64)
  })

  test('behavior: identifier built by Identifier.encode gives vector A', () => {
    const identifier = Identifier.encode({ version: 0, paymentHash: fromHex(A.paymentHash), tokenId: fromHex(A.tokenId) })
    assert.equal(Macaroon.serialize(Macaroon.mint({ rootKey, identifier, caveats: A.caveats })), A.base64)
  })

  test('behavior: custom location and no caveats', () => {
    const m = Macaroon.mint({ rootKey, identifier: fromHex('0102'), location: 'example.com' })
    assert.equal(Macaroon.decode(Macaroon.encode(m)).location, 'example.com')
    assert.deepEqual(m.caveats, [])
    assert.ok(Macaroon.verifySignature(m, rootKey))
  })

  test('behavior: the identifier is copied, later mutation does not change the macaroon', () => {
    const id = fromHex(A.identifier)
    const m = Macaroon.mint({ rootKey, identifier: id, caveats: A.caveats })
    id[5] = 0
    assert.equal(toHex(m.identifier), A.identifier)
  })
})

describe('decode', () => {
  test('behavior: vector A fields', () => {
    const m = Macaroon.decode(fromHex(A.binary))
    assert.equal(m.location, 'lsat')
    assert.equal(toHex(m.identifier), A.identifier)
    assert.deepEqual(Macaroon.firstPartyCaveats(m), A.caveats)
    assert.equal(toHex(m.signature), A.signature)
    for (const c of m.caveats) {
      assert.equal(c.verificationId, undefined)
      assert.equal(c.location, undefined)
    }
  })

  test('behavior: round trip with absent location, caveat locations and a verification id', () => {
    const m: Macaroon.Macaroon = {
      location: undefined,
      identifier: new Uint8Array(300).fill(7), // two-byte uvarint length
      caveats: [
        { id: new TextEncoder().encode('a=b') },
        { id: new Uint8Array([1, 2, 3]), verificationId: new Uint8Array(72).fill(9), location: 'https://tp.example' },
        { id: new Uint8Array(0), location: '' },
      ],
      signature: new Uint8Array(32).fill(3),
    }
    const bytes = Macaroon.encode(m)
    assert.equal(bytes[1], 2) // no location packet: identifier comes first
    assert.deepEqual(Macaroon.decode(bytes), m)
    assert.deepEqual(Macaroon.encode(Macaroon.decode(bytes)), bytes)
  })

  test('behavior: returned byte fields are plain Uint8Array views', () => {
    const m = Macaroon.decode(Buffer.from(A.binary, 'hex'))
    assert.equal(Object.getPrototypeOf(m.identifier), Uint8Array.prototype)
    assert.equal(Object.getPrototypeOf(m.signature), Uint8Array.prototype)
  })

  test('error: wrong version byte', () => {
    const b = fromHex(A.binary)
    b[0] = 1
    assertMalformed(() => Macaroon.decode(b))
    assertMalformed(() => Macaroon.decode(new Uint8Array(0)))
    assertMalformed(() => Macaroon.decode(new TextEncoder().encode('0201')))
  })

  test('error: every truncation', () => {
    const b = fromHex(A.binary)
    for (let n = 0; n < b.length; n++) assertMalformed(() => Macaroon.decode(b.subarray(0, n)))
  })

  test('error: trailing bytes', () => {
    const b = fromHex(A.binary + '00')
    assertMalformed(() => Macaroon.decode(b))
  })

  test('error: signature of 31 or 33 bytes', () => {
    const head = A.binary.slice(0, A.binary.length - 68)
    assertMalformed(() => Macaroon.decode(fromHex(head + '061f' + 'ab'.repeat(31))))
    assertMalformed(() => Macaroon.decode(fromHex(head + '0621' + 'ab'.repeat(33))))
    assert.ok(Macaroon.decode(fromHex(head + '0620' + 'ab'.repeat(32))))
  })

  test('error: unexpected packet types', () => {
    // identifier missing, vid in the header, unknown type 3, signature before the caveat list ends
    for (const hex of [
      '02' + '0104' + '6c736174' + '00' + '00' + '0620' + 'ab'.repeat(32),
      '02' + '020100' + '040100' + '00' + '00' + '0620' + 'ab'.repeat(32),
      '02' + '020100' + '00' + '030100' + '00' + '00' + '0620' + 'ab'.repeat(32),
      '02' + '020100' + '00' + '0620' + 'ab'.repeat(32),
      '02' + '020100' + '00' + '020161' + '0620' + 'ab'.repeat(32),
      '02' + '020100' + '00' + '00' + '00' + '0620' + 'ab'.repeat(32),
    ]) {
      assertMalformed(() => Macaroon.decode(fromHex(hex)))
    }
    assert.ok(Macaroon.decode(fromHex('02' + '020100' + '00' + '00' + '0620' + 'ab'.repeat(32))))
  })

  test('error: non-minimal, overlong and oversized uvarint lengths', () => {
    assertMalformed(() => Macaroon.decode(fromHex('02' + '028100' + '00' + '00' + '0620' + 'ab'.repeat(32))))
    assertMalformed(() => Macaroon.decode(fromHex('02' + '02ffffffffff01' + '00' + '00' + '0620' + 'ab'.repeat(32))))
    assertMalformed(() => Macaroon.decode(fromHex('02' + '02ffffffff0f' + '00' + '00' + '0620' + 'ab'.repeat(32))))
  })

  test('error: location that is not UTF-8', () => {
    assertMalformed(() => Macaroon.decode(fromHex('02' + '0102ffff' + '020100' + '00' + '00' + '0620' + 'ab'.repeat(32))))
  })
})

describe('encode', () => {
  test('error: a signature that is not 32 bytes', () => {
    assertMalformed(() => Macaroon.encode({ ...mintA(), signature: new Uint8Array(31) }))
  })
})

describe('serialize / deserialize', () => {
  test('behavior: std padded out, any flavour in', () => {
    const m = Macaroon.deserialize(A.base64)
    const bytes = fromHex(A.binary)
    assert.equal(Macaroon.serialize(m), A.base64)
    for (const s of [A.base64, A.base64.replace(/=+$/, ''), encodeUrl(bytes), encodeUrl(bytes) + '=']) {
      assert.deepEqual(Macaroon.deserialize(s), m, s)
    }
    assert.ok(Macaroon.verifySignature(Macaroon.deserialize(encodeUrl(bytes)), rootKey))
  })

  test('error: invalid base64 is a malformed macaroon', () => {
    assertMalformed(() => Macaroon.deserialize('!!!!'))
    assertMalformed(() => Macaroon.deserialize(A.base64.slice(1)))
    assertMalformed(() => Macaroon.deserialize(''))
  })
})

describe('verifySignature', () => {
  test('behavior: vectors A and B verify with the root key', () => {
    assert.ok(Macaroon.verifySignature(Macaroon.deserialize(A.base64), rootKey))
    assert.ok(Macaroon.verifySignature(Macaroon.deserialize(B.base64), fromHex(B.rootKey)))
  })

  test('error: wrong root key', () => {
    assert.equal(Macaroon.verifySignature(Macaroon.deserialize(A.base64), fromHex('12'.repeat(32))), false)
    assert.equal(Macaroon.verifySignature(Macaroon.deserialize(A.base64), new Uint8Array(0)), false)
  })

  test('error: tampered identifier, caveat or signature', () => {
    const good = fromHex(A.binary)
    const offsets = {
      identifier: 11 + 10, // inside the payment hash
      caveat: good.indexOf(0x3a) + 1, // the tier digit of services=weather:0
      signature: good.length - 1,
    }
    for (const [what, at] of Object.entries(offsets)) {
      const b = good.slice()
      b[at] = (b[at] as number) ^ 1
      assert.equal(Macaroon.verifySignature(Macaroon.decode(b), rootKey), false, what)
    }
    // dropping or reordering caveats also breaks the chain
    const m = Macaroon.decode(good)
    assert.equal(Macaroon.verifySignature({ ...m, caveats: m.caveats.slice(0, 2) }, rootKey), false)
    assert.equal(Macaroon.verifySignature({ ...m, caveats: [...m.caveats].reverse() }, rootKey), false)
    assert.equal(Macaroon.verifySignature({ ...m, signature: m.signature.subarray(0, 16) }, rootKey), false)
  })

  test('error: any third-party caveat makes it invalid', () => {
    const m = mintA()
    const withVid: Macaroon.Macaroon = {
      ...m,
      caveats: [...m.caveats.slice(0, 2), { ...(m.caveats[2] as Macaroon.Caveat), verificationId: new Uint8Array(1) }],
    }
    assert.equal(Macaroon.verifySignature(withVid, rootKey), false)

    const n = npm.newMacaroon({ identifier: fromHex(B.identifier), location: 'lsat', rootKey })
    n.addThirdPartyCaveat(new Uint8Array(32).fill(5), 'third-party-id', 'https://tp.example')
    const ours = Macaroon.decode(n.exportBinary())
    assert.ok(ours.caveats[0]?.verificationId)
    assert.equal(ours.caveats[0]?.location, 'https://tp.example')
    assert.equal(Macaroon.verifySignature(ours, rootKey), false)
    assert.deepEqual(Macaroon.firstPartyCaveats(ours), [])
  })
})

describe('attenuate', () => {
  test('behavior: a client-appended caveat verifies and is checked', () => {
    // The client holds only the serialized token, not the root key.
    const held = Macaroon.deserialize(A.base64)
    const m = Macaroon.deserialize(Macaroon.serialize(Macaroon.attenuate(held, 'path=/api/*')))
    assert.ok(Macaroon.verifySignature(m, rootKey))
    assert.deepEqual(Macaroon.firstPartyCaveats(m), [...A.caveats, 'path=/api/*'])
    const ctx = { service: 'weather', method: 'GET', now: 1_800_000_000, capability: 'forecast' }
    assert.deepEqual(Caveat.check(Macaroon.firstPartyCaveats(m), { ...ctx, path: '/api/x' }), { ok: true, ignored: [] })
    assert.equal(Caveat.check(Macaroon.firstPartyCaveats(m), { ...ctx, path: '/admin' }).ok, false)
    // and the original is untouched
    assert.equal(held.caveats.length, 3)
  })

  test('behavior: same result as minting with the caveat', () => {
    const a = Macaroon.attenuate(mintA(), 'x=y')
    const b = Macaroon.mint({ rootKey, identifier: fromHex(A.identifier), caveats: [...A.caveats, 'x=y'] })
    assert.deepEqual(Macaroon.encode(a), Macaroon.encode(b))
  })

  test('error: stripping the appended caveat does not verify', () => {
    const m = Macaroon.attenuate(mintA(), 'path=/api/*')
    assert.equal(Macaroon.verifySignature({ ...m, caveats: m.caveats.slice(0, 3) }, rootKey), false)
  })
})

describe('npm macaroon@3.0.4 cross-check', () => {
  test('behavior: it decodes our serialized macaroons and verifies them with the root key', () => {
    const cases = [
      mintA(),
      Macaroon.deserialize(B.base64),
      Macaroon.attenuate(Macaroon.attenuate(mintA(), 'path=/api/*'), 'method=GET'),
      Macaroon.mint({ rootKey, identifier: new Uint8Array([1, 2, 3]), location: 'somewhere' }),
    ]
    for (const m of cases) {
      for (const s of [Macaroon.serialize(m), Macaroon.encode(m)]) {
        const theirs = npm.importMacaroon(s)
        assert.deepEqual(new Uint8Array(theirs.identifier), new Uint8Array(m.identifier))
        assert.deepEqual(new Uint8Array(theirs.signature), new Uint8Array(m.signature))
        assert.equal(theirs.location, m.location)
        const seen: string[] = []
        theirs.verify(m === cases[1] ? fromHex(B.rootKey) : rootKey, (cond) => {
          seen.push(cond)
          return null
        })
        assert.deepEqual(seen, Macaroon.firstPartyCaveats(m))
      }
    }
  })

  test('error: it rejects our macaroons under a wrong key or after tampering', () => {
    const m = mintA()
    assert.throws(() => npm.importMacaroon(Macaroon.serialize(m)).verify(fromHex('12'.repeat(32)), () => null))
    const b = Macaroon.encode(m)
    b[20] = (b[20] as number) ^ 1
    assert.throws(() => npm.importMacaroon(b).verify(rootKey, () => null))
  })

  test('behavior: we decode and verify what it mints (at most 2 caveats: its buffer bug)', () => {
    const n = npm.newMacaroon({ identifier: fromHex(A.identifier), location: 'lsat', rootKey })
    n.addFirstPartyCaveat('services=weather:0')
    n.addFirstPartyCaveat('weather_capabilities=forecast')
    const bytes = n.exportBinary()
    const m = Macaroon.decode(bytes)
    assert.ok(Macaroon.verifySignature(m, rootKey))
    assert.deepEqual(Macaroon.firstPartyCaveats(m), A.caveats.slice(0, 2))
    assert.deepEqual(Macaroon.encode(m), new Uint8Array(bytes))
    // and our attenuation of its macaroon gives vector A
    assert.equal(Macaroon.serialize(Macaroon.attenuate(m, A.caveats[2] as string)), A.base64)
  })
})

describe('internal codecs used here', () => {
  test('behavior: base64 flavours agree', () => {
    const b = fromHex(A.binary)
    assert.equal(encodeStd(b), A.base64)
    assert.deepEqual(decodeAny(encodeUrl(b)), b)
  })

  test('behavior: decodeAny accepts both alphabets with or without padding', () => {
    for (const [s, hex] of [['', ''], ['AA', '00'], ['AA==', '00'], ['AAA', '0000'], ['AAA=', '0000'], ['-_-_', 'fbffbf'], ['+/+/', 'fbffbf'], ['-/+_', 'fbffbf']]) {
      assert.equal(toHex(decodeAny(s as string)), hex, s)
    }
  })

  test('error: decodeAny and fromHex reject anything else', () => {
    const bad = (e: unknown): boolean => is(e, 'TURNPIKE_CREDENTIAL_MALFORMED')
    for (const s of ['A', 'AA=', 'AAA==', 'A===', 'AAAA=', 'AA AA', 'AA\n', '=AAA', 'AA=A', 'AA==AA==', 'AAé=', '====']) {
      assert.throws(() => decodeAny(s), bad, JSON.stringify(s))
    }
    for (const s of ['a', 'zz', ' 00', '0x00', '00 ', 'é0']) assert.throws(() => fromHex(s), bad, JSON.stringify(s))
    assert.equal(toHex(fromHex('AbCd')), 'abcd')
  })
})
