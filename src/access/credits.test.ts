import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import * as Config from '../Config.ts'
import { ConfigError } from '../Errors.ts'
import * as Credits from './credits.ts'

const route = (r: Record<string, unknown>) => Config.parse({ upstream: 'http://127.0.0.1:1', routes: [{ name: 'api', path: '/api/*', price: '100sat', ...r }] }).routes[0]!
const issues = (r: Record<string, unknown>): string[] => {
  try {
    route(r)
  } catch (e) {
    if (e instanceof ConfigError) return e.issues.map((i) => `${i.path}: ${i.message}`)
    throw e
  }
  return []
}

describe('credits config', () => {
  it('behavior: credits:<N> is a request bundle costing 1 per request', () => {
    assert.deepEqual(route({ access: 'credits:100' }).access, { kind: 'credits', unit: 'requests', amount: 100, cost: 1 })
    assert.deepEqual(route({ access: 'credits:100', cost: 5 }).access, { kind: 'credits', unit: 'requests', amount: 100, cost: 5 })
  })
  it('behavior: credits:<amount> is an msat balance with a required cost', () => {
    assert.deepEqual(route({ access: 'credits:5000sat', cost: '10sat' }).access, { kind: 'credits', unit: 'msat', amount: 5_000_000, cost: 10_000 })
  })
  it('error: every bad credits setting is reported with its path', () => {
    assert.match(issues({ access: 'credits:5000sat' }).join('\n'), /^routes\[0\]\.cost: is required/m)
    assert.match(issues({ access: 'credits:0' }).join('\n'), /^routes\[0\]\.access: must be credits:<requests>/m)
    assert.match(issues({ access: 'credits:lots' }).join('\n'), /^routes\[0\]\.access: must be/m)
    assert.match(issues({ access: 'credits:10', cost: 11 }).join('\n'), /^routes\[0\]\.cost: is larger than the whole bundle/m)
    assert.match(issues({ access: 'credits:10', cost: 'x' }).join('\n'), /^routes\[0\]\.cost: must be a positive whole number/m)
    assert.match(issues({ cost: 1 }).join('\n'), /^routes\[0\]\.cost: is only for credits routes/m)
    assert.match(issues({ access: 'credits:10', price: 0 }).join('\n'), /^routes\[0\]\.price: a credits route needs a price/m)
  })
})

describe('credits caveats', () => {
  const c = { kind: 'credits', unit: 'requests', amount: 100, cost: 1 } as const
  it('behavior: the minted caveat round-trips; a later smaller one narrows', () => {
    assert.equal(Credits.caveat('api', c), 'api_credits=100')
    assert.equal(Credits.caveat('api', { ...c, unit: 'msat' }), 'api_credits=100msat')
    assert.equal(Credits.bundleOf(['api_credits=100'], 'api', 'requests'), 100)
    assert.equal(Credits.bundleOf(['api_credits=100', 'api_credits=5'], 'api', 'requests'), 5)
    assert.equal(Credits.bundleOf(['api_credits=100', 'api_credits=500'], 'api', 'requests'), 100, 'a larger one does not widen')
  })
  it('error: missing, malformed or other-unit caveats give no bundle (fail closed)', () => {
    assert.equal(Credits.bundleOf([], 'api', 'requests'), undefined)
    assert.equal(Credits.bundleOf(['other_credits=100'], 'api', 'requests'), undefined)
    assert.equal(Credits.bundleOf(['api_credits=100', 'api_credits=x'], 'api', 'requests'), undefined)
    assert.equal(Credits.bundleOf(['api_credits=100msat'], 'api', 'requests'), undefined)
    assert.equal(Credits.bundleOf(['api_credits=-1'], 'api', 'requests'), undefined)
  })
  it('behavior: refund handles round-trip and never match a claim key', () => {
    const h = Credits.refundHandle(Credits.account('api', 'ab'.repeat(32)), 7)
    assert.deepEqual(Credits.parseRefund(h), { account: `api:${'ab'.repeat(32)}`, amount: 7 })
    assert.equal(Credits.parseRefund(`l402:${'ab'.repeat(32)}`), undefined)
    assert.equal(Credits.parseRefund('refund:credits:x:acct'), undefined)
  })
})

describe('freeAllowance config', () => {
  it('behavior: shorthand and object forms', () => {
    assert.deepEqual(route({ freeAllowance: '10/1d' }).freeAllowance, { requests: 10, perSeconds: 86400 })
    assert.deepEqual(route({ freeAllowance: { requests: 2, per: '1h' } }).freeAllowance, { requests: 2, perSeconds: 3600 })
    assert.equal(route({}).freeAllowance, undefined)
  })
  it('error: bad allowances are reported with their paths', () => {
    assert.match(issues({ freeAllowance: '0/1d' }).join('\n'), /^routes\[0\]\.freeAllowance\.requests: must be a positive whole number/m)
    assert.match(issues({ freeAllowance: '5/soon' }).join('\n'), /^routes\[0\]\.freeAllowance\.per: must be a duration/m)
    assert.match(issues({ freeAllowance: { requests: 1, per: '1h', burst: 2 } }).join('\n'), /^routes\[0\]\.freeAllowance\.burst: unknown key/m)
    assert.match(issues({ freeAllowance: 5 }).join('\n'), /^routes\[0\]\.freeAllowance: must be/m)
    assert.match(issues({ freeAllowance: '5/1d', price: 0 }).join('\n'), /^routes\[0\]\.freeAllowance: needs a priced route/m)
  })
})
