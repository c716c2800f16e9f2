/**
 * `turnpike admin <command>`: the admin API from the command line. Tables on a terminal, JSON when
 * piped (or with --json); `turnpike admin schema` describes every command for scripts and agents.
 * @module
 */
import { AdminCallError, call, metrics, resolveClient } from '../admin/client.ts'
import { InputError, operations, validate, type Operation } from '../admin/operations.ts'
import { parseFlags, UsageError } from './args.ts'

/** Exit codes of `turnpike admin`. */
export const exitCodes = { ok: 0, error: 1, usage: 2, unreachable: 3, unauthorized: 4, notFound: 5 } as const

const positionals: Record<string, readonly string[]> = { route: ['name'], revoke: ['payment_hash'] }
const flagName = (prop: string) => prop.replace(/_/g, '-')
/** Operations whose command is not their name: route changes take a JSON route (adminRoutes.ts). */
const special: Readonly<Record<string, string>> = {
  set_route: 'turnpike admin routes set <name> <route JSON | @file.json>',
  delete_route: 'turnpike admin routes delete <name>',
}
const commands = operations.filter((op) => special[op.name] === undefined)

function usageOf(op: Operation): string {
  if (special[op.name]) return special[op.name]!
  const pos = (positionals[op.name] ?? []).map((p) => ` <${flagName(p)}>`).join('')
  const flags = Object.entries(op.input.properties)
    .filter(([k]) => !(positionals[op.name] ?? []).includes(k))
    .map(([k, p]) => (p.type === 'boolean' ? ` [--no-${flagName(k)}]` : ` [--${flagName(k)} <${p.type === 'integer' ? 'n' : 'value'}>]`))
    .join('')
  return `turnpike admin ${op.name}${pos}${flags}`
}

export const adminHelp = `turnpike admin — the admin API of a running gateway

Usage: turnpike admin <command> [options]

Commands:
${commands.map((op) => `  ${(op.name + (positionals[op.name] ?? []).map((p) => ` <${flagName(p)}>`).join('')).padEnd(26)} ${op.title}`).join('\n')}
  ${'routes set <name> <json>'.padEnd(26)} Create or replace a route live on every instance (JSON or @file)
  ${'routes delete <name>'.padEnd(26)} Remove a route live on every instance
  ${'metrics'.padEnd(26)} Prometheus text of /metrics
  ${'schema'.padEnd(26)} every command, its input schema and the exit codes (JSON)

Filters:
  transactions  --route <name> --status open|settled|expired|canceled|unknown --since <time>
                --until <time> --limit <1-200> --cursor <next> --no-lookup
  revenue       --route <name> --since <time> --until <time> --max-scan <n>
  revoke        <payment-hash>, or --token-id <id>
  (<time>: ISO 8601 like 2026-01-31T00:00:00Z, or unix seconds)

Options:
  --url <url>          admin listener (default $TURNPIKE_ADMIN_URL or http://127.0.0.1:9402)
  --token-file <file>  admin token file (default $TURNPIKE_ADMIN_TOKEN, else <data-dir>/admin-token)
  --data-dir <dir>     where turnpike generated the token (default $TURNPIKE_DATA_DIR or ./.turnpike)
  --json               JSON output (the default when stdout is not a terminal)
  --table              table output (the default on a terminal)
  --dry-run            for changes (revoke, routes set/delete): validate and print the request, send nothing
  -h, --help           show this help

Exit codes: 0 ok, 1 the API answered an error, 2 usage, 3 admin API unreachable, 4 token refused, 5 not found.
`

const options = {
  url: { type: 'string' },
  'token-file': { type: 'string' },
  'data-dir': { type: 'string' },
  json: { type: 'boolean' },
  table: { type: 'boolean' },
  route: { type: 'string' },
  status: { type: 'string' },
  since: { type: 'string' },
  until: { type: 'string' },
  limit: { type: 'string' },
  cursor: { type: 'string' },
  lookup: { type: 'boolean' },
  'no-lookup': { type: 'boolean' },
  'max-scan': { type: 'string' },
  'token-id': { type: 'string' },
  'dry-run': { type: 'boolean' },
} as const

