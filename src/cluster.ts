/**
 * `turnpike serve --workers N`: N worker processes on one listen port with node:cluster.
 *
 * The primary resolves (or generates) the master secret and the dev node key, and migrates the
 * store, once, before forking, so every worker starts from the same files. Each worker runs its own
 * runtime and proxy; the primary hands out connections round-robin, restarts a worker that dies,
 * serves the admin listener (with every worker's metrics) when one is configured, and on SIGTERM
 * or SIGINT stops the workers gracefully (they finish in-flight requests, up to a grace period).
 * SIGHUP is passed on to every worker, which re-reads the config file as a single process does.
 * State that must be shared lives in the store (SQLite file, Redis or PostgreSQL); the memory
 * store is refused with several workers.
 * @module
 */
import cluster, { type Worker } from 'node:cluster'
import * as Config from './Config.ts'
import { createLogger, type Logger } from './internal/log.ts'
import { resolveSecret } from './internal/secret.ts'

/** Set in the environment of the workers this module forks. */
const workerEnv = 'TURNPIKE_CLUSTER_WORKER'
const ready = 'turnpike:worker-ready'
/** How long a stopping worker lets in-flight requests finish. */
const graceMs = 10_000
/** The primary kills a worker that has not exited this long after SIGTERM. */
const killAfterMs = graceMs + 5_000
/** More restarts than this within a minute means something is wrong: stop instead of looping. */
const maxRestartsPerMinute = 10

/**
 * Runs `turnpike serve` as a cluster primary or worker when the config asks for several workers;
 * resolves the exit code, or undefined when the caller should serve in this process as usual.
 */
export async function clustered(raw: Record<string, unknown>, reread?: () => Record<string, unknown>): Promise<number | undefined> {
  if (cluster.isWorker && process.env[workerEnv] === '1') return runWorker(raw, reread)
  const config = Config.parse(raw)
  const workers = config.workers ?? 1
  if (workers <= 1) return undefined
  return runPrimary(config, workers, reread)
}

/** Adds `fields` to every line of `log`. */
function tagged(log: Logger, fields: Record<string, unknown>): Logger {
  const wrap = (level: keyof Logger) => (msg: string, f?: Record<string, unknown>) => log[level](msg, { ...fields, ...f })
  return { debug: wrap('debug'), info: wrap('info'), warn: wrap('warn'), error: wrap('error') }
}

