/**
 * A small Nostr relay pool (NIP-01 over WebSocket) for the NWC backend: lazy connections,
 * subscriptions that are re-sent after a reconnect, publishing with `OK` acknowledgements.
 * Every received event is checked (id and signature) before a handler sees it.
 * @module
 */
import { verifyEvent } from './nostr.ts'
import type { Filter, NostrEvent } from './nostr.ts'

/** The part of the WHATWG WebSocket API used here (global `WebSocket`, or the `ws` package). */
export type WebSocketLike = {
  readonly readyState: number
  send(data: string): void
  close(code?: number, reason?: string): void
  addEventListener(type: 'open' | 'message' | 'error' | 'close', listener: (ev: { data?: unknown; message?: string }) => void): void
}
export type WebSocketConstructor = new (url: string) => WebSocketLike

export type SubscriptionHandlers = {
  onevent(event: NostrEvent, relay: string): void
  /** The relay sent everything it had stored (EOSE) on its current connection. */
  oneose?(relay: string): void
  /** The subscription stopped on this relay (connection lost, or `CLOSED` from the relay). */
  onclose?(relay: string, reason: string): void
}

export type Subscription = { close(): void }

export type RelayPool = {
  readonly urls: readonly string[]
  /**
   * Opens a subscription on every relay (connecting as needed). The filter is re-evaluated at each
   * (re)subscription, so a `since` can move forward. Kept across reconnects until `close()`.
   */
  subscribe(filter: () => Filter, handlers: SubscriptionHandlers): Subscription
  /**
   * Connects every relay not connected yet (ignoring reconnect back-off). Resolves when at least one
   * is open; rejects with the causes when all fail.
   */
  connect(signal: AbortSignal): Promise<void>
  /** Sends to every open relay; resolves on the first `OK true`, rejects when every relay refused. */
  publish(event: NostrEvent, signal: AbortSignal): Promise<void>
  close(): void
}

export type RelayPoolOptions = {
  readonly urls: readonly string[]
  readonly WebSocket: WebSocketConstructor
  /** Incoming messages above this size are dropped (default 512 KiB). */
  readonly maxMessageBytes?: number
  /** A WebSocket handshake taking longer fails (default 10 s). */
  readonly connectTimeoutMs?: number
}

type SubEntry = { filter: () => Filter; handlers: SubscriptionHandlers }

type Conn = {
  readonly url: string
  ws: WebSocketLike | undefined
  opening: Promise<void> | undefined
  /** Subscriptions sent on the current socket. */
  active: Set<string>
  acks: Map<string, { resolve(): void; reject(e: Error): void }>
  retry: ReturnType<typeof setTimeout> | undefined
  attempts: number
}

const open = 1
const minBackoffMs = 250
const maxBackoffMs = 30_000

