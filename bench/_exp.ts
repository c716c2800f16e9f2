import { randomBytes } from 'node:crypto'
import { readdirSync, readFileSync, writeFileSync, mkdtempSync } from 'node:fs'
import { join } from 'node:path'
import { load } from './lib/load.ts'
import { exec, freePort, readyHttp, readyLine, startServer } from './lib/proc.ts'
const node = process.execPath
const tmp = mkdtempSync('/tmp/bs/exp-')
const env = { ...process.env, TURNPIKE_SECRET: randomBytes(32).toString('hex') }
function threads(pid: number) {
  const out: Record<string, number> = {}
  for (const t of readdirSync(`/proc/${pid}/task`)) {
    const comm = readFileSync(`/proc/${pid}/task/${t}/comm`, 'utf8').trim()
    const st = readFileSync(`/proc/${pid}/task/${t}/stat`, 'utf8'); const f = st.slice(st.lastIndexOf(')') + 2).split(' ')
    out[comm] = (out[comm] ?? 0) + (Number(f[11]) + Number(f[12])) * 10
  }
  return out
}
const up = await startServer({ name: 'up', cmd: node, args: ['bench/servers/upstream.ts'], log: join(tmp, 'up.log'), cpus: '0', ready: readyLine })
const bare = await startServer({ name: 'bare', cmd: node, args: ['bench/servers/bare-proxy.ts', `http://127.0.0.1:${up.port}`], log: join(tmp, 'bare.log'), cpus: '1', ready: readyLine })
const port = await freePort()
writeFileSync(join(tmp, 'cfg.json'), JSON.stringify({ listen: `127.0.0.1:${port}`, backend: 'dev', dataDir: join(tmp, 'd'), store: process.argv[2] ?? 'sqlite', upstream: `http://127.0.0.1:${up.port}`, routes: [{ name: 'api', path: '/*', price: '10sat', access: 'pass:1h' }] }))
await exec(node, ['bench/servers/mint.ts', join(tmp, 'cfg.json'), '1', join(tmp, 'cred')], { env })
const cred = readFileSync(join(tmp, 'cred'), 'utf8').trim()
const gw = await startServer({ name: 'gw', cmd: node, args: ['src/bin.ts', 'serve', '--config', join(tmp, 'cfg.json')], log: join(tmp, 'gw.log'), cpus: '1', env, ready: () => readyHttp(`http://127.0.0.1:${port}/.turnpike/health`, port) })
for (let r = 0; r < 3; r++) for (const [name, s] of [['bare', bare], ['pass', gw]] as const) {
  const a = threads(s.pid)
  const l = await load('wrk', { url: `http://127.0.0.1:${s.port}`, path: '/bench/item', connections: 50, durationS: 5, expect: 200, cpus: '0', auth: cred })
  const b = threads(s.pid)
  const d = Object.fromEntries(Object.keys(b).map((k) => [k, Math.round(((b[k]! - (a[k] ?? 0)) * 1000) / l.ok)]))
  console.log(name, Math.round(l.rps), 'rps', 'µs/req by thread:', JSON.stringify(d))
}
for (const s of [gw, bare, up]) await s.stop()
process.exit(0)
