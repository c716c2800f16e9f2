/**
 * The verdict service itself: trust, per-host header mapping, the nginx stash and its fallback,
 * and `turnpike serve --forward-auth`.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import * as Config from '../src/Config.ts'
import { ConfigError } from '../src/Errors.ts'
import type { Gateway } from '../src/Gateway.ts'
import type { Decision, RequestView } from '../src/RequestView.ts'
import { createForwardAuth } from '../src/forward-auth/service.ts'
import { challengeOf, listen, tempDir } from './harness.ts'
import { freePort, routes, startService, type Service } from './forward-auth.harness.ts'

const nginxAsk = (uri: string, extra: Record<string, string> = {}) => ({ 'x-original-method': 'GET', 'x-original-uri': uri, ...extra })

describe('forward-auth service', () => {
  let s: Service
  before(async () => {
    s = await startService({ routes: [{ name: 'hosted', host: 'api.example.com', path: '/h/*', price: '5sat' }, ...routes] })
  })
  after(() => s.close())

  const get = (path: string, headers: Record<string, string> = {}) => fetch(s.fa.url + path, { headers })

  it('behavior: nginx endpoint answers a refusal with a bare 401 and a stash id, then /.turnpike/challenge returns the 402 once', async () => {
    const before = s.minted()
    const first = await get('/.turnpike/auth/nginx', nginxAsk('/api/a?b=c'))
    assert.equal(first.status, 401)
    assert.equal(first.headers.get('www-authenticate'), null, 'no WWW-Authenticate for nginx to copy')
    assert.equal(await first.text(), '')
    const id = first.headers.get('x-turnpike-challenge')!
    assert.match(id, /^[A-Za-z0-9_-]{22}$/)
    const second = await get('/.turnpike/challenge', nginxAsk('/api/a?b=c', { 'x-turnpike-challenge': id }))
    assert.equal(second.status, 402)
    const c = challengeOf(second)
    assert.equal(((await second.json()) as { invoice: string }).invoice, c.invoice)
    assert.equal(s.minted() - before, 1)
    // The same id again (or none, or another instance's): decided afresh, which costs an invoice.
    const again = await get('/.turnpike/challenge', nginxAsk('/api/a?b=c', { 'x-turnpike-challenge': id }))
    assert.equal(again.status, 402)
    assert.notEqual(challengeOf(again).invoice, c.invoice)
    assert.equal(s.minted() - before, 2)
  })

  it('behavior: nginx endpoint stashes every non-allow verdict, e.g. a 400, with its own status', async () => {
    const first = await get('/.turnpike/auth/nginx', nginxAsk('/api/a', { authorization: 'L402 x:y' }))
    assert.equal(first.status, 401)
    const second = await get('/.turnpike/challenge', nginxAsk('/api/a', { 'x-turnpike-challenge': first.headers.get('x-turnpike-challenge')! }))
    assert.equal(second.status, 400)
    assert.match(second.headers.get('content-type') ?? '', /problem\+json/)
  })

  it('behavior: when the verdict turns into an allow on the second hop, the claim is released and the client asked to retry', async () => {
    const first = await get('/.turnpike/auth', { 'x-forwarded-method': 'GET', 'x-forwarded-uri': '/api/r' })
    const c = challengeOf(first)
    await first.arrayBuffer()
    const auth = `L402 ${c.macaroon}:${(await s.rt.devNode!.pay(c.invoice)).preimage}`
    const hop = await get('/.turnpike/challenge', nginxAsk('/api/r', { authorization: auth }))
    assert.equal(hop.status, 503)
    assert.equal(hop.headers.get('retry-after'), '1')
    await hop.arrayBuffer()
    const ok = await get('/.turnpike/auth/nginx', nginxAsk('/api/r', { authorization: auth }))
    assert.equal(ok.status, 200, 'the credential was handed back')
    const replay = await get('/.turnpike/auth/nginx', nginxAsk('/api/r', { authorization: auth }))
    assert.equal(replay.status, 401)
  })

  it('behavior: ingress-nginx X-Original-URL gives path and host; host-bound routes match on it', async () => {
    const hosted = await get('/.turnpike/auth/ingress-nginx', { 'x-original-method': 'GET', 'x-original-url': 'https://api.example.com:443/h/x?y=1' })
    assert.equal(hosted.status, 401)
    const other = await get('/.turnpike/auth/ingress-nginx', { 'x-original-method': 'GET', 'x-original-url': 'https://other.example.com/h/x' })
    assert.equal(other.status, 200)
    assert.equal(other.headers.get('x-turnpike-route'), 'free')
  })

  it('behavior: an allow carries every X-Turnpike-* header, empty when not applicable', async () => {
    const res = await get('/.turnpike/auth', { 'x-forwarded-method': 'GET', 'x-forwarded-uri': '/elsewhere' })
    assert.equal(res.status, 200)
    assert.equal(res.headers.get('x-turnpike-route'), 'free')
    assert.equal(res.headers.get('x-turnpike-payment-hash'), '')
    assert.equal(res.headers.get('x-turnpike-price-msat'), '0')
    assert.equal(res.headers.get('cache-control'), 'no-store')
  })

  it('error: each endpoint reads only its own host’s headers', async () => {
    // Caddy/Traefik endpoint: a client-sent X-Original-URI cannot replace X-Forwarded-Uri.
    const caddy = await get('/.turnpike/auth', { 'x-forwarded-method': 'GET', 'x-forwarded-uri': '/api/x', 'x-original-uri': '/free' })
    assert.equal(caddy.status, 402)
    await caddy.arrayBuffer()
    // nginx endpoint: neither a client-sent X-Forwarded-Uri nor X-Original-URL replaces X-Original-URI.
    const nginx = await get('/.turnpike/auth/nginx', { ...nginxAsk('/api/x'), 'x-forwarded-uri': '/free', 'x-original-url': 'http://other.example.com/free' })
    assert.equal(nginx.status, 401)
    // ingress-nginx endpoint (the controller sets X-Original-URL only): a client's X-Original-URI is ignored.
    const ingress = await get('/.turnpike/auth/ingress-nginx', { 'x-original-method': 'GET', 'x-original-url': 'http://a.example/api/x', 'x-original-uri': '/free' })
    assert.equal(ingress.status, 401)
  })

  it('error: missing or repeated forwarding headers → 400 naming the header', async () => {
    const missing = await get('/.turnpike/auth', { 'x-forwarded-method': 'GET' })
    assert.equal(missing.status, 400)
    assert.match(((await missing.json()) as { detail: string }).detail, /x-forwarded-uri/)
    const twice = await new Promise<number>((resolve, reject) => {
      import('node:http').then(({ request }) => {
        const req = request(`${s.fa.url}/.turnpike/auth`, { headers: ['x-forwarded-method', 'GET', 'x-forwarded-uri', '/free', 'x-forwarded-uri', '/api/x'] as unknown as Record<string, string> }, (res) => {
          res.resume()
          resolve(res.statusCode!)
        })
        req.on('error', reject)
        req.end()
      }, reject)
    })
    assert.equal(twice, 400)
  })

  it('behavior: health and a helpful 404 for other paths', async () => {
    assert.equal((await get('/.turnpike/health')).status, 200)
    const other = await get('/api/x')
    assert.equal(other.status, 404)
    assert.match(((await other.json()) as { detail: string }).detail, /\/\.turnpike\/auth\/nginx/)
  })
})

describe('forward-auth trust', () => {
  it('behavior: the client address comes from X-Forwarded-For past trusted hops, never from Forwarded', async () => {
    const seen: (string | undefined)[] = []
    const gateway = {
      config: Config.parse({ routes }, { requireUpstream: false }),
      decide(view: RequestView): Decision {
        seen.push(view.clientAddress)
        return { kind: 'allow', route: 'free', stripHeaders: [], requestHeaders: [], responseHeaders: [], reason: 'free' }
      },
      release: async () => {},
      normalize: (p: string) => p,
    } as unknown as Gateway
    const fa = createForwardAuth({ gateway })
    const server = await listen((req, res) => void fa.handle(req, res))
    try {
      const ask = (xff?: string) => fetch(`${server.url}/.turnpike/auth`, { headers: { 'x-forwarded-method': 'GET', 'x-forwarded-uri': '/', forwarded: 'for=1.1.1.1', ...(xff ? { 'x-forwarded-for': xff } : {}) } })
      await (await ask('6.6.6.6, 203.0.113.5, 127.0.0.1')).arrayBuffer()
      await (await ask()).arrayBuffer()
      assert.deepEqual(seen, ['203.0.113.5', undefined])
    } finally {
      await server.close()
    }
  })

  it('error: forwarded headers from a peer outside trustProxy → 403 problem', async () => {
    const s = await startService({ trustProxy: ['10.9.9.9', '192.168.0.0/16'] })
    try {
      const res = await fetch(`${s.fa.url}/.turnpike/auth`, { headers: { 'x-forwarded-method': 'GET', 'x-forwarded-uri': '/api/x' } })
      assert.equal(res.status, 403)
      assert.equal(((await res.json()) as { code: string }).code, 'TURNPIKE_FORBIDDEN')
      assert.equal(s.minted(), 0)
      const hop = await fetch(`${s.fa.url}/.turnpike/challenge`, { headers: nginxAsk('/api/x') })
      assert.equal(hop.status, 403)
      await hop.arrayBuffer()
    } finally {
      await s.close()
    }
  })

  it('behavior: a CIDR entry trusts the peer', async () => {
    const s = await startService({ trustProxy: ['127.0.0.0/8'] })
    try {
      const res = await fetch(`${s.fa.url}/.turnpike/auth`, { headers: { 'x-forwarded-method': 'GET', 'x-forwarded-uri': '/api/x' } })
      assert.equal(res.status, 402)
      await res.arrayBuffer()
    } finally {
      await s.close()
    }
  })

  it('error: an invalid trustProxy entry is a config error', () => {
    assert.throws(() => Config.parse({ backend: 'dev', forwardAuth: true, trustProxy: ['10.0.0.0/33'], routes }), (e: ConfigError) => e.issues[0]!.path.startsWith('trustProxy'))
  })
})

describe('forward-auth config', () => {
  it('behavior: forwardAuth: true needs no upstream; the proxy still does', () => {
    assert.equal(Config.parse({ forwardAuth: true, routes }).forwardAuth, true)
    assert.throws(() => Config.parse({ routes }), (e: ConfigError) => e.issues.some((i) => /upstream/.test(i.message)))
    assert.equal(Config.parse({ routes }, { requireUpstream: false }).forwardAuth, undefined)
  })

  it('error: forwardAuth must be a boolean', () => {
    assert.throws(() => Config.parse({ forwardAuth: 'yes', routes }), (e: ConfigError) => e.issues.some((i) => i.path === 'forwardAuth'))
  })
})

describe('turnpike serve --forward-auth', () => {
  it('behavior: starts without an upstream and answers verdicts', async () => {
    const dir = tempDir()
    const port = await freePort()
    const bin = fileURLToPath(new URL('../src/bin.ts', import.meta.url))
    const child = spawn(process.execPath, [bin, 'serve', '--forward-auth', '--backend', 'dev', '--price', '10sat', '--store', 'memory', '--listen', `127.0.0.1:${port}`, '--data-dir', dir.path], {
      env: { ...process.env, TURNPIKE_SECRET: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let logs = ''
    child.stdout.on('data', (d) => (logs += d))
    child.stderr.on('data', (d) => (logs += d))
    try {
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`did not start:\n${logs}`)), 20_000)
        const check = () => /forward-auth endpoints/.test(logs) && (clearTimeout(t), resolve())
        child.stderr.on('data', check)
        child.stdout.on('data', check)
        child.on('exit', (code) => (clearTimeout(t), reject(new Error(`exited ${code}:\n${logs}`))))
      })
      const res = await fetch(`http://127.0.0.1:${port}/.turnpike/auth`, { headers: { 'x-forwarded-method': 'GET', 'x-forwarded-uri': '/anything' } })
      assert.equal(res.status, 402)
      challengeOf(res)
      await res.arrayBuffer()
      assert.doesNotMatch(logs, /upstream/i)
    } finally {
      await new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve()
        child.once('exit', () => resolve())
        child.kill('SIGTERM')
      })
      dir.remove()
    }
  })
})
