/**
 * The admin REST API under `/api/v1/` (bearer token checked by the listener). JSON answers,
 * RFC 9457 problems for errors, every input validated against `operations.ts`.
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { accessInfo, type Route } from '../Config.ts'
import { TurnpikeError, is } from '../Errors.ts'
import type { Snapshot } from '../Metrics.ts'
import { json, readJson } from './http.ts'
import { InputError, operations, parseTime, validate, type Operation } from './operations.ts'
import type { AdminContext } from './server.ts'
import { handleRouteWrite } from './routes.ts'
import { listTransactions, revenue, statusLookup, type Statuses, type Status } from './transactions.ts'

type Input = Record<string, string | number | boolean>
type Handler = (ctx: AdminContext, input: Input) => Promise<{ status?: number; body: unknown }>

const patterns = operations.map((op) => ({
  op,
  re: new RegExp(`^${op.path.replace(/\{(\w+)\}/g, '(?<$1>[^/]+)')}$`),
}))

function match(method: string, path: string): { op: Operation; params: Record<string, string> } | undefined {
  let pathMatched = false
  for (const { op, re } of patterns) {
    const m = re.exec(path)
    if (!m) continue
    pathMatched = true
    if (op.method === method || (method === 'HEAD' && op.method === 'GET')) {
      const params: Record<string, string> = {}
      for (const [k, v] of Object.entries(m.groups ?? {})) params[k] = decodeURIComponent(v)
      return { op, params }
    }
  }
  if (pathMatched) throw new TurnpikeError('TURNPIKE_METHOD_NOT_ALLOWED', `Wrong method for ${path}`)
  return undefined
}

function time(input: Input, key: string): number | undefined {
  const v = input[key]
  if (v === undefined) return undefined
  const t = parseTime(String(v))
  if (t === undefined) throw new TurnpikeError('TURNPIKE_BAD_REQUEST', `${key}: not a date-time`, { details: { param: key } })
  return t
}

export function routeView(r: Route, upstream: string | undefined) {
  return {
    name: r.name,
    ...(r.host ? { host: r.host } : {}),
    path: r.path,
    ...(r.methods ? { methods: r.methods } : {}),
    price_msat: r.priceMsat.toString(),
    access: accessInfo(r.access),
    schemes: r.schemes,
    upstream: r.upstream ?? upstream ?? null,
    description: r.description,
    dry_run: r.dryRun ? { invoice_sample: r.dryRun.invoiceSample } : false,
    hidden: r.hidden === true,
  }
}

async function within<T>(ms: number, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('timed out')), ms)))])
  } finally {
    clearTimeout(timer)
  }
}

/** Per-route counters of the summary: metric family → [summary key, label that splits it]. */
const routeCounters = new Map<string, readonly [key: string, subLabel?: string]>([
  ['turnpike_requests_total', ['requests', 'outcome']],
  ['turnpike_challenges_issued_total', ['challenges']],
  ['turnpike_payments_verified_total', ['verified']],
  ['turnpike_payment_failures_total', ['failures', 'reason']],
  ['turnpike_dry_run_total', ['dry_run', 'outcome']],
  ['turnpike_rate_limited_total', ['rate_limited']],
  ['turnpike_upstream_errors_total', ['upstream_errors']],
  ['turnpike_payment_pages_total', ['payment_pages']],
])

/** Per-route summary of the metric counters. */
export function summarize(s: Snapshot) {
  const routes: Record<string, Record<string, unknown>> = {}
  const at = (route: string) => (routes[route || '(none)'] ??= {})
  const bump = (obj: Record<string, unknown>, key: string, sub: string | undefined, v: number) => {
    if (sub === undefined) obj[key] = ((obj[key] as number | undefined) ?? 0) + v
    else {
      const m = ((obj[key] as Record<string, number> | undefined) ??= {}) as Record<string, number>
      obj[key] = m
      m[sub] = (m[sub] ?? 0) + v
    }
  }
  const invoices: Record<string, { count: number; errors: number; mean_ms: number }> = {}
  for (const f of s.families) {
    const idx = (l: string) => f.labelNames.indexOf(l)
    for (const x of f.series) {
      const route = x.labels[idx('route')] ?? ''
      const counted = routeCounters.get(f.name)
      if (counted !== undefined) {
        const [key, subLabel] = counted
        bump(at(route), key, subLabel === undefined ? undefined : x.labels[idx(subLabel)]!, x.value)
      } else if (f.name === 'turnpike_invoice_creation_seconds') {
        const b = (invoices[x.labels[idx('backend')]!] ??= { count: 0, errors: 0, mean_ms: 0 })
        const total = b.mean_ms * b.count + (x.sum ?? 0) * 1000
        b.count += x.value
        if (x.labels[idx('outcome')] === 'error') b.errors += x.value
        b.mean_ms = b.count === 0 ? 0 : Math.round((total / b.count) * 100) / 100
      }
    }
  }
  return { routes, invoice_creation: invoices }
}

