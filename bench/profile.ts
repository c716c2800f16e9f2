/**
 * Profiles one turnpike scenario under load with `node --cpu-prof` and prints the functions with the
 * most self time. How the hot paths in docs/benchmarks.md were found.
 *
 *   npx node bench/profile.ts <pass|sqlite|redis|memory|challenge|bare> [--seconds 10] [--count 12000] [--top 40] [--keep]
 *
 * The gateway (or bare proxy) runs pinned to the last CPU, wrk and the upstream to CPU 0, as in
 * bench/run.ts. The .cpuprofile file (covering start-up too) is copied to --out (default
 * <tmpdir>/turnpike-profiles/; open it in Chrome DevTools or speedscope). Profiles stay out of the
 * repository: they are several MB each.
 */
import { randomBytes } from 'node:crypto'
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { load } from './lib/load.ts'
import { exec, freePort, readyHttp, readyLine, startServer, type Server } from './lib/proc.ts'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const node = process.execPath
const { values, positionals } = parseArgs({
  options: { seconds: { type: 'string' }, count: { type: 'string' }, top: { type: 'string' }, keep: { type: 'boolean' }, redis: { type: 'string' }, out: { type: 'string' } },
  allowPositionals: true,
})
const scenario = positionals[0] ?? 'pass'
const seconds = Number(values.seconds ?? 10)
const cores = os.cpus().length
const loadCpus = cores >= 2 ? '0' : undefined
const sutCpus = cores >= 2 ? String(cores - 1) : undefined
const tmp = mkdtempSync(join(os.tmpdir(), 'turnpike-profile-'))
const servers: Server[] = []
const env = { ...process.env, TURNPIKE_SECRET: randomBytes(32).toString('hex') }

type Node = { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }
type Profile = { nodes: Node[]; samples: number[]; timeDeltas: number[] }

/** Self time per function, sorted. */
export function topSelf(p: Profile, n: number): { share: number; ms: number; fn: string }[] {
  const byId = new Map(p.nodes.map((x) => [x.id, x]))
  const self = new Map<string, number>()
  let total = 0
  p.samples.forEach((id, i) => {
    const dt = p.timeDeltas[i] ?? 0
    total += dt
    const f = byId.get(id)!.callFrame
    const key = `${f.functionName || '(anonymous)'} ${f.url.replace(/^.*\/(node_modules|src|bench)\//, '$1/').replace(/^node:/, 'node:')}:${f.lineNumber + 1}`
    self.set(key, (self.get(key) ?? 0) + dt)
  })
  return [...self].sort((a, b) => b[1] - a[1]).slice(0, n).map(([fn, us]) => ({ share: us / total, ms: us / 1000, fn }))
}

/** Inclusive time per function (a function counted once per stack), for the frames matching `pattern`. */
export function topInclusive(p: Profile, pattern: RegExp, n: number): { us: number; fn: string }[] {
  const byId = new Map(p.nodes.map((x) => [x.id, x]))
  const parent = new Map<number, number>()
  for (const x of p.nodes) for (const c of x.children ?? []) parent.set(c, x.id)
  const self = new Map<number, number>()
  p.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (p.timeDeltas[i] ?? 0)))
  const incl = new Map<string, number>()
  for (const [id, t] of self) {
    const seen = new Set<string>()
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const f = byId.get(cur)!.callFrame
      const key = `${f.functionName || '(anonymous)'} ${f.url.replace(/^.*\/(node_modules|src|bench)\//, '$1/')}:${f.lineNumber + 1}`
      if (seen.has(key)) continue
      seen.add(key)
      incl.set(key, (incl.get(key) ?? 0) + t)
    }
  }
  return [...incl].filter(([k]) => pattern.test(k)).sort((a, b) => b[1] - a[1]).slice(0, n).map(([fn, us]) => ({ us, fn }))
}

