import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import * as Caveat from './Caveat.ts'
import { is } from './Errors.ts'

const ctx: Caveat.Context = { service: 'weather', path: '/api/forecast', method: 'GET', now: 1_800_000_000, capability: 'forecast' }
const ok = (caveats: string[], c: Partial<Caveat.Context> = {}): void => {
  const r = Caveat.check(caveats, { ...ctx, ...c })
  assert.equal(r.ok, true, `${JSON.stringify(caveats)} should pass: ${r.ok ? '' : r.reason}`)
}
const no = (caveats: string[], c: Partial<Caveat.Context> = {}): void => {
  const r = Caveat.check(caveats, { ...ctx, ...c })
  assert.equal(r.ok, false, `${JSON.stringify(caveats)} should fail`)
  if (!r.ok) assert.equal(typeof r.reason, 'string')
}

describe('parse', () => {
  test('behavior: splits on the first "="', () => {
    assert.deepEqual(Caveat.parse('a=b'), { condition: 'a', value: 'b' })
    assert.deepEqual(Caveat.parse('a=b=c'), { condition: 'a', value: 'b=c' })
    assert.deepEqual(Caveat.parse('a='), { condition: 'a', value: '' })
    assert.deepEqual(Caveat.parse('weather_valid_until=1893456000'), {
      condition: 'weather_valid_until',
      value: '1893456000',
    })
  })

  test('error: no "=" or an empty condition', () => {
    for (const s of ['', 'abc', '=x', '=']) {
      assert.throws(() => Caveat.parse(s), (e: unknown) => is(e, 'TURNPIKE_CAVEAT_MALFORMED'), s)
    }
  })
})

