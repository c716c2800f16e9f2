/**
 * The benchmark upstream: a minimal node:http server that answers every request with a small
 * fixed JSON body (keep-alive, content-length). Prints `READY <port>` on stdout.
 * Run: node bench/servers/upstream.ts [port]
 */
import http from 'node:http'
import type { AddressInfo } from 'node:net'

const body = Buffer.from('{"ok":true,"data":"turnpike benchmark upstream response"}\n')
const headers = { 'content-type': 'application/json', 'content-length': String(body.length) }

const server = http.createServer({ keepAlive: true, requestTimeout: 0 }, (req, res) => {
  // Drain any request body, then answer.
  if (req.headers['content-length'] && req.headers['content-length'] !== '0') req.resume()
  res.writeHead(200, headers)
  res.end(body)
})
server.keepAliveTimeout = 65_000
server.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => {
  process.stdout.write(`READY ${(server.address() as AddressInfo).port}\n`)
})
process.on('SIGTERM', () => server.close(() => process.exit(0)))
