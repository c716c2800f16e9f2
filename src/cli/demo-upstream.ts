/** The demo upstream used by `turnpike demo`: a tiny API with JSON, an event stream and an echo. */
import http, { type Server } from 'node:http'
import type { AddressInfo } from 'node:net'

const facts = [
  'The Lightning Network whitepaper was published in 2016.',
  'HTTP 402 Payment Required was reserved in 1997 and left unused for decades.',
  'A macaroon caveat can only narrow what a token allows, never widen it.',
  'A BOLT11 invoice commits to a payment hash; the preimage is the receipt.',
]

/** Starts the demo upstream on 127.0.0.1 (port 0 = any free port). */
export async function startDemoUpstream(port = 0): Promise<{ server: Server; url: string; close(): Promise<void> }> {
  let n = 0
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://demo')
    if (url.pathname === '/api/stream') {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' })
      let i = 0
      const t = setInterval(() => {
        res.write(`data: ${JSON.stringify({ tick: ++i })}\n\n`)
        if (i === 3) {
          clearInterval(t)
          res.end()
        }
      }, 200)
      res.on('close', () => clearInterval(t))
      return
    }
    if (url.pathname.startsWith('/api/')) {
      const body = JSON.stringify({ fact: facts[n++ % facts.length], path: url.pathname, paid: true })
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) })
      res.end(body)
      return
    }
    const body = 'turnpike demo upstream. Paid endpoints live under /api/ (try /api/fact).\n'
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) })
    res.end(body)
  })
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
  const { port: p } = server.address() as AddressInfo
  return {
    server,
    url: `http://127.0.0.1:${p}`,
    close: () => new Promise((resolve) => { server.close(() => resolve()); server.closeAllConnections() }),
  }
}
