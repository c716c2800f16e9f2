/** Turns a benchmark run into a markdown report and an SVG chart (hand-made, no dependencies). */
import type { LoadResult } from './load.ts'

/** One micro-benchmark row (bench/micro.ts). */
export type MicroResult = {
  readonly name: string
  readonly group: string
  readonly impl: string
  /** Median over batches, wall-clock microseconds per operation. */
  readonly us: number
  /** Median over batches, process CPU microseconds per operation (robust to being descheduled). */
  readonly cpuUs: number
  /** Fastest batch, microseconds per operation. */
  readonly minUs: number
  readonly opsPerS: number
  readonly iterations: number
  readonly note?: string | undefined
}

export type RoundRecord = {
  readonly scenario: string
  readonly round: number
  /** Position in the whole run (runs are sequential). */
  readonly seq?: number | undefined
  readonly load: LoadResult
  /** CPU seconds the system under test used during the run (process tree). */
  readonly sutCpuS: number
  /** Peak RSS (VmHWM, summed over the process tree) after the run. */
  readonly peakRssBytes: number
  /** Share of all CPUs busy just before the run (other people's work; ours was idle), %. */
  readonly backgroundPct?: number | undefined
  /** Share of all CPUs busy during the run, %. */
  readonly machineBusyPct?: number | undefined
}

/** What a scenario is, before it runs. */
export type ScenarioMeta = {
  readonly id: string
  readonly n: number
  readonly title: string
  readonly kind: 'throughput' | 'paced'
  readonly group: 'baseline' | 'nginx' | 'turnpike'
  readonly skipped?: string | undefined
  readonly note?: string | undefined
}

export type ScenarioSummary = ScenarioMeta & {
  readonly rounds?: number | undefined
  /** Medians over rounds. */
  readonly rps?: number | undefined
  readonly p50Ms?: number | undefined
  readonly p99Ms?: number | undefined
  readonly maxMs?: number | undefined
  /** Worst max latency over all rounds. */
  readonly worstMaxMs?: number | undefined
  readonly errors?: number | undefined
  readonly unexpected?: number | undefined
  readonly requests?: number | undefined
  readonly peakRssBytes?: number | undefined
  /** System under test CPU use, % of one core (median over rounds). */
  readonly cpuPct?: number | undefined
  /** System under test CPU time per successful request, µs (median over rounds). */
  readonly cpuUsPerReq?: number | undefined
  /** Requests/s one fully used core would serve: 1e6 / cpuUsPerReq. */
  readonly capacityRps?: number | undefined
  /** Median over rounds of rps / bare-proxy rps of the same round. */
  readonly vsBare?: number | undefined
  /** Lowest and highest per-round ratio. */
  readonly vsBareMin?: number | undefined
  readonly vsBareMax?: number | undefined
  /** Median over rounds of bare-proxy CPU µs/req / this CPU µs/req (same round): the CPU-normalised ratio. */
  readonly capacityVsBare?: number | undefined
  /** Median over rounds of p99 − bare-proxy p99 of the same round (ms). */
  readonly addedP99Ms?: number | undefined
}

export type Target = {
  readonly id: string
  readonly goal: string
  readonly measured: string
  readonly pass: boolean | null
  readonly note?: string | undefined
}

export type Machine = {
  readonly cpuModel: string
  readonly cores: number
  readonly memoryBytes: number
  readonly node: string
  readonly kernel: string
  readonly os: string
  readonly tools: Record<string, string>
}

export type RunResult = {
  readonly version: 1
  readonly startedAt: string
  readonly finishedAt: string
  readonly wallS: number
  readonly mode: 'quick' | 'full'
  readonly command: string
  readonly machine: Machine
  readonly settings: Record<string, unknown>
  readonly micro: readonly MicroResult[]
  readonly scenarios: readonly ScenarioSummary[]
  readonly targets: readonly Target[]
  readonly runs: readonly RoundRecord[]
  readonly notes: readonly string[]
}

const f0 = (x: number | undefined) => (x === undefined ? '–' : Math.round(x).toLocaleString('en-US'))
const f1 = (x: number | undefined) => (x === undefined ? '–' : x.toFixed(1))
const f2 = (x: number | undefined) => (x === undefined ? '–' : x.toFixed(2))
const pct = (x: number | undefined) => (x === undefined ? '–' : `${(x * 100).toFixed(0)}%`)
const range = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined ? '–' : `${(a * 100).toFixed(0)}–${(b * 100).toFixed(0)}%`)
const mb = (x: number | undefined) => (x === undefined ? '–' : (x / 2 ** 20).toFixed(0))
const sign = (x: number | undefined) => (x === undefined ? '–' : `${x >= 0 ? '+' : '−'}${Math.abs(x).toFixed(2)}`)
const verdict = (p: boolean | null) => (p === null ? 'n/a' : p ? '**PASS**' : '**MISS**')

