/**
 * The payment page in a real browser (Debian's chromium through playwright-core): unpaid page →
 * pay → unlocked resource, with screenshots kept in docs/img/. Skipped when chromium is missing.
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import type { Browser, Page } from 'playwright-core'
import { listen, startGateway, type Gateway } from './harness.ts'

const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const skip = existsSync(chromiumPath) ? false : `chromium not found at ${chromiumPath} (apt-get install chromium; .ci/run does)`
// Screenshots refresh the committed docs/img/ only on request (UPDATE_SCREENSHOTS=1), so a test run
// leaves the work tree clean; otherwise they go to a temporary directory and are still checked.
const imgDir = process.env.UPDATE_SCREENSHOTS
  ? fileURLToPath(new URL('../docs/img/', import.meta.url))
  : mkdtempSync(join(tmpdir(), 'turnpike-shots-'))
const hasZbar = spawnSync('zbarimg', ['--version']).status === 0

/** PNG signature + a decodable size; returns the bytes. */
function assertPng(path: string): Buffer {
  const bytes = readFileSync(path)
  assert.ok(statSync(path).size > 2000, `${path} is not empty`)
  assert.deepEqual([...bytes.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], `${path} is a PNG`)
  const width = bytes.readUInt32BE(16)
  const height = bytes.readUInt32BE(20)
  assert.ok(width > 100 && height > 100, `${path} is ${width}×${height}`)
  return bytes
}

describe('payment page (browser)', { skip, timeout: 120_000 }, () => {
  let upstream: Awaited<ReturnType<typeof listen>>
  let g: Gateway
  let browser: Browser

  before(async () => {
    upstream = await listen((req, res) => {
      if (req.url?.startsWith('/api/article')) {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
        return void res.end('<!doctype html><title>Article</title><h1 id="article">The paid article</h1><p>Thanks for paying.</p>')
      }
      const body = JSON.stringify({ fact: 'Honey never spoils.', path: req.url })
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) })
      res.end(body)
    })
    g = await startGateway({
      upstream: upstream.url,
      routes: [{ name: 'api', path: '/api/*', price: '21sat', description: 'One fun fact' }],
    })
    const { chromium } = await import('playwright-core')
    browser = await chromium.launch({
      executablePath: chromiumPath,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
    })
    mkdirSync(imgDir, { recursive: true })
  })
  after(async () => {
    await browser?.close()
    await g?.close()
    await upstream?.close()
  })

  async function open(path: string, init?: (p: Page) => Promise<void>): Promise<Page> {
    const context = await browser.newContext({ viewport: { width: 520, height: 900 }, deviceScaleFactor: 1, colorScheme: 'light' })
    const page = await context.newPage()
    await init?.(page)
    const res = await page.goto(`${g.url}${path}`)
    assert.equal(res?.status(), 402, 'the status stays 402')
    assert.match((await res!.allHeaders())['www-authenticate'] ?? '', /^L402 macaroon="/, 'the challenge header is kept')
    assert.match((await res!.allHeaders())['content-type'] ?? '', /^text\/html/)
    return page
  }

  it('behavior: unpaid page shows a scannable QR and the invoice; the dev node pays; the resource unlocks', async () => {
    const page = await open('/api/fact')
    assert.equal(await page.title(), 'Payment required · 21 sat')
    await page.locator('.qr svg').waitFor()
    const invoice = (await page.locator('#invoice').textContent())!
    assert.match(invoice, /^lnbcrt210n1/)
    assert.equal(await page.locator('#pay-dev').isVisible(), true)
    assert.equal(await page.locator('#pay-webln').isVisible(), false, 'no WebLN provider, no button')
    await page.screenshot({ path: join(imgDir, 'payment-page.png'), fullPage: true })
    assertPng(join(imgDir, 'payment-page.png'))

    if (hasZbar) {
      const qrPng = join(tmpdir(), `turnpike-qr-${process.pid}.png`)
      writeFileSync(qrPng, await page.locator('.qr').screenshot())
      const out = spawnSync('zbarimg', ['-q', '--raw', qrPng], { encoding: 'utf8' })
      assert.equal(out.stdout.trim(), `LIGHTNING:${invoice.toUpperCase()}`, 'the QR code decodes to the invoice')
    }

    await page.locator('#pay-dev').click()
    await page.locator('#result-body').getByText('Honey never spoils.').waitFor()
    assert.equal(await page.locator('#status').textContent(), 'Paid. Unlocked.')
    assert.match((await page.locator('#result-status').textContent())!, /^200/)
    await page.screenshot({ path: join(imgDir, 'payment-page-unlocked.png'), fullPage: true })
    assertPng(join(imgDir, 'payment-page-unlocked.png'))
    await page.context().close()
  })

  it('behavior: paid from elsewhere (a phone), the page learns it over SSE and shows the HTML resource', async () => {
    const page = await open('/api/article')
    const data = JSON.parse((await page.locator('#turnpike-data').textContent())!) as { invoice: string }
    await page.waitForTimeout(200) // the EventSource is connected
    await g.rt.devNode!.pay(data.invoice)
    await page.locator('#article').waitFor({ timeout: 15_000 })
    assert.equal(await page.locator('#article').textContent(), 'The paid article')
    await page.screenshot({ path: join(imgDir, 'payment-page-article.png') })
    assertPng(join(imgDir, 'payment-page-article.png'))
    await page.context().close()
  })

  it('behavior: a WebLN wallet in the browser pays with one click', async () => {
    const page = await open('/api/webln', async (p) => {
      // A stand-in browser wallet that settles through the dev node, as a real one would over Lightning.
      await p.addInitScript(() => {
        ;(globalThis as unknown as { webln: unknown }).webln = {
          enable: async () => {},
          sendPayment: async (invoice: string) => {
            const r = await fetch('/.turnpike/dev/pay', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ invoice }) })
            return { preimage: ((await r.json()) as { preimage: string }).preimage }
          },
        }
      })
    })
    await page.locator('#pay-webln').click()
    await page.locator('#result-body').getByText('/api/webln').waitFor()
    await page.context().close()
  })

  it('behavior: API clients in the same browser still get JSON', async () => {
    const context = await browser.newContext()
    const page = await context.newPage()
    await page.goto(`${g.url}/.well-known/l402-services`)
    const body = await page.evaluate(async () => {
      const r = await fetch('/api/fact', { headers: { accept: 'text/html,*/*' } })
      return { status: r.status, type: r.headers.get('content-type') }
    })
    assert.deepEqual(body, { status: 402, type: 'application/json' })
    await context.close()
  })
})

