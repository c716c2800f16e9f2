/**
 * The admin operations, described once: the REST API validates against these schemas, the CLI
 * builds its commands and `turnpike admin schema` from them, and the MCP server exposes them as
 * typed tools.
 * @module
 */

/** The JSON Schema subset the operations use. */
export type Property =
  | { readonly type: 'string'; readonly description: string; readonly pattern?: string; readonly enum?: readonly string[]; readonly maxLength?: number }
  | { readonly type: 'integer'; readonly description: string; readonly minimum: number; readonly maximum: number }
  | { readonly type: 'boolean'; readonly description: string }
  /** A JSON object checked by the gateway itself (a route definition). */
  | { readonly type: 'object'; readonly description: string }

/** A validated input value. */
export type Value = string | number | boolean | Readonly<Record<string, unknown>>

export type Operation = {
  readonly name: string
  readonly title: string
  readonly description: string
  readonly method: 'GET' | 'POST' | 'PUT' | 'DELETE'
  /** `{name}` segments are filled from the input. */
  readonly path: string
  /** The input property sent as the whole JSON body (PUT of a route); otherwise the rest of the input is. */
  readonly body?: string
  readonly input: {
    readonly type: 'object'
    readonly properties: Readonly<Record<string, Property>>
    readonly required: readonly string[]
    readonly additionalProperties: false
  }
  /** True when the operation changes state. */
  readonly mutates: boolean
}

const time = (what: string): Property => ({
  type: 'string',
  description: `${what}: ISO 8601 date-time (2026-01-31T00:00:00Z) or unix seconds`,
  pattern: '^(\\d{1,12}|\\d{4}-\\d{2}-\\d{2}([Tt ][0-9:.]+([Zz]|[+-]\\d{2}:?\\d{2})?)?)$',
})
const routeName: Property = { type: 'string', description: 'route name', pattern: '^[a-z0-9][a-z0-9-]{0,62}$' }
const hash: Property = { type: 'string', description: 'payment hash, 64 hex characters', pattern: '^[0-9a-fA-F]{64}$' }
const none = { type: 'object', properties: {}, required: [], additionalProperties: false } as const

export const operations: readonly Operation[] = [
  {
    name: 'health',
    title: 'Health',
    description: 'Checks the state store and the Lightning backend; status "ok" or "degraded".',
    method: 'GET',
    path: '/api/v1/health',
    input: none,
    mutates: false,
  },
  {
    name: 'info',
    title: 'Gateway info',
    description: 'Version, uptime, Lightning backend (name, network, node), store, listeners, workers and route counts.',
    method: 'GET',
    path: '/api/v1/info',
    input: none,
    mutates: false,
  },
  {
    name: 'routes',
    title: 'List routes',
    description: 'Every configured route: match (host, path, methods), price, access model, schemes, upstream, dry-run and manifest visibility.',
    method: 'GET',
    path: '/api/v1/routes',
    input: none,
    mutates: false,
  },
  {
    name: 'route',
    title: 'Get a route',
    description: 'One configured route by name.',
    method: 'GET',
    path: '/api/v1/routes/{name}',
    input: { type: 'object', properties: { name: routeName }, required: ['name'], additionalProperties: false },
    mutates: false,
  },
  {
    name: 'transactions',
    title: 'List transactions',
    description: 'Invoices issued in challenges, newest first, with their payment status from the Lightning backend. Page with `cursor` (the previous page\'s `next`); a `status` filter applies within each page.',
    method: 'GET',
    path: '/api/v1/transactions',
    input: {
      type: 'object',
      properties: {
        route: routeName,
        status: { type: 'string', description: 'only invoices in this state', enum: ['open', 'settled', 'expired', 'canceled', 'unknown'] },
        since: time('issued at or after'),
        until: time('issued before'),
        limit: { type: 'integer', description: 'page size (default 50)', minimum: 1, maximum: 200 },
        cursor: { type: 'string', description: 'the `next` value of the previous page', maxLength: 200 },
        lookup: { type: 'boolean', description: 'ask the backend for each status (default true)' },
      },
      required: [],
      additionalProperties: false,
    },
    mutates: false,
  },
  {
    name: 'revenue',
    title: 'Revenue',
    description: 'Invoices issued and settled (count and msat), in total and per route, over a time range.',
    method: 'GET',
    path: '/api/v1/revenue',
    input: {
      type: 'object',
      properties: {
        since: time('from'),
        until: time('until'),
        route: routeName,
        max_scan: { type: 'integer', description: 'most invoices to examine (default 5000); `truncated` says when reached', minimum: 1, maximum: 100000 },
      },
      required: [],
      additionalProperties: false,
    },
    mutates: false,
  },
  {
    name: 'stats',
    title: 'Request statistics',
    description: 'Counters since start, summed over workers: requests by outcome, challenges, verified payments, failures by reason, dry-run outcomes, per route.',
    method: 'GET',
    path: '/api/v1/stats',
    input: none,
    mutates: false,
  },
  {
    name: 'revoke',
    title: 'Revoke a token',
    description: 'Makes a token unusable, by the payment hash of its invoice or by its token id: per-request tokens at once (marked spent), any token through the store\'s revocation list (every instance picks it up within about a second; stores without one revoke per-request tokens only).',
    method: 'POST',
    path: '/api/v1/tokens/revoke',
    input: {
      type: 'object',
      properties: { payment_hash: hash, token_id: { type: 'string', description: 'token id, 64 hex characters (turnpike token inspect)', pattern: '^[0-9a-fA-F]{64}$' } },
      required: [],
      additionalProperties: false,
    },
    mutates: true,
  },
  {
    name: 'set_route',
    title: 'Create or replace a route',
    description:
      'Puts one route live on every gateway instance (applied at once here, within about a second elsewhere): `route` is a route in the config schema, ' +
      'e.g. {"path": "/api/*", "price": "10sat", "access": "pass:1h"} (keys: host, path, methods, price, access, upstream, description, schemes, hidden, …). ' +
      'Validated against the running config; a 400 lists each issue with its path and changes nothing. Answers {version, route}.',
    method: 'PUT',
    path: '/api/v1/routes/{name}',
    body: 'route',
    input: {
      type: 'object',
      properties: { name: routeName, route: { type: 'object', description: 'the route in the config schema (path, price, access, …); a name in it must equal `name`' } },
      required: ['name', 'route'],
      additionalProperties: false,
    },
    mutates: true,
  },
  {
    name: 'delete_route',
    title: 'Delete a route',
    description: 'Removes a route live on every gateway instance; its tokens stop working. 404 when there is no such route, 400 for the last one. Answers {version, deleted}.',
    method: 'DELETE',
    path: '/api/v1/routes/{name}',
    input: { type: 'object', properties: { name: routeName }, required: ['name'], additionalProperties: false },
    mutates: true,
  },
]

