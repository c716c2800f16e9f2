/** Shared integration helpers: throwaway upstreams, data dirs and an in-process gateway. */
import { mkdtempSync, rmSync } from 'node:fs'
import http, { type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as Config from '../src/Config.ts'
import { createLogger, silent, type Logger } from '../src/internal/log.ts'
import { createRuntime, type Runtime } from '../src/runtime.ts'
import { startProxy, type Proxy } from '../src/proxy/server.ts'

/** A fresh temporary directory, removed by the returned function. */
export function tempDir(prefix = 'turnpike-test-'): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix))
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) }
}

/** Starts an HTTP server on 127.0.0.1:0 with the given handler. */
export async function listen(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ server: http.Server; url: string; port: number; close(): Promise<void> }> {
  const server = http.createServer(handler)
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const { port } = server.address() as AddressInfo
  return {
    server,
    port,
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise((r) => { server.close(() => r()); server.closeAllConnections() }),
  }
}

/** An upstream that echoes method, url and headers as JSON. */
export function echo(req: IncomingMessage, res: ServerResponse): void {
  const chunks: Buffer[] = []
  req.on('data', (c: Buffer) => chunks.push(c))
  req.on('end', () => {
    const body = JSON.stringify({ method: req.method, url: req.url, headers: req.headers, rawHeaders: req.rawHeaders, bodyLength: Buffer.concat(chunks).length })
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) })
    res.end(body)
  })
}

export type Gateway = { rt: Runtime; proxy: Proxy; url: string; dir: { path: string; remove(): void }; close(): Promise<void> }

/** Starts runtime + proxy in-process with the dev backend and a temp data dir. */
export async function startGateway(raw: Record<string, unknown>, o: { logger?: Logger; verbose?: boolean } = {}): Promise<Gateway> {
  const dir = tempDir()
  const config = Config.parse({ listen: '127.0.0.1:0', backend: 'dev', dataDir: dir.path, store: 'memory', ...raw })
  const logger = o.logger ?? (o.verbose ? createLogger() : silent)
  const rt = await createRuntime(config, { logger, env: {} })
  const proxy = await startProxy(rt, logger)
  return {
    rt,
    proxy,
    url: proxy.url,
    dir,
    async close() {
      await proxy.close()
      await rt.close()
      dir.remove()
    },
  }
}

/** Reads the L402 challenge from a 402 response. */
export function challengeOf(res: Response): { macaroon: string; invoice: string } {
  const header = res.headers.get('www-authenticate') ?? ''
  const m = /L402 macaroon="([^"]+)", invoice="([^"]+)"/.exec(header)
  if (!m) throw new Error(`no L402 challenge in ${JSON.stringify(header)}`)
  return { macaroon: m[1]!, invoice: m[2]! }
}

/** Fetch → 402 → pay through the dev node → the credential string `L402 mac:preimage`. */
export async function buyCredential(g: Gateway, url: string, init: RequestInit = {}): Promise<string> {
  const res = await fetch(url, init)
  if (res.status !== 402) throw new Error(`expected 402, got ${res.status}`)
  await res.body?.cancel()
  const { macaroon, invoice } = challengeOf(res)
  const { preimage } = await g.rt.devNode!.pay(invoice)
  return `L402 ${macaroon}:${preimage}`
}