/** The machine-readable description printed by `turnpike admin schema`. */
export function schema() {
  return {
    commands: operations.map((op) => ({
      name: op.name,
      title: op.title,
      description: op.description,
      usage: usageOf(op),
      http: { method: op.method, path: op.path },
      mutates: op.mutates,
      input: op.input,
    })),
    exit_codes: exitCodes,
  }
}

type Out = { write(s: string): unknown; isTTY?: boolean }

/** Runs `turnpike admin …`; resolves the exit code. */
export async function admin(argv: string[], io: { stdout: Out; stderr: Out; env: NodeJS.ProcessEnv } = { stdout: process.stdout, stderr: process.stderr, env: process.env }): Promise<number> {
  const { values, positionals: args } = parseFlags(argv, options, 'admin')
  const [command, ...rest] = args
  if (values.help || command === undefined || command === 'help') {
    io.stdout.write(adminHelp)
    return command === undefined && !values.help ? exitCodes.usage : exitCodes.ok
  }
  const asJson = values.json === true || (values.table !== true && io.stdout.isTTY !== true)
  if (command === 'schema') {
    io.stdout.write(JSON.stringify(schema(), null, 2) + '\n')
    return exitCodes.ok
  }
  if (command === 'routes' && (rest[0] === 'set' || rest[0] === 'delete')) {
    if (values['dry-run']) return (await import('./adminRoutes.ts')).routesPlan(rest, io, exitCodes)
    const client = resolveClient({ url: values.url, tokenFile: values['token-file'], dataDir: values['data-dir'] }, io.env)
    return (await import('./adminRoutes.ts')).routesWrite(client, rest, io, exitCodes)
  }
  if (special[command]) throw new UsageError(`${command} is run as: ${special[command]}`)
  const op = commands.find((o) => o.name === command)
  if (!op && command !== 'metrics') throw new UsageError(`unknown admin command "${command}"\nRun \`turnpike admin --help\` for the commands.`)

  const input: Record<string, unknown> = {}
  if (op) {
    const pos = positionals[op.name] ?? []
    if (rest.length > pos.length) throw new UsageError(`too many arguments for ${op.name}\nUsage: ${usageOf(op)}`)
    pos.forEach((p, i) => rest[i] !== undefined && (input[p] = rest[i]))
    for (const [k, p] of Object.entries(op.input.properties)) {
      const flag = values[flagName(k) as keyof typeof values]
      if (p.type === 'boolean') {
        if (values[`no-${flagName(k)}` as keyof typeof values]) input[k] = false
        else if (flag === true) input[k] = true
      } else if (typeof flag === 'string' && !pos.includes(k)) input[k] = flag
    }
    const known = new Set(['url', 'token-file', 'data-dir', 'json', 'table', 'help', ...(op.mutates ? ['dry-run'] : []), ...Object.keys(op.input.properties).flatMap((k) => [flagName(k), `no-${flagName(k)}`])])
    for (const k of Object.keys(values)) if (!known.has(k)) throw new UsageError(`--${k} does not apply to ${op.name}\nUsage: ${usageOf(op)}`)
    try {
      Object.assign(input, validate(op, input, { fromQuery: true }))
    } catch (e) {
      if (e instanceof InputError) throw new UsageError(`${flagName(e.param)}: ${e.message}\nUsage: ${usageOf(op)}`)
      throw e
    }
  } else if (rest.length > 0) throw new UsageError('metrics takes no arguments')
  if (op?.mutates && values['dry-run']) {
    io.stdout.write(JSON.stringify({ dry_run: true, method: op.method, path: op.path, input }, null, 2) + '\n')
    return exitCodes.ok
  }

  try {
    const client = resolveClient({ url: values.url, tokenFile: values['token-file'], dataDir: values['data-dir'] }, io.env)
    if (!op) {
      io.stdout.write(await metrics(client))
      return exitCodes.ok
    }
    const result = await call(client, op.name, input)
    io.stdout.write(asJson ? JSON.stringify(result, null, 2) + '\n' : render(op.name, result))
    return exitCodes.ok
  } catch (e) {
    if (!(e instanceof AdminCallError)) throw e
    const f = e.failure
    if (f.problem && asJson) io.stdout.write(JSON.stringify(f.problem, null, 2) + '\n')
    io.stderr.write(`turnpike admin: ${f.message}\n`)
    if (f.kind === 'connect') return exitCodes.unreachable
    if (f.kind === 'unauthorized') return exitCodes.unauthorized
    return f.status === 404 ? exitCodes.notFound : f.status === 400 ? exitCodes.usage : exitCodes.error
  }
}

