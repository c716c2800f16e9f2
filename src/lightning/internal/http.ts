/**
 * Shared HTTP plumbing for the Lightning backends: one timeout per call, error mapping onto
 * `TURNPIKE_BACKEND_UNAVAILABLE` / `TURNPIKE_BACKEND_ERROR`, JSON parsing that treats garbage as
 * "unavailable", and newline-delimited JSON streams. Messages are client-safe (no URLs, no
 * credentials, no node text); details go to `cause` for the logs.
 * @module
 */
import { Buffer } from 'node:buffer'
import { TurnpikeError } from '../../Errors.ts'

/** The subset of `fetch` the backends use; `globalThis.fetch` and {@link pinnedFetch} fit. */
export type Fetch = (input: string, init?: RequestInit) => Promise<Response>

/** Seconds a client is told to wait after a backend failure. */
export const retryAfterSeconds = 5
/** Default per-call timeout. */
export const defaultTimeoutMs = 10_000

/** Per-backend HTTP context. */
export type HttpContext = {
  /** Backend name, used in messages (`lnd`, `cln`, …). */
  readonly name: string
  readonly fetch: Fetch
  readonly timeoutMs: number
}

/** What {@link send} returns: the status, headers and full body text. */
export type HttpResult = { readonly status: number; readonly headers: Headers; readonly text: string }

export type SendParameters = {
  readonly url: string
  readonly method?: string
  readonly headers?: Record<string, string>
  readonly body?: string
  /** The caller's signal: its abort reason is rethrown as is, never mapped. */
  readonly signal?: AbortSignal | undefined
  /** Overrides the context's timeout for this call (ms); `Infinity` for none. */
  readonly timeoutMs?: number
  /** What the call does, for the log cause (`POST /v1/invoices`); never shown to clients. */
  readonly what: string
}

/** `TURNPIKE_BACKEND_UNAVAILABLE` with `retryAfter` set: transient, retry later. */
export function unavailable(name: string, message: string, cause?: unknown): TurnpikeError {
  return new TurnpikeError('TURNPIKE_BACKEND_UNAVAILABLE', `Lightning backend unavailable (${name}: ${message})`, {
    cause,
    retryAfter: retryAfterSeconds,
  })
}

/** `TURNPIKE_BACKEND_ERROR`: the node answered but refused (credentials, permissions, bad input). */
export function backendError(name: string, message: string, cause?: unknown): TurnpikeError {
  return new TurnpikeError('TURNPIKE_BACKEND_ERROR', `Lightning backend error (${name}: ${message})`, {
    cause,
    retryAfter: retryAfterSeconds,
  })
}

/** `TURNPIKE_INVOICE_UNKNOWN` for a hash the node does not know. */
export function unknownInvoice(): TurnpikeError {
  return new TurnpikeError('TURNPIKE_INVOICE_UNKNOWN', 'unknown payment hash')
}

/** A log-only error carrying what the node said (never surfaced to clients). */
export function nodeSaid(what: string, status: number, text: string): Error {
  return new Error(`${what} → HTTP ${status}: ${text.length > 500 ? `${text.slice(0, 500)}…` : text}`)
}

/**
 * Maps an unexpected HTTP status: 5xx (and 429) → unavailable, 401/403 → credentials rejected,
 * anything else → backend error.
 */
export function statusError(name: string, r: HttpResult, what: string): TurnpikeError {
  const cause = nodeSaid(what, r.status, r.text)
  if (r.status >= 500 || r.status === 429 || r.status === 408) return unavailable(name, `HTTP ${r.status}`, cause)
  if (r.status === 401 || r.status === 403) return backendError(name, 'the node rejected the credentials', cause)
  return backendError(name, `unexpected HTTP ${r.status}`, cause)
}

