/** Metered pricing on credit routes through the real proxy: bytes, header- and trailer-reported units, cut and finish. */
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { after, before, describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import { buyCredential, listen, startGateway, type Gateway } from './harness.ts'

const run = randomUUID().slice(0, 8)

/** Upstream: `/x/empty` 204; `sse` a short event stream; `tokens`/`trailer` report units; `bytes?n=` n bytes in 1000-byte chunks. */
function upstream(req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://x')
  const last = url.pathname.split('/').pop()
  if (last === 'empty') return void res.writeHead(204).end()
  if (last === 'tokens') return void res.writeHead(200, { 'content-type': 'text/plain', 'x-tokens-used': '7' }).end('answer')
  if (last === 'trailer') {
    res.writeHead(200, { 'content-type': 'text/plain', trailer: 'x-tokens-used' })
    res.write('streamed answer')
    res.addTrailers({ 'x-tokens-used': '11' })
    return void res.end()
  }
  if (last === 'sse') {
    res.writeHead(200, { 'content-type': 'text/event-stream' })
    let i = 0
    const tick = setInterval(() => {
      res.write(`id: ${i}\ndata: {"token":"word${i}"}\n\n`)
      if (++i === 20) {
        clearInterval(tick)
        res.end()
      }
    }, 2)
    return
  }
  const n = Number(url.searchParams.get('n') ?? '0')
  res.writeHead(200, { 'content-type': 'application/octet-stream' })
  let sent = 0
  const tick = setInterval(() => {
    if (res.destroyed) return clearInterval(tick)
    const k = Math.min(1000, n - sent)
    res.write(Buffer.alloc(k, 97))
    sent += k
    if (sent >= n) {
      clearInterval(tick)
      res.end()
    }
  }, 1)
  res.on('close', () => clearInterval(tick))
}

/** Reads a response body to its end or its abort; the bytes received and whether it ended cleanly. */
async function drainBody(res: Response): Promise<{ text: string; bytes: number; clean: boolean }> {
  const reader = res.body!.getReader()
  const chunks: Uint8Array[] = []
  try {
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      chunks.push(value)
    }
  } catch {
    const buf = Buffer.concat(chunks)
    return { text: buf.toString(), bytes: buf.length, clean: false }
  }
  const buf = Buffer.concat(chunks)
  return { text: buf.toString(), bytes: buf.length, clean: true }
}

const engines = [
  { name: 'memory', store: 'memory', cleanup: async () => {} },
  {
    name: 'redis',
    store: `redis://127.0.0.1:6379/0?prefix=turnpike-meter-${run}:`,
    async cleanup() {
      const c = new Redis({ host: '127.0.0.1', port: 6379 })
      const keys = await c.keys(`turnpike-meter-${run}:*`)
      if (keys.length > 0) await c.del(...keys)
      await c.quit()
    },
  },
]