/** A plain text table. */
export function table(head: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const line = (cells: readonly string[]) => cells.map((c, i) => (c ?? '').padEnd(widths[i]!)).join('  ').trimEnd()
  return [line(head), line(widths.map((w) => '─'.repeat(w))), ...rows.map(line)].join('\n') + '\n'
}

const sat = (msat: string | number): string => {
  const n = BigInt(msat)
  return n % 1000n === 0n ? `${n / 1000n} sat` : `${n} msat`
}

function keyValues(obj: Record<string, unknown>, indent = ''): string {
  let out = ''
  for (const [k, v] of Object.entries(obj)) {
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) out += `${indent}${k}:\n${keyValues(v as Record<string, unknown>, indent + '  ')}`
    else out += `${indent}${k}: ${Array.isArray(v) ? v.join(', ') || '—' : String(v)}\n`
  }
  return out
}

/** Human output for a terminal. */
export function render(name: string, result: unknown): string {
  const r = result as Record<string, any>
  switch (name) {
    case 'routes':
      return table(
        ['NAME', 'MATCH', 'PRICE', 'ACCESS', 'SCHEMES', 'NOTES'],
        (r.routes as any[]).map((x) => [
          x.name,
          `${x.host ?? ''}${x.path}${x.methods ? ` [${x.methods.join(',')}]` : ''}`,
          x.price_msat === '0' ? 'free' : sat(x.price_msat),
          x.access.type === 'pass' ? `pass ${x.access.duration_secs}s` : 'per-request',
          x.schemes.join(','),
          [x.dry_run ? 'dry-run' : '', x.hidden ? 'hidden' : ''].filter(Boolean).join(','),
        ]),
      )
    case 'transactions':
      return (
        table(
          ['CREATED', 'ROUTE', 'AMOUNT', 'STATUS', 'PAYMENT HASH'],
          (r.transactions as any[]).map((t) => [t.created_at.replace('T', ' ').replace(/\.\d+Z$/, 'Z'), t.route, sat(t.amount_msat), t.status, t.payment_hash]),
        ) + (r.next ? `more: --cursor ${r.next}\n` : '')
      )
    case 'revenue':
      return (
        table(
          ['ROUTE', 'ISSUED', 'ISSUED AMOUNT', 'SETTLED', 'SETTLED AMOUNT'],
          [...Object.entries(r.routes as Record<string, any>), ['TOTAL', r.total] as [string, any]].map(([k, b]) => [k, String(b.issued_count), sat(b.issued_msat), String(b.settled_count), sat(b.settled_msat)]),
        ) + (r.truncated ? `(stopped after ${r.scanned} invoices; raise --max-scan)\n` : '')
      )
    case 'stats':
      return table(
        ['ROUTE', 'REQUESTS', 'CHALLENGES', 'VERIFIED', 'FAILURES', 'DRY-RUN'],
        Object.entries(r.routes as Record<string, any>).map(([k, s]) => [
          k,
          String(Object.values((s.requests ?? {}) as Record<string, number>).reduce((a, b) => a + b, 0)),
          String(s.challenges ?? 0),
          String(s.verified ?? 0),
          Object.entries((s.failures ?? {}) as Record<string, number>).map(([f, n]) => `${f}=${n}`).join(' ') || '0',
          Object.entries((s.dry_run ?? {}) as Record<string, number>).map(([f, n]) => `${f}=${n}`).join(' ') || '—',
        ]),
      )
    default:
      return keyValues(r)
  }
}
