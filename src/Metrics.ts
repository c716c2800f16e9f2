/**
 * In-memory metrics: labelled counters, gauges and histograms with O(1) updates, plain-data
 * snapshots that can cross process boundaries (cluster workers send theirs to the primary), a
 * merge that sums them, and the Prometheus text exposition format.
 * @module
 */

export type Kind = 'counter' | 'gauge' | 'histogram'

/** One labelled series in a snapshot. Histogram `counts` are per bucket (not cumulative), +Inf last. */
export type Series = {
  readonly labels: readonly string[]
  readonly value: number
  readonly counts?: readonly number[]
  readonly sum?: number
}

/** A metric family in a snapshot. Plain JSON: it is sent over IPC as is. */
export type Family = {
  readonly name: string
  readonly help: string
  readonly kind: Kind
  readonly labelNames: readonly string[]
  /** Histogram upper bounds, ascending, without +Inf. */
  readonly buckets?: readonly number[]
  readonly series: readonly Series[]
}

export type Snapshot = { readonly families: readonly Family[] }

export type Counter = {
  /** Adds `n` (default 1) to the series with these label values, in `labelNames` order. */
  inc(labels: readonly string[], n?: number): void
}
export type Gauge = Counter & { set(labels: readonly string[], v: number): void }
export type Histogram = { observe(labels: readonly string[], value: number): void }

export type Registry = {
  counter(name: string, help: string, labelNames: readonly string[]): Counter
  gauge(name: string, help: string, labelNames: readonly string[]): Gauge
  histogram(name: string, help: string, labelNames: readonly string[], buckets: readonly number[]): Histogram
  /** A deep copy of every family, safe to serialise. */
  snapshot(): Snapshot
}

type Cell = { labels: readonly string[]; value: number; counts: number[] | undefined; sum: number }
type Def = { name: string; help: string; kind: Kind; labelNames: readonly string[]; buckets: readonly number[] | undefined; cells: Map<string, Cell> }

const nameRe = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
const labelRe = /^[a-zA-Z_][a-zA-Z0-9_]*$/
const SEP = '\u0001'

/**
 * Creates an empty registry.
 * @example
 * const r = Metrics.create()
 * const hits = r.counter('hits_total', 'Hits.', ['route'])
 * hits.inc(['api'])
 * Metrics.render(r.snapshot())
 */
export function create(): Registry {
  const defs = new Map<string, Def>()

  function define(name: string, help: string, kind: Kind, labelNames: readonly string[], buckets?: readonly number[]): Def {
    if (!nameRe.test(name)) throw new TypeError(`invalid metric name ${JSON.stringify(name)}`)
    for (const l of labelNames) if (!labelRe.test(l) || l === 'le') throw new TypeError(`invalid label name ${JSON.stringify(l)}`)
    if (buckets) {
      for (let i = 1; i < buckets.length; i++) if (!(buckets[i]! > buckets[i - 1]!)) throw new TypeError('histogram buckets must ascend')
    }
    const existing = defs.get(name)
    if (existing) {
      if (existing.kind !== kind || existing.labelNames.join() !== labelNames.join()) {
        throw new TypeError(`metric ${name} is already defined differently`)
      }
      return existing
    }
    const def: Def = { name, help, kind, labelNames: [...labelNames], buckets: buckets ? [...buckets] : undefined, cells: new Map() }
    defs.set(name, def)
    return def
  }

  function cell(def: Def, labels: readonly string[]): Cell {
    const key = labels.length === 1 ? labels[0]! : labels.join(SEP)
    let c = def.cells.get(key)
    if (c === undefined) {
      if (labels.length !== def.labelNames.length) {
        throw new TypeError(`${def.name} takes ${def.labelNames.length} label values, got ${labels.length}`)
      }
      c = { labels: [...labels], value: 0, counts: def.buckets ? new Array<number>(def.buckets.length + 1).fill(0) : undefined, sum: 0 }
      def.cells.set(key, c)
    }
    return c
  }

  return {
    counter(name, help, labelNames) {
      const def = define(name, help, 'counter', labelNames)
      return {
        inc(labels, n = 1) {
          if (n < 0) throw new RangeError('counters only go up')
          cell(def, labels).value += n
        },
      }
    },
    gauge(name, help, labelNames) {
      const def = define(name, help, 'gauge', labelNames)
      return {
        inc(labels, n = 1) {
          cell(def, labels).value += n
        },
        set(labels, v) {
          cell(def, labels).value = v
        },
      }
    },
    histogram(name, help, labelNames, buckets) {
      const def = define(name, help, 'histogram', labelNames, buckets)
      const bounds = def.buckets!
      return {
        observe(labels, value) {
          const c = cell(def, labels)
          let i = 0
          while (i < bounds.length && value > bounds[i]!) i++
          c.counts![i]!++
          c.value++
          c.sum += value
        },
      }
    },
    snapshot() {
      const families: Family[] = []
      for (const d of defs.values()) {
        families.push({
          name: d.name,
          help: d.help,
          kind: d.kind,
          labelNames: d.labelNames,
          ...(d.buckets ? { buckets: d.buckets } : {}),
          series: [...d.cells.values()].map((c) => ({
            labels: c.labels,
            value: c.value,
            ...(c.counts ? { counts: [...c.counts], sum: c.sum } : {}),
          })),
        })
      }
      return { families }
    },
  }
}