const statusesFor = new WeakMap<AdminContext, Statuses>()
const statuses = (ctx: AdminContext): Statuses => {
  let s = statusesFor.get(ctx)
  if (!s) statusesFor.set(ctx, (s = statusLookup(ctx.rt.backend)))
  return s
}

const handlers: Record<string, Handler> = {
  async health(ctx) {
    const check = async (fn: () => Promise<unknown>) => {
      try {
        await within(2000, fn())
        return 'ok'
      } catch (e) {
        return is(e, 'TURNPIKE_INVOICE_UNKNOWN') ? 'ok' : 'error'
      }
    }
    const probe = '0'.repeat(64)
    const [store, backend] = await Promise.all([
      check(() => ctx.rt.store.getInvoice(probe)),
      check(() => (ctx.rt.backend.getInfo ? ctx.rt.backend.getInfo() : ctx.rt.backend.lookupInvoice(probe))),
    ])
    const ok = store === 'ok' && backend === 'ok'
    return { status: ok ? 200 : 503, body: { status: ok ? 'ok' : 'degraded', checks: { store, backend } } }
  },

  async info(ctx) {
    const { config, backend, store } = ctx.rt
    const { version } = await import('../internal/version.ts')
    let node: Record<string, unknown> = {}
    try {
      if (backend.getInfo) node = { ...(await within(2000, backend.getInfo())) }
    } catch {
      node = { error: 'unreachable' }
    }
    return {
      body: {
        version,
        started_at: new Date(ctx.startedAt).toISOString(),
        uptime_secs: Math.floor((Date.now() - ctx.startedAt) / 1000),
        backend: { name: backend.name, ...node },
        store: store.name,
        listen: `${config.listen.host}:${config.listen.port}`,
        workers: ctx.workers || 1,
        routes: config.routes.length,
        paid_routes: config.routes.filter((r) => r.priceMsat > 0n).length,
        dry_run_routes: config.routes.filter((r) => r.dryRun).map((r) => r.name),
        manifest: config.manifest?.enabled !== false,
        payment_page: config.page?.enabled !== false,
      },
    }
  },

  async routes(ctx) {
    return { body: { routes: ctx.rt.config.routes.map((r) => routeView(r, ctx.rt.config.upstream)) } }
  },

  async route(ctx, input) {
    const r = ctx.rt.config.routes.find((x) => x.name === input.name)
    if (!r) throw new TurnpikeError('TURNPIKE_NOT_FOUND', `No route named ${String(input.name)}`)
    return { body: routeView(r, ctx.rt.config.upstream) }
  },

  async transactions(ctx, input) {
    const body = await listTransactions(ctx.rt.store, statuses(ctx), {
      route: input.route as string | undefined,
      since: time(input, 'since'),
      until: time(input, 'until'),
      limit: (input.limit as number | undefined) ?? 50,
      cursor: input.cursor as string | undefined,
      status: input.status as Status | undefined,
      lookup: input.lookup !== false,
    })
    return { body }
  },

  async revenue(ctx, input) {
    const body = await revenue(ctx.rt.store, statuses(ctx), {
      since: time(input, 'since'),
      until: time(input, 'until'),
      route: input.route as string | undefined,
      maxScan: (input.max_scan as number | undefined) ?? 5000,
    })
    return { body }
  },

  async stats(ctx) {
    return { body: summarize(await ctx.snapshot()) }
  },

  async revoke(ctx, input) {
    const { store, config } = ctx.rt
    const byHash = input.payment_hash !== undefined
    if (byHash === (input.token_id !== undefined)) {
      throw new TurnpikeError('TURNPIKE_BAD_REQUEST', 'payment_hash: give payment_hash or token_id, not both', { details: { param: 'payment_hash' } })
    }
    const record = byHash ? await store.getInvoice(String(input.payment_hash).toLowerCase()) : undefined
    const tokenId = byHash ? record?.tokenId : String(input.token_id).toLowerCase()
    const route = record ? config.routes.find((r) => r.name === record.route) : undefined
    const { invoiceExpirySeconds, tokenTtlSeconds } = config.challenge
    const lifetimeMs = (invoiceExpirySeconds + tokenTtlSeconds + 3600) * 1000
    let revoked = false
    let spent: boolean | undefined
    // Every access model: the store's revocation list, which every instance refreshes about once a second.
    if (store.revoke && tokenId) {
      const passMs = route?.access.kind === 'per-request' || route === undefined ? 0 : ((route.access as { seconds?: number }).seconds ?? 0) * 1000
      await store.revoke(tokenId, Math.max(Date.now() + lifetimeMs, (record?.createdAt ?? Date.now()) + passMs + 3_600_000))
      revoked = true
    }
    // Per-request tokens: also take the gateway's single-use claim (Gateway.ts), effective at once.
    if (byHash && (route === undefined || route.access.kind === 'per-request')) {
      spent = !(await store.claim(`l402:${String(input.payment_hash).toLowerCase()}`, Date.now() + lifetimeMs))
      revoked = true
    }
    if (!revoked) {
      throw new TurnpikeError(
        'TURNPIKE_NOT_IMPLEMENTED',
        tokenId ? `The ${store.name} store keeps no revocation list; only per-request tokens can be revoked` : 'No token is known for that payment hash',
      )
    }
    ctx.log.info('admin revoked a token', { ...(byHash ? { paymentHash: String(input.payment_hash).toLowerCase() } : {}), ...(tokenId ? { tokenId } : {}) })
    return {
      body: {
        ...(byHash ? { payment_hash: String(input.payment_hash).toLowerCase() } : {}),
        ...(tokenId ? { token_id: tokenId } : {}),
        revoked: true,
        ...(spent !== undefined ? { already_spent: spent } : {}),
        known: record !== undefined || !byHash,
      },
    }
  },
}

