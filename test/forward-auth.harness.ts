/**
 * Shared helpers for the forward-auth tests: the verdict service in-process (with an invoice
 * counter), the shipped example files, and real host-proxy processes on random loopback ports.
 */
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { accessSync, constants, readFileSync } from 'node:fs'
import http from 'node:http'
import net from 'node:net'
import { delimiter, join } from 'node:path'
import { it } from 'node:test'
import { fileURLToPath } from 'node:url'
import * as Config from '../src/Config.ts'
import * as Gateway from '../src/Gateway.ts'
import type { Backend } from '../src/Lightning.ts'
import { startForwardAuth, type ForwardAuthServer } from '../src/forward-auth/service.ts'
import { createLogger, silent } from '../src/internal/log.ts'
import { createRuntime, type Runtime } from '../src/runtime.ts'
import { challengeOf, echo, listen, tempDir } from './harness.ts'

export const examples = fileURLToPath(new URL('../examples/', import.meta.url))

/** The routes every forward-auth test uses. */
export const routes = [
  { name: 'api', path: '/api/*', price: '10sat' },
  { name: 'pass', path: '/pass/*', price: '10sat', access: 'pass:1h' },
  { name: 'free', path: '/*', price: 0 },
]

export type Service = {
  rt: Runtime
  fa: ForwardAuthServer
  /** 127.0.0.1:port of the verdict service. */
  addr: string
  /** Invoices minted so far. */
  minted(): number
  close(): Promise<void>
}

/** Starts the forward-auth service in-process: dev backend, memory store, temp data dir. */
export async function startService(raw: Record<string, unknown> = {}): Promise<Service> {
  const dir = tempDir()
  const logger = process.env.TURNPIKE_TEST_VERBOSE ? createLogger({ level: 'debug' }) : silent
  const secret = randomBytes(32)
  const config = Config.parse({ listen: '127.0.0.1:0', backend: 'dev', dataDir: dir.path, store: 'memory', forwardAuth: true, routes, ...raw })
  const base = await createRuntime(config, { logger, env: { TURNPIKE_SECRET: secret.toString('hex') } })
  // Count invoices at the backend, so a test can prove one invoice per unpaid request.
  let minted = 0
  const counting = Object.create(base.backend) as Backend
  Object.defineProperty(counting, 'createInvoice', {
    value: (p: Parameters<Backend['createInvoice']>[0]) => {
      minted++
      return base.backend.createInvoice(p)
    },
  })
  const gateway = Gateway.create({ config, backend: counting, store: base.store, secret: new Uint8Array(secret), logger })
  const rt: Runtime = { ...base, gateway }
  const fa = await startForwardAuth(rt, logger)
  return {
    rt,
    fa,
    addr: fa.url.replace('http://', ''),
    minted: () => minted,
    async close() {
      await fa.close()
      await base.close()
      dir.remove()
    },
  }
}

/** Absolute path of an executable on PATH (or the given absolute path), else undefined. */
export function findBinary(name: string, ...candidates: string[]): string | undefined {
  const dirs = (process.env.PATH ?? '').split(delimiter).filter(Boolean)
  for (const p of [...candidates, ...dirs.map((d) => join(d, name))]) {
    try {
      accessSync(p, constants.X_OK)
      return p
    } catch {}
  }
  return undefined
}

export async function freePort(): Promise<number> {
  const s = await listen(() => {})
  await s.close()
  return s.port
}

/** Fills `${NAME}` placeholders the way envsubst does with an explicit variable list. */
export function render(template: string, vars: Record<string, string>): string {
  return template.replace(/\$\{([A-Z_][A-Z0-9_]*)\}/g, (m, name: string) => vars[name] ?? m)
}

export function readExample(rel: string): string {
  return readFileSync(join(examples, rel), 'utf8')
}

export type HostProcess = { child: ChildProcess; logs(): string; stop(): Promise<void> }

