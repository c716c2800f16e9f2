/**
 * Load generators: wrk (Debian) through bench/lib/load.lua, or autocannon (npm) in a child process.
 * Both return the same {@link LoadResult}; both run pinned to the "load" CPUs when asked.
 */
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { wrap } from './proc.ts'

export type Generator = 'wrk' | 'autocannon'

export type LoadSpec = {
  readonly url: string
  readonly path: string
  readonly connections: number
  readonly durationS: number
  /** Status that counts as a success (200, or 402 for the challenge path). */
  readonly expect: number
  /** Fixed Authorization header sent on every request. */
  readonly auth?: string | undefined
  /** One credential per request from lines start+1 … start+count of this file. */
  readonly creds?: { readonly file: string; readonly start: number; readonly count: number } | undefined
  /** Per-connection pause between requests (ms): a paced, below-saturation run. */
  readonly pauseMs?: number | undefined
  /** CPU list for taskset (e.g. "0"). */
  readonly cpus?: string | undefined
}

export type LoadResult = {
  readonly generator: Generator
  readonly requests: number
  readonly ok: number
  /** Responses with another status than expected. */
  readonly unexpected: number
  readonly statuses: Record<string, number>
  readonly errors: { connect: number; read: number; write: number; timeout: number }
  readonly durationS: number
  /** Successful responses per second. */
  readonly rps: number
  readonly latencyMs: { p50: number; p90: number; p99: number; max: number; mean: number }
}

const here = fileURLToPath(new URL('.', import.meta.url))

function run(cmd: string, args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.on('data', (c: Buffer) => (out += c.toString()))
    child.stderr.on('data', (c: Buffer) => (err += c.toString()))
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      const line = out.split('\n').find((l) => l.startsWith('RESULT '))
      if (!line) return reject(new Error(`${cmd} exited ${code} without a result: ${err || out}`))
      resolve(line.slice(7))
    })
  })
}

/** Responses to wait for before stopping a per-request run: leave one credential per connection in flight. */
export function stopAfter(spec: LoadSpec): number {
  return spec.creds ? Math.max(1, spec.creds.count - spec.connections - 8) : 0
}

async function wrk(spec: LoadSpec): Promise<LoadResult> {
  const args = [
    '-t1', `-c${spec.connections}`, `-d${Math.max(1, Math.round(spec.durationS))}s`, '--timeout', '5s',
    '-s', `${here}load.lua`, spec.url + spec.path, '--',
    String(spec.expect), spec.auth ?? '-', spec.creds?.file ?? '-', String(spec.creds?.start ?? 0),
    String(spec.creds?.count ?? 0), String(spec.pauseMs ?? 0), String(stopAfter(spec)),
  ]
  const [cmd, full] = wrap(spec.cpus, 'wrk', args)
  const r = JSON.parse(await run(cmd, full, spec.durationS * 1000 + 30_000)) as {
    requests: number; ok: number; unexpected: number; durationUs: number; statuses: Record<string, number>
    errors: LoadResult['errors']; latencyUs: { p50: number; p90: number; p99: number; max: number; mean: number }
  }
  const durationS = r.durationUs / 1e6
  const ms = (us: number) => us / 1000
  return {
    generator: 'wrk',
    requests: r.requests,
    ok: r.ok,
    unexpected: r.unexpected,
    statuses: r.statuses,
    errors: r.errors,
    durationS,
    rps: r.ok / durationS,
    latencyMs: { p50: ms(r.latencyUs.p50), p90: ms(r.latencyUs.p90), p99: ms(r.latencyUs.p99), max: ms(r.latencyUs.max), mean: ms(r.latencyUs.mean) },
  }
}

async function autocannon(spec: LoadSpec): Promise<LoadResult> {
  const [cmd, full] = wrap(spec.cpus, process.execPath, [`${here}autocannon-child.ts`, JSON.stringify({ ...spec, stopAfter: stopAfter(spec) })])
  return JSON.parse(await run(cmd, full, spec.durationS * 1000 + 60_000)) as LoadResult
}

export function load(generator: Generator, spec: LoadSpec): Promise<LoadResult> {
  return generator === 'wrk' ? wrk(spec) : autocannon(spec)
}