describe('check', () => {
  test('behavior: no caveats passes', () => {
    assert.deepEqual(Caveat.check([], ctx), { ok: true, ignored: [] })
  })

  test('behavior: vector A caveats (Aperture minting order)', () => {
    const caveats = ['services=weather:0', 'weather_capabilities=forecast', 'weather_valid_until=1893456000']
    assert.deepEqual(Caveat.check(caveats, ctx), { ok: true, ignored: [] })
    no(caveats, { now: 1893456000 })
    no(caveats, { service: 'maps' })
  })

  describe('services', () => {
    test('behavior: the request service must be listed', () => {
      ok(['services=weather:0'])
      ok(['services=maps:1,weather:2'])
      no(['services=maps:0'])
      no(['services=weatherx:0'])
    })

    test('behavior: narrowing to a subset with unchanged tiers is allowed', () => {
      ok(['services=maps:1,weather:2', 'services=weather:2'])
      ok(['services=maps:1,weather:2', 'services=weather:2,maps:1'])
    })

    test('error: widening or re-tiering', () => {
      no(['services=weather:0', 'services=weather:0,maps:0'])
      no(['services=weather:0', 'services=weather:1'])
      no(['services=maps:1,weather:2', 'services=weather:3'])
      // a later caveat that excludes the service fails even if an earlier one allowed it
      no(['services=maps:0,weather:0', 'services=maps:0'])
    })

    test('error: malformed values fail closed', () => {
      for (const v of ['', 'weather', 'weather:', ':0', 'weather:256', 'weather:-1', 'weather:1.0', 'weather:x', 'weather:0,', ',weather:0', 'weather:0:1', 'weather:0,weather:1', 'weather: 0']) {
        no([`services=${v}`])
      }
      ok(['services=weather:255,weather:255'])
    })
  })

  describe('<service>_valid_until', () => {
    test('behavior: valid while now < value', () => {
      ok(['weather_valid_until=1800000001'])
      no(['weather_valid_until=1800000000'])
      no(['weather_valid_until=1799999999'])
    })

    test('behavior: other services are ignored and reported', () => {
      const r = Caveat.check(['maps_valid_until=1', 'maps_capabilities=x', 'services=weather:0,maps:0'], ctx)
      assert.deepEqual(r, { ok: true, ignored: ['maps_valid_until=1', 'maps_capabilities=x'] })
    })

    test('behavior: narrowing to an earlier expiry', () => {
      ok(['weather_valid_until=1900000000', 'weather_valid_until=1850000000'])
      ok(['weather_valid_until=1900000000', 'weather_valid_until=1900000000'])
      no(['weather_valid_until=1850000000', 'weather_valid_until=1900000000'])
      // an expired earlier caveat is not rescued by a later one
      no(['weather_valid_until=1700000000', 'weather_valid_until=1900000000'])
    })

    test('error: malformed values fail closed', () => {
      for (const v of ['', 'soon', '-1', '1e10', '0x10', ' 1900000000', '1900000000 ', '1.5', '99999999999999999999']) {
        no([`weather_valid_until=${v}`])
      }
    })
  })

  describe('<service>_capabilities', () => {
    test('behavior: the capability must be listed', () => {
      ok(['weather_capabilities=forecast'])
      ok(['weather_capabilities=history,forecast'])
      no(['weather_capabilities=history'])
    })

    test('behavior: fails closed without a capability in the context', () => {
      no(['weather_capabilities=forecast'], { capability: undefined })
      const { capability: _, ...noCap } = ctx
      assert.equal(Caveat.check(['weather_capabilities=forecast'], noCap).ok, false)
    })

    test('behavior: narrowing to a subset', () => {
      ok(['weather_capabilities=history,forecast', 'weather_capabilities=forecast'])
      no(['weather_capabilities=forecast', 'weather_capabilities=forecast,history'])
      no(['weather_capabilities=forecast', 'weather_capabilities=history'], { capability: 'history' })
    })

    test('error: malformed values fail closed', () => {
      for (const v of ['', ',', 'forecast,', ',forecast', 'a,,forecast']) no([`weather_capabilities=${v}`])
    })
  })

  describe('path', () => {
    test('behavior: exact match', () => {
      ok(['path=/api/forecast'])
      no(['path=/api/forecast'], { path: '/api/forecast/' })
      no(['path=/api/forecast'], { path: '/api/forecastx' })
      no(['path=/api'], { path: '/api/forecast' })
    })

    test('behavior: "/*" is a subtree, including its root, never a sibling prefix', () => {
      for (const p of ['/api', '/api/', '/api/x', '/api/x/y']) ok(['path=/api/*'], { path: p })
      for (const p of ['/apix', '/apix/y', '/ap', '/', '/other/api']) no(['path=/api/*'], { path: p })
      for (const p of ['/', '/x', '/api/x']) ok(['path=/*'], { path: p })
    })

    test('error: dot segments in the request path fail closed', () => {
      for (const p of ['/api/../admin', '/api/./x', '/api/..', '/api/x/..', '/api\\..\\admin']) no(['path=/api/*'], { path: p })
      ok(['path=/api/*'], { path: '/api/..x' })
      ok(['path=/api/*'], { path: '/api/x..' })
    })

    test('behavior: narrowing to a covered pattern', () => {
      ok(['path=/api/*', 'path=/api/forecast'])
      ok(['path=/api/*', 'path=/api/*'])
      ok(['path=/*', 'path=/api/*'])
      ok(['path=/api/*', 'path=/api/forecast/*'], { path: '/api/forecast' })
      ok(['path=/api/forecast', 'path=/api/forecast'])
    })

    test('error: widening attempts', () => {
      no(['path=/api/forecast', 'path=/api/*'])
      no(['path=/api/forecast', 'path=/*'])
      no(['path=/api/*', 'path=/*'])
      no(['path=/api/*', 'path=/apix/*'], { path: '/apix/a' })
      no(['path=/api/forecast', 'path=/api/forecast/*'])
      no(['path=/api/*', 'path=/other'], { path: '/other' })
    })

    test('error: malformed patterns fail closed', () => {
      for (const v of ['', 'api/*', '*', 'api', '/api /x', '/api\n']) no([`path=${v}`])
    })
  })

  describe('method', () => {
    test('behavior: listed methods, compared case-insensitively', () => {
      ok(['method=GET'])
      ok(['method=POST,GET'])
      ok(['method=get'])
      ok(['method=GET'], { method: 'get' })
      no(['method=POST'])
      no(['method=POST,PUT'])
    })

    test('behavior: narrowing to a subset; widening fails', () => {
      ok(['method=GET,POST', 'method=GET'])
      ok(['method=GET,POST', 'method=get'])
      no(['method=GET', 'method=GET,POST'])
      no(['method=POST', 'method=GET'])
    })

    test('error: malformed values fail closed', () => {
      for (const v of ['', ',', 'GET,', 'G ET', 'GET;POST', '(GET)']) no([`method=${v}`])
    })
  })

  test('behavior: preimage carriers are ignored silently', () => {
    assert.deepEqual(Caveat.check(['preimage=' + '01'.repeat(32), 'preimage=garbage'], ctx), { ok: true, ignored: [] })
  })

  test('behavior: unknown and unparseable caveats are ignored and reported', () => {
    const unknown = ['loop_out_monthly_volume_sats=200000000', 'RequestPath = /x', 'nonsense', '=x', 'ip=1.2.3.4']
    assert.deepEqual(Caveat.check(['services=weather:0', ...unknown], ctx), { ok: true, ignored: unknown })
  })

  test('behavior: every caveat must hold, in any order', () => {
    const all = ['services=weather:0', 'path=/api/*', 'method=GET', 'weather_capabilities=forecast', 'weather_valid_until=1900000000']
    ok(all)
    ok([...all].reverse())
    no(all, { method: 'POST' })
    no(all, { path: '/x' })
    no(all, { capability: 'history' })
    no(all, { service: 'maps' })
    no(all, { now: 1900000000 })
  })

  test('behavior: never throws on odd input', () => {
    for (const c of ['', '=', '==', 'services==', 'path==', '\u0000=\u0000', 'weather_valid_until=\uD800']) {
      assert.equal(typeof Caveat.check([c], ctx).ok, 'boolean')
    }
  })
})