/**
 * Sums snapshots (one per process) into one. Families are matched by name, series by label values;
 * a family whose shape differs from the first one seen is skipped rather than mixed.
 */
export function merge(snapshots: readonly Snapshot[]): Snapshot {
  type Acc = { family: Family; series: Map<string, { labels: readonly string[]; value: number; counts: number[] | undefined; sum: number }> }
  const out = new Map<string, Acc>()
  for (const s of snapshots) {
    for (const f of s.families) {
      let acc = out.get(f.name)
      if (acc === undefined) {
        acc = { family: f, series: new Map() }
        out.set(f.name, acc)
      } else if (acc.family.kind !== f.kind || acc.family.labelNames.join() !== f.labelNames.join() || (acc.family.buckets ?? []).join() !== (f.buckets ?? []).join()) {
        continue
      }
      for (const x of f.series) {
        const key = x.labels.join(SEP)
        const cur = acc.series.get(key)
        if (cur === undefined) {
          acc.series.set(key, { labels: x.labels, value: x.value, counts: x.counts ? [...x.counts] : undefined, sum: x.sum ?? 0 })
        } else {
          cur.value += x.value
          cur.sum += x.sum ?? 0
          if (cur.counts && x.counts) for (let i = 0; i < cur.counts.length; i++) cur.counts[i]! += x.counts[i] ?? 0
        }
      }
    }
  }
  return {
    families: [...out.values()].map(({ family, series }) => ({
      ...family,
      series: [...series.values()].map((c) => ({ labels: c.labels, value: c.value, ...(c.counts ? { counts: c.counts, sum: c.sum } : {}) })),
    })),
  }
}

/** The value of one series (a histogram's count), or 0 when absent. For tests and the admin API. */
export function valueOf(s: Snapshot, name: string, labels: Readonly<Record<string, string>> = {}): number {
  let total = 0
  for (const f of s.families) {
    if (f.name !== name) continue
    for (const x of f.series) {
      if (f.labelNames.every((l, i) => labels[l] === undefined || labels[l] === x.labels[i])) total += x.value
    }
  }
  return total
}

const escapeLabel = (v: string): string => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')
const escapeHelp = (v: string): string => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')
const num = (n: number): string => (Number.isNaN(n) ? 'NaN' : n === Infinity ? '+Inf' : n === -Infinity ? '-Inf' : String(n))

function labelText(names: readonly string[], values: readonly string[], extra?: string): string {
  const parts = names.map((n, i) => `${n}="${escapeLabel(values[i] ?? '')}"`)
  if (extra !== undefined) parts.push(extra)
  return parts.length === 0 ? '' : `{${parts.join(',')}}`
}

/** Prometheus text exposition format 0.0.4. */
export function render(s: Snapshot): string {
  const lines: string[] = []
  for (const f of s.families) {
    lines.push(`# HELP ${f.name} ${escapeHelp(f.help)}`, `# TYPE ${f.name} ${f.kind}`)
    for (const x of f.series) {
      if (f.kind !== 'histogram') {
        lines.push(`${f.name}${labelText(f.labelNames, x.labels)} ${num(x.value)}`)
        continue
      }
      const bounds = f.buckets ?? []
      let cumulative = 0
      for (let i = 0; i <= bounds.length; i++) {
        cumulative += x.counts?.[i] ?? 0
        const le = i < bounds.length ? num(bounds[i]!) : '+Inf'
        lines.push(`${f.name}_bucket${labelText(f.labelNames, x.labels, `le="${le}"`)} ${cumulative}`)
      }
      lines.push(`${f.name}_sum${labelText(f.labelNames, x.labels)} ${num(x.sum ?? 0)}`)
      lines.push(`${f.name}_count${labelText(f.labelNames, x.labels)} ${num(x.value)}`)
    }
  }
  return lines.join('\n') + '\n'
}

/** Content type of {@link render}'s output. */
export const contentType = 'text/plain; version=0.0.4; charset=utf-8'
