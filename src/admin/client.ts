/**
 * A small client of the admin API, used by `turnpike admin` and `turnpike mcp`: finds the URL and
 * token, calls an operation by name, and classifies failures for exit codes.
 * @module
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { byName, type Operation } from './operations.ts'
import { tokenFileName } from './token.ts'

export type ClientOptions = { readonly url: string; readonly token: string; readonly timeoutMs?: number }

/** Why a call failed: no connection, the token was refused, or another problem answer. */
export type Failure = { readonly kind: 'connect' | 'unauthorized' | 'problem'; readonly status?: number; readonly problem?: Record<string, unknown>; readonly message: string }

export class AdminCallError extends Error {
  readonly failure: Failure
  constructor(failure: Failure) {
    super(failure.message)
    this.name = 'AdminCallError'
    this.failure = failure
  }
}

/**
 * Resolves the admin URL and token: `--url`, `$TURNPIKE_ADMIN_URL`, else http://127.0.0.1:9402;
 * `--token-file`, `$TURNPIKE_ADMIN_TOKEN`, else `<data-dir>/admin-token` (data dir from
 * `--data-dir`, `$TURNPIKE_DATA_DIR`, else ./.turnpike).
 */
export function resolveClient(o: { url?: string | undefined; tokenFile?: string | undefined; dataDir?: string | undefined }, env: NodeJS.ProcessEnv): ClientOptions {
  const url = (o.url ?? env.TURNPIKE_ADMIN_URL ?? 'http://127.0.0.1:9402').replace(/\/+$/, '')
  let token: string | undefined
  if (o.tokenFile) token = read(o.tokenFile, '--token-file')
  else if (env.TURNPIKE_ADMIN_TOKEN) token = env.TURNPIKE_ADMIN_TOKEN.trim()
  else token = read(join(o.dataDir ?? env.TURNPIKE_DATA_DIR ?? '.turnpike', tokenFileName), 'the data directory', true)
  return { url, token: token ?? '' }
}

function read(path: string, what: string, optional = false): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim()
  } catch (e) {
    if (optional && (e as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw new AdminCallError({ kind: 'unauthorized', message: `cannot read the admin token from ${what} (${path}): ${(e as NodeJS.ErrnoException).code ?? 'error'}` })
  }
}

/**
 * Fills `{name}` path segments from the input; the rest go to the query (GET) or a JSON body (the
 * operation's `body` property alone when it names one; none for DELETE).
 */
export function request(op: Operation, input: Readonly<Record<string, unknown>>): { path: string; body?: string } {
  const rest: Record<string, unknown> = { ...input }
  const path = op.path.replace(/\{(\w+)\}/g, (_m, k: string) => {
    const v = rest[k]
    delete rest[k]
    return encodeURIComponent(String(v ?? ''))
  })
  if (op.method === 'GET') {
    const q = new URLSearchParams()
    for (const [k, v] of Object.entries(rest)) if (v !== undefined) q.set(k, String(v))
    const s = q.toString()
    return { path: s ? `${path}?${s}` : path }
  }
  if (op.body !== undefined) return { path, body: JSON.stringify(rest[op.body] ?? null) }
  if (op.method === 'DELETE') return { path }
  return { path, body: JSON.stringify(rest) }
}

/** Calls an operation; resolves the JSON answer, rejects with an {@link AdminCallError}. */
export async function call(c: ClientOptions, name: string, input: Readonly<Record<string, unknown>> = {}): Promise<unknown> {
  const op = byName.get(name)
  if (!op) throw new TypeError(`unknown admin operation ${name}`)
  const { path, body } = request(op, input)
  return send(c, op.method, path, body, 'json')
}

/** `/metrics` as Prometheus text. */
export async function metrics(c: ClientOptions): Promise<string> {
  return (await send(c, 'GET', '/metrics', undefined, 'text')) as string
}

async function send(c: ClientOptions, method: string, path: string, body: string | undefined, as: 'json' | 'text'): Promise<unknown> {
  let res: Response
  try {
    res = await fetch(`${c.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${c.token}`, accept: 'application/json', ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body } : {}),
      signal: AbortSignal.timeout(c.timeoutMs ?? 30_000),
    })
  } catch (e) {
    const cause = (e as { cause?: { code?: string } }).cause?.code ?? (e as Error).name
    throw new AdminCallError({ kind: 'connect', message: `cannot reach the admin API at ${c.url} (${cause}); is turnpike running with an admin listener?` })
  }
  const text = await res.text()
  if (!res.ok) {
    let problem: Record<string, unknown> | undefined
    try {
      problem = JSON.parse(text) as Record<string, unknown>
    } catch {
      problem = undefined
    }
    const detail = typeof problem?.detail === 'string' ? problem.detail : res.statusText
    const kind = res.status === 401 ? 'unauthorized' : 'problem'
    throw new AdminCallError({ kind, status: res.status, ...(problem ? { problem } : {}), message: `${res.status} ${detail}` })
  }
  if (as === 'text') return text
  try {
    return JSON.parse(text) as unknown
  } catch {
    throw new AdminCallError({ kind: 'problem', status: res.status, message: 'the admin API answered with something that is not JSON' })
  }
}
