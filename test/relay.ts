/**
 * A real Nostr relay on loopback for tests: `nostrmini` (in-memory, NIP-01) on 127.0.0.1 with a
 * random port, with stop/restart (same port) to simulate an outage, and a close that terminates
 * every socket so the test process can exit.
 * @remarks nostrmini keeps its event store and fan-out in module globals: relays started in one
 * process share events. Tests use fresh keys per wallet, so this only matters for outage tests.
 */
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createRequire } from 'node:module'

type NostrMiniApp = {
  server: { listen(port: number, host: string, cb: () => void): Server }
  ws: { getWss(): { clients: Set<{ terminate(): void }> } }
}

const require = createRequire(import.meta.url)
const App = (require('nostrmini') as { default: new (o?: { max_events?: number }) => NostrMiniApp }).default
// nostrmini builds its routes with its own nested express 4, while the hoisted express-ws patches
// the top-level express 5's Router: give the nested Router the `.ws` method express-ws would add.
{
  const nested = createRequire(require.resolve('nostrmini'))
  const addWsMethod = (require('express-ws/lib/add-ws-method') as { default(target: unknown): void }).default
  addWsMethod((nested('express') as { Router: unknown }).Router)
}

export type TestRelay = {
  /** `ws://127.0.0.1:<port>` */
  readonly url: string
  readonly port: number
  /** Drops every connection and stops listening (an outage). */
  stop(): Promise<void>
  /** Listens again on the same port. */
  restart(): Promise<void>
  close(): Promise<void>
}

/** Starts a relay on 127.0.0.1 (random port unless given). */
export async function startRelay(port = 0): Promise<TestRelay> {
  const app = new App({ max_events: 10_000 })
  let server: Server | undefined
  const listen = (p: number): Promise<Server> =>
    new Promise((resolve, reject) => {
      const s = app.server.listen(p, '127.0.0.1', () => resolve(s))
      s.once('error', reject)
    })
  server = await listen(port)
  const bound = (server.address() as AddressInfo).port
  async function stop(): Promise<void> {
    const s = server
    server = undefined
    if (s === undefined) return
    for (const c of app.ws.getWss().clients) c.terminate()
    await new Promise<void>((resolve) => {
      s.close(() => resolve())
      s.closeAllConnections()
    })
  }
  return {
    url: `ws://127.0.0.1:${bound}`,
    port: bound,
    stop,
    async restart() {
      if (server === undefined) server = await listen(bound)
    },
    close: stop,
  }
}
