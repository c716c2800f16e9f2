import assert from 'node:assert/strict'
import type { IncomingMessage } from 'node:http'
import { describe, it } from 'node:test'
import { originalOf, pathOf } from './hosts.ts'

function req(url: string, method: string, lines: [string, string][]): IncomingMessage {
  const distinct: Record<string, string[]> = {}
  for (const [k, v] of lines) (distinct[k] ??= []).push(v)
  const headers = Object.fromEntries(Object.entries(distinct).map(([k, v]) => [k, v.join(', ')]))
  return { url, method, headersDistinct: distinct, headers } as unknown as IncomingMessage
}

describe('originalOf', () => {
  it('behavior: nginx reads X-Original-Method/-URI and the Host the include sets', () => {
    const r = req('/.turnpike/auth/nginx', 'GET', [['host', 'api.example.com'], ['x-original-method', 'post'], ['x-original-uri', '/a/b?c=d']])
    assert.deepEqual(originalOf('nginx', r, '/.turnpike/envoy'), { method: 'POST', uri: '/a/b?c=d', host: 'api.example.com' })
  })

  it('behavior: ingress-nginx reads host and target from X-Original-URL', () => {
    const r = req('/.turnpike/auth/ingress-nginx', 'GET', [['host', 'turnpike.svc'], ['x-original-method', 'GET'], ['x-original-url', 'https://api.example.com:8443/x?y=1']])
    assert.deepEqual(originalOf('ingress-nginx', r, ''), { method: 'GET', uri: '/x?y=1', host: 'api.example.com:8443' })
    const bare = req('/', 'GET', [['x-original-method', 'GET'], ['x-original-url', 'http://api.example.com']])
    assert.deepEqual(originalOf('ingress-nginx', bare, ''), { method: 'GET', uri: '/', host: 'api.example.com' })
  })

  it('behavior: Caddy/Traefik read X-Forwarded-*; an absolute-form URI keeps only its target', () => {
    const r = req('/.turnpike/auth', 'GET', [['host', 'turnpike'], ['x-forwarded-method', 'DELETE'], ['x-forwarded-uri', 'http://h/p?q'], ['x-forwarded-host', 'api.example.com']])
    assert.deepEqual(originalOf('forwarded', r, ''), { method: 'DELETE', uri: '/p?q', host: 'api.example.com' })
  })

  it('behavior: Envoy keeps method and Host and strips the path prefix', () => {
    const r = req('/.turnpike/envoy/api/x?y=1', 'PATCH', [['host', 'api.example.com']])
    assert.deepEqual(originalOf('envoy', r, '/.turnpike/envoy'), { method: 'PATCH', uri: '/api/x?y=1', host: 'api.example.com' })
    assert.equal((originalOf('envoy', req('/.turnpike/envoy', 'GET', []), '/.turnpike/envoy') as { uri: string }).uri, '/')
  })

  it('error: missing, repeated or foreign headers are named', () => {
    assert.match((originalOf('forwarded', req('/', 'GET', [['x-forwarded-method', 'GET']]), '') as { error: string }).error, /x-forwarded-uri/)
    const twice = req('/', 'GET', [['x-original-method', 'GET'], ['x-original-uri', '/a'], ['x-original-uri', '/b']])
    assert.match((originalOf('nginx', twice, '') as { error: string }).error, /x-original-uri \(sent 2 times\)/)
    const foreign = req('/', 'GET', [['x-original-method', 'GET'], ['x-original-uri', '/free']])
    assert.match((originalOf('ingress-nginx', foreign, '') as { error: string }).error, /x-original-url/)
  })

  it('behavior: pathOf drops query and fragment', () => {
    assert.equal(pathOf('/a/b?c#d'), '/a/b')
    assert.equal(pathOf('/a#d'), '/a')
  })
})
