import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import * as L402 from '../L402.ts'
import { splitJoined, toResponse, toView } from './fetch.ts'

describe('adapters/fetch', () => {
  it('behavior: joined Authorization lines split by scheme, not inside a credential', () => {
    assert.deepEqual(splitJoined('authorization', 'Bearer abc, L402 t1,t2:ff'), ['Bearer abc', 'L402 t1,t2:ff'])
    assert.deepEqual(splitJoined('authorization', 'L402 a, b:ff'), ['L402 a, b:ff'])
    const challenge = 'LSAT macaroon="m", invoice="i", L402 macaroon="m", invoice="i", version="0", token="m"'
    assert.deepEqual(splitJoined('www-authenticate', challenge), ['LSAT macaroon="m", invoice="i"', 'L402 macaroon="m", invoice="i", version="0", token="m"'])
    assert.deepEqual(splitJoined('macaroon', 'aa, bb'), ['aa', 'bb'])
    assert.deepEqual(splitJoined('x-other', 'a, b'), ['a, b'])
  })

  it('behavior: the view reads the raw path, host and every Authorization line', () => {
    const headers = new Headers()
    headers.append('authorization', 'Bearer x')
    headers.append('authorization', `L402 ${'A'.repeat(8)}:${'0'.repeat(64)}`)
    const v = toView(new Request('http://api.example.com:8080/a/%2e%2e/b?c=d#e', { headers }), { clientAddress: '203.0.113.9' })
    assert.equal(v.method, 'GET')
    assert.equal(v.path, '/b')
    assert.equal(v.host, 'api.example.com:8080')
    assert.equal(v.clientAddress, '203.0.113.9')
    assert.equal(v.header('authorization')!.length, 2)
    assert.equal(L402.parseAuthorization(v.header('authorization')).length, 1)
    assert.equal(v.header('macaroon'), undefined)
    assert.equal(toView(new Request('http://h')).path, '/')
    assert.equal(toView(new Request('http://h?x')).path, '/')
  })

  it('behavior: a reply keeps repeated header lines', async () => {
    const res = toResponse({ kind: 'challenge', status: 402, headers: [['www-authenticate', 'LSAT a'], ['www-authenticate', 'L402 b'], ['content-type', 'application/json']], body: '{}', reason: 'x' })
    assert.equal(res.status, 402)
    assert.equal(res.headers.get('www-authenticate'), 'LSAT a, L402 b')
    assert.equal(await res.text(), '{}')
  })
})
