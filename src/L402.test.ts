import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
// @ts-ignore -- macaroon@3.0.4 ships no type declarations; used only as an independent decoder.
import macaroonPkg from 'macaroon'
import { parseL402 as albyParseL402 } from '@getalby/lightning-tools/402'
import { is } from './Errors.ts'
import { decodeAny, encodeStd, encodeUrl } from './internal/base64.ts'
import { fromHex, toHex } from './internal/hex.ts'
import * as L402 from './L402.ts'
import * as Macaroon from './Macaroon.ts'

const npm = macaroonPkg as { importMacaroon(b: Uint8Array): { identifier: Uint8Array } }

// Vector A (protocols.md §1.10, data/macaroon-vectors.json) and its real regtest invoice.
const T =
  'AgEEbHNhdAJCAAByzW6EIsQH+20JhpDxEwt97X7C9/Xh0wvZ1SHwFTY3kyIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiAAISc2VydmljZXM9d2VhdGhlcjowAAIdd2VhdGhlcl9jYXBhYmlsaXRpZXM9Zm9yZWNhc3QAAh53ZWF0aGVyX3ZhbGlkX3VudGlsPTE4OTM0NTYwMDAAAAYgLAKSqsXb0UHv7DN7EtGUirqcfmiuSnyKncMdRIvZj7o='
const P =
  'lnbcrt100n1p54twgqpp5wtxkappzcsrlkmgfs6g0zyct0hkhashh7hsaxz7e65slq9fkx7fssp5xvenxvenxvenxvenxvenxvenxvenxvenxvenxvenxvenxvenxvenxvesdq8fs6rqvs9qrsgqvr793w9rvwpwuwqneuwzcl704gzl6uj5j0adm0mac4g9q5utu3tx4zzca0tnfflay6hcvjnlf5k09j5ue6ha38xkzq6hq4g0ac88tegqxysspc'
const PRE = '01'.repeat(32)
const PAYMENT_HASH = '72cd6e8422c407fb6d098690f1130b7ded7ec2f7f5e1d30bd9d521f015363793'
const BYTES = decodeAny(T)
const rootKey = fromHex('11'.repeat(32))

const malformed = (e: unknown): boolean => is(e, 'TURNPIKE_CREDENTIAL_MALFORMED')

describe('challenge', () => {
  test('behavior: default is the L402 line with the spec suffix after the invoice', () => {
    assert.deepEqual(L402.challenge({ macaroon: T, invoice: P }), [
      `L402 macaroon="${T}", invoice="${P}", version="0", token="${T}"`,
    ])
  })

  test('behavior: spec: false gives the plain bLIP-26 form', () => {
    assert.deepEqual(L402.challenge({ macaroon: T, invoice: P, spec: false }), [`L402 macaroon="${T}", invoice="${P}"`])
  })

  test('behavior: lsat: true puts the Aperture LSAT line first', () => {
    assert.deepEqual(L402.challenge({ macaroon: T, invoice: P, lsat: true }), [
      `LSAT macaroon="${T}", invoice="${P}"`,
      `L402 macaroon="${T}", invoice="${P}", version="0", token="${T}"`,
    ])
    assert.deepEqual(L402.challenge({ macaroon: T, invoice: P, lsat: true, spec: false }), [
      `LSAT macaroon="${T}", invoice="${P}"`,
      `L402 macaroon="${T}", invoice="${P}"`,
    ])
  })

  test('error: values that would break the header are refused', () => {
    assert.throws(() => L402.challenge({ macaroon: 'a"b', invoice: P }), TypeError)
    assert.throws(() => L402.challenge({ macaroon: T, invoice: 'lnbc1\r\nX: y' }), TypeError)
    assert.throws(() => L402.challenge({ macaroon: '', invoice: P }), TypeError)
  })
})

