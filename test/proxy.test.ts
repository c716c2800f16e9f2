import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import http from 'node:http'
import net from 'node:net'
import { after, before, describe, it } from 'node:test'
import { buyCredential, echo, listen, startGateway, type Gateway } from './harness.ts'

describe('reverse proxy', () => {
  let upstream: Awaited<ReturnType<typeof listen>>
  let g: Gateway
  let hits = 0

  before(async () => {
    upstream = await listen((req, res) => {
      hits++
      const url = new URL(req.url ?? '/', 'http://x')
      if (url.pathname === '/api/big') {
        // 8 MiB download in 64 KiB chunks.
        res.writeHead(200, { 'content-type': 'application/octet-stream' })
        const chunk = Buffer.alloc(65536, 7)
        let sent = 0
        const pump = () => {
          while (sent < 128) {
            sent++
            if (!res.write(chunk)) return res.once('drain', pump)
          }
          res.end()
        }
        return pump()
      }
      if (url.pathname === '/api/upload') {
        const h = createHash('sha256')
        let n = 0
        req.on('data', (c: Buffer) => { n += c.length; h.update(c) })
        req.on('end', () => res.end(JSON.stringify({ n, sha256: h.digest('hex') })))
        return
      }
      if (url.pathname === '/api/sse') {
        res.writeHead(200, { 'content-type': 'text/event-stream' })
        res.write('data: first\n\n')
        setTimeout(() => res.end('data: second\n\n'), 400)
        return
      }
      if (url.pathname === '/api/fail') {
        res.writeHead(503)
        return res.end('down')
      }
      if (url.pathname === '/api/slow') return void setTimeout(() => res.end('late'), 3000)
      echo(req, res)
    })
    upstream.server.on('upgrade', (req, socket) => {
      // Minimal WebSocket handshake, then echo raw bytes.
      const accept = createHash('sha1').update(req.headers['sec-websocket-key'] + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64')
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`)
      socket.on('data', (d) => socket.write(d))
      socket.on('end', () => socket.end())
    })
    g = await startGateway({
      upstream: upstream.url,
      upstreamTimeout: '1s',
      routes: [{ name: 'api', path: '/api/*', price: '10sat' }, { name: 'free', path: '/*', price: 0 }],
    })
  })
  after(async () => {
    await g.close()
    await upstream.close()
  })

  it('behavior: strips credentials and hop-by-hop headers, adds X-Forwarded-*', async () => {
    const cred = await buyCredential(g, `${g.url}/api/echo?q=1`)
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      const req = http.request(`${g.url}/api/echo?q=1`, {
        headers: [
          'Host', 'gateway.test', 'Authorization', cred, 'Authorization', 'Bearer upstream-token', 'Macaroon', 'abcd',
          'Connection', 'keep-alive, X-Secret-Hop', 'X-Secret-Hop', 'x', 'Keep-Alive', 'timeout=5', 'X-Forwarded-For', '6.6.6.6', 'X-Custom', 'kept',
        ] as unknown as http.OutgoingHttpHeaders,
      }, resolve)
      req.on('error', reject)
      req.end()
    })
    assert.equal(res.statusCode, 200)
    const body = JSON.parse(await new Promise<string>((r) => { let s = ''; res.on('data', (c) => (s += c)); res.on('end', () => r(s)) }))
    assert.equal(body.url, '/api/echo?q=1')
    assert.equal(body.headers.authorization, 'Bearer upstream-token', 'only the payment credential is removed')
    assert.equal(body.headers.macaroon, undefined)
    assert.equal(body.headers['x-secret-hop'], undefined)
    assert.equal(body.headers['keep-alive'], undefined)
    assert.equal(body.headers['x-custom'], 'kept')
    assert.equal(body.headers['x-forwarded-for'], '127.0.0.1', 'an untrusted client cannot inject X-Forwarded-For')
    assert.equal(body.headers['x-forwarded-proto'], 'http')
    assert.equal(body.headers['x-forwarded-host'], 'gateway.test')
  })

  it('behavior: streams large downloads and uploads', async () => {
    const cred = await buyCredential(g, `${g.url}/api/big`)
    const res = await fetch(`${g.url}/api/big`, { headers: { authorization: cred } })
    assert.equal(res.status, 200)
    assert.equal((await res.arrayBuffer()).byteLength, 128 * 65536)

    const payload = Buffer.alloc(20 * 1024 * 1024, 3)
    const cred2 = await buyCredential(g, `${g.url}/api/upload`, { method: 'POST', body: 'x' })
    const up = await fetch(`${g.url}/api/upload`, { method: 'POST', body: payload, headers: { authorization: cred2 } })
    assert.equal(up.status, 200)
    assert.deepEqual((await up.json() as any), { n: payload.length, sha256: createHash('sha256').update(payload).digest('hex') })
  })

  it('behavior: SSE events arrive as they are sent, not at the end', async () => {
    const cred = await buyCredential(g, `${g.url}/api/sse`)
    const started = Date.now()
    const res = await fetch(`${g.url}/api/sse`, { headers: { authorization: cred } })
    const reader = res.body!.getReader()
    const first = await reader.read()
    const firstAt = Date.now() - started
    assert.match(Buffer.from(first.value!).toString(), /data: first/)
    assert.ok(firstAt < 350, `first event after ${firstAt} ms, before the stream ended`)
    let rest = ''
    for (;;) {
      const { value, done } = await reader.read()
      if (done) break
      rest += Buffer.from(value).toString()
    }
    assert.match(rest, /data: second/)
  })

  it('behavior: WebSocket upgrades pass only after payment', async () => {
    const raw = (headers: string) =>
      new Promise<string>((resolve, reject) => {
        const s = net.connect((g.proxy.server.address() as net.AddressInfo).port, "127.0.0.1")
        let got = ''
        s.on('data', (d) => {
          got += d.toString('latin1')
          if (got.includes('\r\n\r\n') && got.startsWith('HTTP/1.1 101')) {
            s.write('ping-frame')
            if (got.includes('ping-frame')) { s.destroy(); resolve(got) }
          }
        })
        s.on('end', () => resolve(got))
        s.on('error', reject)
        s.write(`GET /api/ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n${headers}\r\n`)
      })
    const unpaid = await raw('')
    assert.match(unpaid, /^HTTP\/1\.1 402/)
    assert.match(unpaid, /www-authenticate: L402 macaroon=/i)
    const cred = await buyCredential(g, `${g.url}/api/ws`)
    const paid = await raw(`Authorization: ${cred}\r\n`)
    assert.match(paid, /^HTTP\/1\.1 101/)
    assert.match(paid, /ping-frame/, 'bytes are relayed both ways')
  })

  it('behavior: an upstream 5xx releases the single-use claim so the client can retry', async () => {
    const cred = await buyCredential(g, `${g.url}/api/fail`)
    const a = await fetch(`${g.url}/api/fail`, { headers: { authorization: cred } })
    assert.equal(a.status, 503)
    await a.text()
    await new Promise((r) => setTimeout(r, 50))
    const b = await fetch(`${g.url}/api/fail`, { headers: { authorization: cred } })
    assert.equal(b.status, 503, 'the same credential reached the upstream again instead of a 402')
    await b.text()
  })

  it('error: upstream down → 502 problem+json; slow → 504; unpaid requests never reach it', async () => {
    const before = hits
    const unpaid = await fetch(`${g.url}/api/echo`, { method: 'POST', body: 'secret stuff' })
    assert.equal(unpaid.status, 402)
    await unpaid.text()
    assert.equal(hits, before, 'a challenged request never reaches the upstream')

    const cred = await buyCredential(g, `${g.url}/api/slow`)
    const slow = await fetch(`${g.url}/api/slow`, { headers: { authorization: cred } })
    assert.equal(slow.status, 504)
    assert.equal(slow.headers.get('content-type'), 'application/problem+json')
    assert.equal(((await slow.json() as any)).code, 'TURNPIKE_UPSTREAM_TIMEOUT')
    // The timed-out credential was released, so it can be retried.
    const retry = await fetch(`${g.url}/api/slow`, { headers: { authorization: cred } })
    assert.equal(retry.status, 504)
    await retry.text()

    const dead = await listen(() => {})
    const deadUrl = dead.url
    await dead.close()
    const g2 = await startGateway({ upstream: deadUrl, routes: [{ name: 'api', path: '/*', price: '1sat' }] })
    try {
      const cred2 = await buyCredential(g2, `${g2.url}/x`)
      const r = await fetch(`${g2.url}/x`, { headers: { authorization: cred2 } })
      assert.equal(r.status, 502)
      const body = (await r.json() as any)
      assert.equal(body.code, 'TURNPIKE_UPSTREAM_UNAVAILABLE')
      assert.doesNotMatch(JSON.stringify(body), /ECONNREFUSED/)
    } finally {
      await g2.close()
    }
  })

  it('behavior: the gateway health endpoint and OPTIONS pass without payment', async () => {
    const h = await fetch(`${g.url}/.turnpike/health`)
    assert.deepEqual((await h.json() as any), { status: 'ok' })
    const o = await fetch(`${g.url}/api/echo`, { method: 'OPTIONS' })
    assert.equal(o.status, 200)
    assert.equal(((await o.json() as any)).method, 'OPTIONS')
  })
})
