/**
 * Envoy ext_authz (HTTP service) contract, tested directly against the verdict service: Envoy is
 * not packaged here, so this test plays Envoy's part as its ext_authz HTTP client does (original
 * method, `path_prefix` + original path, original Host, Authorization plus `allowed_headers`,
 * Content-Length: 0; only 200 allows and copies `allowed_upstream_headers`; 5xx becomes
 * `status_on_error`; any other status reaches the client with `allowed_client_headers` plus
 * WWW-Authenticate/Location/Content-Length and the body), reading every one of those settings from
 * the shipped examples/envoy/envoy.yaml.
 */
import assert from 'node:assert/strict'
import http from 'node:http'
import { after, before, describe, it } from 'node:test'
import { parse } from 'yaml'
import { challengeOf } from './harness.ts'
import { readExample, startService, type Service } from './forward-auth.harness.ts'

type Pattern = { exact?: string; prefix?: string }
type ExtAuthz = {
  failure_mode_allow: boolean
  status_on_error: { code: string }
  http_service: {
    path_prefix: string
    authorization_request: { allowed_headers: { patterns: Pattern[] } }
    authorization_response: { allowed_upstream_headers: { patterns: Pattern[] }; allowed_client_headers: { patterns: Pattern[] } }
  }
}
type Filter = { name: string; typed_config: unknown }
const doc = parse(readExample('envoy/envoy.yaml')) as {
  static_resources: { listeners: { filter_chains: { filters: { typed_config: { http_filters: Filter[] } }[] }[] }[] }
}
const ext = doc.static_resources.listeners[0]!.filter_chains[0]!.filters[0]!.typed_config.http_filters.find((f) => f.name === 'envoy.filters.http.ext_authz')!
  .typed_config as ExtAuthz
const svc = ext.http_service

const matches = (patterns: Pattern[], name: string) => patterns.some((p) => (p.exact !== undefined ? p.exact === name : name.startsWith(p.prefix!)))

type Outcome = { status: number; headers: [string, string][]; body: string; upstreamHeaders?: Record<string, string> }

/** One client request through Envoy's ext_authz filter configured like the example. */
function viaEnvoy(service: Service, method: string, path: string, clientHeaders: Record<string, string> = {}): Promise<Outcome> {
  const headers: Record<string, string> = { host: 'api.example.com', 'content-length': '0' }
  for (const [k, v] of Object.entries(clientHeaders)) {
    const name = k.toLowerCase()
    if (['authorization'].includes(name) || matches(svc.authorization_request.allowed_headers.patterns, name)) headers[name] = v
  }
  const [host, port] = service.addr.split(':')
  return new Promise((resolve, reject) => {
    const req = http.request({ host, port: Number(port), method, path: svc.path_prefix + path, headers }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (d: string) => (body += d))
      res.on('end', () => {
        const status = res.statusCode!
        const lines: [string, string][] = []
        for (let i = 0; i < res.rawHeaders.length; i += 2) lines.push([res.rawHeaders[i]!.toLowerCase(), res.rawHeaders[i + 1]!])
        if (status === 200) {
          const upstreamHeaders: Record<string, string> = {}
          for (const [k, v] of Object.entries(clientHeaders)) upstreamHeaders[k.toLowerCase()] = v
          for (const [k, v] of lines) if (matches(svc.authorization_response.allowed_upstream_headers.patterns, k)) upstreamHeaders[k] = v
          return resolve({ status, headers: lines, body: '', upstreamHeaders })
        }
        if (status >= 500) return resolve({ status: ext.status_on_error.code === 'ServiceUnavailable' ? 503 : 403, headers: [], body: '' })
        const always = ['www-authenticate', 'location', 'content-length']
        const client = lines.filter(([k]) => always.includes(k) || matches(svc.authorization_response.allowed_client_headers.patterns, k))
        resolve({ status, headers: client, body })
      })
    })
    req.on('error', reject)
    req.end()
  })
}

describe('forward-auth: Envoy ext_authz HTTP service contract (examples/envoy)', () => {
  let service: Service
  before(async () => {
    service = await startService()
  })
  after(() => service.close())

  async function challenge(method: string, path: string, headers: Record<string, string> = {}) {
    const before = service.minted()
    const out = await viaEnvoy(service, method, path, headers)
    assert.equal(out.status, 402, out.body)
    assert.equal(service.minted() - before, 1)
    const h = new Headers(out.headers)
    assert.match(h.get('content-type') ?? '', /^application\/json/, 'content-type must be an allowed client header')
    assert.equal(h.get('cache-control'), 'no-store')
    const c = challengeOf(new Response(null, { headers: h }))
    assert.equal((JSON.parse(out.body) as { macaroon: string }).macaroon, c.macaroon)
    return c
  }

  it('behavior: the shipped filter fails closed and knows turnpike’s endpoint', () => {
    assert.equal(ext.failure_mode_allow, false)
    assert.equal(svc.path_prefix, '/.turnpike/envoy')
  })

  it('behavior: unpaid POST → 402 to the client; paid POST (method kept) → 200 with X-Turnpike-*; replay → 402', async () => {
    const c = await challenge('POST', '/api/items?draft=1')
    const { preimage, paymentHash } = await service.rt.devNode!.pay(c.invoice)
    const auth = `L402 ${c.macaroon}:${preimage}`
    const ok = await viaEnvoy(service, 'POST', '/api/items?draft=1', { authorization: auth })
    assert.equal(ok.status, 200)
    assert.equal(ok.upstreamHeaders!['x-turnpike-payment-hash'], paymentHash)
    assert.equal(ok.upstreamHeaders!['x-turnpike-access'], 'per-request')
    await challenge('POST', '/api/items?draft=1', { authorization: auth })
  })

  it('behavior: a token bought for GET does not pay for DELETE (method bound), pass → 200 twice', async () => {
    const c = await challenge('GET', '/api/items')
    const auth = `L402 ${c.macaroon}:${(await service.rt.devNode!.pay(c.invoice)).preimage}`
    await challenge('DELETE', '/api/items', { authorization: auth })
    const p = await challenge('GET', '/pass/feed')
    const pass = `L402 ${p.macaroon}:${(await service.rt.devNode!.pay(p.invoice)).preimage}`
    assert.equal((await viaEnvoy(service, 'GET', '/pass/feed', { authorization: pass })).status, 200)
    assert.equal((await viaEnvoy(service, 'GET', '/pass/other', { authorization: pass })).status, 200)
  })

  it('behavior: OPTIONS and free routes → 200; the root path maps to /', async () => {
    assert.equal((await viaEnvoy(service, 'OPTIONS', '/api/items')).status, 200)
    const root = await viaEnvoy(service, 'GET', '/')
    assert.equal(root.status, 200)
    assert.equal(root.upstreamHeaders!['x-turnpike-route'], 'free')
  })

  it('error: malformed credential → 400 problem reaches the client', async () => {
    const out = await viaEnvoy(service, 'GET', '/api/items', { authorization: 'L402 zz:zz' })
    assert.equal(out.status, 400)
    assert.equal((JSON.parse(out.body) as { code: string }).code, 'TURNPIKE_CREDENTIAL_MALFORMED')
  })
})