describe('parseAuthorization', () => {
  const expectA = (creds: L402.Credential[], schemes: ('L402' | 'LSAT')[]): void => {
    assert.deepEqual(
      creds.map((c) => c.scheme),
      schemes,
    )
    for (const c of creds) {
      assert.equal(toHex(c.preimage), PRE)
      assert.equal(c.tokens.length, 1)
      assert.deepEqual(c.tokens[0], BYTES)
    }
  }

  test('behavior: the vector credential', () => {
    expectA(L402.parseAuthorization([`L402 ${T}:${PRE}`]), ['L402'])
    expectA(L402.parseAuthorization([`LSAT ${T}:${PRE}`]), ['LSAT'])
  })

  test('behavior: no lines, no L402 credential', () => {
    assert.deepEqual(L402.parseAuthorization(undefined), [])
    assert.deepEqual(L402.parseAuthorization([]), [])
    assert.deepEqual(L402.parseAuthorization(['Bearer abc', 'Basic dXNlcjpwYXNz']), [])
    assert.deepEqual(L402.parseAuthorization(['']), [])
  })

  test('behavior: two lines LSAT + L402 (Aperture Go client) are deduped', () => {
    expectA(L402.parseAuthorization([`LSAT ${T}:${PRE}`, `L402 ${T}:${PRE}`]), ['LSAT'])
  })

  test('behavior: a fetch-joined line is split by scheme token', () => {
    expectA(L402.parseAuthorization([`LSAT ${T}:${PRE}, L402 ${T}:${PRE}`]), ['LSAT'])
    expectA(L402.parseAuthorization([`Bearer abc, L402 ${T}:${PRE}`]), ['L402'])
    expectA(L402.parseAuthorization([`L402 ${T}:${PRE},Payment eyJhIjoxfQ`]), ['L402'])
    const other = '02'.repeat(32)
    const both = L402.parseAuthorization([`LSAT ${T}:${PRE}, L402 ${T}:${other}`])
    assert.deepEqual(
      both.map((c) => toHex(c.preimage)),
      [PRE, other],
    )
  })

  test('behavior: scheme in any case, tabs and surrounding whitespace', () => {
    expectA(L402.parseAuthorization([`l402 ${T}:${PRE}`]), ['L402'])
    expectA(L402.parseAuthorization([`lSaT ${T}:${PRE}`]), ['LSAT'])
    expectA(L402.parseAuthorization([`L402\t${T}:${PRE}`]), ['L402'])
    expectA(L402.parseAuthorization([`  L402 \t  ${T}:${PRE}  \t`]), ['L402'])
  })

  test('behavior: url-safe and unpadded tokens', () => {
    expectA(L402.parseAuthorization([`L402 ${encodeUrl(BYTES)}:${PRE}`]), ['L402'])
    expectA(L402.parseAuthorization([`L402 ${T.replace(/=+$/, '')}:${PRE}`]), ['L402'])
  })

  test('behavior: upper-case preimage hex', () => {
    expectA(L402.parseAuthorization([`L402 ${T}:${PRE.toUpperCase()}`]), ['L402'])
    const mixed = 'aBcD'.repeat(16)
    assert.equal(toHex(L402.parseAuthorization([`L402 ${T}:${mixed}`])[0]!.preimage), mixed.toLowerCase())
  })

  test('behavior: several tokens before the colon, capped at 8', () => {
    const m2 = Macaroon.serialize(Macaroon.attenuate(Macaroon.deserialize(T), 'path=/x'))
    const [c] = L402.parseAuthorization([`L402 ${T},${m2}:${PRE}`])
    assert.equal(c!.tokens.length, 2)
    assert.deepEqual(c!.tokens[1], decodeAny(m2))
    const many = Array.from({ length: 12 }, () => T).join(',')
    assert.equal(L402.parseAuthorization([`L402 ${many}:${PRE}`])[0]!.tokens.length, 8)
    // a bad token next to a good one does not void the credential
    assert.equal(L402.parseAuthorization([`L402 !!!,${T}:${PRE}`])[0]!.tokens.length, 1)
  })

  test('behavior: the number of credentials is capped', () => {
    const lines = Array.from({ length: 20 }, (_, i) => `L402 ${T}:${i.toString(16).padStart(64, '0')}`)
    assert.equal(L402.parseAuthorization(lines).length, 8)
    assert.equal(L402.parseAuthorization(lines, { max: 3 }).length, 3)
  })

  test('behavior: valid credentials survive next to garbage ones', () => {
    expectA(L402.parseAuthorization(['L402 garbage', `L402 ${T}:${PRE}`, 'L402 x:y']), ['L402'])
  })

  test('error: L402 present but nothing parses', () => {
    for (const line of [
      'L402 garbage',
      `L402 ${T}`,
      `L402 ${T}:`,
      `L402 ${T}:${PRE.slice(2)}`,
      `L402 ${T}:${PRE}00`,
      `L402 ${T}:${'zz'.repeat(32)}`,
      `L402 !!!!:${PRE}`,
      `L402 :${PRE}`,
      `LSAT ${T.slice(1)}:${PRE}`,
      'L402 ',
    ]) {
      assert.throws(() => L402.parseAuthorization([line]), malformed, line)
    }
  })

  test('behavior: "L402" without whitespace after it is another scheme', () => {
    assert.deepEqual(L402.parseAuthorization([`L402${T}:${PRE}`, 'L402x abc']), [])
  })
})

