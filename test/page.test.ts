import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { rmSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import type { Backend, InvoiceState } from '../src/Lightning.ts'
import { dev } from '../src/lightning/dev.ts'
import { render } from '../src/page/html.ts'
import { quality, wantsPage } from '../src/page/negotiate.ts'
import { dataCodewords, encode, toSvg, type Ecc } from '../src/page/qr.ts'
import { hub } from '../src/page/settlement.ts'
import { echo, listen, startGateway, type Gateway } from './harness.ts'

const browserAccept = 'text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8'
const hasZbar = spawnSync('zbarimg', ['--version']).status === 0

/** A raw GET (undici's fetch would overwrite Sec-Fetch-Mode). */
function get(url: string, headers: Record<string, string>, method = 'GET'): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    http.request(url, { method, headers }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => (body += c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }))
    }).on('error', reject).end()
  })
}

describe('QR encoder', () => {
  it('behavior: capacities match ISO/IEC 18004 table 7 (data codewords)', () => {
    const expected: Record<number, Record<Ecc, number>> = {
      1: { L: 19, M: 16, Q: 13, H: 9 },
      2: { L: 34, M: 28, Q: 22, H: 16 },
      5: { L: 108, M: 86, Q: 62, H: 46 },
      10: { L: 274, M: 216, Q: 154, H: 122 },
      20: { L: 861, M: 669, Q: 485, H: 385 },
      40: { L: 2956, M: 2334, Q: 1666, H: 1276 },
    }
    for (const [v, row] of Object.entries(expected)) for (const [e, n] of Object.entries(row)) assert.equal(dataCodewords(Number(v), e as Ecc), n, `v${v}-${e}`)
  })

  it('behavior: picks the smallest version, alphanumeric mode for an upper-cased invoice', () => {
    assert.equal(encode('HELLO WORLD', { ecc: 'Q' }).version, 1)
    const q = encode(`LIGHTNING:${'LNBCRT210N1'.padEnd(330, 'Q')}`)
    assert.ok(q.version <= 15, `version ${q.version}`)
    assert.equal(q.size, q.version * 4 + 17)
    assert.throws(() => encode('x'.repeat(3000), { ecc: 'H' }), RangeError)
    assert.match(toSvg(encode('A')), /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg" viewBox="0 0 29 29"/)
  })

  it('behavior: symbols decode back to the text (zbarimg), every level and mask', { skip: hasZbar ? false : 'zbarimg not installed' }, () => {
    const file = join(tmpdir(), `turnpike-qr-${process.pid}.pgm`)
    try {
      const texts = ['HELLO WORLD', 'LIGHTNING:LNBCRT' + '2345679ACDEFGHJKLMNPQRSTUVWXYZ'.repeat(11), 'lowercase bytes ✓ ünïcode', 'x'.repeat(900)]
      for (const text of texts) {
        for (const ecc of ['L', 'M', 'Q', 'H'] as const) {
          for (const mask of text === 'HELLO WORLD' ? [0, 1, 2, 3, 4, 5, 6, 7] : [undefined]) {
            const q = encode(text, { ecc, ...(mask === undefined ? {} : { mask }) })
            const scale = 3
            const n = (q.size + 8) * scale
            const px = Buffer.alloc(n * n, 255)
            for (let y = 0; y < q.size; y++) for (let x = 0; x < q.size; x++) {
              if (!q.modules[y]![x]) continue
              for (let dy = 0; dy < scale; dy++) px.fill(0, ((y + 4) * scale + dy) * n + (x + 4) * scale, ((y + 4) * scale + dy) * n + (x + 5) * scale)
            }
            writeFileSync(file, Buffer.concat([Buffer.from(`P5\n${n} ${n}\n255\n`), px]))
            const out = spawnSync('zbarimg', ['-q', '--raw', '-Sbinary', file])
            assert.equal(out.stdout.toString('utf8').replace(/\n$/, ''), text, `${text.slice(0, 12)} ${ecc} mask ${mask}`)
          }
        }
      }
    } finally {
      rmSync(file, { force: true })
    }
  })
})

describe('payment page negotiation', () => {
  it('behavior: browsers navigating get the page; API clients and scripts do not', () => {
    assert.equal(wantsPage('GET', { accept: browserAccept, 'sec-fetch-mode': 'navigate' }), true)
    assert.equal(wantsPage('GET', { accept: browserAccept }), true, 'no Sec-Fetch-Mode (older browsers, curl -H)')
    assert.equal(wantsPage('HEAD', { accept: 'text/html' }), true)
    assert.equal(wantsPage('GET', { accept: browserAccept, 'sec-fetch-mode': 'cors' }), false, 'fetch() from a page')
    assert.equal(wantsPage('GET', { accept: browserAccept, 'x-requested-with': 'XMLHttpRequest' }), false)
    assert.equal(wantsPage('POST', { accept: browserAccept }), false, 'a body cannot be replayed by the page')
    assert.equal(wantsPage('GET', { accept: '*/*' }), false, 'curl, SDKs')
    assert.equal(wantsPage('GET', {}), false)
    assert.equal(wantsPage('GET', { accept: 'application/json, text/html;q=0.5' }), false)
    assert.equal(wantsPage('GET', { accept: 'text/html;q=0' }), false)
    assert.equal(quality('text/html;q=0.4, text/*;q=0.9', 'text/html'), 0.4, 'the most specific range wins')
  })

  it('behavior: operator text and invoice data are escaped', () => {
    const html = render({
      invoice: 'lnbcrt1x', macaroon: 'AgE</script><script>alert(1)</script>', paymentHash: 'a'.repeat(64), amountMsat: 1500,
      expiresAt: 0, description: '<img src=x onerror=alert(1)>', route: 'r', devPay: false,
    })
    assert.ok(!html.includes('<img src=x'))
    assert.ok(html.includes('&lt;img src=x onerror=alert(1)&gt;'))
    assert.equal(html.match(/<\/script>/g)?.length, 2, 'only the two real script ends')
    assert.match(html, /<title>Payment required · 1,500 msat<\/title>/)
    assert.ok(!html.includes('id="pay-dev"'), 'no dev button unless allowed')
    assert.ok(!/https?:\/\/(?!www\.w3\.org\/2000\/svg)/.test(html), 'no external resources')
  })
})

describe('payment page (proxy)', () => {
  let upstream: Awaited<ReturnType<typeof listen>>
  let g: Gateway
  let off: Gateway

  before(async () => {
    upstream = await listen(echo)
    const routes = [{ name: 'api', path: '/api/*', price: '10sat' }, { name: 'mpp', path: '/mpp/*', price: '1sat', schemes: ['payment'] }]
    g = await startGateway({ upstream: upstream.url, routes })
    off = await startGateway({ upstream: upstream.url, page: false, routes })
  })
  after(async () => {
    await g.close()
    await off.close()
    await upstream.close()
  })

  async function pageOf(gw: Gateway, path = '/api/x') {
    const res = await get(`${gw.url}${path}`, { accept: browserAccept, 'sec-fetch-mode': 'navigate' })
    assert.equal(res.status, 402)
    const data = /<script type="application\/json" id="turnpike-data">([^<]+)<\/script>/.exec(res.body)
    return { res, data: data ? (JSON.parse(data[1]!) as { invoice: string; macaroon: string; paymentHash: string; devPay: boolean }) : undefined }
  }

  it('behavior: same status and challenge headers, HTML body, Vary: Accept', async () => {
    const { res, data } = await pageOf(g)
    assert.match(res.headers['content-type']!, /^text\/html; charset=utf-8$/)
    assert.match(String(res.headers['www-authenticate']), /^L402 macaroon="/)
    assert.equal(res.headers['cache-control'], 'no-store')
    assert.equal(res.headers.vary, 'Accept')
    assert.ok(data)
    assert.equal(data.devPay, true, 'loopback client, dev backend')
    const json = await get(`${g.url}/api/x`, { accept: 'application/json' })
    assert.equal(json.headers['content-type'], 'application/json')
  })

  it('behavior: turned off, or a route without L402, keeps the JSON body', async () => {
    assert.equal((await pageOf(off)).data, undefined)
    const res = await get(`${g.url}/mpp/x`, { accept: browserAccept })
    assert.equal(res.status, 402)
    assert.doesNotMatch(res.headers['content-type']!, /html/)
  })

  it('behavior: the event stream reports open then settled, from the subscription; no invoice is minted', async () => {
    const { data } = await pageOf(g)
    const res = await fetch(`${g.url}/.turnpike/invoices/${data!.paymentHash}/events`)
    assert.equal(res.status, 200)
    assert.equal(res.headers.get('content-type'), 'text/event-stream')
    const reader = res.body!.getReader()
    let text = ''
    const read = async (until: string) => {
      while (!text.includes(until)) {
        const { value, done } = await reader.read()
        if (done) break
        text += new TextDecoder().decode(value)
      }
    }
    await read('event: status')
    assert.match(text, /data: \{"status":"open"/)
    const before = g.rt.metrics.snapshot()
    await g.rt.devNode!.pay(data!.invoice)
    await read('event: settled')
    assert.match(text, /event: settled\ndata: \{"status":"settled","payment_hash":"[0-9a-f]{64}"\}/)
    assert.doesNotMatch(text, /preimage/, 'the stream never carries the preimage')
    const after = g.rt.metrics.snapshot()
    assert.deepEqual(after.families.find((f) => f.name === 'turnpike_invoice_creation_seconds'), before.families.find((f) => f.name === 'turnpike_invoice_creation_seconds'))
    await reader.cancel()
  })

  it('behavior: the preimage goes only to the holder of the challenge macaroon, once settled', async () => {
    const { data } = await pageOf(g)
    const { data: other } = await pageOf(g)
    const ask = (macaroon: string) =>
      fetch(`${g.url}/.turnpike/invoices/${data!.paymentHash}/preimage`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ macaroon }) })
    assert.deepEqual(await (await ask(data!.macaroon)).json(), { status: 'open' })
    const wrong = await ask(other!.macaroon)
    assert.equal(wrong.status, 403)
    assert.equal(((await wrong.json()) as { code: string }).code, 'TURNPIKE_FORBIDDEN')
    const { preimage } = await g.rt.devNode!.pay(data!.invoice)
    assert.deepEqual(await (await ask(data!.macaroon)).json(), { status: 'settled', preimage })
    const paid = await fetch(`${g.url}/api/x`, { headers: { authorization: `L402 ${data!.macaroon}:${preimage}` } })
    assert.equal(paid.status, 200)
    await paid.body?.cancel()
  })

  it('error: unknown invoices, bad hashes and wrong methods', async () => {
    const unknown = await fetch(`${g.url}/.turnpike/invoices/${'0'.repeat(64)}/events`)
    assert.equal(unknown.status, 404)
    assert.equal(((await unknown.json()) as { code: string }).code, 'TURNPIKE_INVOICE_UNKNOWN')
    const post = await fetch(`${g.url}/.turnpike/invoices/${'0'.repeat(64)}/events`, { method: 'POST' })
    assert.equal(post.status, 405)
    await post.body?.cancel()
    const get = await fetch(`${g.url}/.turnpike/invoices/${'0'.repeat(64)}/preimage`)
    assert.equal(get.status, 405)
    await get.body?.cancel()
    const badJson = await fetch(`${g.url}/.turnpike/invoices/${'0'.repeat(64)}/preimage`, { method: 'POST', body: '{' })
    assert.equal(badJson.status, 400)
    await badJson.body?.cancel()
    const upper = await fetch(`${g.url}/.turnpike/invoices/${'A'.repeat(64)}/events`)
    assert.equal(upper.status, 404)
    await upper.body?.cancel()
  })
})

