/**
 * `turnpike admin routes set <name> <json|@file>` and `turnpike admin routes delete <name>`: live
 * route changes through the admin API (`PUT`/`DELETE /api/v1/routes/<name>`, admin/routes.ts).
 * @module
 */
import { readFileSync } from 'node:fs'
import { request as httpRequest, type ClientOptions } from '../admin/client.ts'
import { byName } from '../admin/operations.ts'
import { UsageError } from './args.ts'

type Out = { write(s: string): unknown }
const usage = 'Usage: turnpike admin routes set <name> <route JSON | @file.json> | turnpike admin routes delete <name>'

/**
 * Parses `set <name> <json|@file>` / `delete <name>` into the request to send: the `set_route` /
 * `delete_route` operations of the registry (admin/operations.ts), as `turnpike mcp` sends them.
 */
function request(args: readonly string[]): { method: string; path: string; body: string | undefined } {
  const [op, name, spec, ...extra] = args
  if (!name || extra.length > 0 || (op === 'set' ? spec === undefined : spec !== undefined)) throw new UsageError(usage)
  let input: Record<string, unknown> = { name }
  if (op === 'set') {
    const text = spec!.startsWith('@') ? readFileSync(spec!.slice(1), 'utf8') : spec!
    try {
      input = { name, route: JSON.parse(text) as unknown }
    } catch {
      throw new UsageError(`routes set: the route is not valid JSON\n${usage}`)
    }
  }
  const operation = byName.get(op === 'set' ? 'set_route' : 'delete_route')!
  const { path, body } = httpRequest(operation, input)
  return { method: operation.method, path, body }
}

/** `--dry-run`: prints the request a change would send, and sends nothing. */
export function routesPlan(args: readonly string[], io: { stdout: Out }, codes: { ok: number }): number {
  const { method, path, body } = request(args)
  io.stdout.write(JSON.stringify({ dry_run: true, method, path, ...(body ? { body: JSON.parse(body) as unknown } : {}) }, null, 2) + '\n')
  return codes.ok
}

/** Runs the command; resolves the exit code (same meaning as the other admin commands). */
export async function routesWrite(client: ClientOptions, args: readonly string[], io: { stdout: Out; stderr: Out }, codes: { ok: number; error: number; usage: number; unreachable: number; unauthorized: number; notFound: number }): Promise<number> {
  const { method, path, body } = request(args)
  let res: Response
  try {
    res = await fetch(`${client.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${client.token}`, accept: 'application/json', ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body } : {}),
      signal: AbortSignal.timeout(client.timeoutMs ?? 30_000),
    })
  } catch {
    io.stderr.write(`turnpike admin: cannot reach the admin API at ${client.url}\n`)
    return codes.unreachable
  }
  const text = await res.text()
  io.stdout.write(text.endsWith('\n') ? text : text + '\n')
  if (res.ok) return codes.ok
  let detail = text
  try {
    const p = JSON.parse(text) as { detail?: string; issues?: { path: string; message: string }[] }
    detail = p.issues ? p.issues.map((i) => `${i.path || '(route)'}: ${i.message}`).join('\n') : (p.detail ?? text)
  } catch {}
  io.stderr.write(`turnpike admin: ${detail}\n`)
  if (res.status === 401) return codes.unauthorized
  return res.status === 404 ? codes.notFound : res.status === 400 ? codes.usage : codes.error
}
