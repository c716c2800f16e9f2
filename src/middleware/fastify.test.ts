import Fastify from 'fastify'
import { describeMiddleware, handlerBody } from './conformance.ts'
import { turnpike } from './fastify.ts'

describeMiddleware('fastify', async ({ gateway }) => {
  const app = Fastify()
  await app.register(turnpike, { gateway })
  app.route({
    method: ['GET', 'POST', 'OPTIONS', 'DELETE'],
    url: '/*',
    handler: async (request, reply) => {
      const path = request.url.split('?')[0]!
      reply.code(path.startsWith('/boom/') ? 500 : 200).type('application/json')
      return handlerBody(request.method, path, request.turnpike)
    },
  })
  const url = await app.listen({ port: 0, host: '127.0.0.1' })
  return { url, close: () => app.close() }
})
