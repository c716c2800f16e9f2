/** Helpers for tests that run real `turnpike serve` processes and cut network paths. */
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { copyFileSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import net, { type AddressInfo, type Socket } from 'node:net'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { loadOrCreateNodeKey } from '../src/lightning/dev.ts'

const bin = fileURLToPath(new URL('../src/bin.ts', import.meta.url))

export type Served = { child: ChildProcess; url: string; logs(): string; stop(): Promise<number | null> }

/**
 * Spawns `turnpike serve …` and resolves once a log line matches `ready` (default: the first
 * `listening on <url>`), with the URL from that line.
 */
export async function serve(args: string[], env: NodeJS.ProcessEnv = {}, o: { ready?: RegExp; timeoutMs?: number } = {}): Promise<Served> {
  const child = spawn(process.execPath, [bin, 'serve', ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let logs = ''
  const ready = o.ready ?? /listening on (http:\/\/\S+)/
  const url = await new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`serve did not start:\n${logs}`)), o.timeoutMs ?? 60_000)
    const check = (d: Buffer) => {
      logs += d
      const m = ready.exec(logs)
      if (m) {
        clearTimeout(t)
        resolve(m[1]!)
      }
    }
    child.stdout!.on('data', check)
    child.stderr!.on('data', check)
    child.once('exit', (code) => {
      clearTimeout(t)
      reject(new Error(`serve exited ${code}:\n${logs}`))
    })
  })
  const stop = () =>
    new Promise<number | null>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve(child.exitCode)
      child.once('exit', (code) => resolve(code))
      child.kill('SIGTERM')
    })
  return { child, url, logs: () => logs, stop }
}

/** One HTTP request on a fresh connection (no keep-alive), so a cluster spreads them over workers. */
export function request(url: string, o: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: o.method ?? 'GET', headers: o.headers, agent: false }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => (body += c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }))
    })
    req.on('error', reject)
    req.end(o.body)
  })
}

/**
 * A TCP relay to `target` that a test can cut (drop and refuse connections), stall (hold them open
 * and silent, like a hung server) and restore.
 */
export async function tcpProxy(target: { host: string; port: number }) {
  const pairs = new Set<{ client: Socket; upstream: Socket | undefined }>()
  let mode: 'up' | 'cut' | 'stall' = 'up'
  const server = net.createServer((client) => {
    client.on('error', () => client.destroy())
    if (mode === 'cut') return client.destroy()
    const pair = { client, upstream: undefined as Socket | undefined }
    pairs.add(pair)
    client.on('close', () => (pair.upstream?.destroy(), pairs.delete(pair)))
    if (mode === 'stall') return
    const upstream = net.connect(target.port, target.host)
    pair.upstream = upstream
    upstream.on('error', () => client.destroy()).on('close', () => client.destroy())
    client.pipe(upstream).pipe(client)
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const { port } = server.address() as AddressInfo
  const dropAll = () => {
    for (const p of pairs) {
      p.client.destroy()
      p.upstream?.destroy()
    }
    pairs.clear()
  }
  return {
    port,
    /** Drops every relayed connection and refuses new ones (a server that is down). */
    cut() {
      mode = 'cut'
      dropAll()
    },
    /** Keeps connections open but silent and accepts new ones without relaying (a hung server). */
    stall() {
      mode = 'stall'
      for (const p of pairs) {
        p.client.unpipe()
        p.upstream?.unpipe()
      }
    },
    restore() {
      if (mode === 'stall') dropAll()
      mode = 'up'
    },
    close: () =>
      new Promise<void>((r) => {
        mode = 'cut'
        dropAll()
        server.close(() => r())
      }),
  }
}

/** Polls `fn` until it returns true (or throws after `timeoutMs`). */
export async function until(fn: () => Promise<boolean>, timeoutMs = 15_000, everyMs = 100): Promise<number> {
  const started = Date.now()
  for (;;) {
    if (await fn()) return Date.now() - started
    if (Date.now() - started > timeoutMs) throw new Error(`condition not met within ${timeoutMs} ms`)
    await new Promise((r) => setTimeout(r, everyMs))
  }
}

/**
 * One `turnpike serve` per data dir, as on separate hosts: the same config file (written to the
 * first dir), the same dev node key copied into every dir, one master secret from the environment.
 * Every instance can then pay and verify what another issued.
 */
export async function serveInstances(dirs: readonly { path: string }[], config: Record<string, unknown>): Promise<Served[]> {
  const file = join(dirs[0]!.path, 'turnpike.json')
  loadOrCreateNodeKey(dirs[0]!.path)
  for (const d of dirs.slice(1)) copyFileSync(join(dirs[0]!.path, 'dev-node.key'), join(d.path, 'dev-node.key'))
  writeFileSync(file, JSON.stringify(config))
  const env = { TURNPIKE_SECRET: randomBytes(32).toString('hex') }
  return Promise.all(dirs.map((d) => serve(['--config', file, '--data-dir', d.path, '--listen', '127.0.0.1:0'], env)))
}

/** A fresh paid credential for `path`: challenged by instance `i`, paid through the next one's dev node. */
export async function buyAcross(gws: readonly Served[], path: string, i: number): Promise<string> {
  const c = await request(`${gws[i % gws.length]!.url}${path}`)
  assert.equal(c.status, 402, c.body)
  const { invoice, macaroon } = JSON.parse(c.body) as { invoice: string; macaroon: string }
  const paid = await request(`${gws[(i + 1) % gws.length]!.url}/.turnpike/dev/pay`, { method: 'POST', body: JSON.stringify({ invoice }) })
  assert.equal(paid.status, 200, paid.body)
  return `L402 ${macaroon}:${(JSON.parse(paid.body) as { preimage: string }).preimage}`
}
