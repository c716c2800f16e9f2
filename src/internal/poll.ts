/** A store poller: refreshes a value in memory every `intervalMs`, coalescing overlapping refreshes. */
import type { Logger } from './log.ts'

export type Poller = {
  /** Refreshes now (also runs on the timer); never rejects. */
  refresh(): Promise<void>
  stop(): void
}

/**
 * Calls `load` now and then every `intervalMs` and hands the result to `apply`. On failure the last
 * applied value stays in force; the first failure is logged as a warning and the recovery as info.
 */
export function poll<T>(o: { load: () => Promise<T>; apply: (value: T) => void; intervalMs: number; log: Logger; what: string; fields?: Record<string, unknown> }): Poller {
  let failing = false
  let running: Promise<void> | undefined
  const refresh = (): Promise<void> =>
    (running ??= o.load()
      .then((v) => {
        o.apply(v)
        if (failing) o.log.info(`${o.what} refreshed again`, o.fields)
        failing = false
      })
      .catch((e: unknown) => {
        if (!failing) o.log.warn(`could not refresh ${o.what}; keeping the last known value`, { ...o.fields, error: e })
        failing = true
      })
      .finally(() => {
        running = undefined
      }))
  void refresh()
  const timer = setInterval(() => void refresh(), o.intervalMs)
  timer.unref()
  return { refresh, stop: () => clearInterval(timer) }
}
