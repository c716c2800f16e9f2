/** `turnpike serve` as an operator runs it: --admin, --dry-run, and a graceful stop. */
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import http from 'node:http'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { listen, tempDir } from './harness.ts'

const bin = fileURLToPath(new URL('../src/bin.ts', import.meta.url))
const token = 'operations-token-0123456789abcdef'

async function freePort(): Promise<number> {
  const s = await listen(() => {})
  await s.close()
  return s.port
}

describe('turnpike serve --admin --dry-run, stopped with SIGTERM', () => {
  const dir = tempDir()
  let upstream: Awaited<ReturnType<typeof listen>>
  let child: ChildProcess
  let logs = ''
  let port = 0
  let adminPort = 0

  before(async () => {
    upstream = await listen((req, res) => {
      if (req.url === '/slow') return void setTimeout(() => res.end('finished'), 1200)
      res.end('ok')
    })
    ;[port, adminPort] = [await freePort(), await freePort()]
    child = spawn(process.execPath, [
      bin, 'serve', '--backend', 'dev', '--upstream', upstream.url, '--price', '10sat', '--dry-run',
      '--listen', `127.0.0.1:${port}`, '--admin', `127.0.0.1:${adminPort}`, '--data-dir', dir.path, '--store', 'memory',
    ], { env: { ...process.env, TURNPIKE_ADMIN_TOKEN: token, TURNPIKE_SECRET: '' }, stdio: ['ignore', 'pipe', 'pipe'] })
    child.stdout!.on('data', (d) => (logs += d))
    child.stderr!.on('data', (d) => (logs += d))
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`did not start:\n${logs}`)), 30_000)
      const check = () => /admin listening on/.test(logs) && /listening on http/.test(logs) && (clearTimeout(t), resolve())
      child.stderr!.on('data', check)
      child.once('exit', (code) => reject(new Error(`exited ${code}:\n${logs}`)))
    })
  })
  after(async () => {
    if (child.exitCode === null) child.kill('SIGKILL')
    await upstream.close()
    dir.remove()
  })

  it('behavior: dry-run lets requests through; the admin listener counts them', async () => {
    const res = await fetch(`http://127.0.0.1:${port}/x`)
    assert.equal(res.status, 200)
    assert.equal(res.headers.get('x-turnpike-dry-run'), 'challenge')
    await res.body?.cancel()
    const m = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`, { headers: { authorization: `Bearer ${token}` } })).text()
    assert.match(m, /^turnpike_dry_run_total\{route="default",outcome="challenge"\} 1$/m)
    assert.match(logs, /dry-run.*outcome=challenge/)
  })

  it('behavior: SIGTERM lets an in-flight request finish, then exits 0', async () => {
    const pending = new Promise<{ status: number; body: string }>((resolve, reject) => {
      http.get(`http://127.0.0.1:${port}/slow`, { agent: false }, (res) => {
        let body = ''
        res.on('data', (c) => (body += c))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
      }).on('error', reject)
    })
    await new Promise((r) => setTimeout(r, 300))
    child.removeAllListeners('exit')
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
    child.kill('SIGTERM')
    assert.deepEqual(await pending, { status: 200, body: 'finished' })
    assert.equal(await exited, 0)
    assert.match(logs, /finishing in-flight requests/)
  })
})
