/**
 * Route changes through the admin API: `PUT /api/v1/routes/<name>` (create or replace, config route
 * schema as JSON) and `DELETE /api/v1/routes/<name>`. Each writes the whole delta (routes/live.ts)
 * as the next write-once version in the shared store, applies it here at once, and every other
 * gateway picks it up within about a second. Two admins writing the same version: one gets 409.
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { parseRouteWith } from '../Config.ts'
import { ConfigError, TurnpikeError } from '../Errors.ts'
import { applyDelta, decodeDelta, headKey, latest, liveRoutesTtlMs, versionKey, type RouteDelta } from '../routes/live.ts'
import { json, readJson } from './http.ts'
import type { AdminContext } from './server.ts'

/** The delta after putting `body` as `name` (or deleting `name` when there is no body). */
function change(d: RouteDelta, name: string, body: Record<string, unknown> | undefined, inConfig: boolean, exists: boolean): RouteDelta {
  const put: Record<string, unknown> = { ...d.put }
  let deleted = d.deleted.filter((n) => n !== name)
  if (body) {
    const { name: _n, ...raw } = body
    put[name] = raw
  } else {
    if (!exists && !(name in put)) throw new TurnpikeError('TURNPIKE_NOT_FOUND', `No route named ${name}`)
    delete put[name]
    if (inConfig) deleted = [...deleted, name]
  }
  return { version: d.version + 1, put, deleted }
}

const nameRe = /^[a-z0-9][a-z0-9-]{0,62}$/
const pathRe = /^\/api\/v1\/routes\/([^/]+)$/

function invalid(e: ConfigError): TurnpikeError {
  return new TurnpikeError('TURNPIKE_BAD_REQUEST', e.message, { details: { issues: e.issues } })
}

/** Handles PUT/DELETE on `/api/v1/routes/<name>`; false when the request is not one. */
export async function handleRouteWrite(ctx: AdminContext, req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> {
  const m = pathRe.exec(url.pathname)
  if (!m || (req.method !== 'PUT' && req.method !== 'DELETE')) return false
  const name = decodeURIComponent(m[1]!)
  if (!nameRe.test(name)) throw new TurnpikeError('TURNPIKE_BAD_REQUEST', 'name: must match [a-z0-9][a-z0-9-]* (it is bound into tokens)', { details: { issues: [{ path: 'name', message: 'must match [a-z0-9][a-z0-9-]*' }] } })
  if ([...url.searchParams.keys()].length > 0) throw new TurnpikeError('TURNPIKE_BAD_REQUEST', 'Send the route as a JSON body, not in the query')
  const { live, store } = ctx.rt
  if (!live || !store.getValue || !store.putValue) throw new TurnpikeError('TURNPIKE_NOT_IMPLEMENTED', `The ${store.name} store keeps no values; routes cannot change at runtime`)
  const body = req.method === 'PUT' ? await readJson(req) : undefined

  if (body) {
    if (body.name !== undefined && body.name !== name) throw new TurnpikeError('TURNPIKE_BAD_REQUEST', 'name: differs from the name in the path', { details: { issues: [{ path: 'name', message: 'differs from the name in the path' }] } })
    try {
      parseRouteWith({ ...body, name }, live.base())
    } catch (e) {
      throw e instanceof ConfigError ? invalid(e) : e
    }
  }
  // Read the newest delta, change it, write the next version; another admin took it: read again.
  let next: RouteDelta | undefined
  for (let attempt = 0; next === undefined; attempt++) {
    if (attempt === 5) throw new TurnpikeError('TURNPIKE_STORE_UNAVAILABLE', 'The routes keep changing concurrently; retry', { retryAfter: 1 })
    const head = await latest(store, live.delta().version)
    const stored = decodeDelta(head.text) ?? live.delta()
    const candidate = change({ ...stored, version: head.version }, name, body, live.base().routes.some((r) => r.name === name), live.config().routes.some((r) => r.name === name))
    let routes
    try {
      routes = applyDelta(live.base(), candidate)
    } catch (e) {
      throw e instanceof ConfigError ? invalid(e) : e
    }
    if (routes.length === 0) throw new TurnpikeError('TURNPIKE_BAD_REQUEST', 'Cannot delete the last route')
    if (await store.putValue(versionKey(candidate.version), JSON.stringify(candidate), Date.now() + liveRoutesTtlMs)) next = candidate
  }
  const expiresAt = Date.now() + liveRoutesTtlMs
  await store.deleteValue?.(headKey)
  await store.putValue(headKey, String(next.version), expiresAt)
  await live.refresh()
  ctx.log.info(body ? 'admin put a route' : 'admin deleted a route', { route: name, version: next.version })
  const { routeView } = await import('./api.ts')
  const route = live.config().routes.find((r) => r.name === name)
  json(res, 200, { version: next.version, ...(route ? { route: routeView(route, live.config().upstream) } : { deleted: name }) })
  return true
}