describe('settlement hub', () => {
  it('behavior: one shared subscription for many watchers; each resolves on its own invoice', async () => {
    const node = dev()
    let subscriptions = 0
    const backend: Backend = { ...node, subscribe: (o) => (subscriptions++, node.subscribe!(o)) }
    const h = hub(backend, { safetyMs: 60_000 })
    const a = await node.createInvoice({ amountMsat: 1000n, expirySeconds: 60 })
    const b = await node.createInvoice({ amountMsat: 1000n, expirySeconds: 60 })
    const seen: string[] = []
    const ctl = new AbortController()
    const wa = h.watch(a.paymentHash, ctl.signal, (s) => seen.push(`a:${s.status}`))
    const wb = h.watch(b.paymentHash, ctl.signal, (s) => seen.push(`b:${s.status}`))
    await new Promise((r) => setTimeout(r, 50))
    assert.equal(h.size, 2)
    await node.pay(a.paymentRequest)
    assert.equal((await wa).status, 'settled')
    await node.cancel(b.paymentHash)
    assert.equal((await wb).status, 'canceled')
    assert.equal(subscriptions, 1)
    assert.deepEqual(seen.sort(), ['a:open', 'a:settled', 'b:canceled', 'b:open'])
    assert.equal(h.size, 0)
    h.close()
    await node.close?.()
  })

  it('behavior: without a subscription it polls lookups; abort ends a watch', async () => {
    const node = dev()
    let lookups = 0
    const backend: Backend = { name: 'poll', createInvoice: (p) => node.createInvoice(p), lookupInvoice: (hash, o) => (lookups++, node.lookupInvoice(hash, o)) }
    const h = hub(backend, { pollMs: 20 })
    const inv = await node.createInvoice({ amountMsat: 1000n, expirySeconds: 60 })
    setTimeout(() => void node.pay(inv.paymentRequest), 100)
    const states: InvoiceState[] = []
    const final = await h.watch(inv.paymentHash, new AbortController().signal, (s) => states.push(s))
    assert.equal(final.status, 'settled')
    assert.ok(lookups >= 3, `${lookups} lookups`)
    const other = await node.createInvoice({ amountMsat: 1000n, expirySeconds: 60 })
    const ctl = new AbortController()
    setTimeout(() => ctl.abort(new Error('page closed')), 50)
    await assert.rejects(h.watch(other.paymentHash, ctl.signal, () => {}), /page closed/)
    assert.equal(h.size, 0)
    h.close()
    await node.close?.()
  })
})
