/**
 * `turnpike serve --workers 3`: worker processes on one port sharing the embedded SQLite store.
 * Requests go over fresh connections so the primary spreads them over the workers.
 */
import assert from 'node:assert/strict'
import { readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { echo, listen, tempDir } from './harness.ts'
import { request, serve, until, type Served } from './processes.ts'

const workers = 3

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

describe(`turnpike serve --workers ${workers} (SQLite)`, () => {
  let upstream: Awaited<ReturnType<typeof listen>>
  let gw: Served
  let adminUrl = ''
  let config = ''
  const dir = tempDir()

  before(async () => {
    upstream = await listen((req, res) => {
      if (req.url?.startsWith('/slow')) return void setTimeout(() => echo(req, res), 800)
      echo(req, res)
    })
    const free = await listen(() => {})
    await free.close()
    adminUrl = `http://127.0.0.1:${free.port}`
    config = join(dir.path, 'turnpike.json')
    writeFileSync(config, JSON.stringify({
      backend: 'dev',
      upstream: upstream.url,
      admin: { listen: `127.0.0.1:${free.port}`, metricsAuth: false },
      routes: [
        { name: 'limited', path: '/limited/*', price: 0, rateLimit: { requests: 20, per: '1h' } },
        { name: 'free', path: '/slow', price: 0 },
        { name: 'api', path: '/*', price: '1sat' },
      ],
    }))
    gw = await serve(
      ['--config', config, '--workers', String(workers), '--store', `sqlite:${join(dir.path, 'shared', 'turnpike.db')}`, '--data-dir', dir.path, '--listen', '127.0.0.1:0'],
      { TURNPIKE_SECRET: '' },
      { ready: new RegExp(`listening on (http://\\S+) with ${workers} workers`) },
    )
  })

  after(async () => {
    await gw?.stop()
    await upstream?.close()
    dir.remove()
  })

  const pids = (): number[] => [...gw.logs().matchAll(/worker ready worker=\d+ pid=(\d+)/g)].map((m) => Number(m[1]))

  it('behavior: the primary makes the master secret and dev node key once; every worker uses them', () => {
    assert.equal(pids().length, workers)
    assert.equal(gw.logs().match(/generated a new master secret/g)?.length, 1)
    assert.equal(statSync(join(dir.path, 'secret')).mode & 0o777, 0o600)
    assert.match(readFileSync(join(dir.path, 'dev-node.key'), 'utf8'), /^[0-9a-f]{64}\n$/)
    assert.equal(gw.logs().match(/master secret loaded worker=\d+ source=data-dir/g)?.length, workers)
  })

  it('behavior: challenged, paid and redeemed on any worker; 30 concurrent redemptions → exactly one 200', async () => {
    for (let round = 0; round < 3; round++) {
      const c = await request(`${gw.url}/data/${round}`)
      assert.equal(c.status, 402)
      const { invoice, macaroon } = JSON.parse(c.body) as { invoice: string; macaroon: string }
      // /.turnpike/dev/pay lands on any worker: the dev node's preimage is derived, not stored.
      const paid = await request(`${gw.url}/.turnpike/dev/pay`, { method: 'POST', body: JSON.stringify({ invoice }) })
      assert.equal(paid.status, 200, paid.body)
      const cred = `L402 ${macaroon}:${(JSON.parse(paid.body) as { preimage: string }).preimage}`
      const shots = await Promise.all(Array.from({ length: 30 }, () => request(`${gw.url}/data/${round}`, { headers: { authorization: cred } })))
      assert.equal(shots.filter((s) => s.status === 200).length, 1, shots.map((s) => s.status).join(','))
      assert.equal(shots.filter((s) => s.status === 402).length, 29)
    }
  })

  it('behavior: a rate limit holds across workers (20 per hour, 60 requests at once)', async () => {
    const shots = await Promise.all(Array.from({ length: 60 }, (_, i) => request(`${gw.url}/limited/${i}`)))
    const ok = shots.filter((s) => s.status === 200).length
    process.stderr.write(`# cluster (sqlite): rate limit 20 → ${ok} allowed of 60 across ${workers} workers\n`)
    assert.ok(ok >= 20 && ok <= 21, `allowed ${ok}`)
    assert.equal(shots.filter((s) => s.status === 429).length, 60 - ok)
    // The admin listener runs in the primary and sums the workers' counters.
    const metrics = await request(`${adminUrl}/metrics`)
    assert.equal(metrics.status, 200)
    assert.match(metrics.body, new RegExp(`turnpike_rate_limited_total\\{route="limited"\\} ${60 - ok}\\b`))
  })

  it('behavior: SIGHUP to the primary reloads the config file in every worker; none of them dies', async () => {
    const before = pids().filter(alive)
    const cfg = JSON.parse(readFileSync(config, 'utf8')) as { routes: { name: string; price: unknown }[] }
    cfg.routes = cfg.routes.map((r) => (r.name === 'api' ? { ...r, price: '7sat' } : r))
    writeFileSync(config, JSON.stringify(cfg))
    gw.child.kill('SIGHUP')
    await until(async () => (gw.logs().match(/config reloaded worker=\d+/g)?.length ?? 0) >= workers, 30_000)
    // Fresh connections spread over the workers: every one of them now asks 7 sat.
    const amounts = await Promise.all(Array.from({ length: 12 }, async () => (JSON.parse((await request(`${gw.url}/after-reload`)).body) as { amount_msat: number }).amount_msat))
    assert.deepEqual(amounts, Array(12).fill(7_000))
    assert.deepEqual(pids().filter(alive), before, 'the same workers, still running')
  })

  it('behavior: a worker that dies is replaced and the port keeps answering', async () => {
    const [victim] = pids()
    process.kill(victim!, 'SIGKILL')
    await until(async () => pids().length === workers + 1, 60_000)
    assert.ok(!alive(victim!))
    const answers = await Promise.all(Array.from({ length: 12 }, () => request(`${gw.url}/.turnpike/health`)))
    assert.deepEqual(answers.map((a) => a.status), Array(12).fill(200))
  })

  it('behavior: SIGTERM stops every worker gracefully: in-flight requests finish, exit code 0', async () => {
    const live = pids().filter(alive)
    assert.equal(live.length, workers)
    const slow = request(`${gw.url}/slow`)
    await new Promise((r) => setTimeout(r, 200))
    const exited = gw.stop()
    assert.equal((await slow).status, 200, 'the in-flight request completed')
    assert.equal(await exited, 0)
    assert.ok(live.every((pid) => !alive(pid)), 'no worker left behind')
    assert.match(gw.logs(), /all workers stopped/)
  })
})
