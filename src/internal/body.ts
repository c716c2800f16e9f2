/** Bounded request-body reading for the gateway's own small JSON endpoints. */
import type { IncomingMessage } from 'node:http'
import { TurnpikeError } from '../Errors.ts'

/** Reads a JSON object body of at most `limit` bytes; 413 above it, 400 for anything but an object. */
export async function readJsonObject(req: IncomingMessage, limit: number): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req) {
    size += (chunk as Buffer).length
    if (size > limit) throw new TurnpikeError('TURNPIKE_PAYLOAD_TOO_LARGE', `The body exceeds ${limit} bytes`)
    chunks.push(chunk as Buffer)
  }
  let v: unknown
  try {
    v = JSON.parse(Buffer.concat(chunks).toString('utf8'))
  } catch {
    throw new TurnpikeError('TURNPIKE_BAD_REQUEST', 'The body is not valid JSON')
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new TurnpikeError('TURNPIKE_BAD_REQUEST', 'The body must be a JSON object')
  return v as Record<string, unknown>
}
