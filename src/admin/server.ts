/**
 * The admin listener: a separate node:http server (default 127.0.0.1:9402) for `/metrics`, the
 * admin REST API under `/api/v1/` and the dashboard. Everything except `/health` needs
 * `Authorization: Bearer <admin token>` (`/metrics` too unless `admin.metricsAuth: false`).
 * @module
 */
import http, { type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { TurnpikeError, is } from '../Errors.ts'
import * as Metrics from '../Metrics.ts'
import type { Runtime } from '../runtime.ts'
import type { Logger } from '../internal/log.ts'
import { handleApi } from './api.ts'
import { dashboardHtml } from './dashboard.ts'
import { json, problem, text } from './http.ts'
import { bearerChecker, resolveAdminToken } from './token.ts'

export type AdminServer = {
  readonly server: Server
  /** `http://host:port`. */
  readonly url: string
  close(): Promise<void>
}

export type AdminOptions = {
  /** Snapshots of other processes (cluster workers) to add to this one's on `/metrics`. */
  readonly collect?: () => Promise<readonly Metrics.Snapshot[]>
  readonly env?: NodeJS.ProcessEnv
  /** Number of proxy worker processes, for `info`. */
  readonly workers?: number
}

/** Everything an admin handler may use. */
export type AdminContext = {
  readonly rt: Runtime
  readonly log: Logger
  readonly startedAt: number
  readonly workers: number
  /** This process's metrics plus the collected ones. */
  snapshot(): Promise<Metrics.Snapshot>
}

/** Starts the admin listener on `config.admin.listen`. Throws if `admin` is not configured. */
export async function startAdmin(rt: Runtime, log: Logger, o: AdminOptions = {}): Promise<AdminServer> {
  const admin = rt.config.admin
  if (!admin) throw new TypeError('startAdmin: config.admin is not set')
  const token = resolveAdminToken({ token: admin.token, tokenFile: admin.tokenFile, dataDir: rt.config.dataDir, env: o.env ?? process.env })
  if (token.source === 'generated') log.warn('generated an admin API token', { path: token.path })
  else log.info('admin token loaded', { source: token.source, ...(token.path ? { path: token.path } : {}) })
  const authorized = bearerChecker(token.token)

  const ctx: AdminContext = {
    rt,
    log,
    startedAt: Date.now(),
    workers: o.workers ?? 0,
    async snapshot() {
      const others = o.collect ? await o.collect() : []
      return Metrics.merge([rt.metrics.snapshot(), ...others])
    },
  }

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://admin')
    const path = url.pathname
    if (path === '/health') return json(res, 200, { status: 'ok' })
    if (path === '/' && admin.dashboard && (req.method === 'GET' || req.method === 'HEAD')) {
      return text(res, 200, 'text/html; charset=utf-8', dashboardHtml(), {
        'content-security-policy': "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        'referrer-policy': 'no-referrer',
      })
    }
    const needsAuth = path !== '/metrics' || admin.metricsAuth
    if (needsAuth && !authorized(req.headers.authorization)) {
      throw new TurnpikeError('TURNPIKE_UNAUTHORIZED', 'Send Authorization: Bearer <admin token>')
    }
    if (path === '/metrics') {
      if (req.method !== 'GET' && req.method !== 'HEAD') throw new TurnpikeError('TURNPIKE_METHOD_NOT_ALLOWED', 'Use GET')
      return text(res, 200, Metrics.contentType, Metrics.render(await ctx.snapshot()))
    }
    if (path.startsWith('/api/v1/') || path === '/api/v1') return handleApi(ctx, req, res, url)
    throw new TurnpikeError('TURNPIKE_NOT_FOUND', `No admin endpoint at ${path}`)
  }

  const server = http.createServer({ requestTimeout: 30_000, headersTimeout: 10_000 }, (req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (res.headersSent) return void res.destroy()
      if (is(e)) {
        return problem(res, e, e.code === 'TURNPIKE_UNAUTHORIZED' ? { 'www-authenticate': 'Bearer realm="turnpike-admin"' } : {})
      }
      log.error('admin request failed', { path: req.url?.split('?')[0], error: e })
      problem(res, new TurnpikeError('TURNPIKE_INTERNAL', 'Internal error'))
    })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(admin.listen.port, admin.listen.host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const addr = server.address() as AddressInfo
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address
  const url = `http://${host}:${addr.port}`
  log.info(`admin listening on ${url}`)
  return {
    server,
    url,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}
