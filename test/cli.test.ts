import assert from 'node:assert/strict'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { statSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { echo, listen, tempDir } from './harness.ts'

const bin = fileURLToPath(new URL('../src/bin.ts', import.meta.url))

function run(args: string[], env: NodeJS.ProcessEnv = {}) {
  return spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 30_000 })
}

/** Spawns `turnpike serve …` and resolves once it listens. */
async function serve(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ child: ChildProcess; url: string; logs: () => string }> {
  const child = spawn(process.execPath, [bin, 'serve', ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let logs = ''
  child.stdout!.on('data', (d) => (logs += d))
  child.stderr!.on('data', (d) => (logs += d))
  const url = await new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`serve did not start:\n${logs}`)), 20_000)
    const check = () => {
      const m = /listening on (http:\/\/\S+)/.exec(logs)
      if (m) { clearTimeout(t); resolve(m[1]!) }
    }
    child.stderr!.on('data', check)
    child.stdout!.on('data', check)
    child.on('exit', (code) => { clearTimeout(t); reject(new Error(`serve exited ${code}:\n${logs}`)) })
  })
  return { child, url, logs: () => logs }
}

function stop(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve()
    child.once('exit', () => resolve())
    child.kill('SIGTERM')
  })
}

async function freePort(): Promise<number> {
  const s = await listen(() => {})
  await s.close()
  return s.port
}

describe('turnpike serve (acceptance)', () => {
  let upstream: Awaited<ReturnType<typeof listen>>
  let gw: Awaited<ReturnType<typeof serve>>
  const dir = tempDir()

  before(async () => {
    upstream = await listen(echo)
    const port = await freePort()
    gw = await serve(['--backend', 'dev', '--upstream', upstream.url, '--price', '10sat', '--listen', `127.0.0.1:${port}`, '--data-dir', dir.path], { TURNPIKE_SECRET: '' })
  })
  after(async () => {
    await stop(gw.child)
    await upstream.close()
    dir.remove()
  })

  it('behavior: 402 → pay via /.turnpike/dev/pay → 200; replay, other path/method, tampering → 402', async () => {
    const first = await fetch(`${gw.url}/data`)
    assert.equal(first.status, 402)
    const header = first.headers.get('www-authenticate')!
    const m = /^L402 macaroon="([A-Za-z0-9+/=]+)", invoice="(lnbcrt[0-9a-z]+)", version="0", token="([^"]+)"$/.exec(header)
    assert.ok(m, header)
    assert.equal(m[3], m[1])
    const body = (await first.json() as any)
    assert.equal(body.invoice, m[2])
    assert.equal(body.amount_msat, 10000)

    const paid = await fetch(`${gw.url}/.turnpike/dev/pay`, { method: 'POST', body: JSON.stringify({ invoice: m[2] }) })
    assert.equal(paid.status, 200)
    const { preimage, payment_hash } = (await paid.json() as any)
    assert.match(preimage, /^[0-9a-f]{64}$/)
    assert.equal(payment_hash, body.payment_hash)

    const cred = `L402 ${m[1]}:${preimage}`
    const ok = await fetch(`${gw.url}/data`, { headers: { authorization: cred } })
    assert.equal(ok.status, 200)
    const echoed = (await ok.json() as any)
    assert.equal(echoed.url, '/data')
    assert.equal(echoed.headers.authorization, undefined)

    const replay = await fetch(`${gw.url}/data`, { headers: { authorization: cred } })
    assert.equal(replay.status, 402)
    await replay.text()

    // A fresh credential for GET /data is refused elsewhere.
    const r2 = await fetch(`${gw.url}/data`)
    const c2 = /macaroon="([^"]+)", invoice="([^"]+)"/.exec(r2.headers.get('www-authenticate')!)!
    await r2.text()
    const p2 = (await (await fetch(`${gw.url}/.turnpike/dev/pay`, { method: 'POST', body: JSON.stringify({ invoice: c2[2] }) })).json() as any).preimage
    for (const [path, method, auth] of [
      ['/other', 'GET', `L402 ${c2[1]}:${p2}`],
      ['/data', 'POST', `L402 ${c2[1]}:${p2}`],
      ['/data', 'GET', `L402 ${c2[1]}:${preimage}`],
      ['/data', 'GET', `L402 ${c2[1]!.replace(/.(?==*$)/, (ch) => (ch === 'A' ? 'B' : 'A'))}:${p2}`],
    ] as const) {
      const r = await fetch(`${gw.url}${path}`, { method, headers: { authorization: auth } })
      assert.equal(r.status, 402, `${method} ${path}`)
      await r.text()
    }
    const ok2 = await fetch(`${gw.url}/data`, { headers: { authorization: `L402 ${c2[1]}:${p2}` } })
    assert.equal(ok2.status, 200, 'the untouched credential still works on its own path and method')
    await ok2.text()
  })

  it('behavior: the master secret is generated into the data dir with mode 0600 and the log says so', () => {
    const st = statSync(join(dir.path, 'secret'))
    assert.equal(st.mode & 0o777, 0o600)
    assert.match(gw.logs(), /generated a new master secret/)
    assert.doesNotMatch(gw.logs(), new RegExp(readFileSync(join(dir.path, 'secret'), 'utf8').trim()), 'the secret is never logged')
    assert.match(gw.logs(), /NO REAL MONEY MOVES/)
  })

  it('behavior: turnpike pay settles an invoice through the gateway', async () => {
    const r = await fetch(`${gw.url}/x`)
    const inv = ((await r.json() as any)).invoice
    const out = spawnSync(process.execPath, [bin, 'pay', inv, '--gateway', gw.url], { encoding: 'utf8' })
    assert.equal(out.status, 0, out.stderr)
    assert.match(JSON.parse(out.stdout).preimage, /^[0-9a-f]{64}$/)
  })
})