describe('parseMacaroonHeader', () => {
  const withPreimage = (...pre: string[]): string => {
    let m = Macaroon.deserialize(T)
    for (const p of pre) m = Macaroon.attenuate(m, `preimage=${p}`)
    return toHex(Macaroon.encode(m))
  }

  test('behavior: the preimage caveat carries the preimage and the token still verifies', () => {
    const hex = withPreimage(PRE)
    const c = L402.parseMacaroonHeader(hex)
    assert.equal(c.scheme, 'L402')
    assert.equal(toHex(c.preimage), PRE)
    assert.equal(toHex(c.tokens[0]!), hex)
    assert.ok(Macaroon.verifySignature(Macaroon.decode(c.tokens[0]!), rootKey))
  })

  test('behavior: last preimage caveat wins; hex in any case, whitespace trimmed', () => {
    const c = L402.parseMacaroonHeader(` ${withPreimage('02'.repeat(32), PRE.toUpperCase()).toUpperCase()} `)
    assert.equal(toHex(c.preimage), PRE)
  })

  test('error: no preimage caveat, bad preimage, bad hex, bad macaroon', () => {
    assert.throws(() => L402.parseMacaroonHeader(toHex(BYTES)), malformed)
    assert.throws(() => L402.parseMacaroonHeader(withPreimage('01')), malformed)
    assert.throws(() => L402.parseMacaroonHeader(withPreimage('zz'.repeat(32))), malformed)
    assert.throws(() => L402.parseMacaroonHeader('xyz'), malformed)
    assert.throws(() => L402.parseMacaroonHeader(''), malformed)
    assert.throws(() => L402.parseMacaroonHeader(toHex(BYTES).slice(0, 40)), malformed)
    assert.throws(() => L402.parseMacaroonHeader(T), malformed)
  })
})

describe('parseChallenges', () => {
  test('behavior: our own lines, joined as fetch does', () => {
    const joined = L402.challenge({ macaroon: T, invoice: P, lsat: true }).join(', ')
    assert.deepEqual(L402.parseChallenges(joined), [
      { scheme: 'LSAT', macaroon: T, invoice: P },
      { scheme: 'L402', macaroon: T, invoice: P, version: '0', token: T },
    ])
  })

  test('behavior: spec-only form, missing comma after version (Alby server util), unquoted values', () => {
    assert.deepEqual(L402.parseChallenges(`L402 version="0", token="${T}", invoice="${P}"`), [
      { scheme: 'L402', version: '0', token: T, invoice: P },
    ])
    assert.deepEqual(L402.parseChallenges(`L402 version="0" token="${T}", invoice="${P}"`), [
      { scheme: 'L402', version: '0', token: T, invoice: P },
    ])
    assert.deepEqual(L402.parseChallenges(`L402 token=${T}, invoice=${P}`), [{ scheme: 'L402', token: T, invoice: P }])
    assert.deepEqual(L402.parseChallenges(`lsat macaroon='${T}',invoice = "${P}"`), [
      { scheme: 'LSAT', macaroon: T, invoice: P },
    ])
  })

  test('behavior: skips other schemes, even with commas and scheme names inside quotes', () => {
    const header =
      `Payment id="a, b", realm="x, L402 macaroon=\\"no\\"", method="lightning", request="eyJ9", ` +
      `Bearer realm="api", L402 macaroon="${T}", invoice="${P}", Basic realm="z"`
    assert.deepEqual(L402.parseChallenges(header), [{ scheme: 'L402', macaroon: T, invoice: P }])
  })

  test('behavior: reordered parameters, first occurrence wins', () => {
    assert.deepEqual(L402.parseChallenges(`L402 invoice="${P}", macaroon="${T}", macaroon="other"`), [
      { scheme: 'L402', invoice: P, macaroon: T },
    ])
  })

  test('behavior: garbage gives no challenges and never throws', () => {
    for (const h of ['', ' ', ',,,', '"', '="', 'L402', 'Basic', 'x="unterminated', '\u0000\uffff', 'L402 macaroon="abc']) {
      const r = L402.parseChallenges(h)
      assert.ok(Array.isArray(r))
    }
    assert.deepEqual(L402.parseChallenges('L402'), [{ scheme: 'L402' }])
    assert.deepEqual(L402.parseChallenges('L402 macaroon="abc'), [{ scheme: 'L402', macaroon: 'abc' }])
  })
})