for (const engine of engines) {
  describe(`metered credit routes (${engine.name} store)`, () => {
    let up: Awaited<ReturnType<typeof listen>>
    let g: Gateway
    before(async () => {
      up = await listen(upstream)
      g = await startGateway({
        upstream: up.url,
        store: engine.store,
        routes: [
          { name: 'sse', path: '/sse/*', price: '100sat', access: 'credits:100sat', meter: { per: 'byte', price: '1msat' } },
          { name: 'units', path: '/units/*', price: '10sat', access: 'credits:10sat', meter: { header: 'x-tokens-used', price: '5msat' } },
          { name: 'cut', path: '/cut/*', price: '20sat', access: 'credits:20sat', meter: { per: 'byte', price: '1msat', onExhausted: 'cut' } },
          { name: 'fin', path: '/fin/*', price: '20sat', access: 'credits:20sat', meter: { per: 'byte', price: '1msat' } },
          { name: 'fee', path: '/fee/*', price: '10sat', access: 'credits:10sat', cost: '1sat', meter: { per: 'byte', price: '2msat' } },
        ],
      })
    })
    after(async () => {
      await g?.close()
      await up?.close()
      await engine.cleanup()
    })

    /** The balance (msat) now: a probe with an empty answer draws nothing (its 1 msat hold is refunded). */
    const balance = async (route: string, cred: string): Promise<number> => {
      await sleep(30) // the previous response's charge is settled just after it ended
      const r = await fetch(`${g.url}/${route}/empty`, { headers: { authorization: cred } })
      assert.equal(r.status, 204)
      await sleep(30)
      return Number(/^(\d+)msat$/.exec(r.headers.get('x-turnpike-balance') ?? '')![1]) + 1
    }

    it('behavior: an SSE response metered per byte draws exactly bytes × price', async () => {
      const cred = await buyCredential(g, `${g.url}/sse/x`)
      assert.equal(await balance('sse', cred), 100_000)
      const r = await fetch(`${g.url}/sse/stream/sse`, { headers: { authorization: cred } })
      assert.equal(r.status, 200)
      assert.equal(r.headers.get('content-type'), 'text/event-stream')
      const body = await drainBody(r)
      assert.ok(body.clean && body.text.includes('word19'), body.text)
      assert.equal(await balance('sse', cred), 100_000 - body.bytes)
      assert.ok(body.bytes > 400)
    })

    it('behavior: a fixed cost is drawn on top of the metered bytes', async () => {
      const cred = await buyCredential(g, `${g.url}/fee/x`)
      const r = await fetch(`${g.url}/fee/data?n=1500`, { headers: { authorization: cred } })
      assert.equal(r.headers.get('x-turnpike-balance'), '9000msat')
      assert.equal((await drainBody(r)).bytes, 1500)
      // The probe itself draws the 1 sat cost too: 10000 - (1000 + 3000) - 1000 after it.
      await sleep(30)
      const p = await fetch(`${g.url}/fee/empty`, { headers: { authorization: cred } })
      assert.equal(p.headers.get('x-turnpike-balance'), `${10_000 - 1000 - 3000 - 1000}msat`)
    })

    it('behavior: units reported in a response header are metered', async () => {
      const cred = await buyCredential(g, `${g.url}/units/x`)
      const before = await balance('units', cred)
      const r = await fetch(`${g.url}/units/tokens`, { headers: { authorization: cred } })
      assert.equal(await r.text(), 'answer')
      assert.equal(await balance('units', cred), before - 7 * 5)
    })

    it('behavior: units reported in a response trailer are metered', async () => {
      const cred = await buyCredential(g, `${g.url}/units/x`)
      const before = await balance('units', cred)
      const r = await fetch(`${g.url}/units/trailer`, { headers: { authorization: cred } })
      assert.equal(await r.text(), 'streamed answer')
      assert.equal(await balance('units', cred), before - 11 * 5)
    })

    it('behavior: cut stops a long stream at the balance known at admission, then 402', async () => {
      const cred = await buyCredential(g, `${g.url}/cut/x`)
      const r = await fetch(`${g.url}/cut/long?n=200000`, { headers: { authorization: cred } })
      assert.equal(r.status, 200)
      const body = await drainBody(r)
      assert.equal(body.clean, false, 'the client sees a truncated response, not a clean end')
      assert.equal(body.bytes, 20_000)
      await sleep(50)
      const next = await fetch(`${g.url}/cut/more`, { headers: { authorization: cred } })
      assert.equal(next.status, 402)
      await next.body?.cancel()
    })

    it('behavior: finish lets the stream complete past the balance, draws it to zero, then 402', async () => {
      const cred = await buyCredential(g, `${g.url}/fin/x`)
      const r = await fetch(`${g.url}/fin/long?n=30000`, { headers: { authorization: cred } })
      assert.equal(r.status, 200)
      const body = await drainBody(r)
      assert.deepEqual([body.clean, body.bytes], [true, 30_000])
      await sleep(50)
      const next = await fetch(`${g.url}/fin/more`, { headers: { authorization: cred } })
      assert.equal(next.status, 402)
      await next.body?.cancel()
    })
  })
}