try {
  const upstream = await startServer({ name: 'upstream', cmd: node, args: [join(root, 'bench/servers/upstream.ts')], log: join(tmp, 'upstream.log'), cpus: loadCpus, ready: readyLine })
  servers.push(upstream)
  const upstreamUrl = `http://127.0.0.1:${upstream.port}`
  const port = await freePort()
  // `memory`: per-request credentials claimed in the in-process memory store, to separate the cost
  // of the credential check from that of a shared store's claim.
  const perRequest = scenario === 'sqlite' || scenario === 'redis' || scenario === 'memory'
  const store = scenario === 'redis' ? { type: 'redis', url: values.redis ?? 'redis://127.0.0.1:6379/14' } : scenario === 'memory' ? 'memory' : 'sqlite'
  const cfg = join(tmp, 'cfg.json')
  writeFileSync(cfg, JSON.stringify({
    listen: `127.0.0.1:${port}`, backend: 'dev', dataDir: join(tmp, 'data'), store, upstream: upstreamUrl,
    routes: [{ name: 'api', path: '/*', price: '10sat', access: scenario === 'pass' || scenario === 'bare' ? 'pass:1h' : 'per-request' }],
  }))
  const count = perRequest ? Number(values.count ?? 12_000) : 1
  process.stderr.write(`minting ${count} credential(s)…\n`)
  await exec(node, [join(root, 'bench/servers/mint.ts'), cfg, String(count), join(tmp, 'creds')], { env })
  const profDir = join(tmp, 'prof')
  const sut =
    scenario === 'bare'
      ? await startServer({ name: 'bare', cmd: node, args: ['--cpu-prof', `--cpu-prof-dir=${profDir}`, join(root, 'bench/servers/bare-proxy.ts'), upstreamUrl], log: join(tmp, 'sut.log'), cpus: sutCpus, ready: readyLine })
      : await startServer({
          name: 'turnpike', cmd: node, args: ['--cpu-prof', `--cpu-prof-dir=${profDir}`, join(root, 'src/bin.ts'), 'serve', '--config', cfg], log: join(tmp, 'sut.log'), cpus: sutCpus, env,
          ready: () => readyHttp(`http://127.0.0.1:${port}/.turnpike/health`, port),
        })
  const url = `http://127.0.0.1:${sut.port}`
  const cred = readFileSync(join(tmp, 'creds'), 'utf8').trim().split('\n')
  const r = await load('wrk', {
    url, path: '/bench/item', connections: 50, durationS: seconds, expect: scenario === 'challenge' ? 402 : 200, cpus: loadCpus,
    auth: perRequest || scenario === 'challenge' ? undefined : cred[0],
    creds: perRequest ? { file: join(tmp, 'creds'), start: 0, count: cred.length } : undefined,
  })
  process.stderr.write(`${Math.round(r.rps)} req/s, p50 ${r.latencyMs.p50} ms, p99 ${r.latencyMs.p99} ms, ${JSON.stringify(r.statuses)}, ${r.ok} ok\n`)
  // SIGINT lets the server close cleanly, which is when --cpu-prof writes the profile.
  sut.child.kill('SIGINT')
  await new Promise((res) => sut.child.once('exit', res))
  const file = readdirSync(profDir).find((f) => f.endsWith('.cpuprofile'))!
  const out = values.out ?? join(os.tmpdir(), 'turnpike-profiles')
  mkdirSync(out, { recursive: true })
  const dest = join(out, `${new Date().toISOString().replace(/[:.]/g, '-')}-${scenario}.cpuprofile`)
  copyFileSync(join(profDir, file), dest)
  const prof = JSON.parse(readFileSync(dest, 'utf8')) as Profile
  process.stdout.write('self time (whole process life, start-up included):\n')
  for (const x of topSelf(prof, Number(values.top ?? 40))) process.stdout.write(`${(100 * x.share).toFixed(1).padStart(5)}%  ${x.ms.toFixed(0).padStart(6)} ms  ${x.fn}\n`)
  process.stdout.write(`\ninclusive time of turnpike's own functions, µs per request (${r.ok} requests):\n`)
  for (const x of topInclusive(prof, /^\S+ (src|bench)\//, 30)) process.stdout.write(`${(x.us / Math.max(1, r.ok)).toFixed(2).padStart(9)} µs  ${x.fn}\n`)
  process.stderr.write(`profile: ${dest}\n`)
} finally {
  for (const s of servers.reverse()) await s.stop()
  if (!values.keep) rmSync(tmp, { recursive: true, force: true })
  else process.stderr.write(`kept ${tmp}\n`)
}
process.exit(0)