// ---------------------------------------------------------------------------------------------
// Faithful ports of deployed clients' challenge parsers (clients.md §1, §4). Each asserts that our
// emitted lines give it the right macaroon and invoice. `lines` are the WWW-Authenticate values;
// `joined` is what a client sees through fetch/axios/requests (", "-joined).

type Parsed = { macaroon: string; invoice: string } | null

/** lightninglabs/lnget (`l402` package header parsing): FIRST line only, must start l402/lsat; the
 * macaroon must be base64 (std, then raw url), unmarshal as a macaroon and carry an Aperture identifier. */
function lnget(lines: readonly string[]): Parsed {
  const first = lines[0] ?? ''
  if (!/^(l402|lsat) /i.test(first)) return null
  const m = /(LSAT|L402)\s+macaroon="([^"]+)",\s*invoice="([^"]+)"/i.exec(first)
  if (!m) return null
  const mac = m[2] as string
  let bytes: Uint8Array
  if (/^[A-Za-z0-9+/]*={0,2}$/.test(mac) && mac.length % 4 === 0) bytes = Buffer.from(mac, 'base64')
  else if (/^[A-Za-z0-9_-]*$/.test(mac)) bytes = Buffer.from(mac, 'base64url')
  else return null
  const id = npm.importMacaroon(bytes).identifier // throws if it does not unmarshal
  if (id.length !== 66 || id[0] !== 0 || id[1] !== 0) return null
  return { macaroon: mac, invoice: m[3] as string }
}

/** lightninglabs/L402sdk `crates/bolt402-proto/src/challenge.rs` `L402Challenge::from_header`: first line,
 * exact `L402 `/`LSAT ` prefix, quote-aware comma split, key=value, base64 check, lnbc/lntb invoice. */
function l402sdk(lines: readonly string[]): Parsed {
  const header = (lines[0] ?? '').trim()
  let params: string
  if (header.startsWith('L402 ')) params = header.slice(5)
  else if (header.startsWith('LSAT ')) params = header.slice(5)
  else return null
  const parts: string[] = []
  let cur = ''
  let inQuotes = false
  for (const ch of params) {
    if (ch === '"') {
      inQuotes = !inQuotes
      cur += ch
    } else if (ch === ',' && !inQuotes) {
      if (cur.trim()) parts.push(cur.trim())
      cur = ''
    } else cur += ch
  }
  if (cur.trim()) parts.push(cur.trim())
  let macaroon: string | undefined
  let invoice: string | undefined
  for (const part of parts) {
    const eq = part.indexOf('=')
    if (eq < 0) return null
    const key = part.slice(0, eq).trim().toLowerCase()
    const value = part.slice(eq + 1).trim().replace(/^"+|"+$/g, '')
    if (key === 'macaroon') macaroon = value
    else if (key === 'invoice') invoice = value
  }
  if (!macaroon || !invoice) return null
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(macaroon)) return null // STANDARD alphabet, padding indifferent
  if (!invoice.startsWith('lnbc') && !invoice.startsWith('lntb')) return null
  return { macaroon, invoice }
}

/** Fewsats/L402-python: `macaroon="([^ ]+)"` and `invoice="([^ ]+)"` on the joined header (needs a
 * space after each comma). */
function fewsats(joined: string): Parsed {
  const m = /macaroon="([^ ]+)"/.exec(joined)
  const i = /invoice="([^ ]+)"/.exec(joined)
  return m && i ? { macaroon: m[1] as string, invoice: i[1] as string } : null
}

/** sulusolutions/l402-ts (npm `l402` 0.5.1) `src/client/axios.ts` `parseHeader`, as published. */
function sulu(joined: string): (Parsed & { prefix?: string }) | null {
  const headerKeyMatch = /^(LSAT|L402)/.exec(joined)
  const invoiceMatch = /invoice="([\w|\d]+)"/.exec(joined)
  const macaroonMatch = /macaroon="([\w|\d\+\/=_-]+)"/.exec(joined)
  if (!invoiceMatch || !macaroonMatch) return null
  return { prefix: headerKeyMatch ? headerKeyMatch[0] : '', macaroon: macaroonMatch[1] as string, invoice: invoiceMatch[1] as string }
}

