/**
 * Runs one autocannon load in its own process (so it can be pinned and does not share the
 * orchestrator's event loop) and prints `RESULT {json}` in the shape of LoadResult.
 */
import { readFileSync } from 'node:fs'
import autocannon from 'autocannon'
import type { LoadResult, LoadSpec } from './load.ts'

const spec = JSON.parse(process.argv[2]!) as LoadSpec & { stopAfter: number }
const headers: Record<string, string> = {}
if (spec.auth) headers.authorization = spec.auth
const opts: Record<string, unknown> = {
  url: spec.url + spec.path,
  connections: spec.connections,
  pipelining: 1,
  timeout: 5,
  headers,
}
if (spec.creds) {
  const lines = readFileSync(spec.creds.file, 'utf8').split('\n').slice(spec.creds.start, spec.creds.start + spec.creds.count)
  let i = 0
  opts.amount = spec.stopAfter
  opts.requests = [
    {
      setupRequest(req: { headers?: Record<string, string> }) {
        req.headers = { ...req.headers, authorization: lines[i++] ?? lines[lines.length - 1]! }
        return req
      },
    },
  ]
} else {
  opts.duration = spec.durationS
}
// autocannon counts every completed response; per-status counts come from the response hook.
const statuses: Record<string, number> = {}
if (spec.pauseMs) opts.connectionRate = Math.max(1, Math.round(1000 / spec.pauseMs))
const started = process.hrtime.bigint()
const instance = autocannon(opts as unknown as autocannon.Options)
instance.on('response', (_client: unknown, status: number) => {
  statuses[status] = (statuses[status] ?? 0) + 1
})
const r = await instance
const durationS = Number(process.hrtime.bigint() - started) / 1e9
let ok = statuses[String(spec.expect)] ?? 0
const total = Object.values(statuses).reduce((a, b) => a + b, 0)
const result: LoadResult = {
  generator: 'autocannon',
  requests: total,
  ok,
  unexpected: total - ok,
  statuses,
  errors: { connect: 0, read: r.errors - r.timeouts, write: 0, timeout: r.timeouts },
  durationS,
  rps: ok / durationS,
  latencyMs: { p50: r.latency.p50, p90: r.latency.p90, p99: r.latency.p99, max: r.latency.max, mean: r.latency.average },
}
process.stdout.write(`RESULT ${JSON.stringify(result)}\n`)