/** Spawns a host proxy and resolves once `port` accepts connections (fails with its output otherwise). */
export async function spawnHost(cmd: string, args: string[], o: { port: number; env?: NodeJS.ProcessEnv; cwd?: string; extraLogs?: () => string }): Promise<HostProcess> {
  const child = spawn(cmd, args, { env: o.env ?? process.env, cwd: o.cwd, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout!.on('data', (d) => (out += d))
  child.stderr!.on('data', (d) => (out += d))
  const logs = () => out + (o.extraLogs?.() ?? '')
  const stop = () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve()
      const kill = setTimeout(() => child.kill('SIGKILL'), 5000)
      child.once('exit', () => {
        clearTimeout(kill)
        resolve()
      })
      child.kill('SIGTERM')
    })
  const deadline = Date.now() + 20_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${cmd} exited with ${child.exitCode}:\n${logs()}`)
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(o.port, '127.0.0.1', () => {
        s.destroy()
        resolve(true)
      })
      s.on('error', () => resolve(false))
    })
    if (ok) break
    if (Date.now() > deadline) {
      await stop()
      throw new Error(`${cmd} did not listen on ${o.port}:\n${logs()}`)
    }
    await new Promise((r) => setTimeout(r, 50))
  }
  return { child, logs, stop }
}

/** An echo upstream (method, url, headers as JSON) that counts its hits. */
export async function startEcho() {
  let hits = 0
  const server = await listen((req, res) => {
    hits++
    echo(req, res)
  })
  return { ...server, addr: `127.0.0.1:${server.port}`, hits: () => hits }
}

type Echoed = { method: string; url: string; headers: Record<string, string | undefined>; bodyLength: number }

/**
 * The paid flow through a real host proxy at `site()`: 402 with WWW-Authenticate and JSON body,
 * pay, 200 with the upstream body, replay → 402, pass reused → 200 twice, and the edges.
 */
export function describeHostFlow(ctx: () => { site: string; service: Service; upstreamHits(): number }, o: { challengeLines?: number } = {}): void {
  const pay = async (invoice: string) => (await ctx().service.rt.devNode!.pay(invoice)).preimage

  async function challenge(path: string, init: RequestInit = {}) {
    const { site, service } = ctx()
    const before = service.minted()
    const res = await fetch(site + path, init)
    const text = await res.text()
    assert.equal(res.status, 402, text)
    assert.equal(service.minted() - before, 1, 'exactly one invoice per unpaid request')
    const { macaroon, invoice } = challengeOf(res)
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/)
    const body = JSON.parse(text) as { invoice: string; macaroon: string; payment_hash: string }
    assert.equal(body.invoice, invoice, 'the JSON body belongs to the same challenge as the header')
    assert.equal(body.macaroon, macaroon)
    return { macaroon, invoice, paymentHash: body.payment_hash }
  }

  it('behavior: unpaid → 402 with WWW-Authenticate and the JSON body; the upstream is not reached', async () => {
    const hits = ctx().upstreamHits()
    const c = await challenge('/api/thing?x=1')
    assert.match(c.invoice, /^lnbcrt/)
    assert.equal(ctx().upstreamHits(), hits)
  })

  it('behavior: every WWW-Authenticate line arrives, once', async () => {
    const count = await new Promise<number>((resolve, reject) => {
      http.get(`${ctx().site}/api/lines`, (res) => {
        res.resume()
        resolve(res.rawHeaders.filter((h, i) => i % 2 === 0 && h.toLowerCase() === 'www-authenticate').length)
      }).on('error', reject)
    })
    assert.equal(count, o.challengeLines ?? 1)
  })

  it('behavior: paid → 200 with the upstream body and the payment facts; replay → 402', async () => {
    const c = await challenge('/api/thing?x=1')
    const auth = `L402 ${c.macaroon}:${await pay(c.invoice)}`
    const res = await fetch(`${ctx().site}/api/thing?x=1`, { headers: { authorization: auth } })
    assert.equal(res.status, 200)
    const body = (await res.json()) as Echoed
    assert.equal(body.url, '/api/thing?x=1')
    assert.equal(body.headers['x-turnpike-route'], 'api')
    assert.equal(body.headers['x-turnpike-payment-hash'], c.paymentHash)
    assert.equal(body.headers['x-turnpike-access'], 'per-request')
    assert.equal(body.headers['x-turnpike-price-msat'], '10000')
    const replay = await challenge('/api/thing?x=1', { headers: { authorization: auth } })
    assert.notEqual(replay.paymentHash, c.paymentHash)
  })

  it('behavior: a pass credential is reused → 200 twice', async () => {
    const c = await challenge('/pass/a')
    const auth = `L402 ${c.macaroon}:${await pay(c.invoice)}`
    for (const path of ['/pass/a', '/pass/b']) {
      const res = await fetch(ctx().site + path, { headers: { authorization: auth } })
      assert.equal(res.status, 200, path)
      const body = (await res.json()) as Echoed
      assert.equal(body.headers['x-turnpike-access'], 'pass:3600s')
    }
  })

  it('behavior: a paid POST still carries its body to the upstream', async () => {
    const c = await challenge('/api/upload', { method: 'POST', body: 'x'.repeat(5000) })
    const auth = `L402 ${c.macaroon}:${await pay(c.invoice)}`
    const res = await fetch(`${ctx().site}/api/upload`, { method: 'POST', body: 'y'.repeat(70_000), headers: { authorization: auth } })
    assert.equal(res.status, 200)
    const body = (await res.json()) as Echoed
    assert.equal(body.method, 'POST')
    assert.equal(body.bodyLength, 70_000)
  })

  it('error: a malformed credential → 400 problem+json reaches the client', async () => {
    const res = await fetch(`${ctx().site}/api/thing`, { headers: { authorization: 'L402 !!!:nothex' } })
    assert.equal(res.status, 400)
    assert.match(res.headers.get('content-type') ?? '', /problem\+json/)
    assert.equal(((await res.json()) as { code: string }).code, 'TURNPIKE_CREDENTIAL_MALFORMED')
  })

  it('behavior: OPTIONS passes to the upstream without a challenge', async () => {
    const res = await fetch(`${ctx().site}/api/thing`, { method: 'OPTIONS' })
    assert.equal(res.status, 200)
    assert.equal(((await res.json()) as Echoed).method, 'OPTIONS')
  })

  it('error: client-sent forwarding headers neither bypass the paywall nor reach the upstream as facts', async () => {
    const spoof = {
      'x-original-uri': '/free',
      'x-original-url': 'http://free.example/free',
      'x-original-method': 'OPTIONS',
      'x-forwarded-uri': '/free',
      'x-forwarded-method': 'OPTIONS',
      'x-turnpike-payment-hash': 'f'.repeat(64),
      'x-turnpike-route': 'api',
    }
    await challenge('/api/thing', { headers: spoof })
    const res = await fetch(`${ctx().site}/free`, { headers: spoof })
    assert.equal(res.status, 200)
    const body = (await res.json()) as Echoed
    assert.equal(body.headers['x-turnpike-route'], 'free')
    assert.ok(!body.headers['x-turnpike-payment-hash'], 'no payment hash (absent or empty)')
  })
}