/** Combines the caller's signal with a timeout; `timedOut()` tells which one fired. */
export function deadline(timeoutMs: number, signal?: AbortSignal): { signal: AbortSignal; timedOut(): boolean } {
  if (!Number.isFinite(timeoutMs)) return { signal: signal ?? new AbortController().signal, timedOut: () => false }
  const timeout = AbortSignal.timeout(Math.max(1, timeoutMs))
  return { signal: signal === undefined ? timeout : AbortSignal.any([timeout, signal]), timedOut: () => timeout.aborted && signal?.aborted !== true }
}

/**
 * Maps a transport failure (thrown by fetch or while reading the body). Rethrows the caller's
 * abort reason unchanged.
 */
export function transportError(name: string, e: unknown, d: { timedOut(): boolean }, timeoutMs: number, caller?: AbortSignal): unknown {
  if (caller?.aborted === true) return caller.reason
  if (e instanceof TurnpikeError) return e
  if (d.timedOut()) return unavailable(name, `timed out after ${timeoutMs} ms`, e)
  if (isTlsError(e)) return unavailable(name, 'TLS certificate verification failed (check the pinned certificate)', e)
  return unavailable(name, 'unreachable', e)
}

const tlsCodes = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'ERR_TLS_CERT_ALTNAME_INVALID',
])

/** True when `e` (or one of its causes) is a certificate verification failure. */
export function isTlsError(e: unknown): boolean {
  for (let c = e, i = 0; c !== undefined && c !== null && i < 5; c = (c as { cause?: unknown }).cause, i++) {
    const code = (c as { code?: unknown }).code
    if (typeof code === 'string' && tlsCodes.has(code)) return true
  }
  return false
}

/** Sends one request and reads the whole body within the timeout. */
export async function send(ctx: HttpContext, p: SendParameters): Promise<HttpResult> {
  const timeoutMs = p.timeoutMs ?? ctx.timeoutMs
  p.signal?.throwIfAborted()
  const d = deadline(timeoutMs, p.signal)
  try {
    const init: RequestInit = { method: p.method ?? 'GET', signal: d.signal, redirect: 'manual' }
    if (p.headers !== undefined) init.headers = p.headers
    if (p.body !== undefined) init.body = p.body
    const res = await ctx.fetch(p.url, init)
    const text = await res.text()
    return { status: res.status, headers: res.headers, text }
  } catch (e) {
    throw transportError(ctx.name, e, d, timeoutMs, p.signal)
  }
}

/** Parses a JSON body; garbage → unavailable (a proxy error page, a truncated answer…). */
export function json(name: string, r: HttpResult, what: string): unknown {
  try {
    return JSON.parse(r.text) as unknown
  } catch (e) {
    throw unavailable(name, 'malformed response', new Error(`${what}: ${r.status} with a body that is not JSON`, { cause: e }))
  }
}

/** Reads a JSON object body or throws unavailable. */
export function jsonObject(name: string, r: HttpResult, what: string): Record<string, unknown> {
  const v = json(name, r, what)
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw unavailable(name, 'malformed response', new Error(`${what}: expected a JSON object`))
  }
  return v as Record<string, unknown>
}

/** Throws "malformed response" for a field of the wrong shape. */
export function malformed(name: string, what: string, field: string): never {
  throw unavailable(name, 'malformed response', new Error(`${what}: bad or missing field ${field}`))
}

/**
 * Opens a streaming request: the timeout covers the response headers only; the body is then read
 * until the caller's signal aborts. Non-2xx answers are read and mapped like {@link send}.
 */
