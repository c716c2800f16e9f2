import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import * as Config from '../Config.ts'
import { ConfigError } from '../Errors.ts'
import { memory } from '../store/memory.ts'
import { drain } from './metering.ts'

const route = (r: Record<string, unknown>) => Config.parse({ upstream: 'http://127.0.0.1:1', routes: [{ name: 'api', path: '/api/*', price: '100sat', access: 'credits:100sat', ...r }] }).routes[0]!
const issues = (r: Record<string, unknown>): string => {
  try {
    route(r)
  } catch (e) {
    if (e instanceof ConfigError) return e.issues.map((i) => `${i.path}: ${i.message}`).join('\n')
    throw e
  }
  return ''
}

describe('meter config', () => {
  it('behavior: per byte or per reported unit; cost defaults to 0 on metered routes', () => {
    const r = route({ meter: { per: 'byte', price: '1msat' } })
    assert.deepEqual(r.meter, { header: undefined, priceMsat: 1, onExhausted: 'finish' })
    assert.equal(r.access.kind === 'credits' && r.access.cost, 0)
    assert.deepEqual(route({ meter: { header: 'X-Tokens-Used', price: '5msat' }, cost: '1sat' }).meter, { header: 'x-tokens-used', priceMsat: 5, onExhausted: 'finish' })
    assert.equal(route({ meter: { per: 'byte', price: '1sat', onExhausted: 'cut' } }).meter?.onExhausted, 'cut')
    assert.equal(route({ cost: '1sat' }).meter, undefined)
  })
  it('error: every bad meter setting is reported with its path', () => {
    assert.match(issues({ meter: { per: 'byte', price: '1msat' }, access: 'pass:1h' }), /^routes\[0\]\.meter: needs an amount bundle/m)
    assert.match(issues({ meter: { price: '1msat' } }), /^routes\[0\]\.meter: needs exactly one of/m)
    assert.match(issues({ meter: { per: 'word', price: '1msat' } }), /^routes\[0\]\.meter\.per: must be byte/m)
    assert.match(issues({ meter: { per: 'byte', price: 0 } }), /^routes\[0\]\.meter\.price: must be a positive price/m)
    assert.match(issues({ meter: { header: 'x-n', price: '1msat', onExhausted: 'cut' } }), /^routes\[0\]\.meter\.onExhausted: cut needs per: byte/m)
    assert.match(issues({ meter: { per: 'byte', price: '1msat', onExhausted: 'stop' } }), /^routes\[0\]\.meter\.onExhausted: must be finish or cut/m)
    assert.match(issues({ meter: { per: 'byte', price: '1msat', every: 1 } }), /^routes\[0\]\.meter\.every: unknown key/m)
  })
})

describe('drain', () => {
  it('behavior: draws the whole amount when covered, else what is left to zero, never below', async () => {
    const store = memory({ pruneIntervalMs: 0 })
    const exp = Date.now() + 60_000
    assert.equal(await store.debit!('a', 1, 1000, exp), 999)
    assert.equal(await drain(store, 'a', 100, 999, exp), 100)
    assert.equal(await drain(store, 'a', 5000, 899, exp), 899)
    assert.equal(await store.debit!('a', 1, 1000, exp), undefined, 'empty')
    // A stale known balance still drains exactly (halving, then the remainder the store reports).
    assert.equal(await store.debit!('b', 1, 1000, exp), 999)
    assert.equal(await drain(store, 'b', 5000, 10, exp), 999)
    assert.equal(await drain(store, 'gone', 5, 5, exp), 0, 'an unknown account is never created')
    await store.close()
  })
})
