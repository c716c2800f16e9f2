/**
 * Metrics across node:cluster workers. Each worker keeps its own O(1) in-memory counters; when the
 * primary renders `/metrics` it asks every live worker for a snapshot over the IPC channel and sums
 * them with its own. Counts of a worker that exits are kept (its last snapshot), so totals never
 * go backwards.
 *
 * Wiring (the cluster entry point does this):
 * - in each worker: `answerSnapshots(rt.metrics)`;
 * - in the primary: `const source = workerSnapshots(cluster)` and pass `source.collect` to the
 *   admin listener (`startAdmin(rt, log, { collect: source.collect })`).
 * @module
 */
import type { Snapshot, Registry } from '../Metrics.ts'

const ask = 'turnpike:metrics:collect'
const answer = 'turnpike:metrics:snapshot'

type Message = { type?: unknown; id?: unknown; snapshot?: unknown }

/** The part of a node:cluster Worker (or ChildProcess) used here. */
export type WorkerLike = {
  readonly id: number | string
  send(message: unknown): unknown
  on(event: 'message', listener: (m: unknown) => void): unknown
  off(event: 'message', listener: (m: unknown) => void): unknown
  isDead?(): boolean
}

/** The part of node:cluster used here. */
export type ClusterLike = {
  readonly workers?: NodeJS.Dict<WorkerLike>
  on(event: 'exit', listener: (w: WorkerLike) => void): unknown
  off(event: 'exit', listener: (w: WorkerLike) => void): unknown
}

/**
 * Worker side: answers the primary's snapshot requests with `registry.snapshot()`.
 * Returns a function that stops answering.
 */
export function answerSnapshots(registry: Registry, proc: Pick<NodeJS.Process, 'on' | 'off' | 'send'> = process): () => void {
  const onMessage = (m: unknown) => {
    const msg = m as Message
    if (typeof m !== 'object' || m === null || msg.type !== ask) return
    proc.send?.({ type: answer, id: msg.id, snapshot: registry.snapshot() })
  }
  proc.on('message', onMessage)
  return () => void proc.off('message', onMessage)
}

/**
 * Primary side: `collect()` resolves one snapshot per live worker (a worker that does not answer
 * within `timeoutMs` contributes its last known snapshot), plus the retained snapshots of exited
 * workers. `close()` detaches the exit listener.
 */
export function workerSnapshots(cluster: ClusterLike, o: { timeoutMs?: number } = {}) {
  const timeoutMs = o.timeoutMs ?? 1000
  const last = new Map<string, Snapshot>()
  const retired: Snapshot[] = []
  let seq = 0
  const onExit = (w: WorkerLike) => {
    const s = last.get(String(w.id))
    if (s) retired.push(s)
    last.delete(String(w.id))
  }
  cluster.on('exit', onExit)

  function one(w: WorkerLike): Promise<Snapshot | undefined> {
    const id = `${process.pid}-${++seq}`
    return new Promise((resolve) => {
      const done = (s: Snapshot | undefined) => {
        clearTimeout(timer)
        w.off('message', onMessage)
        resolve(s)
      }
      const onMessage = (m: unknown) => {
        const msg = m as Message
        if (typeof m === 'object' && m !== null && msg.type === answer && msg.id === id) {
          const s = msg.snapshot as Snapshot
          last.set(String(w.id), s)
          done(s)
        }
      }
      const timer = setTimeout(() => done(last.get(String(w.id))), timeoutMs)
      w.on('message', onMessage)
      try {
        w.send({ type: ask, id })
      } catch {
        done(last.get(String(w.id)))
      }
    })
  }

  return {
    async collect(): Promise<Snapshot[]> {
      const workers = Object.values(cluster.workers ?? {}).filter((w): w is WorkerLike => w !== undefined && !w.isDead?.())
      const got = await Promise.all(workers.map(one))
      return [...retired, ...got.filter((s): s is Snapshot => s !== undefined)]
    },
    close(): void {
      cluster.off('exit', onExit)
    },
  }
}
