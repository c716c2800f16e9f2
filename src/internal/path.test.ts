import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { matchPath, normalizePath } from './path.ts'

describe('normalizePath', () => {
  it('behavior: resolves dot segments and repeated slashes', () => {
    assert.equal(normalizePath('/a/b'), '/a/b')
    assert.equal(normalizePath('/a/./b'), '/a/b')
    assert.equal(normalizePath('/a/../b'), '/b')
    assert.equal(normalizePath('/a/%2e%2E/b'), '/b')
    assert.equal(normalizePath('//a///b/'), '/a/b/')
    assert.equal(normalizePath('/a/b/..'), '/a/')
  })
  it('error: refuses escapes above the root and encoded separators', () => {
    assert.equal(normalizePath('/../x'), undefined)
    assert.equal(normalizePath('/a%2fb'), undefined)
    assert.equal(normalizePath('/a%5Cb'), undefined)
    assert.equal(normalizePath('/a\\b'), undefined)
    assert.equal(normalizePath('*'), undefined)
    assert.equal(normalizePath('http://x/'), undefined)
  })
})

describe('matchPath', () => {
  it('behavior: exact and prefix patterns', () => {
    assert.ok(matchPath('/a', '/a'))
    assert.ok(!matchPath('/a', '/a/'))
    assert.ok(matchPath('/api/*', '/api'))
    assert.ok(matchPath('/api/*', '/api/x/y'))
    assert.ok(!matchPath('/api/*', '/apix'))
    assert.ok(matchPath('/*', '/'))
    assert.ok(matchPath('/*', '/anything'))
  })
})
