import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { describeMiddleware, handlerBody } from './conformance.ts'
import { turnpike, type TurnpikeRequest } from './node.ts'

describeMiddleware('node:http', async ({ gateway }) => {
  const paywall = turnpike({ gateway })
  const server = http.createServer((req, res) =>
    paywall(req, res, (err) => {
      if (err) {
        res.statusCode = 500
        return res.end()
      }
      const path = (req.url ?? '/').split('?')[0]!
      res.writeHead(path.startsWith('/boom/') ? 500 : 200, { 'content-type': 'application/json' })
      res.end(handlerBody(req.method!, path, (req as TurnpikeRequest).turnpike))
    }),
  )
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((r) => (server.close(() => r()), server.closeAllConnections())),
  }
})
