import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { Reply } from '../RequestView.ts'
import { stash } from './stash.ts'

const reply = (n: number): Reply => ({ kind: 'challenge', status: 402, headers: [], body: String(n), reason: 'test' })

describe('stash', () => {
  it('behavior: a reply is taken once', () => {
    const s = stash()
    const id = s.put(reply(1))
    assert.match(id, /^[A-Za-z0-9_-]{22}$/)
    assert.equal(s.take(id)?.body, '1')
    assert.equal(s.take(id), undefined)
    assert.equal(s.size, 0)
  })

  it('behavior: entries expire after the TTL and are pruned on the next put', () => {
    let t = 0
    const s = stash({ ttlMs: 100, now: () => t })
    const old = s.put(reply(1))
    t = 150
    assert.equal(s.take(old), undefined)
    s.put(reply(2))
    t = 300
    s.put(reply(3))
    assert.equal(s.size, 1)
  })

  it('behavior: at most `max` entries, the oldest dropped first', () => {
    const s = stash({ max: 2 })
    const a = s.put(reply(1))
    const b = s.put(reply(2))
    const c = s.put(reply(3))
    assert.equal(s.take(a), undefined)
    assert.equal(s.take(b)?.body, '2')
    assert.equal(s.take(c)?.body, '3')
  })

  it('error: malformed ids are refused without a lookup', () => {
    const s = stash()
    assert.equal(s.take(''), undefined)
    assert.equal(s.take('../../etc'), undefined)
  })
})
