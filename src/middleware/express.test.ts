import type { AddressInfo } from 'node:net'
import express from 'express'
import { describeMiddleware, handlerBody } from './conformance.ts'
import { turnpike } from './express.ts'

describeMiddleware('express', async ({ gateway }) => {
  const app = express()
  // Mounted under the routes' prefixes: turnpike must still decide on the full path (originalUrl).
  const router = express.Router()
  router.use(turnpike({ gateway }))
  router.all('/{*rest}', (req, res) => {
    res.status(req.originalUrl.startsWith('/boom/') ? 500 : 200).type('application/json').send(handlerBody(req.method, req.originalUrl.split('?')[0]!, req.turnpike))
  })
  for (const prefix of ['/paid', '/pass', '/boom', '/free']) app.use(prefix, router)
  const server = app.listen(0, '127.0.0.1')
  await new Promise<void>((r) => server.once('listening', () => r()))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((r) => (server.close(() => r()), server.closeAllConnections())),
  }
})
