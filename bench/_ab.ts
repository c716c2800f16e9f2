import { randomBytes } from 'node:crypto'
import { readdirSync, readFileSync, writeFileSync, mkdtempSync } from 'node:fs'
import { join } from 'node:path'
import { load } from './lib/load.ts'
import { exec, freePort, readyHttp, readyLine, sample, startServer } from './lib/proc.ts'
const node = process.execPath
const tmp = mkdtempSync('/tmp/bs/ab-')
const env = { ...process.env, TURNPIKE_SECRET: randomBytes(32).toString('hex') }
const up = await startServer({ name: 'up', cmd: node, args: ['bench/servers/upstream.ts'], log: join(tmp, 'up.log'), cpus: '0', ready: readyLine })
const gws: Record<string, { pid: number; port: number; stop(): Promise<void> }> = {}
let cred = ''
for (const t of ['old', 'new']) {
  const port = await freePort()
  writeFileSync(join(tmp, `${t}.json`), JSON.stringify({ listen: `127.0.0.1:${port}`, backend: 'dev', dataDir: join(tmp, 'd'), store: 'sqlite', upstream: `http://127.0.0.1:${up.port}`, routes: [{ name: 'api', path: '/*', price: '10sat', access: 'pass:1h' }] }))
  if (!cred) { await exec(node, ['bench/servers/mint.ts', join(tmp, `${t}.json`), '1', join(tmp, 'cred')], { env }); cred = readFileSync(join(tmp, 'cred'), 'utf8').trim() }
  gws[t] = await startServer({ name: t, cmd: node, args: [`/tmp/bs/tree-${t}/src/bin.ts`, 'serve', '--config', join(tmp, `${t}.json`)], log: join(tmp, `${t}.log`), cpus: '1', env, ready: () => readyHttp(`http://127.0.0.1:${port}/.turnpike/health`, port) })
}
const res: Record<string, { rps: number[]; cpu: number[] }> = { old: { rps: [], cpu: [] }, new: { rps: [], cpu: [] } }
for (let r = 0; r < 9; r++) for (const t of r % 2 ? ['new', 'old'] : ['old', 'new']) {
  const s = gws[t]!
  const a = sample(s.pid).cpuS
  const l = await load('wrk', { url: `http://127.0.0.1:${s.port}`, path: '/bench/item', connections: 50, durationS: r === 0 ? 2 : 5, expect: 200, cpus: '0', auth: cred })
  const b = sample(s.pid).cpuS
  if (r === 0) continue
  res[t]!.rps.push(l.rps); res[t]!.cpu.push((1e6 * (b - a)) / l.ok)
}
const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
for (const t of ['old', 'new']) console.log(t, 'rps', res[t]!.rps.map(Math.round).join(' '), 'median', Math.round(med(res[t]!.rps)), '| CPU µs/req', res[t]!.cpu.map((x) => x.toFixed(0)).join(' '), 'median', med(res[t]!.cpu).toFixed(1))
for (const s of [...Object.values(gws), up]) await s.stop()
process.exit(0)