async function runPrimary(config: Config.Config, n: number, reread: (() => Record<string, unknown>) | undefined): Promise<number> {
  const log = createLogger({ format: config.log.format })
  // Shared state, once, before any worker exists.
  const secret = resolveSecret({ env: process.env, secretFile: config.secretFile, dataDir: config.dataDir })
  if (secret.source === 'generated') log.warn('generated a new master secret; keep it to keep issued tokens valid', { path: secret.path })
  if (config.backend?.type === 'dev') (await import('./lightning/dev.ts')).loadOrCreateNodeKey(config.dataDir)
  const { openStore } = await import('./runtime.ts')
  // Opening migrates (SQLite at open, PostgreSQL eagerly); the workers then find the schema ready.
  await (await openStore(config.store, config.dataDir, log)).close()

  // The admin listener lives in the primary: one port, the metrics of every worker.
  let adminPart: { close(): Promise<void>; reload(): Promise<unknown> } | undefined
  if (config.admin) {
    const { createRuntime } = await import('./runtime.ts')
    const { startAdmin } = await import('./admin/server.ts')
    const { workerSnapshots } = await import('./metrics/cluster.ts')
    const rt = await createRuntime(config, { logger: log })
    const source = workerSnapshots(cluster as never)
    const admin = await startAdmin(rt, log, { collect: source.collect, workers: n }).catch(async (e: unknown) => {
      await rt.close()
      throw e
    })
    adminPart = {
      close: async () => (source.close(), await admin.close(), await rt.close()),
      // The admin API validates route changes against the base config: it follows reloads too.
      reload: async () => (reread && rt.live ? (await import('./routes/reload.ts')).reload(reread, rt.live, log) : undefined),
    }
  }

  return new Promise<number>((resolve) => {
    const everReady = new Set<number>()
    const restarts: number[] = []
    let stopping = false
    let announced = false

    const fork = (): Worker => {
      const w = cluster.fork({ [workerEnv]: '1' })
      w.on('message', (m: { type?: unknown; url?: unknown; pid?: unknown }) => {
        if (m?.type !== ready) return
        everReady.add(w.id)
        log.info('worker ready', { worker: w.id, pid: m.pid })
        if (!announced && everReady.size >= n) {
          announced = true
          log.info(`turnpike listening on ${String(m.url)} with ${n} workers`, { pid: process.pid, store: config.store.type })
        }
      })
      return w
    }

    const stop = (code: number): void => {
      if (stopping) return
      stopping = true
      process.off('SIGTERM', onSignal)
      process.off('SIGINT', onSignal)
      process.off('SIGHUP', onHangup)
      const alive = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined && !w.isDead())
      const timer = setTimeout(() => {
        for (const w of alive) if (!w.isDead()) w.process.kill('SIGKILL')
      }, killAfterMs)
      let left = alive.length
      const finished = async (): Promise<void> => {
        clearTimeout(timer)
        cluster.off('exit', onExit)
        await adminPart?.close().catch((e: unknown) => log.error('admin listener did not close cleanly', { error: e }))
        log.info('all workers stopped')
        resolve(code)
      }
      if (left === 0) return void finished()
      for (const w of alive) {
        w.once('exit', () => void (--left === 0 && finished()))
        w.process.kill('SIGTERM')
      }
    }

    const onSignal = (signal: NodeJS.Signals): void => {
      log.info('shutting down', { signal, workers: Object.keys(cluster.workers ?? {}).length })
      stop(0)
    }

    const onExit = (w: Worker, code: number | null, signal: string | null): void => {
      if (stopping) return
      if (!everReady.has(w.id)) {
        log.error('a worker failed to start; stopping', { worker: w.id, code, signal })
        return stop(code || 1)
      }
      const t = Date.now()
      restarts.push(t)
      while (restarts.length > 0 && restarts[0]! < t - 60_000) restarts.shift()
      if (restarts.length > maxRestartsPerMinute) {
        log.error('workers keep dying; stopping', { restartsLastMinute: restarts.length })
        return stop(1)
      }
      log.error('a worker died; starting a new one', { worker: w.id, pid: w.process.pid, code, signal })
      fork()
    }

    process.on('SIGTERM', onSignal)
    process.on('SIGINT', onSignal)
    // SIGHUP to the primary is passed on to every worker, each of which re-reads the config file (and
    // its TLS certificate) the way a single process does; the primary's admin runtime reloads too.
    const onHangup = (): void => {
      const alive = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined && !w.isDead())
      log.info('SIGHUP: passing it on to every worker', { workers: alive.length })
      for (const w of alive) w.process.kill('SIGHUP')
      void adminPart?.reload().catch((e: unknown) => log.error('admin runtime reload failed', { error: e }))
    }
    process.on('SIGHUP', onHangup)
    cluster.on('exit', onExit)
    log.info(`starting ${n} workers`, { pid: process.pid })
    for (let i = 0; i < n; i++) fork()
  })
}

async function runWorker(raw: Record<string, unknown>, reread: (() => Record<string, unknown>) | undefined): Promise<number> {
  const { start, banner, untilSignal } = await import('./cli/serve.ts')
  const { answerSnapshots } = await import('./metrics/cluster.ts')
  const config = Config.parse(raw)
  const id = cluster.worker?.id ?? 0
  const log = tagged(createLogger({ format: config.log.format }), { worker: id })
  // The primary passes SIGHUP on. Listen from the start: Node's default for SIGHUP is to exit.
  const hangup = workerHangup(reread, log)
  const { rt, proxy } = await start(raw, log, { admin: false })
  const stopAnswering = answerSnapshots(rt.metrics)
  await hangup.started(rt.live)
  if (id === 1) banner(rt, proxy, log)
  process.send?.({ type: ready, url: proxy.url, pid: process.pid })

  await untilSignal()
  // Stop accepting (the primary stops routing here), let in-flight requests finish, then close.
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, graceMs)
    timer.unref()
    proxy.server.close(() => (clearTimeout(timer), resolve()))
    proxy.server.closeIdleConnections()
  })
  stopAnswering()
  hangup.stop()
  await proxy.close()
  await rt.close()
  // The IPC channel would keep this process alive; nothing else is left to do.
  process.exit(0)
}

/**
 * A worker's SIGHUP: re-reads the config file once its runtime is up (a signal that came during
 * start-up is applied then, since the file may have changed after this worker read it); without a
 * config file it only logs.
 */
function workerHangup(reread: (() => Record<string, unknown>) | undefined, log: Logger) {
  let apply: (() => void) | undefined
  let missed = false
  const handler = (): void => {
    if (apply) apply()
    else missed = true
  }
  process.on('SIGHUP', handler)
  return {
    async started(live: import('./routes/live.ts').LiveRoutes | undefined): Promise<void> {
      if (!reread || !live) {
        apply = () => log.info('SIGHUP: no --config file to reload')
        return
      }
      const { reload } = await import('./routes/reload.ts')
      let running: Promise<unknown> = Promise.resolve()
      apply = () => {
        log.info('SIGHUP: reloading the config file')
        running = running.then(() => reload(reread, live, log))
      }
      if (missed) apply()
    },
    stop: () => void process.off('SIGHUP', handler),
  }
}
