/** Per-scenario medians and ratios over the interleaved rounds, and the targets of the issue. */
import type { MicroResult, RoundRecord, ScenarioMeta, ScenarioSummary, Target } from './report.ts'

export const median = (xs: readonly number[]): number | undefined => {
  if (xs.length === 0) return undefined
  const s = [...xs].sort((a, b) => a - b)
  const m = Math.floor(s.length / 2)
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}
const f0 = (x: number | undefined) => (x === undefined ? '–' : Math.round(x).toLocaleString('en-US'))
const sign = (x: number) => `${x >= 0 ? '+' : '−'}${Math.abs(x).toFixed(2)}`

/** Summaries (medians over rounds; ratios against the bare proxy of the same round) and targets. */
export function summarize(o: { scenarios: readonly ScenarioMeta[]; runs: readonly RoundRecord[]; micro: readonly MicroResult[]; connections: number }): {
  summaries: ScenarioSummary[]
  targets: Target[]
} {
  const { runs, micro, connections } = o
  const roundsOf = (id: string) => runs.filter((r) => r.scenario === id)
  /**
   * The bare-proxy reference for one run: the mean of the bare runs right before and right after it
   * in the same round (one of them at the edges); the round's bare runs when positions are unknown.
   */
  const reference = (r: RoundRecord, kind: 'throughput' | 'paced', metric: (b: RoundRecord) => number): number | undefined => {
    const bs = runs.filter((b) => b.scenario === (kind === 'paced' ? 'bare@paced' : 'bare') && b.round === r.round)
    if (bs.length === 0) return undefined
    let near = bs
    if (r.seq !== undefined && bs.every((b) => b.seq !== undefined)) {
      const before = bs.filter((b) => b.seq! < r.seq!).sort((a, b) => b.seq! - a.seq!)[0]
      const after = bs.filter((b) => b.seq! > r.seq!).sort((a, b) => a.seq! - b.seq!)[0]
      near = [before, after].filter((b): b is RoundRecord => b !== undefined)
    }
    return near.reduce((a, b) => a + metric(b), 0) / near.length
  }
  const cpuPerReq = (r: RoundRecord) => r.sutCpuS / Math.max(1, r.load.ok)
  const summaries: ScenarioSummary[] = o.scenarios.map((s) => {
    const base = { id: s.id, n: s.n, title: s.title, kind: s.kind, group: s.group, ...(s.note ? { note: s.note } : {}) }
    if (s.skipped) return { ...base, skipped: s.skipped }
    const rs = roundsOf(s.id)
    const l = rs.map((r) => r.load)
    const ratios = (f: (r: RoundRecord, ref: number) => number, metric: (b: RoundRecord) => number) =>
      rs.flatMap((r) => {
        const ref = reference(r, s.kind, metric)
        return ref === undefined || ref === 0 ? [] : [f(r, ref)]
      })
    const vs = ratios((r, ref) => r.load.rps / ref, (b) => b.load.rps)
    return {
      ...base,
      rounds: rs.length,
      rps: median(l.map((x) => x.rps)),
      p50Ms: median(l.map((x) => x.latencyMs.p50)),
      p99Ms: median(l.map((x) => x.latencyMs.p99)),
      maxMs: median(l.map((x) => x.latencyMs.max)),
      worstMaxMs: Math.max(...l.map((x) => x.latencyMs.max)),
      errors: l.reduce((a, x) => a + x.errors.connect + x.errors.read + x.errors.write + x.errors.timeout, 0),
      unexpected: l.reduce((a, x) => a + x.unexpected, 0),
      requests: l.reduce((a, x) => a + x.requests, 0),
      peakRssBytes: Math.max(...rs.map((r) => r.peakRssBytes)),
      cpuPct: median(rs.map((r) => (100 * r.sutCpuS) / r.load.durationS)),
      cpuUsPerReq: median(rs.map((r) => (1e6 * r.sutCpuS) / Math.max(1, r.load.ok))),
      capacityRps: median(rs.map((r) => r.load.ok / Math.max(1e-9, r.sutCpuS))),
      capacityVsBare: median(ratios((r, ref) => ref / Math.max(1e-12, cpuPerReq(r)), cpuPerReq)),
      vsBare: median(vs),
      vsBareMin: vs.length > 0 ? Math.min(...vs) : undefined,
      vsBareMax: vs.length > 0 ? Math.max(...vs) : undefined,
      addedP99Ms: median(ratios((r, ref) => r.load.latencyMs.p99 - ref, (b) => b.load.latencyMs.p99)),
    }
  })
  const sum = (id: string) => summaries.find((x) => x.id === id)!

  // ---- targets
  const targets: Target[] = []
  // A ratio is judged on measured throughput when both proxies had their core (SUT CPU ≥ 85%),
  // otherwise on the CPU-normalised figure (which the other processes on a shared machine distort less).
  const saturated = (x: ScenarioSummary) => (x.cpuPct ?? 0) >= 85
  const ratioTarget = (id: string, label: string, goal: number) => {
    const x = sum(id)
    const b = sum('bare')
    if (x.skipped || x.vsBare === undefined || x.capacityVsBare === undefined) return targets.push({ id: label, goal: `≥ ${goal * 100}% of bare proxy`, measured: 'not measured', pass: null, note: x.skipped })
    const useMeasured = saturated(x) && saturated(b)
    const value = useMeasured ? x.vsBare : x.capacityVsBare
    targets.push({
      id: label, goal: `≥ ${goal * 100}% of bare proxy`,
      measured: `${useMeasured ? '**' : ''}${(x.vsBare * 100).toFixed(0)}% measured${useMeasured ? '**' : ''} (${f0(x.rps)} vs ${f0(b.rps)} req/s); ` +
        `${useMeasured ? '' : '**'}${(x.capacityVsBare * 100).toFixed(0)}% per core${useMeasured ? '' : '**'} (${f0(x.capacityRps)} vs ${f0(b.capacityRps)} req/s per core)`,
      pass: value >= goal,
      ...(useMeasured ? {} : { note: 'judged per core: the proxies did not get a full core' }),
    })
  }
  ratioTarget('pass', 'pass throughput', 0.9)
  ratioTarget('sqlite', 'per-request throughput, SQLite', 0.8)
  ratioTarget('redis', 'per-request throughput, Redis', 0.7)
  for (const id of ['pass', 'sqlite', 'redis']) {
    const p = sum(`${id}@paced`)
    const t = sum(id)
    const label = `added p99 at ${connections} connections, ${id === 'pass' ? 'pass' : `per-request ${id === 'sqlite' ? 'SQLite' : 'Redis'}`}`
    if (p.skipped || p.addedP99Ms === undefined) {
      targets.push({ id: label, goal: '≤ 1 ms vs bare proxy', measured: 'not measured', pass: null, note: p.skipped })
      continue
    }
    targets.push({
      id: label, goal: '≤ 1 ms vs bare proxy',
      measured: `${sign(p.addedP99Ms)} ms paced (~${Math.round(p.rps!)} req/s); ${t.addedP99Ms === undefined ? '–' : sign(t.addedP99Ms)} ms at saturation`,
      pass: p.addedP99Ms <= 1,
    })
  }
  {
    const c = sum('challenge')
    if (c.skipped || c.rps === undefined) targets.push({ id: 'challenge path, one core, dev backend', goal: '≥ 2,000 challenges/s', measured: 'not measured', pass: null, note: c.skipped })
    else {
      const useMeasured = saturated(c)
      targets.push({
        id: 'challenge path, one core, dev backend', goal: '≥ 2,000 challenges/s',
        measured: `${useMeasured ? '**' : ''}${f0(c.rps)}/s measured${useMeasured ? '**' : ''}; ${useMeasured ? '' : '**'}${f0(c.capacityRps)}/s per core${useMeasured ? '' : '**'} (${f0(c.cpuUsPerReq)} µs CPU each)`,
        pass: (useMeasured ? c.rps : c.capacityRps!) >= 2000,
        ...(useMeasured ? {} : { note: 'judged per core: the gateway did not get a full core' }),
      })
    }
  }
  {
    const m = micro.find((x) => x.group === 'full credential check')
    if (!m) targets.push({ id: 'full credential check', goal: '≤ 30 µs', measured: 'not measured', pass: null })
    else targets.push({ id: 'full credential check', goal: '≤ 30 µs', measured: `${m.us.toFixed(1)} µs wall, ${m.cpuUs.toFixed(1)} µs CPU (median)`, pass: m.us <= 30 })
  }

  return { summaries, targets }
}
