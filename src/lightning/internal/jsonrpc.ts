/**
 * JSON-RPC 2.0 over a unix socket, as Core Lightning's `lightning-rpc` speaks it: params as an
 * object, string ids, each response terminated by `"\n\n"`. One connection per call.
 * @module
 */
import net from 'node:net'
import { backendError, deadline, unavailable } from './http.ts'

/** An error object returned by the node (`{"code","message","data"?}`). */
export class RpcError extends Error {
  readonly code: number
  readonly data: unknown
  constructor(code: number, message: string, data?: unknown) {
    super(message)
    this.name = 'RpcError'
    this.code = code
    this.data = data
  }
}

const maxResponseBytes = 16 * 1024 * 1024
let counter = 0

/**
 * Calls `method` on the socket at `path`. Resolves the `result`; rejects with {@link RpcError}
 * for a JSON-RPC error, TURNPIKE_BACKEND_UNAVAILABLE for transport failures, timeouts and garbage,
 * TURNPIKE_BACKEND_ERROR when the socket is not accessible, and the caller's abort reason.
 */
export function socketCall(
  name: string,
  path: string,
  method: string,
  params: Record<string, unknown>,
  o: { timeoutMs: number; signal?: AbortSignal | undefined },
): Promise<unknown> {
  o.signal?.throwIfAborted()
  const id = `turnpike:${method}#${++counter}`
  const d = deadline(o.timeoutMs, o.signal)
  return new Promise<unknown>((resolve, reject) => {
    const socket = net.connect({ path })
    let buffer = ''
    let settled = false
    const finish = (f: () => void): void => {
      if (settled) return
      settled = true
      d.signal.removeEventListener('abort', onAbort)
      socket.destroy()
      f()
    }
    const onAbort = (): void =>
      finish(() => reject(o.signal?.aborted === true ? o.signal.reason : unavailable(name, `timed out after ${o.timeoutMs} ms`, new Error(`${method} over ${path}`))))
    if (d.signal.aborted) return onAbort()
    d.signal.addEventListener('abort', onAbort, { once: true })
    socket.setEncoding('utf8')
    socket.on('connect', () => socket.write(JSON.stringify({ jsonrpc: '2.0', id, method, params })))
    socket.on('data', (chunk: string) => {
      buffer += chunk
      if (buffer.length > maxResponseBytes) return finish(() => reject(unavailable(name, 'malformed response', new Error(`${method}: response too large`))))
      const end = buffer.indexOf('\n\n')
      if (end < 0) return
      let msg: { id?: unknown; result?: unknown; error?: { code?: unknown; message?: unknown; data?: unknown } }
      try {
        msg = JSON.parse(buffer.slice(0, end)) as typeof msg
      } catch (e) {
        return finish(() => reject(unavailable(name, 'malformed response', new Error(`${method}: response is not JSON`, { cause: e }))))
      }
      if (msg?.id !== id) return finish(() => reject(unavailable(name, 'malformed response', new Error(`${method}: response id mismatch`))))
      if (msg.error !== undefined && msg.error !== null) {
        const err = msg.error
        return finish(() => reject(new RpcError(typeof err.code === 'number' ? err.code : -1, typeof err.message === 'string' ? err.message : 'error', err.data)))
      }
      finish(() => resolve(msg.result))
    })
    socket.on('error', (e: NodeJS.ErrnoException) =>
      finish(() =>
        reject(
          e.code === 'EACCES' || e.code === 'EPERM'
            ? backendError(name, 'no permission to open the RPC socket', e)
            : unavailable(name, 'unreachable', e),
        ),
      ),
    )
    socket.on('end', () => finish(() => reject(unavailable(name, 'connection closed before a response', new Error(`${method} over ${path}`)))))
  })
}
