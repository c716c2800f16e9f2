/**
 * Settlement watching for payment pages. One backend subscription per process is shared by every
 * open page (fanned out by payment hash); each watcher also looks its invoice up at the start and
 * then every `safetyMs` (missed updates, expiry), or every `pollMs` when the backend offers no
 * subscription or its stream is down. Never creates an invoice.
 * @module
 */
import { TurnpikeError } from '../Errors.ts'
import type { Backend, InvoiceState } from '../Lightning.ts'

export type Hub = {
  /**
   * Calls `onState` with the invoice's state now and on every change until it is settled, expired
   * or canceled (resolves with that state), or until `signal` aborts (rejects with its reason).
   * Rejects with `TURNPIKE_INVOICE_UNKNOWN` when the backend does not know the hash.
   */
  watch(paymentHash: string, signal: AbortSignal, onState: (s: InvoiceState) => void): Promise<InvoiceState>
  /** Number of open watchers. */
  readonly size: number
  close(): void
}

const terminal = (s: InvoiceState | undefined): boolean => s !== undefined && s.status !== 'open'

/** Creates a hub over `backend`. */
export function hub(backend: Backend, o: { pollMs?: number; safetyMs?: number; restartMs?: number } = {}): Hub {
  const pollMs = o.pollMs ?? 1000
  const safetyMs = o.safetyMs ?? 10_000
  const restartMs = o.restartMs ?? 2000
  const watchers = new Map<string, Set<(s: InvoiceState) => void>>()
  let count = 0
  let stream: AbortController | undefined
  let streaming = false
  let closed = false

  function startStream(): void {
    if (!backend.subscribe || stream || closed) return
    const ctl = new AbortController()
    stream = ctl
    void (async () => {
      try {
        const updates = backend.subscribe!({ signal: ctl.signal })
        streaming = true
        for await (const s of updates) {
          for (const w of watchers.get(s.paymentHash) ?? []) w(s)
        }
      } catch {
        // The stream failed: watchers poll until it is back.
      } finally {
        streaming = false
        if (stream === ctl) stream = undefined
        if (!ctl.signal.aborted && count > 0 && !closed) setTimeout(startStream, restartMs).unref()
      }
    })()
  }

  function stopStreamIfIdle(): void {
    if (count === 0 && stream) {
      stream.abort()
      stream = undefined
      streaming = false
    }
  }

  async function lookup(hash: string, signal: AbortSignal): Promise<InvoiceState | undefined> {
    try {
      return await backend.lookupInvoice(hash, { signal })
    } catch (e) {
      signal.throwIfAborted()
      if (e instanceof TurnpikeError && e.code === 'TURNPIKE_BACKEND_UNAVAILABLE') return undefined
      throw e
    }
  }

  return {
    get size() {
      return count
    },
    async watch(hash, signal, onState) {
      if (closed) throw new TurnpikeError('TURNPIKE_BACKEND_UNAVAILABLE', 'settlement watching has stopped')
      signal.throwIfAborted()
      const pending: InvoiceState[] = []
      let wake: (() => void) | undefined
      const listener = (s: InvoiceState) => {
        pending.push(s)
        wake?.()
      }
      let set = watchers.get(hash)
      if (!set) watchers.set(hash, (set = new Set()))
      set.add(listener)
      count++
      startStream()
      try {
        let state = await lookup(hash, signal)
        if (state) onState(state)
        while (!terminal(state)) {
          await new Promise<void>((resolve, reject) => {
            const done = () => {
              clearTimeout(timer)
              signal.removeEventListener('abort', abort)
              wake = undefined
              resolve()
            }
            const abort = () => {
              clearTimeout(timer)
              wake = undefined
              reject(signal.reason)
            }
            const timer = setTimeout(done, streaming ? safetyMs : pollMs)
            signal.addEventListener('abort', abort, { once: true })
            wake = done
            if (pending.length > 0) done()
          })
          const next = pending.length > 0 ? pending.splice(0).pop() : await lookup(hash, signal)
          if (next && next.status !== state?.status) onState(next)
          state = next ?? state
        }
        return state!
      } finally {
        set.delete(listener)
        if (set.size === 0) watchers.delete(hash)
        count--
        stopStreamIfIdle()
      }
    },
    close() {
      closed = true
      stream?.abort()
      stream = undefined
    },
  }
}
