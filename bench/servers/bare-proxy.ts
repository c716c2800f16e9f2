/**
 * The "bare Node proxy" baseline: the same node:http server options and the same forwarder
 * (`createForwarder` from src/proxy/forward.ts: keep-alive upstream pool, header rewriting, streaming)
 * as `turnpike serve`, with an always-allow decision and no payment logic at all.
 * Prints `READY <port>` on stdout.
 * Run: node bench/servers/bare-proxy.ts <upstream-url> [port]
 */
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { credentialHeaders } from '../../src/Gateway.ts'
import { silent } from '../../src/internal/log.ts'
import { createForwarder } from '../../src/proxy/forward.ts'
import type { Allow } from '../../src/RequestView.ts'

const upstream = process.argv[2]
if (!upstream) throw new Error('usage: bare-proxy.ts <upstream-url> [port]')
const target = new URL(upstream)
// Same options as startProxy: 60 s upstream timeout (the config default), no trusted proxies.
const forwarder = createForwarder({ timeoutMs: 60_000, trustProxy: [], logger: silent })
// The Allow turnpike produces for a paid request: same headers stripped, nothing added.
const allow: Allow = { kind: 'allow', route: 'bare', stripHeaders: credentialHeaders, requestHeaders: [], responseHeaders: [], reason: 'bare' }
const noop = () => {}

const server = http.createServer({ keepAlive: true, requestTimeout: 0, headersTimeout: 30_000 }, (req, res) => {
  forwarder.forward(req, res, target, req.url ?? '/', allow, noop)
})
server.listen(Number(process.argv[3] ?? 0), '127.0.0.1', () => {
  process.stdout.write(`READY ${(server.address() as AddressInfo).port}\n`)
})
// SIGINT too, so that `node --cpu-prof` (bench/profile.ts) gets a clean exit and writes its profile.
for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.on(sig, () => {
    server.close(() => process.exit(0))
    server.closeAllConnections()
    forwarder.close()
  })
}
