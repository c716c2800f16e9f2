/** Child processes for the benchmark: spawn (optionally pinned), readiness, CPU time and peak RSS. */
import { spawn, type ChildProcess } from 'node:child_process'
import { openSync, readdirSync, readFileSync } from 'node:fs'
import net from 'node:net'

let niceness = 0
/** Runs every later server and load generator at this nice value (negative needs root). */
export function setNice(n: number): void {
  niceness = n
}

/** `cmd args`, through `nice -n` and `taskset -c` when set (both exec, so the pid stays the command's). */
export function wrap(cpus: string | undefined, cmd: string, args: string[]): [string, string[]] {
  let c: [string, string[]] = [cmd, args]
  if (niceness !== 0) c = ['nice', ['-n', String(niceness), c[0], ...c[1]]]
  if (cpus) c = ['taskset', ['-c', cpus, c[0], ...c[1]]]
  return c
}

export type Server = {
  readonly name: string
  readonly child: ChildProcess
  readonly pid: number
  port: number
  readonly log: string
  stop(): Promise<void>
}

/** A free loopback TCP port (asked from the kernel, then released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo
      s.close(() => resolve(port))
    })
  })
}

/**
 * Spawns `cmd args` (through `taskset -c cpus` when given; taskset execs, so the pid is the
 * server's). stdout/stderr go to `log`. Resolves once `ready` does.
 */
export async function startServer(o: {
  name: string
  cmd: string
  args: string[]
  log: string
  cpus?: string | undefined
  env?: NodeJS.ProcessEnv
  /** Resolves the port once the server is ready; gets the child and a reader of its stdout so far. */
  ready: (child: ChildProcess, stdout: () => string) => Promise<number>
}): Promise<Server> {
  const fd = openSync(o.log, 'a')
  const [cmd, args] = wrap(o.cpus, o.cmd, o.args)
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', fd], env: o.env ?? process.env, detached: false })
  let out = ''
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()))
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  let early: Error | undefined
  child.once('exit', (code, sig) => (early = new Error(`${o.name} exited early (code ${code}, signal ${sig}); see ${o.log}`)))
  const port = await Promise.race([
    o.ready(child, () => out),
    exited.then(() => Promise.reject(early)),
    new Promise<number>((_, reject) => setTimeout(() => reject(new Error(`${o.name} not ready after 30 s; see ${o.log}`)), 30_000)),
  ])
  return {
    name: o.name,
    child,
    pid: child.pid!,
    port,
    log: o.log,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return
      child.kill('SIGTERM')
      const t = setTimeout(() => child.kill('SIGKILL'), 5_000)
      await exited
      clearTimeout(t)
    },
  }
}

/** Waits for a `READY <port>` line on stdout. */
export function readyLine(child: ChildProcess, stdout: () => string): Promise<number> {
  return new Promise((resolve) => {
    const check = () => {
      const m = /READY (\d+)/.exec(stdout())
      if (m) {
        child.stdout!.off('data', check)
        resolve(Number(m[1]))
      }
    }
    child.stdout!.on('data', check)
    check()
  })
}

/** Polls `url` until it answers (any HTTP status). */
export async function readyHttp(url: string, port: number): Promise<number> {
  for (;;) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1000) })
      await res.body?.cancel()
      return port
    } catch {
      await new Promise((r) => setTimeout(r, 100))
    }
  }
}

/** The pid and all its descendants (via /proc/<pid>/task/<tid>/children). */
export function tree(pid: number): number[] {
  const out = [pid]
  for (let i = 0; i < out.length; i++) {
    const p = out[i]!
    try {
      for (const tid of readdirSync(`/proc/${p}/task`)) {
        const kids = readFileSync(`/proc/${p}/task/${tid}/children`, 'utf8').trim()
        if (kids) for (const k of kids.split(/\s+/)) out.push(Number(k))
      }
    } catch {
      // exited meanwhile
    }
  }
  return out
}

const ticks = 100 // USER_HZ on Linux

export type ProcSample = {
  /** Sum over the process tree of user+system CPU seconds. */
  readonly cpuS: number
  /** Sum over the process tree of VmHWM (peak RSS), bytes. */
  readonly peakRssBytes: number
  /** Sum over the process tree of VmRSS, bytes. */
  readonly rssBytes: number
  readonly processes: number
}

/** CPU time and peak RSS of a process tree, from /proc. */
export function sample(pid: number): ProcSample {
  let cpu = 0
  let hwm = 0
  let rss = 0
  const pids = tree(pid)
  for (const p of pids) {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8')
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      cpu += (Number(fields[11]) + Number(fields[12])) / ticks // utime, stime (fields 14, 15)
      const status = readFileSync(`/proc/${p}/status`, 'utf8')
      hwm += Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024
      rss += Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024
    } catch {
      // exited meanwhile
    }
  }
  return { cpuS: cpu, peakRssBytes: hwm, rssBytes: rss, processes: pids.length }
}

/** Busy and total jiffies of all CPUs, from /proc/stat. */
export function cpuTimes(): { busy: number; total: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number)
  const total = f.reduce((a, b) => a + b, 0)
  const idle = (f[3] ?? 0) + (f[4] ?? 0) // idle + iowait
  return { busy: total - idle, total }
}

/** Share of all CPUs (0–1) busy over `ms`. */
export async function busyShare(ms: number): Promise<number> {
  const a = cpuTimes()
  await new Promise((r) => setTimeout(r, ms))
  const b = cpuTimes()
  return b.total > a.total ? (b.busy - a.busy) / (b.total - a.total) : 0
}

/** Moves a running process (all its threads) to other CPUs. */
export function repin(pid: number, cpus: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const c = spawn('taskset', ['-a', '-p', '-c', cpus, String(pid)], { stdio: 'ignore' })
    c.on('error', reject)
    c.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`taskset -p exited ${code}`))))
  })
}

/** Runs a command to completion; resolves stdout (rejects on a non-zero exit). */
export function exec(cmd: string, args: string[], o: { env?: NodeJS.ProcessEnv; cpus?: string | undefined; timeoutMs?: number; nice?: boolean } = {}): Promise<string> {
  const [c, a] = o.nice ? wrap(o.cpus, cmd, args) : o.cpus ? ['taskset', ['-c', o.cpus, cmd, ...args]] : [cmd, args]
  return new Promise((resolve, reject) => {
    const child = spawn(c, a, { stdio: ['ignore', 'pipe', 'pipe'], env: o.env ?? process.env })
    let out = ''
    let err = ''
    child.stdout.on('data', (d: Buffer) => (out += d.toString()))
    child.stderr.on('data', (d: Buffer) => (err += d.toString()))
    const t = o.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), o.timeoutMs) : undefined
    child.on('error', reject)
    child.on('close', (code) => {
      if (t) clearTimeout(t)
      if (code === 0) resolve(out)
      else reject(new Error(`${cmd} ${args.join(' ')} exited ${code}: ${err.slice(-2000)}`))
    })
  })
}
