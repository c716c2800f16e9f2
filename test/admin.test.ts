import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { startAdmin, type AdminServer } from '../src/admin/server.ts'
import { bearerChecker, resolveAdminToken } from '../src/admin/token.ts'
import { createLogger } from '../src/internal/log.ts'
import type { Runtime } from '../src/runtime.ts'
import { buyCredential, challengeOf, echo, listen, startGateway, tempDir, type Gateway } from './harness.ts'

const token = 'admin-test-token-abcdefghijklmnop'

describe('admin token', () => {
  it('behavior: generated once into the data dir with mode 0600, then reused', () => {
    const dir = tempDir()
    try {
      const a = resolveAdminToken({ dataDir: dir.path, env: {} })
      assert.equal(a.source, 'generated')
      assert.equal(statSync(a.path!).mode & 0o777, 0o600)
      assert.ok(a.token.length >= 40)
      const b = resolveAdminToken({ dataDir: dir.path, env: {} })
      assert.equal(b.source, 'data-dir')
      assert.equal(b.token, a.token)
    } finally {
      dir.remove()
    }
  })

  it('behavior: config, then $TURNPIKE_ADMIN_TOKEN, then tokenFile, then the data dir', () => {
    const dir = tempDir()
    try {
      const file = join(dir.path, 'tok')
      writeFileSync(file, 'from-file-0123456789abcdef\n')
      assert.equal(resolveAdminToken({ token: 'from-config-0123456789', dataDir: dir.path, env: { TURNPIKE_ADMIN_TOKEN: 'from-env-0123456789abc' } }).source, 'config')
      assert.equal(resolveAdminToken({ tokenFile: file, dataDir: dir.path, env: { TURNPIKE_ADMIN_TOKEN: 'from-env-0123456789abc' } }).token, 'from-env-0123456789abc')
      assert.equal(resolveAdminToken({ tokenFile: file, dataDir: dir.path, env: {} }).token, 'from-file-0123456789abcdef')
      assert.throws(() => resolveAdminToken({ dataDir: dir.path, env: { TURNPIKE_ADMIN_TOKEN: 'short' } }), /TURNPIKE_ADMIN_TOKEN: the admin token must be at least 16/)
      assert.throws(() => resolveAdminToken({ tokenFile: join(dir.path, 'missing'), dataDir: dir.path, env: {} }), /admin\.tokenFile: cannot read/)
    } finally {
      dir.remove()
    }
  })

  it('behavior: the bearer check accepts only the exact token', () => {
    const check = bearerChecker(token)
    assert.equal(check(`Bearer ${token}`), true)
    assert.equal(check(`bearer   ${token} `), true)
    for (const bad of [undefined, '', 'Bearer', `Bearer ${token}x`, `Bearer ${token.slice(1)}`, `Basic ${token}`, token, `Bearer ${token} extra`]) {
      assert.equal(check(bad), false, String(bad))
    }
  })

  it('error: admin config is validated with paths', async () => {
    const { parse } = await import('../src/Config.ts')
    assert.throws(
      () => parse({ backend: 'dev', upstream: 'http://x', routes: [{ path: '/*', price: 1 }], admin: { listen: 'nope', token: 'short', tokenFile: 'f', extra: 1 } }),
      (e: Error) => ['admin.listen: must be host:port', 'admin.token: must be a string of at least 16', 'admin.token: set token or tokenFile, not both', 'admin.extra: unknown key'].every((m) => e.message.includes(m)),
    )
    const c = parse({ backend: 'dev', upstream: 'http://x', routes: [{ path: '/*', price: 1 }], admin: true })
    assert.deepEqual(c.admin, { listen: { host: '127.0.0.1', port: 9402 }, token: undefined, tokenFile: undefined, metricsAuth: true, dashboard: true })
    assert.equal(parse({ backend: 'dev', upstream: 'http://x', routes: [{ path: '/*', price: 1 }] }).admin, undefined)
  })
})