/** refined-element/l402-ts `src/challenge.ts` (l402-requests): adjacency regex, then the unquoted variant. */
function l402Requests(joined: string): Parsed {
  const m =
    /(?:L402|LSAT)\s+macaroon="(?<macaroon>[^"]+)"\s*,\s*invoice="(?<invoice>[^"]+)"/i.exec(joined) ??
    /(?:L402|LSAT)\s+macaroon=(?<macaroon>[^\s,]+)\s*,?\s*invoice=(?<invoice>[^\s,]+)/i.exec(joined)
  if (!m?.groups) return null
  return { macaroon: (m.groups['macaroon'] as string).trim(), invoice: (m.groups['invoice'] as string).trim() }
}

/** getAlby/js-lightning-tools `src/402/l402.ts` `parseL402`: drops the first "L402" and "LSAT", then
 * `(\w+)=("…"|'…'|[^,]*)` over the rest, later keys overwrite; `token` preferred over `macaroon`. */
function alby(joined: string): Parsed {
  const s = joined.replace('L402', '').replace('LSAT', '').trim()
  const kv: Record<string, string> = {}
  const re = /(\w+)=("([^"]*)"|'([^']*)'|([^,]*))/g
  let m: RegExpExecArray | null
  while ((m = re.exec(s)) !== null) kv[m[1] as string] = (m[3] || m[4] || m[5]) as string
  const token = kv['token'] ?? kv['macaroon']
  return token && kv['invoice'] ? { macaroon: token, invoice: kv['invoice'] } : null
}

describe('deployed client parsers read our challenges', () => {
  const variants: [string, string[]][] = [
    ['default (spec suffix)', L402.challenge({ macaroon: T, invoice: P })],
    ['plain', L402.challenge({ macaroon: T, invoice: P, spec: false })],
    ['Aperture two lines', L402.challenge({ macaroon: T, invoice: P, lsat: true })],
    ['Aperture two lines, plain', L402.challenge({ macaroon: T, invoice: P, lsat: true, spec: false })],
    ['followed by a Payment line', [...L402.challenge({ macaroon: T, invoice: P }), 'Payment id="x, y", method="lightning"']],
  ]
  const want = { macaroon: T, invoice: P }

  for (const [name, lines] of variants) {
    const joined = lines.join(', ')
    test(`behavior: ${name}`, () => {
      assert.deepEqual(lnget(lines), want, 'lnget')
      assert.deepEqual(l402sdk(lines), want, 'L402sdk')
      assert.deepEqual(fewsats(joined), want, 'Fewsats')
      assert.deepEqual(sulu(joined), { ...want, prefix: lines[0]!.slice(0, 4) }, 'sulu l402')
      assert.deepEqual(l402Requests(joined), want, 'l402-requests')
      assert.deepEqual(alby(joined), want, 'Alby port')
      // the real, installed Alby parser (lightning-tools 9)
      const real = albyParseL402(joined) as Record<string, string>
      assert.equal(real['token'], T)
      assert.equal(real['invoice'], P)
      // and our own lenient parser
      const ours = L402.parseChallenges(joined)
      assert.equal(ours[0]?.macaroon, T)
      assert.equal(ours[0]?.invoice, P)
      // every client gets a macaroon carrying the invoice's payment hash
      assert.equal(toHex(Macaroon.decode(decodeAny(ours[0]!.macaroon!)).identifier.subarray(2, 34)), PAYMENT_HASH)
    })
  }

  test('behavior: the ports catch the breakages clients.md records (sanity of the ports)', () => {
    // spec-only form breaks the macaroon= readers
    const specOnly = `L402 version="0", token="${T}", invoice="${P}"`
    assert.equal(lnget([specOnly]), null)
    assert.equal(l402sdk([specOnly]), null)
    assert.equal(fewsats(specOnly), null)
    assert.equal(sulu(specOnly), null)
    assert.equal(l402Requests(specOnly), null)
    assert.deepEqual(alby(specOnly), { macaroon: T, invoice: P })
    // reordering breaks lnget and l402-requests
    const reordered = `L402 invoice="${P}", macaroon="${T}"`
    assert.equal(lnget([reordered]), null)
    assert.equal(l402Requests(reordered), null)
    // no space after the comma breaks Fewsats
    assert.notDeepEqual(fewsats(`L402 macaroon="${T}",invoice="${P}"`), { macaroon: T, invoice: P })
    // a Payment line first breaks the first-line readers
    const paymentFirst = ['Payment id="x"', `L402 macaroon="${T}", invoice="${P}"`]
    assert.equal(lnget(paymentFirst), null)
    assert.equal(l402sdk(paymentFirst), null)
    assert.equal(sulu(paymentFirst.join(', '))?.prefix, '')
    // URL-safe unpadded macaroons still pass lnget and Alby
    const url = encodeUrl(BYTES)
    assert.deepEqual(lnget([`L402 macaroon="${url}", invoice="${P}"`]), { macaroon: url, invoice: P })
    assert.equal(encodeStd(BYTES), T)
  })
})
