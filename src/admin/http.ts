/** Small HTTP helpers for the admin listener: JSON and problem+json answers, bounded JSON bodies. */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { TurnpikeError } from '../Errors.ts'
import { readJsonObject } from '../internal/body.ts'

const baseHeaders = {
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
}

/** Writes a JSON answer. bigint values become strings. */
export function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body, (_k, v) => (typeof v === 'bigint' ? v.toString() : v))
  res.writeHead(status, { ...baseHeaders, 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
  res.end(text)
}

/** Writes any text answer. */
export function text(res: ServerResponse, status: number, contentType: string, body: string, extra: Record<string, string> = {}): void {
  res.writeHead(status, { ...baseHeaders, 'content-type': contentType, 'content-length': Buffer.byteLength(body), ...extra })
  res.end(body)
}

/** Writes an RFC 9457 problem for a TurnpikeError. */
export function problem(res: ServerResponse, e: TurnpikeError, extra: Record<string, string> = {}): void {
  const body = JSON.stringify(e.toProblemDetails())
  const headers: Record<string, string> = { ...baseHeaders, 'content-type': 'application/problem+json', 'content-length': String(Buffer.byteLength(body)), ...extra }
  if (e.retryAfter !== undefined) headers['retry-after'] = String(e.retryAfter)
  res.writeHead(e.status, headers)
  res.end(body)
}

/** Reads a JSON object body of at most `limit` bytes (Content-Type must be JSON). */
export async function readJson(req: IncomingMessage, limit = 64 * 1024): Promise<Record<string, unknown>> {
  const type = req.headers['content-type'] ?? ''
  if (!/^application\/(?:[\w.+-]*\+)?json\b/i.test(type)) throw new TurnpikeError('TURNPIKE_BAD_REQUEST', 'Send a JSON body with Content-Type: application/json')
  return readJsonObject(req, limit)
}