describe('admin REST API', () => {
  let upstream: Awaited<ReturnType<typeof listen>>
  let g: Gateway
  let admin: AdminServer
  let logs = ''
  const api = (path: string, init: RequestInit = {}) =>
    fetch(`${admin.url}${path}`, { ...init, headers: { authorization: `Bearer ${token}`, ...(init.body ? { 'content-type': 'application/json' } : {}), ...(init.headers as Record<string, string>) } })
  const body = async (path: string, init?: RequestInit) => {
    const res = await api(path, init)
    return { status: res.status, type: res.headers.get('content-type'), json: (await res.json()) as Record<string, any> }
  }

  before(async () => {
    upstream = await listen(echo)
    g = await startGateway({
      upstream: upstream.url,
      admin: { listen: '127.0.0.1:0', token },
      routes: [
        { name: 'api', path: '/api/*', price: '10sat', description: 'API calls' },
        { name: 'day', path: '/day/*', price: '2sat', access: 'pass:1d', dryRun: { invoiceSample: 0.5 }, hidden: true },
        { name: 'free', path: '/*', price: 0 },
      ],
    })
    admin = await startAdmin(g.rt, createLogger({ write: (l) => (logs += l) }))
  })
  after(async () => {
    await admin.close()
    await g.close()
    await upstream.close()
  })

  it('error: every API path needs the token; /health does not', async () => {
    for (const path of ['/api/v1/info', '/api/v1/transactions', '/api/v1/nope', '/metrics', '/']) {
      const res = await fetch(`${admin.url}${path}`, { headers: { authorization: 'Bearer nope-nope-nope-nope' } })
      if (path === '/') {
        assert.equal(res.status, 200, 'the dashboard page itself holds no data')
        await res.body?.cancel()
        continue
      }
      assert.equal(res.status, 401, path)
      assert.equal(res.headers.get('content-type'), 'application/problem+json')
      await res.body?.cancel()
    }
    const health = await fetch(`${admin.url}/health`)
    assert.deepEqual(await health.json(), { status: 'ok' })
  })

  it('behavior: info, health and routes', async () => {
    const info = await body('/api/v1/info')
    assert.equal(info.status, 200)
    assert.match(info.json.version, /^\d+\.\d+\.\d+/)
    assert.equal(info.json.backend.name, 'dev')
    assert.equal(info.json.backend.network, 'regtest')
    assert.equal(info.json.store, 'memory')
    assert.deepEqual(info.json.dry_run_routes, ['day'])
    assert.equal(info.json.paid_routes, 2)
    const health = await body('/api/v1/health')
    assert.deepEqual(health.json, { status: 'ok', checks: { store: 'ok', backend: 'ok' } })
    const routes = await body('/api/v1/routes')
    assert.deepEqual(routes.json.routes.map((r: { name: string }) => r.name), ['api', 'day', 'free'])
    assert.deepEqual(routes.json.routes[1], {
      name: 'day', path: '/day/*', price_msat: '2000', access: { type: 'pass', duration_secs: 86400 }, schemes: ['l402'],
      upstream: upstream.url, description: 'turnpike: day', dry_run: { invoice_sample: 0.5 }, hidden: true,
    })
    assert.equal((await body('/api/v1/routes/api')).json.description, 'API calls')
    const missing = await body('/api/v1/routes/nope')
    assert.equal(missing.status, 404)
    assert.equal(missing.type, 'application/problem+json')
  })

  it('behavior: transactions list issued invoices with their payment status, filtered and paged', async () => {
    const paid: string[] = []
    for (let i = 0; i < 3; i++) {
      const cred = await buyCredential(g, `${g.url}/api/t${i}`)
      paid.push(cred)
    }
    const unpaid = await fetch(`${g.url}/api/unpaid`)
    const { invoice } = challengeOf(unpaid)
    await unpaid.body?.cancel()
    const all = await body('/api/v1/transactions?route=api')
    assert.equal(all.status, 200)
    const list = all.json.transactions as { status: string; amount_msat: string; payment_request: string; route: string; created_at: string }[]
    assert.ok(list.length >= 4)
    // Newest first; invoices carry whole seconds, so the unpaid one is among the newest second.
    const newest = list.filter((t) => t.created_at === list[0]!.created_at)
    assert.equal(newest.find((t) => t.payment_request === invoice)?.status, 'open')
    assert.deepEqual(list.map((t) => t.created_at), list.map((t) => t.created_at).sort().reverse())
    assert.equal(list.filter((t) => t.status === 'settled').length, 3)
    assert.ok(list.every((t) => t.amount_msat === '10000' && t.route === 'api'))

    const settled = await body('/api/v1/transactions?status=settled&limit=200')
    assert.equal(settled.json.transactions.length, 3)

    const seen = new Set<string>()
    let cursor: string | undefined
    let pages = 0
    do {
      const page = await body(`/api/v1/transactions?limit=1${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`)
      for (const t of page.json.transactions) seen.add(t.payment_hash)
      cursor = page.json.next
      pages++
    } while (cursor && pages < 50)
    assert.equal(seen.size, list.length)

    const future = await body(`/api/v1/transactions?since=${new Date(Date.now() + 60_000).toISOString()}`)
    assert.deepEqual(future.json.transactions, [])
    const noLookup = await body('/api/v1/transactions?lookup=false&limit=1')
    assert.equal(noLookup.json.transactions[0].status, 'unknown')
  })

  it('error: bad input is a 400 problem naming the parameter', async () => {
    for (const [q, param] of [
      ['limit=0', 'limit'], ['limit=abc', 'limit'], ['status=paid', 'status'], ['since=yesterday', 'since'],
      ['route=BAD!', 'route'], ['colour=red', 'colour'], ['limit=1&limit=2', 'limit'], ['cursor=xyz', 'cursor'],
    ] as const) {
      const r = await body(`/api/v1/transactions?${q}`)
      assert.equal(r.status, 400, q)
      assert.equal(r.type, 'application/problem+json')
      assert.equal(r.json.code, 'TURNPIKE_BAD_REQUEST')
      assert.equal(r.json.param, param, q)
    }
    assert.equal((await api('/api/v1/tokens/revoke')).status, 405)
    const notJson = await api('/api/v1/tokens/revoke', { method: 'POST', body: 'x', headers: { 'content-type': 'text/plain' } })
    assert.equal(notJson.status, 400)
    const noHash = await body('/api/v1/tokens/revoke', { method: 'POST', body: '{}' })
    assert.equal(noHash.json.param, 'payment_hash')
  })

  it('behavior: revenue sums issued and settled amounts per route', async () => {
    const r = await body('/api/v1/revenue')
    assert.equal(r.status, 200)
    const api = r.json.routes.api
    assert.equal(api.settled_count, 3)
    assert.equal(api.settled_msat, '30000')
    assert.ok(api.issued_count >= 4)
    assert.equal(r.json.total.settled_msat, '30000')
    assert.equal(r.json.truncated, false)
    const capped = await body('/api/v1/revenue?max_scan=1')
    assert.equal(capped.json.scanned, 1)
    assert.equal(capped.json.truncated, true)
  })

  it('behavior: stats summarise the counters per route', async () => {
    const s = await body('/api/v1/stats')
    assert.ok(s.json.routes.api.challenges >= 4)
    assert.ok(s.json.routes.api.requests.challenge >= 4)
    assert.ok(s.json.invoice_creation.dev.count >= 4)
  })

  it('behavior: a revoked per-request token is refused at once', async () => {
    const cred = await buyCredential(g, `${g.url}/api/revoke-me`)
    const hash = g.rt.macaroonHash(/^L402 ([^:]+):/.exec(cred)![1]!)!
    const r = await body('/api/v1/tokens/revoke', { method: 'POST', body: JSON.stringify({ payment_hash: hash.toUpperCase() }) })
    assert.equal(r.status, 200)
    assert.equal(r.json.payment_hash, hash)
    assert.equal(r.json.revoked, true)
    assert.equal(r.json.already_spent, false)
    assert.match(r.json.token_id, /^[0-9a-f]{64}$/)
    const res = await fetch(`${g.url}/api/revoke-me`, { headers: { authorization: cred } })
    assert.equal(res.status, 402)
    await res.body?.cancel()
    const again = await body('/api/v1/tokens/revoke', { method: 'POST', body: JSON.stringify({ payment_hash: hash }) })
    assert.equal(again.json.already_spent, true)
    assert.match(logs, /admin revoked a token/)
    const both = await body('/api/v1/tokens/revoke', { method: 'POST', body: JSON.stringify({ payment_hash: hash, token_id: r.json.token_id }) })
    assert.equal(both.status, 400)
  })

  it('behavior: pass tokens are revoked through the store’s revocation list; without one, 501', async () => {
    const pass = await startGateway({ upstream: upstream.url, admin: { listen: '127.0.0.1:0', token }, routes: [{ name: 'p', path: '/*', price: 1, access: 'pass:1h' }] })
    const padmin = await startAdmin(pass.rt, createLogger({ write: () => {} }))
    const { revoke: _r, listRevoked: _l, ...plain } = pass.rt.store
    const nolist = await startAdmin({ ...pass.rt, store: plain, config: { ...pass.rt.config, admin: { ...pass.rt.config.admin!, listen: { host: '127.0.0.1', port: 0 } } } }, createLogger({ write: () => {} }))
    const post = (base: string, b: unknown) => fetch(`${base}/api/v1/tokens/revoke`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(b) })
    try {
      const cred = await buyCredential(pass, `${pass.url}/x`)
      const use = async () => {
        const res = await fetch(`${pass.url}/y`, { headers: { authorization: cred } })
        await res.body?.cancel()
        return res.status
      }
      assert.equal(await use(), 200)
      const hash = pass.rt.macaroonHash(/^L402 ([^:]+):/.exec(cred)![1]!)!
      const no = await post(nolist.url, { payment_hash: hash })
      assert.equal(no.status, 501)
      assert.equal(((await no.json()) as { code: string }).code, 'TURNPIKE_NOT_IMPLEMENTED')
      assert.equal(await use(), 200)
      const ok = await post(padmin.url, { payment_hash: hash })
      assert.equal(ok.status, 200)
      assert.equal(((await ok.json()) as { already_spent?: boolean }).already_spent, undefined, 'no claim for a pass')
      const deadline = Date.now() + 5000
      while ((await use()) !== 402) {
        assert.ok(Date.now() < deadline, 'the revocation reaches the gateway within its refresh period')
        await new Promise((r) => setTimeout(r, 100))
      }
    } finally {
      await nolist.close()
      await padmin.close()
      await pass.close()
    }
  })

  it('error: a store without listInvoices answers 501', async () => {
    const { listInvoices: _list, ...store } = g.rt.store
    const rt: Runtime = { ...g.rt, store }
    const other = await startAdmin({ ...rt, config: { ...rt.config, admin: { ...rt.config.admin!, listen: { host: '127.0.0.1', port: 0 } } } }, createLogger({ write: () => {} }))
    try {
      const res = await fetch(`${other.url}/api/v1/transactions`, { headers: { authorization: `Bearer ${token}` } })
      assert.equal(res.status, 501)
      assert.equal(((await res.json()) as { code: string }).code, 'TURNPIKE_NOT_IMPLEMENTED')
    } finally {
      await other.close()
    }
  })

  it('behavior: the admin token never appears in logs or answers', async () => {
    const info = await (await api('/api/v1/info')).text()
    assert.ok(!info.includes(token))
    assert.ok(!logs.includes(token))
  })
})

