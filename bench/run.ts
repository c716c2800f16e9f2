/**
 * turnpike benchmarks: `npm run bench` (full) or `npm run bench -- --quick` (< 3 min on 2 cores).
 *
 * Every scenario runs in one invocation, against loopback only, each server in its own process:
 *   1 direct upstream (the limit)             5 turnpike, per-request, SQLite store
 *   2 bare Node proxy (turnpike's forwarder,   6 turnpike, per-request, Redis store
 *     always allow, no payment logic)          7 turnpike, challenge path (402 + invoice each)
 *   3 nginx proxy_pass + upstream keepalive    8 turnpike --workers 2 (when the flag exists)
 *   4 turnpike, pass credential                9 forward-auth through nginx auth_request (when it exists)
 * plus paced (below saturation) latency runs of 2, 4, 5, 6 and the micro-benchmarks (bench/micro.ts).
 * Rounds are interleaved (1 2 3 … 9, then 9 … 1, …) and compared against the bare proxy of the same
 * round. Writes bench/results/<timestamp>.{json,md,svg} and, in full mode, the generated section of
 * docs/benchmarks.md. `--help` lists the options.
 */
import { randomBytes } from 'node:crypto'
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { load, type Generator, type LoadResult, type LoadSpec } from './lib/load.ts'
import { busyShare, cpuTimes, exec, freePort, readyHttp, readyLine, repin, sample, setNice, startServer, type Server } from './lib/proc.ts'
import { markdown, svg, type MicroResult, type RoundRecord, type RunResult } from './lib/report.ts'
import { summarize } from './lib/summary.ts'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const node = process.execPath
const bin = join(root, 'src/bin.ts')

const help = `npm run bench [-- options]

  --quick               short run (< 3 minutes on 2 cores); default is the full run
  --rounds <n>          interleaved rounds per scenario (quick 2, full 5)
  --duration <s>        seconds per throughput run (quick 2, full 5)
  --connections <n>     concurrent connections (default 50)
  --creds <n>           per-request credentials per round and scenario (quick 2000, full 5000)
  --generator <g>       wrk (default when installed) or autocannon
  --only <ids>          comma list of scenario ids: direct,bare,nginx,pass,sqlite,redis,challenge,workers,forward-auth
  --no-micro            skip the micro-benchmarks
  --no-pin              do not pin processes to CPUs (default: load + upstream on CPU 0, proxy on the last CPU)
  --nice=<n>            run the micro-benchmarks, minting, servers and load generator at this nice value, e.g. --nice=-10
                        (negative needs root): on a shared machine the other processes then take less from
                        the measurement (and are slowed down meanwhile); default: not reniced
  --redis <url>         Redis for scenario 6 (default redis://127.0.0.1:6379/14)
  --docs / --no-docs    write the generated section of docs/benchmarks.md (default: full runs only)
  --keep                keep the temporary directory (logs, configs, credentials)
  --render <json>       only re-render a results file (tables, targets, chart; --docs to update the docs)
`

