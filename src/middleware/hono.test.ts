import type { AddressInfo } from 'node:net'
import { serve } from '@hono/node-server'
import { Hono } from 'hono'
import { describeMiddleware, handlerBody } from './conformance.ts'
import { turnpike, type TurnpikeEnv } from './hono.ts'

describeMiddleware('hono', async ({ gateway }) => {
  const app = new Hono<TurnpikeEnv>()
  app.use('*', turnpike({ gateway }))
  app.all('*', (c) => {
    const path = c.req.path
    return c.body(handlerBody(c.req.method, path, c.get('turnpike')), path.startsWith('/boom/') ? 500 : 200, { 'content-type': 'application/json' })
  })
  const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s))
  })
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((r) => server.close(() => r())),
  }
})