export async function openStream(ctx: HttpContext, p: SendParameters & { signal: AbortSignal }): Promise<Response> {
  const timeoutMs = p.timeoutMs ?? ctx.timeoutMs
  p.signal.throwIfAborted()
  const connect = new AbortController()
  const timer = setTimeout(() => connect.abort(new DOMException('timed out', 'TimeoutError')), Math.max(1, timeoutMs))
  let timedOut = false
  connect.signal.addEventListener('abort', () => (timedOut = true), { once: true })
  const signal = AbortSignal.any([connect.signal, p.signal])
  const d = { timedOut: () => timedOut && !p.signal.aborted }
  let res: Response
  try {
    const init: RequestInit = { method: p.method ?? 'GET', signal, redirect: 'manual' }
    if (p.headers !== undefined) init.headers = p.headers
    if (p.body !== undefined) init.body = p.body
    res = await ctx.fetch(p.url, init)
  } catch (e) {
    throw transportError(ctx.name, e, d, timeoutMs, p.signal)
  } finally {
    clearTimeout(timer)
  }
  if (res.status < 200 || res.status > 299) {
    let text = ''
    try {
      text = await res.text()
    } catch {
      // the status is enough
    }
    throw statusError(ctx.name, { status: res.status, headers: res.headers, text }, p.what)
  }
  return res
}

/** Yields each non-empty line of a byte stream parsed as JSON; garbage lines → unavailable. */
export async function* ndjson(name: string, body: ReadableStream<Uint8Array>, what: string): AsyncGenerator<unknown> {
  const decoder = new TextDecoder()
  let buffer = ''
  const reader = body.getReader()
  try {
    for (;;) {
      let chunk: Awaited<ReturnType<typeof reader.read>>
      try {
        chunk = await reader.read()
      } catch (e) {
        throw unavailable(name, 'the stream was interrupted', e)
      }
      const { value, done } = chunk
      if (done) break
      buffer += decoder.decode(value, { stream: true })
      if (buffer.length > 4 * 1024 * 1024) throw unavailable(name, 'malformed response', new Error(`${what}: line too long`))
      let nl: number
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl).trim()
        buffer = buffer.slice(nl + 1)
        if (line.length > 0) yield parseLine(name, line, what)
      }
    }
    const rest = (buffer + decoder.decode()).trim()
    if (rest.length > 0) yield parseLine(name, rest, what)
  } finally {
    reader.cancel().catch(() => {})
    reader.releaseLock()
  }
}

function parseLine(name: string, line: string, what: string): unknown {
  try {
    return JSON.parse(line) as unknown
  } catch (e) {
    throw unavailable(name, 'malformed response', new Error(`${what}: a stream line is not JSON`, { cause: e }))
  }
}

/** `Authorization: Basic` with the given user (often empty) and password. */
export function basicAuth(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`, 'utf8').toString('base64')}`
}

/** Form-encodes fields, skipping undefined values. */
export function form(fields: Record<string, string | number | bigint | undefined>): string {
  const body = new URLSearchParams()
  for (const [k, v] of Object.entries(fields)) if (v !== undefined) body.set(k, String(v))
  return body.toString()
}

/** Joins a base URL (no trailing slash needed) and an absolute path. */
export function join(base: string, path: string): string {
  return `${base.replace(/\/+$/, '')}${path}`
}

/** Checks a base URL at construction; throws a TypeError naming the option. */
export function checkUrl(url: unknown, option: string, protocols: readonly string[] = ['http:', 'https:']): string {
  let u: URL
  try {
    u = new URL(String(url))
  } catch {
    throw new TypeError(`${option} must be an absolute URL, got ${JSON.stringify(url)}`)
  }
  if (!protocols.includes(u.protocol)) throw new TypeError(`${option} must use ${protocols.join(' or ')}`)
  if (u.username !== '' || u.password !== '') throw new TypeError(`${option} must not embed credentials; pass them separately`)
  return u.href.replace(/\/+$/, '')
}

/** Checks a timeout option. */
export function checkTimeout(ms: unknown, option: string): number {
  if (ms === undefined) return defaultTimeoutMs
  if (typeof ms !== 'number' || !(ms > 0)) throw new TypeError(`${option} must be a positive number of milliseconds`)
  return ms
}

/** Sleeps `ms`, resolving early (never rejecting) when `signal` aborts. */
export function delay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve()
    const t = setTimeout(done, ms)
    function done(): void {
      clearTimeout(t)
      signal.removeEventListener('abort', done)
      resolve()
    }
    signal.addEventListener('abort', done, { once: true })
  })
}
