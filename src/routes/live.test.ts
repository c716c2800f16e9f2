import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { parse } from '../Config.ts'
import { ConfigError } from '../Errors.ts'
import { applyDelta, decodeDelta, emptyDelta } from './live.ts'

const base = parse({ backend: 'dev', upstream: 'http://127.0.0.1:1', routes: [{ name: 'a', path: '/a/*', price: '1sat' }, { name: 'b', path: '/b/*', price: '2sat' }, { name: 'c', path: '/*', price: 0 }] })

describe('live route delta', () => {
  it('behavior: put replaces in place, new routes are appended, deleted go', () => {
    const routes = applyDelta(base, { version: 3, put: { b: { path: '/b/*', price: '5sat' }, d: { path: '/d', price: '1sat', access: 'pass:1h' } }, deleted: ['a'] })
    assert.deepEqual(routes.map((r) => [r.name, r.priceMsat]), [['b', 5000n], ['c', 0n], ['d', 1000n]])
    assert.equal(routes[2]!.access.kind, 'pass')
    assert.deepEqual(applyDelta(base, emptyDelta), base.routes)
  })

  it('error: an invalid put is reported with the route name in the path', () => {
    assert.throws(() => applyDelta(base, { version: 1, put: { x: { path: 'x', price: 'y' } }, deleted: [] }), (e: unknown) =>
      e instanceof ConfigError && e.issues.some((i) => i.path === 'x.path') && e.issues.some((i) => i.path === 'x.price'))
  })

  it('edge: unreadable stored text decodes to undefined, absent to the empty delta', () => {
    assert.equal(decodeDelta('{'), undefined)
    assert.equal(decodeDelta('{"version":1}'), undefined)
    assert.equal(decodeDelta(undefined), emptyDelta)
  })
})