describe('builders', () => {
  test('behavior: produce strings the checker accepts', () => {
    const caveats = [
      Caveat.services([{ name: 'weather', tier: 0 }, { name: 'maps', tier: 3 }]),
      Caveat.capabilities('weather', ['forecast', 'history']),
      Caveat.path('/api/*'),
      Caveat.method(['get', 'POST']),
      Caveat.validUntil('weather', 1893456000),
    ]
    assert.deepEqual(caveats, [
      'services=weather:0,maps:3',
      'weather_capabilities=forecast,history',
      'path=/api/*',
      'method=GET,POST',
      'weather_valid_until=1893456000',
    ])
    assert.deepEqual(Caveat.check(caveats, ctx), { ok: true, ignored: [] })
    assert.equal(Caveat.method('get'), 'method=GET')
  })

  test('error: misuse throws TURNPIKE_CAVEAT_MALFORMED', () => {
    const bad = (e: unknown): boolean => is(e, 'TURNPIKE_CAVEAT_MALFORMED')
    assert.throws(() => Caveat.services([]), bad)
    assert.throws(() => Caveat.services([{ name: 'a:b', tier: 0 }]), bad)
    assert.throws(() => Caveat.services([{ name: 'a', tier: 256 }]), bad)
    assert.throws(() => Caveat.services([{ name: 'a', tier: 1.5 }]), bad)
    assert.throws(() => Caveat.validUntil('weather', -1), bad)
    assert.throws(() => Caveat.validUntil('weather', 1.5), bad)
    assert.throws(() => Caveat.validUntil('a=b', 1), bad)
    assert.throws(() => Caveat.capabilities('weather', []), bad)
    assert.throws(() => Caveat.capabilities('weather', ['a,b']), bad)
    assert.throws(() => Caveat.path('api'), bad)
    assert.throws(() => Caveat.method([]), bad)
    assert.throws(() => Caveat.method('GE T'), bad)
  })
})