describe('turnpike admin (CLI)', () => {
  let upstream: Awaited<ReturnType<typeof listen>>
  let g: Gateway
  let adminServer: AdminServer
  const bin = new URL('../src/bin.ts', import.meta.url).pathname

  before(async () => {
    upstream = await listen(echo)
    g = await startGateway({ upstream: upstream.url, admin: { listen: '127.0.0.1:0', token }, routes: [{ name: 'api', path: '/api/*', price: '10sat' }, { name: 'free', path: '/*', price: 0 }] })
    adminServer = await startAdmin(g.rt, createLogger({ write: () => {} }))
    await buyCredential(g, `${g.url}/api/one`)
  })
  after(async () => {
    await adminServer.close()
    await g.close()
    await upstream.close()
  })

  /** Runs the CLI in-process with captured output. */
  async function run(args: string[], o: { tty?: boolean; env?: NodeJS.ProcessEnv } = {}) {
    const { admin } = await import('../src/cli/admin.ts')
    let out = ''
    let err = ''
    const code = await admin(['--url', adminServer.url, ...args], {
      stdout: { write: (s: string) => (out += s), isTTY: o.tty ?? false },
      stderr: { write: (s: string) => (err += s) },
      env: o.env ?? { TURNPIKE_ADMIN_TOKEN: token },
    })
    return { code, out, err }
  }

  /** Runs `turnpike admin …` as a child process (real exit codes, piped stdout). */
  function spawnCli(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; out: string; err: string }> {
    return new Promise((resolve) => {
      const child = spawn(process.execPath, [bin, 'admin', ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
      let out = ''
      let err = ''
      child.stdout.on('data', (d) => (out += d))
      child.stderr.on('data', (d) => (err += d))
      child.on('exit', (code) => resolve({ code, out, err }))
    })
  }

  it('behavior: JSON when piped, tables on a terminal', async () => {
    const json = await run(['routes'])
    assert.equal(json.code, 0)
    assert.deepEqual((JSON.parse(json.out) as { routes: { name: string }[] }).routes.map((r) => r.name), ['api', 'free'])
    const tty = await run(['routes'], { tty: true })
    assert.match(tty.out, /^NAME\s+MATCH\s+PRICE\s+ACCESS\s+SCHEMES\s+NOTES\n─+/)
    assert.match(tty.out, /\napi\s+\/api\/\*\s+10 sat\s+per-request\s+l402/)
    assert.match((await run(['transactions', '--status', 'settled'], { tty: true })).out, /\nCREATED\s+ROUTE|^CREATED\s+ROUTE/)
    assert.match((await run(['revenue', '--table'])).out, /\nTOTAL\s+1\s+10 sat\s+1\s+10 sat\n/)
    assert.match((await run(['info'], { tty: true })).out, /^version: /m)
    assert.equal((JSON.parse((await run(['transactions', '--limit', '1', '--no-lookup'])).out) as { transactions: { status: string }[] }).transactions[0]!.status, 'unknown')
    assert.match((await run(['metrics'])).out, /^# TYPE turnpike_requests_total counter$/m)
  })

  it('behavior: revoke takes the payment hash as an argument', async () => {
    const tx = JSON.parse((await run(['transactions', '--limit', '1'])).out) as { transactions: { payment_hash: string }[] }
    const r = await run(['revoke', tx.transactions[0]!.payment_hash])
    assert.equal(r.code, 0)
    assert.equal((JSON.parse(r.out) as { revoked: boolean; payment_hash: string }).payment_hash, tx.transactions[0]!.payment_hash)
  })

  it('behavior: schema describes every command, its input and the exit codes', async () => {
    const s = JSON.parse((await run(['schema'])).out) as { commands: { name: string; input: { properties: object }; usage: string }[]; exit_codes: Record<string, number> }
    assert.deepEqual(s.commands.map((c) => c.name), ['health', 'info', 'routes', 'route', 'transactions', 'revenue', 'stats', 'revoke', 'set_route', 'delete_route'])
    assert.equal(s.commands.find((c) => c.name === 'revoke')!.usage, 'turnpike admin revoke <payment-hash> [--token-id <value>]')
    const set = s.commands.find((c) => c.name === 'set_route') as unknown as { usage: string; http: object; mutates: boolean; input: { properties: Record<string, { type: string }>; required: string[] } }
    assert.equal(set.usage, 'turnpike admin routes set <name> <route JSON | @file.json>')
    assert.deepEqual(set.http, { method: 'PUT', path: '/api/v1/routes/{name}' })
    assert.equal(set.mutates, true)
    assert.deepEqual(set.input.required, ['name', 'route'])
    assert.equal(set.input.properties.route!.type, 'object')
    const del = s.commands.find((c) => c.name === 'delete_route') as unknown as { usage: string; http: object }
    assert.equal(del.usage, 'turnpike admin routes delete <name>')
    assert.deepEqual(del.http, { method: 'DELETE', path: '/api/v1/routes/{name}' })
    assert.deepEqual(s.exit_codes, { ok: 0, error: 1, usage: 2, unreachable: 3, unauthorized: 4, notFound: 5 })
  })

  it('error: exit codes for usage, not found, refused token and unreachable API', async () => {
    const { UsageError } = await import('../src/cli/args.ts')
    await assert.rejects(run(['transactions', '--limit', '0']), (e: Error) => e instanceof UsageError && /limit: must be an integer/.test(e.message))
    await assert.rejects(run(['info', '--route', 'x']), (e: Error) => e instanceof UsageError && /--route does not apply to info/.test(e.message))
    await assert.rejects(run(['frobnicate']), UsageError)
    await assert.rejects(run(['set_route', 'x', '{}']), (e: Error) => e instanceof UsageError && /turnpike admin routes set <name>/.test(e.message))
    assert.equal((await run(['route', 'nope'])).code, 5)
    const refused = await run(['info'], { env: { TURNPIKE_ADMIN_TOKEN: 'wrong-token-0123456789' } })
    assert.equal(refused.code, 4)
    assert.match(refused.err, /401/)

    const gone = await listen(() => {})
    await gone.close()
    const unreachable = await spawnCli(['info', '--url', gone.url], { TURNPIKE_ADMIN_TOKEN: token })
    assert.equal(unreachable.code, 3)
    assert.match(unreachable.err, /cannot reach the admin API/)
    const usage = await spawnCli(['transactions', '--url', adminServer.url, '--limit', 'x'], { TURNPIKE_ADMIN_TOKEN: token })
    assert.equal(usage.code, 2)
    const piped = await spawnCli(['health', '--url', adminServer.url], { TURNPIKE_ADMIN_TOKEN: token })
    assert.equal(piped.code, 0)
    assert.deepEqual(JSON.parse(piped.out), { status: 'ok', checks: { store: 'ok', backend: 'ok' } })
  })

  it('behavior: the token is read from <data-dir>/admin-token when nothing else is set', async () => {
    const r = await run(['health', '--data-dir', g.dir.path], { env: {} })
    assert.equal(r.code, 4, 'the gateway under test uses a configured token, not the data-dir one')
    writeFileSync(join(g.dir.path, 'admin-token'), token)
    assert.equal((await run(['health', '--data-dir', g.dir.path], { env: {} })).code, 0)
  })
})