describe('admin dashboard (browser)', { skip, timeout: 60_000 }, () => {
  const token = 'dashboard-token-0123456789abcdef'
  let upstream: Awaited<ReturnType<typeof listen>>
  let g: Gateway
  let admin: { url: string; close(): Promise<void> }
  let browser: Browser

  before(async () => {
    upstream = await listen((_req, res) => res.end('ok'))
    g = await startGateway({
      upstream: upstream.url,
      admin: { listen: '127.0.0.1:0', token },
      routes: [
        { name: 'search', path: '/v1/search/*', methods: ['GET'], price: '10sat' },
        { name: 'reports', path: '/v1/reports/*', price: '250sat', access: 'pass:1d' },
        { name: 'beta', path: '/v1/beta/*', price: '5sat', dryRun: true, hidden: true },
        { name: 'public', path: '/*', price: 0 },
      ],
    })
    const { startAdmin } = await import('../src/admin/server.ts')
    const { silent } = await import('../src/internal/log.ts')
    admin = await startAdmin(g.rt, silent)
    // Some traffic: paid, unpaid, replayed, free, shadow.
    const { buyCredential } = await import('./harness.ts')
    for (let i = 0; i < 3; i++) {
      const cred = await buyCredential(g, `${g.url}/v1/search/q${i}`)
      await (await fetch(`${g.url}/v1/search/q${i}`, { headers: { authorization: cred } })).body?.cancel()
      if (i === 0) await (await fetch(`${g.url}/v1/search/q${i}`, { headers: { authorization: cred } })).body?.cancel()
    }
    const pass = await buyCredential(g, `${g.url}/v1/reports/2026`)
    for (let i = 0; i < 2; i++) await (await fetch(`${g.url}/v1/reports/2026`, { headers: { authorization: pass } })).body?.cancel()
    for (const p of ['/v1/search/unpaid', '/v1/beta/x', '/', '/about']) await (await fetch(`${g.url}${p}`)).body?.cancel()
    const { chromium } = await import('playwright-core')
    browser = await chromium.launch({ executablePath: chromiumPath, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'] })
    mkdirSync(imgDir, { recursive: true })
  })
  after(async () => {
    await browser?.close()
    await admin?.close()
    await g?.close()
    await upstream?.close()
  })

  it('behavior: the token unlocks counters, routes and the latest transactions', async () => {
    const context = await browser.newContext({ viewport: { width: 1100, height: 760 }, colorScheme: 'light' })
    const page = await context.newPage()
    const res = await page.goto(`${admin.url}/`)
    assert.equal(res?.status(), 200)
    assert.match((await res!.allHeaders())['content-security-policy'] ?? '', /default-src 'none'/)
    await page.locator('#token').fill('wrong-token-wrong-token')
    await page.locator('#login button').click()
    await page.locator('#error').getByText('The token was refused.').waitFor()
    await page.locator('#token').fill(token)
    await page.locator('#login button').click()
    await page.locator('#routes tbody tr').first().waitFor()
    assert.equal(await page.locator('#routes tbody tr').count(), 4)
    assert.equal(await page.locator('#c-verified').textContent(), '5')
    assert.equal(await page.locator('#c-revenue').textContent(), '280 sat')
    assert.equal(await page.locator('#tx tbody tr').count(), 6, '3 paid + 1 pass + 1 unpaid + 1 re-challenge of the replay; dry-run records none')
    assert.equal(await page.locator('#tx .pill.settled').count(), 4)
    await page.screenshot({ path: join(imgDir, 'dashboard.png'), fullPage: true })
    assertPng(join(imgDir, 'dashboard.png'))
    await context.close()
  })
})