describe('turnpike CLI', () => {
  it('error: serve without a backend refuses to start and says how to choose one', () => {
    const r = run(['serve', '--upstream', 'http://127.0.0.1:9', '--price', '10sat', '--listen', '127.0.0.1:0'])
    assert.notEqual(r.status, 0)
    assert.match(r.stderr, /--backend dev/)
  })

  it('error: config errors are all reported with their paths', () => {
    const d = tempDir()
    try {
      const file = join(d.path, 'bad.yaml')
      spawnSync('sh', ['-c', `printf 'backend: dev\\nlisten: nope\\nroutes:\\n  - path: api\\n    price: ten\\n    acess: x\\n' > ${file}`])
      const r = run(['serve', '--config', file])
      assert.equal(r.status, 78)
      for (const p of ['listen', 'routes[0].path', 'routes[0].price', 'routes[0].acess', 'routes[0].upstream']) assert.ok(r.stderr.includes(p), `${p} in ${r.stderr}`)
    } finally {
      d.remove()
    }
  })

  it('behavior: --help works for every command', () => {
    for (const args of [['--help'], ['serve', '--help'], ['demo', '--help'], ['pay', '--help'], ['token', '--help']]) {
      const r = run(args)
      assert.equal(r.status, 0, args.join(' '))
      assert.match(r.stdout, /Usage:/)
    }
    const bad = run(['serve', '--no-such-flag'])
    assert.equal(bad.status, 2)
    assert.match(bad.stderr, /--help/)
  })

  it('behavior: demo --auto runs the full loop and exits 0 after a paid 200', () => {
    const d = tempDir()
    try {
      const r = run(['demo', '--auto', '--data-dir', d.path])
      assert.equal(r.status, 0, r.stdout + r.stderr)
      assert.match(r.stdout, /→ 402/)
      assert.match(r.stdout, /→ 200/)
      assert.match(r.stdout, /demo ok/)
    } finally {
      d.remove()
    }
  })

  it('behavior: token inspect decodes a macaroon', async () => {
    const vec = 'AgEEbHNhdAJCAACqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqru7u7u7u7u7u7u7u7u7u7u7u7u7u7u7u7u7u7u7u7u7AAIOc2VydmljZXM9c3ZjOjAAAAYgfBhjnYkTv+rMNSqUzBmI4DNKLQ8OixCw04HwTn9CKDo='
    const r = run(['token', 'inspect', vec])
    assert.equal(r.status, 0, r.stderr)
    const out = JSON.parse(r.stdout)
    assert.equal(out.identifier.payment_hash, 'aa'.repeat(32))
    assert.equal(out.identifier.token_id, 'bb'.repeat(32))
    assert.deepEqual(out.caveats, ['services=svc:0'])
    const bad = run(['token', 'inspect', 'not-a-macaroon'])
    assert.equal(bad.status, 1)
    assert.match(bad.stderr, /turnpike: /)
  })
})
