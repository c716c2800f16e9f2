import assert from 'node:assert/strict'
import { X509Certificate } from 'node:crypto'
import { readFileSync, statSync } from 'node:fs'
import http2 from 'node:http2'
import https from 'node:https'
import { join } from 'node:path'
import tls from 'node:tls'
import { after, before, describe, it } from 'node:test'
import { selfSigned } from '../src/cli/cert.ts'
import * as Config from '../src/Config.ts'
import { challengeOf, echo, listen, startGateway, tempDir, type Gateway } from './harness.ts'

type Res = { status: number; headers: Record<string, string | string[] | undefined>; body: string }

function get1(url: string, ca: Buffer, headers: Record<string, string> = {}): Promise<Res> {
  return new Promise((resolve, reject) => {
    https.get(url, { ca, headers, agent: false }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => (body += c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }))
    }).on('error', reject)
  })
}

function get2(session: http2.ClientHttp2Session, path: string, headers: Record<string, string> = {}): Promise<Res> {
  return new Promise((resolve, reject) => {
    const req = session.request({ ':path': path, ...headers })
    let status = 0
    let h: Record<string, string | string[] | undefined> = {}
    let body = ''
    req.setEncoding('utf8')
    req.on('response', (r) => ((status = Number(r[':status'])), (h = r)))
    req.on('data', (c: string) => (body += c))
    req.on('end', () => resolve({ status, headers: h, body }))
    req.on('error', reject)
  })
}

function fingerprint(port: number, ca: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ port, host: '127.0.0.1', ca, servername: 'localhost', ALPNProtocols: ['http/1.1'] }, () => {
      const fp = s.getPeerX509Certificate()!.fingerprint256
      s.end()
      resolve(fp)
    })
    s.on('error', reject)
  })
}

describe('TLS listener', () => {
  const certs = tempDir()
  let upstream: Awaited<ReturnType<typeof listen>>
  let g: Gateway
  let ca: Buffer
  let paths: { certFile: string; keyFile: string }

  before(async () => {
    paths = selfSigned({ out: join(certs.path, 'a') })
    ca = readFileSync(paths.certFile)
    upstream = await listen(echo)
    g = await startGateway({ upstream: upstream.url, routes: [{ name: 'paid', path: '/api/*', price: '10sat' }, { name: 'free', path: '/*', price: 0 }], tls: paths })
  })
  after(async () => {
    await g.close()
    await upstream.close()
    certs.remove()
  })

  it('cert --self-signed writes a CA-usable pair with a private key file', () => {
    assert.equal(statSync(paths.keyFile).mode & 0o777, 0o600)
    const x = new X509Certificate(ca)
    assert.match(x.subjectAltName ?? '', /DNS:localhost/)
    assert.match(x.subjectAltName ?? '', /IP Address:127\.0\.0\.1/)
    assert.equal(x.ca, true)
  })

  it('serves HTTPS with the paid flow over HTTP/1.1 and marks X-Forwarded-Proto https', async () => {
    assert.match(g.url, /^https:\/\//)
    const url = `${g.url}/api/thing`
    const first = await get1(url, ca)
    assert.equal(first.status, 402)
    const { macaroon, invoice } = challengeOf(new Response(null, { headers: { 'www-authenticate': String(first.headers['www-authenticate']) } }))
    const { preimage } = await g.rt.devNode!.pay(invoice)
    const paid = await get1(url, ca, { authorization: `L402 ${macaroon}:${preimage}` })
    assert.equal(paid.status, 200)
    const echoed = JSON.parse(paid.body) as { headers: Record<string, string> }
    assert.equal(echoed.headers['x-forwarded-proto'], 'https')
    assert.equal(echoed.headers.authorization, undefined)
    const replay = await get1(url, ca, { authorization: `L402 ${macaroon}:${preimage}` })
    assert.equal(replay.status, 402)
  })

  it('serves HTTP/2 on the same port (ALPN h2), paid flow included', async () => {
    const session = http2.connect(g.url, { ca })
    try {
      const free = await get2(session, '/hello?x=1')
      assert.equal(free.status, 200)
      const echoed = JSON.parse(free.body) as { url: string; headers: Record<string, string> }
      assert.equal(echoed.url, '/hello?x=1')
      assert.equal(echoed.headers['x-forwarded-proto'], 'https')
      assert.match(echoed.headers.host ?? '', /^127\.0\.0\.1:/)
      const first = await get2(session, '/api/h2')
      assert.equal(first.status, 402)
      const m = /L402 macaroon="([^"]+)", invoice="([^"]+)"/.exec(String(first.headers['www-authenticate']))!
      const { preimage } = await g.rt.devNode!.pay(m[2]!)
      const paid = await get2(session, '/api/h2', { authorization: `L402 ${m[1]}:${preimage}` })
      assert.equal(paid.status, 200)
      assert.equal((JSON.parse(paid.body) as { url: string }).url, '/api/h2')
    } finally {
      session.close()
    }
  })

  it('reload swaps the served certificate (what SIGHUP does)', async () => {
    const port = Number(new URL(g.url).port)
    const before = await fingerprint(port, ca)
    assert.equal(before, new X509Certificate(ca).fingerprint256)
    const next = selfSigned({ out: join(certs.path, 'b') })
    // Replace the files the config points at, then reload.
    const { copyFileSync } = await import('node:fs')
    copyFileSync(next.certFile, paths.certFile)
    copyFileSync(next.keyFile, paths.keyFile)
    process.emit('SIGHUP', 'SIGHUP')
    const nextCa = readFileSync(next.certFile)
    const after = await fingerprint(port, nextCa)
    assert.equal(after, new X509Certificate(nextCa).fingerprint256)
    assert.notEqual(after, before)
  })

  it('reports TLS config problems with their paths', () => {
    const base = { upstream: 'http://127.0.0.1:1', backend: 'dev', routes: [{ name: 'a', path: '/*', price: 0 }] }
    assert.throws(() => Config.parse({ ...base, tls: { certFile: 'c.pem' } }), /tls\.keyFile/)
    assert.throws(() => Config.parse({ ...base, tls: { certFile: 'c.pem', keyFile: 1, extra: 1 } }), (e: Error) => /tls\.keyFile/.test(e.message) && /tls\.extra/.test(e.message))
    assert.throws(() => Config.parse({ ...base, h2c: 'yes' }), /h2c/)
  })
})