export const byName = new Map(operations.map((o) => [o.name, o]))

/** Unix ms from an ISO 8601 date-time or unix seconds; undefined when unparsable. */
export function parseTime(s: string): number | undefined {
  if (/^\d{1,12}$/.test(s)) return Number(s) * 1000
  const t = Date.parse(s)
  return Number.isFinite(t) ? t : undefined
}

/** An input that does not match its operation's schema. */
export class InputError extends Error {
  readonly param: string
  constructor(param: string, message: string) {
    super(message)
    this.name = 'InputError'
    this.param = param
  }
}

/**
 * Validates (and coerces, for query strings) an input against an operation's schema; throws an
 * {@link InputError} for the first problem. For operations whose inputs are scalars (query strings,
 * flags); {@link validateInput} also takes object inputs.
 */
export function validate(op: Operation, raw: Readonly<Record<string, unknown>>, o: { fromQuery?: boolean } = {}): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {}
  for (const [key, v] of Object.entries(validateInput(op, raw, o))) {
    if (typeof v === 'object') throw new InputError(key, 'is an object; send it as JSON')
    out[key] = v
  }
  return out
}

/** {@link validate}, with object inputs (checked to be plain objects; the gateway checks their content). */
export function validateInput(op: Operation, raw: Readonly<Record<string, unknown>>, o: { fromQuery?: boolean } = {}): Record<string, Value> {
  const out: Record<string, Value> = {}
  for (const key of Object.keys(raw)) {
    if (!(key in op.input.properties)) throw new InputError(key, `unknown parameter (allowed: ${Object.keys(op.input.properties).join(', ') || 'none'})`)
  }
  for (const key of op.input.required) if (raw[key] === undefined) throw new InputError(key, 'is required')
  for (const [key, p] of Object.entries(op.input.properties)) {
    let v = raw[key]
    if (v === undefined) continue
    if (p.type === 'integer') {
      if (o.fromQuery && typeof v === 'string' && /^-?\d+$/.test(v)) v = Number(v)
      if (typeof v !== 'number' || !Number.isInteger(v) || v < p.minimum || v > p.maximum) throw new InputError(key, `must be an integer from ${p.minimum} to ${p.maximum}`)
    } else if (p.type === 'boolean') {
      if (o.fromQuery && (v === 'true' || v === 'false')) v = v === 'true'
      if (typeof v !== 'boolean') throw new InputError(key, 'must be true or false')
    } else if (p.type === 'object') {
      if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new InputError(key, 'must be a JSON object')
      out[key] = v as Readonly<Record<string, unknown>>
      continue
    } else {
      if (typeof v !== 'string') throw new InputError(key, 'must be a string')
      if (p.maxLength !== undefined && v.length > p.maxLength) throw new InputError(key, `must be at most ${p.maxLength} characters`)
      if (p.enum && !p.enum.includes(v)) throw new InputError(key, `must be one of ${p.enum.join(', ')}`)
      if (p.pattern && !new RegExp(p.pattern).test(v)) throw new InputError(key, `must be ${p.description}`)
    }
    out[key] = v
  }
  return out
}