/** Serves one `/api/v1/*` request. */
export async function handleApi(ctx: AdminContext, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  // Route changes (PUT/DELETE /api/v1/routes/<name>) take a whole route object: routes.ts.
  if ((req.method === 'PUT' || req.method === 'DELETE') && (await handleRouteWrite(ctx, req, res, url))) return
  const m = match(req.method ?? 'GET', url.pathname)
  if (!m) throw new TurnpikeError('TURNPIKE_NOT_FOUND', `No admin endpoint at ${url.pathname}`)
  const raw: Record<string, unknown> = {}
  if (m.op.method === 'GET') {
    for (const key of new Set(url.searchParams.keys())) {
      const all = url.searchParams.getAll(key)
      if (all.length > 1) throw new TurnpikeError('TURNPIKE_BAD_REQUEST', `${key}: given more than once`, { details: { param: key } })
      raw[key] = all[0]
    }
  } else {
    if ([...url.searchParams.keys()].length > 0) throw new TurnpikeError('TURNPIKE_BAD_REQUEST', 'Send the parameters as a JSON body, not in the query')
    Object.assign(raw, await readJson(req))
  }
  for (const [k, v] of Object.entries(m.params)) {
    if (raw[k] !== undefined) throw new TurnpikeError('TURNPIKE_BAD_REQUEST', `${k}: given twice`, { details: { param: k } })
    raw[k] = v
  }
  let input: Input
  try {
    input = validate(m.op, raw, { fromQuery: m.op.method === 'GET' })
  } catch (e) {
    if (e instanceof InputError) throw new TurnpikeError('TURNPIKE_BAD_REQUEST', `${e.param}: ${e.message}`, { details: { param: e.param } })
    throw e
  }
  const out = await handlers[m.op.name]!(ctx, input)
  json(res, out.status ?? 200, out.body)
}
