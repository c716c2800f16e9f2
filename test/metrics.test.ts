import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import cluster from 'node:cluster'
import http from 'node:http'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import * as Metrics from '../src/Metrics.ts'
import { startAdmin, type AdminServer } from '../src/admin/server.ts'
import { workerSnapshots } from '../src/metrics/cluster.ts'
import { failureReason } from '../src/metrics/gateway.ts'
import { buyCredential, echo, listen, startGateway, tempDir, type Gateway } from './harness.ts'

const token = 'test-admin-token-0123456789'

/** Parses Prometheus text into `name{labels}` → value. */
function parse(text: string): Map<string, number> {
  const out = new Map<string, number>()
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue
    const i = line.lastIndexOf(' ')
    out.set(line.slice(0, i), Number(line.slice(i + 1)))
  }
  return out
}

async function scrape(admin: AdminServer): Promise<Map<string, number>> {
  const res = await fetch(`${admin.url}/metrics`, { headers: { authorization: `Bearer ${token}` } })
  assert.equal(res.status, 200)
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/)
  return parse(await res.text())
}

describe('Metrics', () => {
  it('behavior: counters, gauges and histograms render in the Prometheus text format', () => {
    const r = Metrics.create()
    const c = r.counter('x_total', 'Things.\nTwo lines', ['route'])
    c.inc(['a'])
    c.inc(['a'], 2)
    c.inc(['b"\\\n'])
    const h = r.histogram('lat_seconds', 'Latency.', ['backend'], [0.1, 1])
    h.observe(['dev'], 0.05)
    h.observe(['dev'], 0.5)
    h.observe(['dev'], 5)
    r.gauge('open', 'Open.', []).inc([], 3)
    const text = Metrics.render(r.snapshot())
    assert.match(text, /^# HELP x_total Things\.\\nTwo lines$/m)
    assert.match(text, /^# TYPE x_total counter$/m)
    assert.match(text, /^x_total\{route="a"\} 3$/m)
    assert.match(text, /^x_total\{route="b\\"\\\\\\n"\} 1$/m)
    assert.match(text, /^lat_seconds_bucket\{backend="dev",le="0\.1"\} 1$/m)
    assert.match(text, /^lat_seconds_bucket\{backend="dev",le="1"\} 2$/m)
    assert.match(text, /^lat_seconds_bucket\{backend="dev",le="\+Inf"\} 3$/m)
    assert.match(text, /^lat_seconds_sum\{backend="dev"\} 5\.55$/m)
    assert.match(text, /^lat_seconds_count\{backend="dev"\} 3$/m)
    assert.match(text, /^open 3$/m)
  })

  it('behavior: merge sums snapshots series by series', () => {
    const a = Metrics.create()
    const b = Metrics.create()
    a.counter('n_total', 'N.', ['k']).inc(['x'], 2)
    b.counter('n_total', 'N.', ['k']).inc(['x'], 3)
    b.counter('n_total', 'N.', ['k']).inc(['y'])
    a.histogram('h', 'H.', [], [1]).observe([], 0.5)
    b.histogram('h', 'H.', [], [1]).observe([], 2)
    const m = Metrics.merge([a.snapshot(), JSON.parse(JSON.stringify(b.snapshot())) as Metrics.Snapshot])
    assert.equal(Metrics.valueOf(m, 'n_total', { k: 'x' }), 5)
    assert.equal(Metrics.valueOf(m, 'n_total'), 6)
    assert.match(Metrics.render(m), /^h_bucket\{le="1"\} 1$/m)
    assert.match(Metrics.render(m), /^h_count 2$/m)
  })

  it('error: bad names, label counts and negative increments are refused', () => {
    const r = Metrics.create()
    assert.throws(() => r.counter('bad-name', 'x', []), TypeError)
    assert.throws(() => r.counter('ok_total', 'x', ['le']), TypeError)
    const c = r.counter('ok_total', 'x', ['a'])
    assert.throws(() => c.inc([]), TypeError)
    assert.throws(() => c.inc(['a'], -1), RangeError)
    assert.throws(() => r.gauge('ok_total', 'x', ['a']), TypeError)
  })

  it('behavior: refusal reasons map onto a fixed label set', () => {
    assert.equal(failureReason('credential already used'), 'replayed')
    assert.equal(failureReason('preimage does not match the payment hash'), 'preimage_mismatch')
    assert.equal(failureReason('token expired'), 'expired')
    assert.equal(failureReason('method POST not allowed'), 'wrong_method')
    assert.equal(failureReason('something new and unexpected 123'), 'invalid')
  })
})

describe('metrics on the admin listener', () => {
  let upstream: Awaited<ReturnType<typeof listen>>
  let g: Gateway
  let admin: AdminServer

  before(async () => {
    upstream = await listen(echo)
    g = await startGateway({
      upstream: upstream.url,
      admin: { listen: '127.0.0.1:0', token },
      routes: [
        { name: 'api', path: '/api/*', price: '10sat' },
        { name: 'day', path: '/day/*', price: '5sat', access: 'pass:1d' },
        { name: 'free', path: '/*', price: 0 },
      ],
    })
    admin = await startAdmin(g.rt, silentLogger)
  })
  after(async () => {
    await admin.close()
    await g.close()
    await upstream.close()
  })

  it('error: /metrics needs the bearer token, compared exactly', async () => {
    for (const auth of [undefined, 'Bearer wrong', `Bearer ${token}x`, `Basic ${token}`, token]) {
      const res = await fetch(`${admin.url}/metrics`, auth ? { headers: { authorization: auth } } : {})
      assert.equal(res.status, 401, String(auth))
      assert.equal(res.headers.get('www-authenticate'), 'Bearer realm="turnpike-admin"')
      assert.equal(res.headers.get('content-type'), 'application/problem+json')
      assert.equal(((await res.json()) as { code: string }).code, 'TURNPIKE_UNAUTHORIZED')
    }
    assert.equal((await fetch(`${admin.url}/health`)).status, 200)
  })

  it('behavior: counts requests, challenges, payments, failures and invoice latency by route', async () => {
    const before = await scrape(admin)
    const get = (m: Map<string, number>, k: string) => (m.get(k) ?? 0) - (before.get(k) ?? 0)

    // 2 challenges, 1 paid, 1 replayed, 1 malformed, 2 free, 2 pass uses from one payment.
    await (await fetch(`${g.url}/api/one`)).body?.cancel()
    const cred = await buyCredential(g, `${g.url}/api/two`)
    await (await fetch(`${g.url}/api/two`, { headers: { authorization: cred } })).body?.cancel()
    await (await fetch(`${g.url}/api/two`, { headers: { authorization: cred } })).body?.cancel()
    await (await fetch(`${g.url}/api/two`, { headers: { authorization: 'L402 nonsense' } })).body?.cancel()
    await (await fetch(`${g.url}/hello`)).body?.cancel()
    await (await fetch(`${g.url}/hello`)).body?.cancel()
    const pass = await buyCredential(g, `${g.url}/day/x`)
    await (await fetch(`${g.url}/day/x`, { headers: { authorization: pass } })).body?.cancel()
    await (await fetch(`${g.url}/day/y`, { headers: { authorization: pass } })).body?.cancel()

    const m = await scrape(admin)
    assert.equal(get(m, 'turnpike_challenges_issued_total{route="api",access="per-request"}'), 3) // one, two, replay
    assert.equal(get(m, 'turnpike_challenges_issued_total{route="day",access="pass"}'), 1)
    assert.equal(get(m, 'turnpike_payments_verified_total{route="api",access="per-request"}'), 1)
    assert.equal(get(m, 'turnpike_payments_verified_total{route="day",access="pass"}'), 2)
    assert.equal(get(m, 'turnpike_payment_failures_total{route="api",reason="replayed"}'), 1)
    assert.equal(get(m, 'turnpike_payment_failures_total{route="api",reason="malformed"}'), 1)
    assert.equal(get(m, 'turnpike_requests_total{route="free",outcome="free",access="per-request"}'), 2)
    assert.equal(get(m, 'turnpike_requests_total{route="api",outcome="challenge",access="per-request"}'), 3)
    assert.equal(get(m, 'turnpike_requests_total{route="api",outcome="paid",access="per-request"}'), 1)
    assert.equal(get(m, 'turnpike_requests_total{route="api",outcome="malformed",access="per-request"}'), 1)
    assert.equal(get(m, 'turnpike_invoice_creation_seconds_count{backend="dev",outcome="ok"}'), 4)
    assert.ok(get(m, 'turnpike_invoice_creation_seconds_bucket{backend="dev",outcome="ok",le="+Inf"}') === 4)
  })

  it('behavior: backend failures are counted as backend errors and 503 outcomes', async () => {
    const before = await scrape(admin)
    const node = g.rt.devNode!
    const original = node.createInvoice
    ;(node as { createInvoice: typeof original }).createInvoice = async () => {
      throw new Error('node down')
    }
    try {
      const res = await fetch(`${g.url}/api/down`)
      assert.equal(res.status, 503)
      await res.body?.cancel()
    } finally {
      ;(node as { createInvoice: typeof original }).createInvoice = original
    }
    const m = await scrape(admin)
    const d = (k: string) => (m.get(k) ?? 0) - (before.get(k) ?? 0)
    assert.equal(d('turnpike_backend_errors_total{backend="dev",operation="create_invoice"}'), 1)
    assert.equal(d('turnpike_requests_total{route="api",outcome="backend_unavailable",access="per-request"}'), 1)
    assert.equal(d('turnpike_invoice_creation_seconds_count{backend="dev",outcome="error"}'), 1)
  })
})

describe('metrics across cluster workers', () => {
  it('behavior: the primary sums every worker’s counters (exact after a scrape)', { timeout: 60_000 }, async () => {
    const free = await listen(() => {})
    await free.close()
    cluster.setupPrimary({ exec: fileURLToPath(new URL('./fixtures/metrics-worker.ts', import.meta.url)), silent: true })
    const workers = [cluster.fork({ TURNPIKE_TEST_PORT: String(free.port) }), cluster.fork({ TURNPIKE_TEST_PORT: String(free.port) })]
    const source = workerSnapshots(cluster)
    const g = await startGateway({ upstream: 'http://127.0.0.1:9', admin: { listen: '127.0.0.1:0', token }, routes: [{ name: 'api', path: '/api/*', price: '10sat' }] })
    let admin: AdminServer | undefined
    try {
      await Promise.all(workers.map((w) => new Promise<void>((resolve, reject) => {
        w.once('exit', (code) => reject(new Error(`worker exited ${code}`)))
        w.on('message', (m: { type?: string }) => m.type === 'ready' && resolve())
      })))
      admin = await startAdmin(g.rt, silentLogger, { collect: source.collect })
      // New connection per request, so the primary's round-robin spreads them over both workers.
      const n = 12
      for (let i = 0; i < n; i++) {
        const status = await new Promise<number>((resolve, reject) => {
          http.get(`http://127.0.0.1:${free.port}/api/${i}`, { agent: false }, (res) => {
            res.resume()
            res.on('end', () => resolve(res.statusCode ?? 0))
          }).on('error', reject)
        })
        assert.equal(status, 402)
      }
      const per = await source.collect()
      assert.equal(per.length, 2)
      const counts = per.map((s) => Metrics.valueOf(s, 'turnpike_challenges_issued_total'))
      assert.ok(counts.every((c) => c > 0), `both workers served requests: ${counts.join(', ')}`)
      const m = await scrape(admin)
      assert.equal(m.get('turnpike_challenges_issued_total{route="api",access="per-request"}'), n)
      assert.equal(m.get('turnpike_invoice_creation_seconds_count{backend="dev",outcome="ok"}'), n)
      // A worker that exits keeps its counts in the total.
      const gone = workers[0]!
      await new Promise<void>((resolve) => {
        gone.removeAllListeners('exit')
        gone.once('exit', () => resolve())
        gone.send({ type: 'stop' })
      })
      const later = await scrape(admin)
      assert.equal(later.get('turnpike_challenges_issued_total{route="api",access="per-request"}'), n)
    } finally {
      source.close()
      await admin?.close()
      await g.close()
      for (const w of workers) {
        if (w.isDead()) continue
        w.removeAllListeners('exit')
        await new Promise<void>((resolve) => {
          w.once('exit', () => resolve())
          w.send({ type: 'stop' })
        })
      }
    }
  })
})

describe('metrics with turnpike serve --workers 2', () => {
  it('behavior: the admin listener in the primary reports the sum over both workers', { timeout: 90_000 }, async () => {
    const dir = tempDir()
    const upstream = await listen(echo)
    const ports = await Promise.all([0, 1].map(async () => {
      const s = await listen(() => {})
      await s.close()
      return s.port
    }))
    const bin = fileURLToPath(new URL('../src/bin.ts', import.meta.url))
    const child = spawn(process.execPath, [
      bin, 'serve', '--backend', 'dev', '--upstream', upstream.url, '--price', '10sat', '--workers', '2',
      '--listen', `127.0.0.1:${ports[0]}`, '--admin', `127.0.0.1:${ports[1]}`, '--data-dir', dir.path,
    ], { env: { ...process.env, TURNPIKE_ADMIN_TOKEN: token, TURNPIKE_SECRET: '' }, stdio: ['ignore', 'pipe', 'pipe'] })
    let logs = ''
    child.stdout!.on('data', (d) => (logs += d))
    child.stderr!.on('data', (d) => (logs += d))
    try {
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`did not start:\n${logs}`)), 40_000)
        const check = () => {
          if (/with 2 workers/.test(logs) && /admin listening on/.test(logs)) {
            clearTimeout(t)
            resolve()
          }
        }
        child.stderr!.on('data', check)
        child.stdout!.on('data', check)
        child.once('exit', (code) => reject(new Error(`serve exited ${code}:\n${logs}`)))
      })
      const n = 10
      for (let i = 0; i < n; i++) {
        const status = await new Promise<number>((resolve, reject) => {
          http.get(`http://127.0.0.1:${ports[0]}/x/${i}`, { agent: false }, (res) => {
            res.resume()
            res.on('end', () => resolve(res.statusCode ?? 0))
          }).on('error', reject)
        })
        assert.equal(status, 402)
      }
      const res = await fetch(`http://127.0.0.1:${ports[1]}/metrics`, { headers: { authorization: `Bearer ${token}` } })
      const m = parse(await res.text())
      assert.equal(m.get('turnpike_challenges_issued_total{route="default",access="per-request"}'), n, logs)
      assert.doesNotMatch(logs, new RegExp(token), 'the admin token is never logged')
    } finally {
      child.removeAllListeners('exit')
      if (child.exitCode === null) {
        await new Promise<void>((resolve) => {
          child.once('exit', () => resolve())
          child.kill('SIGTERM')
        })
      }
      await upstream.close()
      dir.remove()
    }
  })
})

const silentLogger = { debug() {}, info() {}, warn() {}, error() {} }
