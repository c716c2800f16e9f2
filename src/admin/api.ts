/** The admin REST API under `/api/v1/`. */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { TurnpikeError } from '../Errors.ts'
import type { AdminContext } from './server.ts'

export async function handleApi(_ctx: AdminContext, _req: IncomingMessage, _res: ServerResponse, url: URL): Promise<void> {
  throw new TurnpikeError('TURNPIKE_NOT_FOUND', `No admin endpoint at ${url.pathname}`)
}