const { values: opt } = parseArgs({
  options: {
    quick: { type: 'boolean' },
    full: { type: 'boolean' },
    rounds: { type: 'string' },
    duration: { type: 'string' },
    connections: { type: 'string' },
    creds: { type: 'string' },
    generator: { type: 'string' },
    only: { type: 'string' },
    'no-micro': { type: 'boolean' },
    'no-pin': { type: 'boolean' },
    nice: { type: 'string' },
    redis: { type: 'string' },
    docs: { type: 'boolean' },
    'no-docs': { type: 'boolean' },
    keep: { type: 'boolean' },
    render: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
  strict: true,
})
if (opt.help) {
  process.stdout.write(help)
  process.exit(0)
}

const mode: 'quick' | 'full' = opt.quick && !opt.full ? 'quick' : 'full'
const base =
  mode === 'quick'
    ? { rounds: 2, durationS: 2, pacedS: 2, warmupS: 1, perRequestPerRound: 2_000, warmCreds: 400, quietWaitS: 0, bracket: false }
    : { rounds: 5, durationS: 5, pacedS: 5, warmupS: 2, perRequestPerRound: 15_000, warmCreds: 3_000, quietWaitS: 2, bracket: true }
const profile = opt.creds ? { ...base, perRequestPerRound: Number(opt.creds), warmCreds: Math.min(base.warmCreds, Number(opt.creds)) } : base
const rounds = Number(opt.rounds ?? profile.rounds)
const durationS = Number(opt.duration ?? profile.durationS)
const connections = Number(opt.connections ?? 50)
/** Per-connection pause of the paced runs: 50 connections × 1 request / ~100 ms ≈ 500 req/s. */
const pauseMs = 100
const redisUrl = opt.redis ?? 'redis://127.0.0.1:6379/14'
const started = new Date()
const t0 = performance.now()
const log = (msg: string) => process.stderr.write(`[bench ${((performance.now() - t0) / 1000).toFixed(0).padStart(4)}s] ${msg}\n`)
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const median = (xs: readonly number[]) => {
  if (xs.length === 0) return undefined
  const s = [...xs].sort((a, b) => a - b)
  const m = Math.floor(s.length / 2)
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

async function has(cmd: string, args: string[]): Promise<string | undefined> {
  try {
    return (await exec(cmd, args, { timeoutMs: 10_000 })).trim() || 'yes'
  } catch (e) {
    // nginx -v prints to stderr and exits 0; anything that fails to run is "not installed".
    return undefined
  }
}

async function toolVersions(): Promise<Record<string, string>> {
  const v: Record<string, string> = {}
  const wrkV = await exec('sh', ['-c', 'wrk -v 2>&1 | head -1']).catch(() => '')
  if (/wrk/.test(wrkV)) v.wrk = /wrk (\S+)/.exec(wrkV)?.[1] ?? wrkV.trim()
  const ngV = await exec('sh', ['-c', 'nginx -v 2>&1']).catch(() => '')
  if (/nginx\//.test(ngV)) v.nginx = /nginx\/(\S+)/.exec(ngV)?.[1] ?? ngV.trim()
  const rV = await exec('sh', ['-c', 'redis-server --version 2>/dev/null']).catch(() => '')
  if (rV) v['redis-server'] = /v=(\S+)/.exec(rV)?.[1] ?? rV.trim()
  try {
    v.autocannon = (JSON.parse(readFileSync(join(root, 'node_modules/autocannon/package.json'), 'utf8')) as { version: string }).version
  } catch {
    // not installed
  }
  return v
}

function machine(tools: Record<string, string>) {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8')
  const model = /model name\s*:\s*(.+)/.exec(cpuinfo)?.[1]?.trim() ?? os.cpus()[0]?.model ?? 'unknown'
  let distro = os.type()
  try {
    distro = /PRETTY_NAME="([^"]+)"/.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? distro
  } catch {
    // keep os.type()
  }
  return { cpuModel: model, cores: os.cpus().length, memoryBytes: os.totalmem(), node: process.version, kernel: os.release(), os: distro, tools }
}

/** True when a Redis answers PING at this URL. */
async function redisUp(url: string): Promise<boolean> {
  try {
    const { Redis } = (await import('ioredis')) as unknown as { Redis: new (u: string, o: object) => { ping(): Promise<string>; disconnect(): void } }
    const c = new Redis(url, { lazyConnect: false, maxRetriesPerRequest: 0, connectTimeout: 1000, retryStrategy: () => null })
    try {
      return (await c.ping()) === 'PONG'
    } finally {
      c.disconnect()
    }
  } catch {
    return false
  }
}

/** Deletes the claim and invoice keys this run created (the Redis is shared with the test suite). */
async function redisCleanup(url: string, hashes: readonly string[]): Promise<number> {
  const { Redis } = (await import('ioredis')) as unknown as {
    Redis: new (u: string) => { pipeline(): { del(...k: string[]): unknown; exec(): Promise<unknown> }; quit(): Promise<unknown> }
  }
  const c = new Redis(url)
  let n = 0
  for (let i = 0; i < hashes.length; i += 1000) {
    const p = c.pipeline()
    for (const h of hashes.slice(i, i + 1000)) p.del(`turnpike:claim:l402:${h}`, `turnpike:invoice:${h}`)
    await p.exec()
    n += Math.min(1000, hashes.length - i)
  }
  await c.quit()
  return n
}

// ---------------------------------------------------------------------------------------------

type Scenario = {
  readonly id: string
  readonly n: number
  readonly title: string
  readonly kind: 'throughput' | 'paced'
  readonly group: 'baseline' | 'nginx' | 'turnpike'
  skipped?: string
  server?: Server
  /** Further processes that belong to the system under test (CPU and RSS are summed). */
  also?: Server[]
  url?: string
  /** CPUs the system under test runs on during its runs (undefined = all). */
  sutCpus?: string | undefined
  expect: number
  auth?: string
  pool?: CredPool
  /** Scenario 1: the upstream is moved to the SUT CPU for its runs. */
  movesUpstream?: boolean
  note?: string
}

/** Every server this run started, stopped on exit, error or Ctrl-C. */
const servers: Server[] = []
let tmpDir: string | undefined
async function stopAll() {
  for (const srv of servers.splice(0).reverse()) await srv.stop().catch(() => {})
}
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    process.stderr.write(`bench: ${sig}, stopping servers\n`)
    void stopAll().finally(() => process.exit(130))
  })
}

