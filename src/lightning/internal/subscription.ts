/** Settlement subscriptions shared by backends that fan updates out to listeners (dev, NWC). */
import type { InvoiceState } from '../../Lightning.ts'

/** An async iterator of updates; registers at once and ends on abort, `return()`, `end()` or close. */
export function subscription(
  signal: AbortSignal,
  listeners: Set<(s: InvoiceState) => void>,
  closers: Set<() => void>,
  /** Per-subscriber buffer; the oldest updates are dropped when a consumer falls behind. */
  maxQueued = 1024,
): AsyncIterableIterator<InvoiceState> & { end(): void } {
  const queue: InvoiceState[] = []
  let waiters: (() => void)[] = []
  let ended = false
  const wake = (): void => {
    const ws = waiters
    waiters = []
    for (const w of ws) w()
  }
  const listener = (s: InvoiceState): void => {
    if (queue.length >= maxQueued) queue.shift()
    queue.push(s)
    wake()
  }
  const end = (): void => {
    ended = true
    queue.length = 0
    listeners.delete(listener)
    closers.delete(end)
    signal.removeEventListener('abort', end)
    wake()
  }
  if (signal.aborted) {
    ended = true
  } else {
    listeners.add(listener)
    closers.add(end)
    signal.addEventListener('abort', end, { once: true })
  }
  return {
    end,
    async next(): Promise<IteratorResult<InvoiceState>> {
      for (;;) {
        if (ended) return { value: undefined, done: true }
        const value = queue.shift()
        if (value !== undefined) return { value, done: false }
        await new Promise<void>((resolve) => waiters.push(resolve))
      }
    },
    async return(): Promise<IteratorResult<InvoiceState>> {
      end()
      return { value: undefined, done: true }
    },
    [Symbol.asyncIterator]() {
      return this
    },
  }
}
