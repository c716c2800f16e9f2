/**
 * Traefik ForwardAuth contract, tested directly against the verdict service: Traefik is not packaged
 * here, so this test plays Traefik's part exactly as its forwardAuth middleware does (GET to
 * `address`, the client's headers plus X-Forwarded-Method/-Proto/-Host/-Uri/-For; on 2xx copy
 * `authResponseHeaders` onto the request, otherwise return status, headers and body as they are),
 * reading `address`, `trustForwardHeader` and `authResponseHeaders` from the shipped
 * examples/traefik/dynamic.yml (its 127.0.0.1:8402 replaced by the test's port).
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { parse } from 'yaml'
import { challengeOf } from './harness.ts'
import { readExample, startService, type Service } from './forward-auth.harness.ts'

type ForwardAuthConfig = { address: string; trustForwardHeader: boolean; authResponseHeaders: string[] }
const example = parse(readExample('traefik/dynamic.yml')) as { http: { middlewares: { turnpike: { forwardAuth: ForwardAuthConfig } } } }
const fa = example.http.middlewares.turnpike.forwardAuth

const hop = new Set(['connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailers', 'transfer-encoding', 'upgrade'])

type Outcome = { status: number; headers: Headers; body: string; upstreamHeaders?: Record<string, string> }

/** One client request through a Traefik router with the example's ForwardAuth middleware. */
async function viaTraefik(service: Service, method: string, uri: string, clientHeaders: Record<string, string> = {}): Promise<Outcome> {
  const headers = new Headers()
  for (const [k, v] of Object.entries(clientHeaders)) if (!hop.has(k.toLowerCase())) headers.set(k, v)
  // trustForwardHeader: false → Traefik sets these from the real request, replacing client copies.
  headers.set('x-forwarded-for', '203.0.113.7')
  headers.set('x-forwarded-method', method)
  headers.set('x-forwarded-proto', 'http')
  headers.set('x-forwarded-host', 'api.example.com')
  headers.set('x-forwarded-uri', uri)
  const res = await fetch(fa.address.replace('127.0.0.1:8402', service.addr), { method: 'GET', headers, redirect: 'manual' })
  const body = await res.text()
  if (res.status < 200 || res.status >= 300) return { status: res.status, headers: res.headers, body }
  const upstreamHeaders: Record<string, string> = {}
  for (const [k, v] of Object.entries(clientHeaders)) upstreamHeaders[k.toLowerCase()] = v
  for (const name of fa.authResponseHeaders) {
    delete upstreamHeaders[name.toLowerCase()]
    const v = res.headers.get(name)
    if (v !== null) upstreamHeaders[name.toLowerCase()] = v
  }
  return { status: 200, headers: res.headers, body: '', upstreamHeaders }
}

describe('forward-auth: Traefik ForwardAuth contract (examples/traefik)', () => {
  let service: Service
  before(async () => {
    service = await startService()
  })
  after(() => service.close())

  async function challenge(uri: string, headers: Record<string, string> = {}) {
    const before = service.minted()
    const out = await viaTraefik(service, 'GET', uri, headers)
    assert.equal(out.status, 402, out.body)
    assert.equal(service.minted() - before, 1)
    assert.match(out.headers.get('content-type') ?? '', /^application\/json/)
    const c = challengeOf(new Response(null, { headers: out.headers }))
    assert.equal((JSON.parse(out.body) as { invoice: string }).invoice, c.invoice)
    return c
  }

  it('behavior: the shipped middleware never trusts client X-Forwarded-* and copies every X-Turnpike-* header', async () => {
    assert.equal(fa.trustForwardHeader, false)
    assert.match(fa.address, /\/\.turnpike\/auth$/)
    const out = await viaTraefik(service, 'GET', '/free')
    const sent = [...out.headers.keys()].filter((k) => k.startsWith('x-turnpike-')).sort()
    assert.deepEqual(fa.authResponseHeaders.map((h) => h.toLowerCase()).sort(), sent)
  })

  it('behavior: unpaid → 402 passed through; paid → 200 with facts for the app; replay → 402', async () => {
    const c = await challenge('/api/search?q=1')
    const { preimage, paymentHash } = await service.rt.devNode!.pay(c.invoice)
    const auth = `L402 ${c.macaroon}:${preimage}`
    const ok = await viaTraefik(service, 'GET', '/api/search?q=1', { Authorization: auth, 'X-Turnpike-Payment-Hash': 'spoofed' })
    assert.equal(ok.status, 200)
    assert.equal(ok.upstreamHeaders!['x-turnpike-payment-hash'], paymentHash)
    assert.equal(ok.upstreamHeaders!['x-turnpike-route'], 'api')
    await challenge('/api/search?q=1', { Authorization: auth })
  })

  it('behavior: a pass credential → 200 twice', async () => {
    const c = await challenge('/pass/x')
    const auth = `L402 ${c.macaroon}:${(await service.rt.devNode!.pay(c.invoice)).preimage}`
    for (const uri of ['/pass/x', '/pass/y?z=1']) assert.equal((await viaTraefik(service, 'GET', uri, { Authorization: auth })).status, 200)
  })

  it('error: a client-sent X-Original-URI is ignored on the Traefik/Caddy endpoint', async () => {
    await challenge('/api/search', { 'X-Original-URI': '/free', 'X-Original-Method': 'OPTIONS' })
  })
})