class CredPool {
  next = 0
  readonly file: string
  readonly total: number
  constructor(file: string, total: number) {
    this.file = file
    this.total = total
  }
  take(count: number): { file: string; start: number; count: number } {
    const n = Math.min(count, this.total - this.next)
    if (n < connections + 100) throw new Error(`credential pool ${this.file} exhausted`)
    const slice = { file: this.file, start: this.next, count: n }
    this.next += n
    return slice
  }
}

/** Re-renders an existing results file with the current summary and report code. */
function render(file: string) {
  const r = JSON.parse(readFileSync(file, 'utf8')) as RunResult
  const { summaries, targets } = summarize({ scenarios: r.scenarios, runs: r.runs, micro: r.micro, connections: Number(r.settings.connections) })
  const result: RunResult = { ...r, scenarios: summaries, targets }
  const stamp = file.replace(/^.*\//, '').replace(/\.json$/, '')
  const md = markdown(result)
  const chart = svg(result)
  writeFileSync(file, JSON.stringify(result, null, 2) + '\n')
  writeFileSync(file.replace(/\.json$/, '.md'), md + '\n')
  writeFileSync(file.replace(/\.json$/, '.svg'), chart + '\n')
  if (opt.docs) updateDocs(result, md, chart, stamp)
  process.stdout.write(md + '\n')
}

async function main() {
  if (opt.render) return render(opt.render)
  const generator: Generator = (opt.generator as Generator | undefined) ?? ((await has('sh', ['-c', 'command -v wrk'])) ? 'wrk' : 'autocannon')
  if (generator !== 'wrk' && generator !== 'autocannon') throw new Error('--generator must be wrk or autocannon')
  const tools = await toolVersions()
  const info = machine(tools)
  const cores = info.cores
  const pin = !opt['no-pin'] && cores >= 2
  const loadCpus = pin ? (cores === 2 ? '0' : `0-${cores - 2}`) : undefined
  const sutCpus = pin ? String(cores - 1) : undefined
  const pinNote = pin
    ? `load generator and upstream on CPU ${loadCpus}, the proxy under test alone on CPU ${sutCpus} (taskset), so "one core" means one core; ` +
      `scenario 1 moves the upstream to CPU ${sutCpus} for its runs; Redis (a system service) is not pinned; the machine is shared with other work`
    : 'not pinned'
  const niceness = opt.nice === undefined ? 0 : Number(opt.nice)
  if (!Number.isInteger(niceness) || niceness < -20 || niceness > 19) throw new Error('--nice must be an integer from -20 to 19')
  setNice(niceness)
  const only = opt.only ? new Set(opt.only.split(',').map((s) => s.trim())) : undefined
  const notes: string[] = []

  const tmp = mkdtempSync(join(os.tmpdir(), 'turnpike-bench-'))
  chmodSync(tmp, 0o755)
  tmpDir = tmp
  const secret = randomBytes(32).toString('hex')
  const gwEnv = { ...process.env, TURNPIKE_SECRET: secret }
  log(`${mode} mode, ${generator}, ${connections} connections, ${rounds} rounds × ${durationS} s; temp ${tmp}`)

  // ---- micro-benchmarks first, on a quiet machine (nothing else of ours is running yet).
  let micro: MicroResult[] = []
  if (!opt['no-micro'] && (!only || only.has('micro'))) {
    log('micro-benchmarks')
    const out = await exec(node, [join(root, 'bench/micro.ts'), ...(mode === 'quick' ? ['--quick'] : [])], { cpus: sutCpus, timeoutMs: 300_000, nice: true })
    micro = JSON.parse(out.split('\n').find((l) => l.startsWith('RESULT '))!.slice(7)) as MicroResult[]
  }

  // ---- scenario table
  const S = (s: Omit<Scenario, 'expect'> & { expect?: number }): Scenario => ({ expect: 200, ...s })
  const scenarios: Scenario[] = [
    S({ id: 'direct', n: 1, title: 'Direct upstream (the limit)', kind: 'throughput', group: 'baseline', movesUpstream: true }),
    S({ id: 'bare', n: 2, title: 'Bare Node proxy (turnpike forwarder)', kind: 'throughput', group: 'baseline' }),
    S({ id: 'nginx', n: 3, title: 'nginx proxy_pass, keepalive', kind: 'throughput', group: 'nginx' }),
    S({ id: 'pass', n: 4, title: 'turnpike, pass credential', kind: 'throughput', group: 'turnpike' }),
    S({ id: 'sqlite', n: 5, title: 'turnpike, per-request, SQLite', kind: 'throughput', group: 'turnpike' }),
    S({ id: 'redis', n: 6, title: 'turnpike, per-request, Redis', kind: 'throughput', group: 'turnpike' }),
    S({ id: 'challenge', n: 7, title: 'turnpike, challenge (402 + invoice)', kind: 'throughput', group: 'turnpike', expect: 402 }),
    S({ id: 'workers', n: 8, title: 'turnpike --workers 2, pass', kind: 'throughput', group: 'turnpike' }),
    S({ id: 'forward-auth', n: 9, title: 'forward-auth via nginx auth_request', kind: 'throughput', group: 'turnpike' }),
    S({ id: 'bare@paced', n: 2, title: 'Bare Node proxy', kind: 'paced', group: 'baseline' }),
    S({ id: 'pass@paced', n: 4, title: 'turnpike, pass', kind: 'paced', group: 'turnpike' }),
    S({ id: 'sqlite@paced', n: 5, title: 'turnpike, per-request, SQLite', kind: 'paced', group: 'turnpike' }),
    S({ id: 'redis@paced', n: 6, title: 'turnpike, per-request, Redis', kind: 'paced', group: 'turnpike' }),
  ]
  const byId = (id: string) => scenarios.find((s) => s.id === id)!
  const baseId = (s: Scenario) => s.id.replace(/@paced$/, '')
  for (const s of scenarios) if (only && !only.has(baseId(s)) && baseId(s) !== 'bare') s.skipped = 'not selected (--only)'

  // Availability checks.
  if (!tools.nginx) byId('nginx').skipped = 'nginx is not installed'
  const serveHelp = await exec(node, [bin, 'serve', '--help']).catch(() => '')
  if (!/--workers\b/.test(serveHelp)) byId('workers').skipped = '`turnpike serve --help` has no --workers yet (cluster workers not implemented)'
  else if (cores < 2) byId('workers').skipped = 'needs at least 2 CPUs'
  const faExample = join(root, 'examples/nginx')
  if (!existsSync(join(root, 'src/forward-auth'))) byId('forward-auth').skipped = 'src/forward-auth does not exist yet'
  else if (!/--forward-auth\b/.test(serveHelp)) byId('forward-auth').skipped = 'src/forward-auth exists but `turnpike serve --help` has no --forward-auth yet'
  else if (!existsSync(join(faExample, 'default.conf.template'))) byId('forward-auth').skipped = 'examples/nginx (the shipped auth_request config) is missing'
  else if (!tools.nginx) byId('forward-auth').skipped = 'nginx is not installed'
  const needRedis = !byId('redis').skipped || !byId('redis@paced').skipped
  if (needRedis && !(await redisUp(redisUrl))) {
    byId('redis').skipped = byId('redis@paced').skipped = `no Redis answering at ${redisUrl}`
  }

  // ---- upstream + bare proxy (always: every ratio is against the bare proxy)
  const upstream = await startServer({ name: 'upstream', cmd: node, args: [join(root, 'bench/servers/upstream.ts')], log: join(tmp, 'upstream.log'), cpus: loadCpus, ready: readyLine })
  servers.push(upstream)
  const upstreamUrl = `http://127.0.0.1:${upstream.port}`
  byId('direct').server = upstream
  byId('direct').sutCpus = sutCpus
  byId('direct').url = upstreamUrl

  const bare = await startServer({ name: 'bare', cmd: node, args: [join(root, 'bench/servers/bare-proxy.ts'), upstreamUrl], log: join(tmp, 'bare.log'), cpus: sutCpus, ready: readyLine })
  servers.push(bare)
  for (const id of ['bare', 'bare@paced']) Object.assign(byId(id), { server: bare, url: `http://127.0.0.1:${bare.port}`, sutCpus })

  // ---- nginx
  if (!byId('nginx').skipped) {
    const port = await freePort()
    const dir = join(tmp, 'nginx')
    mkdirSync(dir, { recursive: true, mode: 0o755 })
    writeFileSync(
      join(dir, 'nginx.conf'),
      nginxMain(dir, `upstream bench_upstream {
    server 127.0.0.1:${upstream.port};
    keepalive 128;
  }
  server {
    listen 127.0.0.1:${port};
    keepalive_requests 1000000;
    location / {
      proxy_pass http://bench_upstream;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $http_host;
      proxy_set_header Authorization "";
      proxy_set_header X-Forwarded-For $remote_addr;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Forwarded-Host $http_host;
    }
  }`),
    )
    try {
      const ng = await startServer({
        name: 'nginx', cmd: 'nginx', args: ['-e', join(dir, 'error.log'), '-p', dir, '-c', join(dir, 'nginx.conf')], log: join(tmp, 'nginx.log'), cpus: sutCpus,
        ready: () => readyHttp(`http://127.0.0.1:${port}/`, port),
      })
      servers.push(ng)
      Object.assign(byId('nginx'), { server: ng, url: `http://127.0.0.1:${port}`, sutCpus, note: '1 worker process' })
    } catch (e) {
      byId('nginx').skipped = `nginx did not start: ${(e as Error).message} ${tail(join(dir, 'error.log'))}`
    }
  }

  // ---- turnpike gateways: one process per scenario, each with its own data dir and config.
  type Gw = { id: string; access: string; store: unknown; cpus: string | undefined; extra?: string[]; scenarios: string[] }
  const gws: Gw[] = [
    { id: 'pass', access: 'pass:1h', store: 'sqlite', cpus: sutCpus, scenarios: ['pass', 'pass@paced'] },
    { id: 'sqlite', access: 'per-request', store: 'sqlite', cpus: sutCpus, scenarios: ['sqlite', 'sqlite@paced'] },
    { id: 'redis', access: 'per-request', store: { type: 'redis', url: redisUrl }, cpus: sutCpus, scenarios: ['redis', 'redis@paced'] },
    { id: 'challenge', access: 'per-request', store: 'sqlite', cpus: sutCpus, scenarios: ['challenge'] },
    { id: 'workers', access: 'pass:1h', store: 'sqlite', cpus: undefined, extra: ['--workers', '2'], scenarios: ['workers'] },
    { id: 'forward-auth', access: 'pass:1h', store: 'sqlite', cpus: sutCpus, extra: ['--forward-auth'], scenarios: ['forward-auth'] },
  ].filter((g) => g.scenarios.some((id) => !byId(id).skipped) || g.id === 'pass')
  const cfgFile = (g: Gw) => join(tmp, `${g.id}.json`)
  const gwPorts = new Map<string, number>()
  for (const g of gws) {
    const port = await freePort()
    gwPorts.set(g.id, port)
    const dataDir = join(tmp, `data-${g.id}`)
    const raw = {
      listen: `127.0.0.1:${port}`, backend: 'dev', dataDir, store: g.store,
      ...(g.id === 'forward-auth' ? { forwardAuth: true } : { upstream: upstreamUrl }),
      routes: [{ name: 'api', path: '/*', price: '10sat', access: g.access }],
    }
    writeFileSync(cfgFile(g), JSON.stringify(raw, null, 2))
  }

  // ---- mint credentials before any gateway runs: pass (1), and per-request pools.
  const paced = Math.ceil(((connections * 1000) / pauseMs) * profile.pacedS * 1.1) + connections + 100
  const warm = profile.warmCreds
  const perStore = warm + paced + rounds * (profile.perRequestPerRound + paced)
  const jobs: { g: Gw; count: number; out: string }[] = []
  jobs.push({ g: gws.find((g) => g.id === 'pass')!, count: 1, out: join(tmp, 'creds-pass-0') })
  const faGw = gws.find((g) => g.id === 'forward-auth')
  if (faGw) jobs.push({ g: faGw, count: 1, out: join(tmp, 'creds-forward-auth-0') })
  for (const id of ['sqlite', 'redis']) {
    const g = gws.find((x) => x.id === id)
    if (!g) continue
    const parts = Math.max(1, cores)
    for (let i = 0; i < parts; i++) {
      jobs.push({ g, count: Math.ceil(perStore / parts), out: join(tmp, `creds-${id}-${i}`) })
    }
  }
  log(`minting ${jobs.reduce((a, j) => a + j.count, 0).toLocaleString('en-US')} credentials (402 → dev pay) in ${Math.max(1, cores)} processes`)
  const mintStart = performance.now()
  {
    const queue = [...jobs]
    const worker = async () => {
      for (let j = queue.shift(); j; j = queue.shift()) {
        await exec(node, [join(root, 'bench/servers/mint.ts'), cfgFile(j.g), String(j.count), j.out], { env: gwEnv, timeoutMs: 1_800_000, nice: true })
      }
    }
    await Promise.all(Array.from({ length: Math.max(1, cores) }, worker))
  }
  const mintS = (performance.now() - mintStart) / 1000
  const passCred = readFileSync(join(tmp, 'creds-pass-0'), 'utf8').trim()
  const mintedHashes: Record<string, string[]> = {}
  for (const id of ['sqlite', 'redis']) {
    const parts = jobs.filter((j) => j.g.id === id)
    if (parts.length === 0) continue
    const lines = parts.flatMap((j) => readFileSync(j.out, 'utf8').trim().split('\n'))
    mintedHashes[id] = parts.flatMap((j) => readFileSync(`${j.out}.hashes`, 'utf8').trim().split('\n'))
    const file = join(tmp, `creds-${id}.txt`)
    writeFileSync(file, lines.join('\n') + '\n')
    const pool = new CredPool(file, lines.length)
    for (const sid of [id, `${id}@paced`]) byId(sid).pool = pool
  }
  const minted = 1 + Object.values(mintedHashes).reduce((a, h) => a + h.length, 0)
  log(`minted ${minted.toLocaleString('en-US')} in ${mintS.toFixed(1)} s`)

  // The same request everywhere (same path, same Authorization size) except the challenge path.
  for (const s of scenarios) if (!s.pool && s.id !== 'challenge') s.auth = passCred
  if (faGw) byId('forward-auth').auth = readFileSync(join(tmp, 'creds-forward-auth-0'), 'utf8').trim()

  for (const g of gws) {
    const port = gwPorts.get(g.id)!
    const active = g.scenarios.filter((id) => !byId(id).skipped)
    if (active.length === 0) continue
    try {
      const srv = await startServer({
        name: `turnpike-${g.id}`, cmd: node, args: [bin, 'serve', '--config', cfgFile(g), ...(g.extra ?? [])], log: join(tmp, `turnpike-${g.id}.log`), cpus: g.cpus, env: gwEnv,
        ready: () => readyHttp(`http://127.0.0.1:${port}/.turnpike/health`, port),
      })
      servers.push(srv)
      for (const id of active) Object.assign(byId(id), { server: srv, url: `http://127.0.0.1:${port}`, sutCpus: g.cpus })
    } catch (e) {
      for (const id of active) byId(id).skipped = `turnpike did not start: ${(e as Error).message} ${tail(join(tmp, `turnpike-${g.id}.log`))}`
    }
  }

  // ---- nginx auth_request in front of the forward-auth service: the shipped examples/nginx files,
  // with upstream keepalive raised from 8 to 128 (8 idle connections for 50 clients means a new
  // loopback connection per request or so, which exhausts ephemeral ports at these rates).
  const fa = byId('forward-auth')
  if (!fa.skipped && fa.server) {
    const dir = join(tmp, 'nginx-fa')
    mkdirSync(join(dir, 'conf.d'), { recursive: true, mode: 0o755 })
    for (const f of ['turnpike.conf', 'turnpike-headers.conf']) symlinkSync(join(faExample, f), join(dir, f))
    const port = await freePort()
    const site = readFileSync(join(faExample, 'default.conf.template'), 'utf8')
      .replaceAll('${TURNPIKE_ADDR}', `127.0.0.1:${fa.server.port}`)
      .replaceAll('${APP_ADDR}', `127.0.0.1:${upstream.port}`)
      .replaceAll('${SITE_PORT}', `127.0.0.1:${port}`)
      .replace(/keepalive 8;/g, 'keepalive 128;')
    writeFileSync(join(dir, 'conf.d', 'default.conf'), site)
    writeFileSync(join(dir, 'nginx.conf'), nginxMain(dir, `include ${dir}/conf.d/*.conf;`))
    try {
      const ng = await startServer({
        name: 'nginx-fa', cmd: 'nginx', args: ['-e', join(dir, 'error.log'), '-p', dir, '-c', join(dir, 'nginx.conf')], log: join(tmp, 'nginx-fa.log'), cpus: sutCpus,
        ready: () => readyHttp(`http://127.0.0.1:${port}/`, port),
      })
      servers.push(ng)
      Object.assign(fa, { also: [fa.server], server: ng, url: `http://127.0.0.1:${port}`, note: 'nginx (1 worker) and turnpike --forward-auth share the proxy CPU' })
    } catch (e) {
      fa.skipped = `nginx (auth_request) did not start: ${(e as Error).message} ${tail(join(dir, 'error.log'))}`
    }
  }

  // ---- runs
  const active = scenarios.filter((s) => !s.skipped && s.server)
  const runs: RoundRecord[] = []
  const path = '/bench/item'
  const specFor = (s: Scenario, seconds: number, credCount: number): LoadSpec => ({
    url: s.url!, path, connections, durationS: seconds, expect: s.expect, cpus: loadCpus,
    auth: s.auth, creds: s.pool ? s.pool.take(credCount) : undefined, pauseMs: s.kind === 'paced' ? pauseMs : undefined,
  })
  /** Background CPU (other people's processes: ours are idle between runs); waits a little for a quieter moment. */
  const quiet = async (): Promise<number> => {
    const deadline = performance.now() + profile.quietWaitS * 1000
    let b = await busyShare(200)
    while (b > 0.5 && performance.now() < deadline) b = await busyShare(500)
    return b
  }
  const runOne = async (s: Scenario, seconds: number, credCount: number) => {
    const background = await quiet()
    if (s.movesUpstream && pin) await repin(s.server!.pid, sutCpus!)
    try {
      const pids = [s.server!, ...(s.also ?? [])].map((x) => x.pid)
      const sampleAll = () => pids.map(sample).reduce((a, b) => ({ cpuS: a.cpuS + b.cpuS, peakRssBytes: a.peakRssBytes + b.peakRssBytes }), { cpuS: 0, peakRssBytes: 0 })
      const before = sampleAll()
      const m0 = cpuTimes()
      const r = await load(generator, specFor(s, seconds, credCount))
      const m1 = cpuTimes()
      const after = sampleAll()
      return { load: r, cpuS: after.cpuS - before.cpuS, peak: after.peakRssBytes, background, machineBusy: (m1.busy - m0.busy) / Math.max(1, m1.total - m0.total) }
    } finally {
      if (s.movesUpstream && pin) await repin(s.server!.pid, loadCpus!)
      await sleep(250)
    }
  }

  log(`warm-up: ${active.length} scenario runs × ${profile.warmupS} s`)
  for (const s of active) {
    const r = await runOne(s, profile.warmupS, s.kind === 'paced' ? Math.ceil(paced / rounds) : warm)
    if (r.load.ok === 0) log(`  warning: ${s.id} warm-up had no successful response (${JSON.stringify(r.load.statuses)}); see ${s.server!.log}`)
  }
  /**
   * One round's order, reversed every other round. In full mode the bare proxy also runs right
   * before and after each of pass, SQLite and Redis (and their paced runs): A/B/A/B, so each ratio
   * is taken against the bare runs next to it in time. Quick mode runs each scenario once per round.
   */
  const roundOrder = (round: number): Scenario[] => {
    const bracket = (list: Scenario[], bareId: string, ids: string[]) => {
      const b = list.find((s) => s.id === bareId)
      if (!profile.bracket || !b) return list
      const out = list.filter((s) => s.id !== bareId && !ids.includes(s.id))
      out.push(b)
      for (const s of list) if (ids.includes(s.id)) out.push(s, b)
      return out
    }
    const order = [
      ...bracket(active.filter((s) => s.kind === 'throughput'), 'bare', ['pass', 'sqlite', 'redis']),
      ...bracket(active.filter((s) => s.kind === 'paced'), 'bare@paced', ['pass@paced', 'sqlite@paced', 'redis@paced']),
    ]
    return round % 2 === 0 ? order : order.reverse()
  }
  let seq = 0
  for (let round = 0; round < rounds; round++) {
    const order = roundOrder(round)
    log(`round ${round + 1}/${rounds}`)
    for (const s of order) {
      const seconds = s.kind === 'paced' ? profile.pacedS : durationS
      const count = s.kind === 'paced' ? paced : profile.perRequestPerRound
      const r = await runOne(s, seconds, count)
      runs.push({ scenario: s.id, round, seq: seq++, load: r.load, sutCpuS: r.cpuS, peakRssBytes: r.peak, backgroundPct: 100 * r.background, machineBusyPct: 100 * r.machineBusy })
      const l = r.load
      log(
        `  ${s.id.padEnd(14)} ${Math.round(l.rps).toString().padStart(7)} req/s  p50 ${l.latencyMs.p50.toFixed(2)} p99 ${l.latencyMs.p99.toFixed(2)} ms  ` +
          `cpu ${((100 * r.cpuS) / l.durationS).toFixed(0)}%  bg ${(100 * r.background).toFixed(0)}%  ${l.unexpected + l.errors.connect + l.errors.read + l.errors.write + l.errors.timeout} err  ${l.durationS.toFixed(1)} s`,
      )
    }
  }

  // ---- teardown
  await stopAll()
  if (mintedHashes.redis) {
    const n = await redisCleanup(redisUrl, mintedHashes.redis).catch((e: unknown) => (log(`redis cleanup failed: ${(e as Error).message}`), 0))
    log(`removed the Redis keys of ${n.toLocaleString('en-US')} credentials`)
  }

  // ---- summaries and targets
  const { summaries, targets } = summarize({ scenarios, runs, micro, connections })

  const bg = median(runs.map((r) => r.backgroundPct ?? 0)) ?? 0
  const busy = median(runs.map((r) => r.machineBusyPct ?? 0)) ?? 0
  notes.push(
    `Background load from other processes on this shared machine, sampled just before each run: median ${bg.toFixed(0)}% of all CPUs ` +
      `(max ${Math.max(0, ...runs.map((r) => r.backgroundPct ?? 0)).toFixed(0)}%); load average at the end ${os.loadavg().map((x) => x.toFixed(1)).join(' / ')}. ` +
      `All CPUs were ${busy.toFixed(0)}% busy during the runs (median).${niceness ? ` Micro-benchmarks, credential minting, servers and load generator ran at nice ${niceness}.` : ''}`,
  )
  if (generator === 'wrk') notes.push('wrk is a closed-loop generator: at saturation, latency is mostly queueing, so the paced runs are the ones to read for added latency.')
  notes.push('The per-request credentials were minted by separate processes sharing the gateway\'s data directory (master secret, dev node key, store): a real 402 from `gateway.decide`, then `devNode.pay`.')
  const finished = new Date()
  const result: RunResult = {
    version: 1,
    startedAt: started.toISOString(),
    finishedAt: finished.toISOString(),
    wallS: (performance.now() - t0) / 1000,
    mode,
    command: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
    machine: info,
    settings: {
      generator, connections, rounds, durationS, nice: niceness, pacedDurationS: profile.pacedS, pauseMs, pacing: 'exponential', warmupS: profile.warmupS,
      perRequestPerRound: profile.perRequestPerRound, pin: pin ? { load: loadCpus, sut: sutCpus } : null, pinNote, mintS, minted,
      redis: redisUrl, upstreamBodyBytes: 58,
    },
    micro,
    scenarios: summaries,
    targets,
    runs,
    notes,
  }

  const stamp = started.toISOString().replace(/[:.]/g, '-')
  const resultsDir = join(root, 'bench/results')
  mkdirSync(resultsDir, { recursive: true })
  const md = markdown(result)
  const chart = svg(result)
  writeFileSync(join(resultsDir, `${stamp}.json`), JSON.stringify(result, null, 2) + '\n')
  writeFileSync(join(resultsDir, `${stamp}.md`), md + '\n')
  writeFileSync(join(resultsDir, `${stamp}.svg`), chart + '\n')
  const writeDocs = opt.docs || (mode === 'full' && !opt['no-docs'] && !opt.only)
  if (writeDocs) updateDocs(result, md, chart, stamp)
  process.stdout.write(md + '\n')
  log(`results: bench/results/${stamp}.{json,md,svg}${writeDocs ? '; docs/benchmarks.md updated' : ''}`)
  if (opt.keep) log(`kept ${tmp}`)
  else rmSync(tmp, { recursive: true, force: true })
  process.exit(0)
}

/** nginx.conf for a throwaway nginx: one worker, foreground, everything under `dir`. */
function nginxMain(dir: string, http: string): string {
  const asRoot = process.getuid?.() === 0
  return `${asRoot ? 'user nobody nogroup;\n' : ''}worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  ${http}
}
`
}

/** The last lines of a log file, for an error message. */
function tail(file: string, lines = 4): string {
  try {
    return `— log: ${readFileSync(file, 'utf8').trim().split('\n').slice(-lines).join(' | ')}`
  } catch {
    return ''
  }
}

const BEGIN = '<!-- bench:results:begin (generated by `npm run bench`; edit outside these markers) -->'
const END = '<!-- bench:results:end -->'

/** Replaces the generated section of docs/benchmarks.md (creating the file if needed). */
function updateDocs(r: RunResult, md: string, chart: string, stamp: string) {
  const file = join(root, 'docs/benchmarks.md')
  const section = [
    BEGIN,
    '',
    md,
    '### Chart',
    '',
    `Throughput and p99 per scenario (also saved as \`bench/results/${stamp}.svg\`, raw data in \`bench/results/${stamp}.json\`):`,
    '',
    chart,
    '',
    END,
  ].join('\n')
  let text = existsSync(file) ? readFileSync(file, 'utf8') : `# Benchmarks\n\n${BEGIN}\n${END}\n`
  const a = text.indexOf(BEGIN)
  const b = text.indexOf(END)
  text = a >= 0 && b > a ? text.slice(0, a) + section + text.slice(b + END.length) : `${text.trimEnd()}\n\n${section}\n`
  writeFileSync(file, text)
  void r
}

main().catch(async (e: unknown) => {
  process.stderr.write(`bench failed: ${(e as Error).stack ?? String(e)}\n`)
  await stopAll()
  if (tmpDir) process.stderr.write(`bench: logs kept in ${tmpDir}\n`)
  process.exit(1)
})