/** Creates a pool; nothing connects until a subscription or publication needs it. */
export function relayPool(o: RelayPoolOptions): RelayPool {
  const maxBytes = o.maxMessageBytes ?? 512 * 1024
  const connectTimeoutMs = o.connectTimeoutMs ?? 10_000
  const subs = new Map<string, SubEntry>()
  let nextSub = 0
  let closed = false
  const conns: Conn[] = o.urls.map((url) => ({
    url,
    ws: undefined,
    opening: undefined,
    active: new Set(),
    acks: new Map(),
    retry: undefined,
    attempts: 0,
  }))

  function send(c: Conn, msg: unknown[]): boolean {
    if (c.ws === undefined || c.ws.readyState !== open) return false
    try {
      c.ws.send(JSON.stringify(msg))
      return true
    } catch {
      return false
    }
  }

  function req(c: Conn, id: string, s: SubEntry): void {
    if (send(c, ['REQ', id, s.filter()])) c.active.add(id)
  }

  function onMessage(c: Conn, data: unknown): void {
    if (typeof data !== 'string' || data.length > maxBytes) return
    let msg: unknown
    try {
      msg = JSON.parse(data)
    } catch {
      return
    }
    if (!Array.isArray(msg)) return
    switch (msg[0]) {
      case 'EVENT': {
        const s = typeof msg[1] === 'string' ? subs.get(msg[1]) : undefined
        if (s !== undefined && c.active.has(msg[1]) && verifyEvent(msg[2])) s.handlers.onevent(msg[2], c.url)
        return
      }
      case 'EOSE': {
        const s = typeof msg[1] === 'string' ? subs.get(msg[1]) : undefined
        if (s !== undefined && c.active.has(msg[1])) s.handlers.oneose?.(c.url)
        return
      }
      case 'CLOSED': {
        const s = typeof msg[1] === 'string' ? subs.get(msg[1]) : undefined
        if (s !== undefined && c.active.delete(msg[1])) s.handlers.onclose?.(c.url, `closed by relay: ${String(msg[2] ?? '')}`)
        return
      }
      case 'OK': {
        const ack = typeof msg[1] === 'string' ? c.acks.get(msg[1]) : undefined
        if (ack === undefined) return
        c.acks.delete(msg[1])
        if (msg[2] === true) ack.resolve()
        else ack.reject(new Error(`relay refused the event: ${String(msg[3] ?? '')}`))
        return
      }
      default:
        return // NOTICE, AUTH (NIP-42 is not supported), COUNT…
    }
  }

  function dropped(c: Conn, reason: string): void {
    c.ws = undefined
    c.opening = undefined
    for (const ack of c.acks.values()) ack.reject(new Error(reason))
    c.acks.clear()
    const active = [...c.active]
    c.active.clear()
    for (const id of active) subs.get(id)?.handlers.onclose?.(c.url, reason)
    scheduleRetry(c)
  }

  function scheduleRetry(c: Conn): void {
    if (closed || subs.size === 0 || c.retry !== undefined) return
    const base = Math.min(maxBackoffMs, minBackoffMs * 2 ** Math.min(c.attempts, 16))
    c.attempts++
    c.retry = setTimeout(() => {
      c.retry = undefined
      connectOne(c).catch(() => {})
    }, base / 2 + Math.random() * (base / 2))
    c.retry.unref?.()
  }

  function connectOne(c: Conn): Promise<void> {
    if (closed) return Promise.reject(new Error('relay pool is closed'))
    if (c.ws !== undefined && c.ws.readyState === open) return Promise.resolve()
    if (c.opening !== undefined) return c.opening
    if (c.retry !== undefined) {
      clearTimeout(c.retry)
      c.retry = undefined
    }
    let ws: WebSocketLike
    try {
      ws = new o.WebSocket(c.url)
    } catch (e) {
      return Promise.reject(e instanceof Error ? e : new Error(String(e)))
    }
    c.ws = ws
    const opening = new Promise<void>((resolve, reject) => {
      let opened = false
      // A relay that accepts TCP but never completes the handshake must not pin `opening` forever.
      const timer = setTimeout(() => {
        reject(new Error(`cannot connect to ${c.url}: timed out`))
        if (c.ws === ws) dropped(c, 'connection timed out')
        try {
          ws.close()
        } catch {
          // not open yet
        }
      }, connectTimeoutMs)
      timer.unref?.()
      ws.addEventListener('open', () => {
        clearTimeout(timer)
        if (c.ws !== ws || closed) {
          reject(new Error('relay pool is closed'))
          return ws.close()
        }
        opened = true
        c.opening = undefined
        c.attempts = 0
        for (const [id, s] of subs) req(c, id, s)
        resolve()
      })
      ws.addEventListener('message', (ev) => {
        if (c.ws === ws) onMessage(c, ev.data)
      })
      ws.addEventListener('error', (ev) => {
        if (!opened) reject(new Error(`cannot connect to ${c.url}${ev.message ? `: ${ev.message}` : ''}`))
      })
      ws.addEventListener('close', () => {
        clearTimeout(timer)
        if (!opened) reject(new Error(`cannot connect to ${c.url}`))
        if (c.ws === ws) dropped(c, 'connection to the relay closed')
      })
    })
    c.opening = opening
    opening.catch(() => {})
    return opening
  }

  async function connect(signal: AbortSignal): Promise<void> {
    signal.throwIfAborted()
    const attempts = conns.map((c) => connectOne(c))
    let onAbort: (() => void) | undefined
    try {
      await Promise.race([
        Promise.any(attempts),
        new Promise<never>((_, reject) => {
          onAbort = () => reject(signal.reason)
          signal.addEventListener('abort', onAbort, { once: true })
        }),
      ])
    } finally {
      if (onAbort !== undefined) signal.removeEventListener('abort', onAbort)
    }
  }

  return {
    urls: o.urls,

    subscribe(filter, handlers) {
      const id = `tp${(nextSub++).toString(36)}`
      const s = { filter, handlers }
      subs.set(id, s)
      for (const c of conns) {
        if (c.ws !== undefined && c.ws.readyState === open) req(c, id, s)
        else connectOne(c).catch(() => scheduleRetry(c))
      }
      return {
        close() {
          if (!subs.delete(id)) return
          for (const c of conns) if (c.active.delete(id)) send(c, ['CLOSE', id])
        },
      }
    },

    connect,

    async publish(event, signal) {
      await connect(signal)
      const acks: Promise<void>[] = []
      for (const c of conns) {
        if (c.ws === undefined || c.ws.readyState !== open) continue
        acks.push(
          new Promise<void>((resolve, reject) => {
            c.acks.set(event.id, { resolve, reject })
            if (!send(c, ['EVENT', event])) {
              c.acks.delete(event.id)
              reject(new Error(`cannot send to ${c.url}`))
            }
          }),
        )
      }
      let onAbort: (() => void) | undefined
      try {
        await Promise.race([
          Promise.any(acks),
          new Promise<never>((_, reject) => {
            onAbort = () => reject(signal.reason)
            if (signal.aborted) onAbort()
            else signal.addEventListener('abort', onAbort, { once: true })
          }),
        ])
      } finally {
        if (onAbort !== undefined) signal.removeEventListener('abort', onAbort)
        for (const c of conns) c.acks.delete(event.id)
      }
    },

    close() {
      if (closed) return
      closed = true
      subs.clear()
      for (const c of conns) {
        if (c.retry !== undefined) clearTimeout(c.retry)
        c.retry = undefined
        const ws = c.ws
        dropped(c, 'relay pool closed')
        try {
          ws?.close()
        } catch {
          // already closing
        }
      }
    },
  }
}