/** The markdown report (no chart). */
export function markdown(r: RunResult): string {
  const m = r.machine
  const s = r.settings as Record<string, unknown>
  const out: string[] = []
  out.push(`Run of ${r.startedAt.slice(0, 10)} (${r.startedAt}), **${r.mode}** mode, ${Math.round(r.wallS)} s wall time.`)
  out.push('')
  out.push(`- Command: \`${r.command}\``)
  out.push(`- Machine: ${m.cpuModel}, ${m.cores} cores, ${(m.memoryBytes / 2 ** 30).toFixed(1)} GiB RAM, ${m.os}, kernel ${m.kernel}, Node.js ${m.node}`)
  out.push(`- Tools: ${Object.entries(m.tools).map(([k, v]) => `${k} ${v}`).join(', ')}`)
  out.push(
    `- Load: ${s.generator}, ${s.connections} connections, ${s.rounds} interleaved rounds × ${s.durationS} s per scenario ` +
      `(order reversed every other round), ${s.warmupS} s warm-up each; paced runs ${s.pacedDurationS} s, ${s.pacing === 'exponential' ? `each connection pausing a random time (exponential, mean ${s.pauseMs} ms)` : `each connection pausing ${s.pauseMs} ms`} between requests. ` +
      `Per-request runs stop early when their ${f0(s.perRequestPerRound as number)} credentials for the round are used up.`,
  )
  out.push(`- CPU placement: ${s.pinNote}`)
  out.push(`- Credentials: ${f0(s.minted as number)} minted in ${f1(s.mintS as number)} s before the measurement (402 → dev-node pay, in separate processes).`)
  out.push('')

  out.push('### Throughput (closed loop, 50 connections)')
  out.push('')
  out.push('| # | Scenario | req/s | vs bare proxy | p50 ms | p99 ms | max ms | errors | SUT CPU | CPU µs/req | req/s per core | vs bare, per core | peak RSS MB |')
  out.push('|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|')
  for (const x of r.scenarios.filter((x) => x.kind === 'throughput')) {
    if (x.skipped) {
      out.push(`| ${x.n} | ${x.title} | skipped | | | | | | | | | | |`)
      continue
    }
    const errs = (x.errors ?? 0) + (x.unexpected ?? 0)
    out.push(
      `| ${x.n} | ${x.title} | ${f0(x.rps)} | ${x.id === 'bare' ? '100%' : `${pct(x.vsBare)} (${range(x.vsBareMin, x.vsBareMax)})`} | ${f2(x.p50Ms)} | ${f2(x.p99Ms)} | ${f1(x.maxMs)} | ` +
        `${errs} / ${f0(x.requests)} | ${f0(x.cpuPct)}% | ${f1(x.cpuUsPerReq)} | ${f0(x.capacityRps)} | ${x.id === 'bare' ? '100%' : pct(x.capacityVsBare)} | ${mb(x.peakRssBytes)} |`,
    )
  }
  out.push('')
  out.push('Medians over the rounds; "vs bare proxy" is the median of per-round ratios against the bare Node proxy measured in the same round (lowest–highest round in brackets). ' +
    '"errors" counts socket errors, timeouts and responses with an unexpected status over all rounds, out of all responses. ' +
    'SUT = system under test (the proxy process; the upstream for scenario 1); CPU % is of one core. ' +
    '"req/s per core" = 1,000,000 / (SUT CPU µs per request): what one fully used core would serve; it is the robust figure on a shared machine, ' +
    'where the proxy does not always get its core (SUT CPU well under 100%). Peak RSS is VmHWM over the process lifetime (summed over processes).')
  out.push('')

  const paced = r.scenarios.filter((x) => x.kind === 'paced')
  if (paced.length > 0) {
    out.push('### Latency below saturation (paced, 50 connections)')
    out.push('')
    out.push('| Scenario | req/s | p50 ms | p99 ms | max ms | added p99 vs bare ms | errors |')
    out.push('|---|--:|--:|--:|--:|--:|--:|')
    for (const x of paced) {
      if (x.skipped) {
        out.push(`| ${x.title} | skipped | | | | | |`)
        continue
      }
      out.push(`| ${x.title} | ${f0(x.rps)} | ${f2(x.p50Ms)} | ${f2(x.p99Ms)} | ${f1(x.maxMs)} | ${x.id.startsWith('bare') ? '0' : sign(x.addedP99Ms)} | ${(x.errors ?? 0) + (x.unexpected ?? 0)} |`)
    }
    out.push('')
  }

  out.push('### Targets')
  out.push('')
  out.push('| Target | Goal | Measured | Result |')
  out.push('|---|---|---|---|')
  for (const t of r.targets) out.push(`| ${t.id} | ${t.goal} | ${t.measured}${t.note ? ` (${t.note})` : ''} | ${verdict(t.pass)} |`)
  out.push('')

  if (r.micro.length > 0) {
    out.push('### Micro-benchmarks')
    out.push('')
    out.push('| Benchmark | Implementation | µs/op (wall, median) | µs/op (CPU, median) | best batch µs | ops/s | note |')
    out.push('|---|---|--:|--:|--:|--:|---|')
    for (const x of r.micro) {
      out.push(`| ${x.group} | ${x.impl}: ${x.name} | ${f2(x.us)} | ${f2(x.cpuUs)} | ${f2(x.minUs)} | ${f0(x.opsPerS)} | ${x.note ?? ''} |`)
    }
    out.push('')
  }

  const skipped = r.scenarios.filter((x) => x.skipped)
  if (skipped.length > 0 || r.notes.length > 0) {
    out.push('### Notes')
    out.push('')
    for (const x of skipped) out.push(`- Scenario ${x.n} (${x.title}${x.kind === 'paced' ? ', paced' : ''}) skipped: ${x.skipped}`)
    for (const n of r.notes) out.push(`- ${n}`)
    out.push('')
  }
  return out.join('\n')
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
const colors = { baseline: '#8c8c8c', nginx: '#3c9a5f', turnpike: '#e07b24' } as const

/** A two-panel horizontal bar chart: throughput and p99 per scenario. */
export function svg(r: RunResult): string {
  const rows = r.scenarios.filter((x) => x.kind === 'throughput' && !x.skipped && x.rps !== undefined)
  const label = 250
  const panel = 300
  const gap = 40
  const rowH = 26
  const top = 54
  const width = label + panel * 2 + gap + 90
  const height = top + rows.length * rowH + 40
  const maxRps = Math.max(1, ...rows.map((x) => x.rps!))
  const maxP99 = Math.max(0.001, ...rows.map((x) => x.p99Ms!))
  const o: string[] = []
  o.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="12">`)
  o.push(`<rect width="${width}" height="${height}" fill="#ffffff"/>`)
  o.push(`<text x="10" y="20" font-size="14" font-weight="bold">turnpike benchmarks — ${esc(r.startedAt.slice(0, 10))}, ${esc(r.mode)} mode, ${esc(String(r.settings.connections))} connections</text>`)
  const x1 = label
  const x2 = label + panel + gap
  o.push(`<text x="${x1}" y="${top - 12}" font-weight="bold">Throughput (req/s, higher is better)</text>`)
  o.push(`<text x="${x2}" y="${top - 12}" font-weight="bold">p99 latency (ms, lower is better)</text>`)
  rows.forEach((x, i) => {
    const y = top + i * rowH
    const c = colors[x.group]
    o.push(`<text x="${label - 8}" y="${y + 16}" text-anchor="end">${esc(`${x.n}. ${x.title}`)}</text>`)
    const w1 = Math.max(1, (x.rps! / maxRps) * (panel - 60))
    o.push(`<rect x="${x1}" y="${y + 4}" width="${w1.toFixed(1)}" height="${rowH - 8}" fill="${c}"/>`)
    o.push(`<text x="${(x1 + w1 + 4).toFixed(1)}" y="${y + 16}">${esc(f0(x.rps))}</text>`)
    const w2 = Math.max(1, (x.p99Ms! / maxP99) * (panel - 60))
    o.push(`<rect x="${x2}" y="${y + 4}" width="${w2.toFixed(1)}" height="${rowH - 8}" fill="${c}"/>`)
    o.push(`<text x="${(x2 + w2 + 4).toFixed(1)}" y="${y + 16}">${esc(f2(x.p99Ms))}</text>`)
  })
  const ly = top + rows.length * rowH + 20
  let lx = label
  for (const [k, c] of Object.entries(colors)) {
    o.push(`<rect x="${lx}" y="${ly - 10}" width="12" height="12" fill="${c}"/><text x="${lx + 16}" y="${ly}">${k}</text>`)
    lx += 110
  }
  o.push('</svg>')
  return o.join('\n')
}
