/**
 * The proxy's listener when TLS or h2c is on: one port, dispatched per connection to the plain
 * node:http server (HTTP/1.1, unchanged) or to an HTTP/2 server. TLS picks by ALPN (`h2`,
 * `http/1.1`); cleartext sniffs the HTTP/2 connection preface (`PRI * HTTP/2.0`, prior knowledge).
 * The certificate and key are re-read by `reload()` (the proxy calls it on SIGHUP).
 * @module
 */
import { readFileSync } from 'node:fs'
import type { Server as HttpServer } from 'node:http'
import type { Http2Server } from 'node:http2'
import net from 'node:net'
import tls from 'node:tls'
import { ConfigError } from '../Errors.ts'
import type { TlsConfig } from './tlsConfig.ts'

export type Listener = {
  readonly server: net.Server
  readonly secure: boolean
  /** Re-reads the certificate and key files; new connections use them. Throws ConfigError. */
  reload(): void
  /** Destroys every connection this listener accepted. */
  destroyAll(): void
}

/** Reads the PEM files, reporting a missing or unreadable file with its config path. */
export function readKeyPair(t: TlsConfig): { cert: Buffer; key: Buffer } {
  const read = (file: string, path: string) => {
    try {
      return readFileSync(file)
    } catch (e) {
      throw new ConfigError([{ path, message: `cannot read ${file}: ${(e as Error).message}` }])
    }
  }
  const pair = { cert: read(t.certFile, 'tls.certFile'), key: read(t.keyFile, 'tls.keyFile') }
  try {
    tls.createSecureContext(pair)
  } catch (e) {
    throw new ConfigError([{ path: 'tls', message: `the certificate and key do not load: ${(e as Error).message}` }])
  }
  return pair
}

const preface = 'PRI '

/** Creates (does not start) the dispatching listener. */
export function createListener(o: { tls: TlsConfig | undefined; http: HttpServer; h2: Http2Server }): Listener {
  const sockets = new Set<net.Socket>()
  const track = (s: net.Socket) => {
    sockets.add(s)
    s.once('close', () => sockets.delete(s))
  }
  const toHttp = (s: net.Socket) => o.http.emit('connection', s)
  const toH2 = (s: net.Socket) => o.h2.emit('connection', s)
  let server: net.Server
  const t = o.tls
  if (t) {
    server = tls.createServer({ ...readKeyPair(t), ALPNProtocols: ['h2', 'http/1.1'] }, (s) => {
      track(s)
      if (s.alpnProtocol === 'h2') toH2(s)
      else toHttp(s)
    })
    server.on('tlsClientError', (_e, s) => s.destroy())
  } else {
    server = net.createServer((s) => {
      track(s)
      s.on('error', () => s.destroy())
      let seen: Buffer = Buffer.alloc(0)
      const onData = (chunk: Buffer) => {
        seen = seen.length === 0 ? chunk : Buffer.concat([seen, chunk])
        if (seen.length < preface.length && preface.startsWith(seen.toString('latin1'))) return
        s.off('data', onData)
        // Paused with the bytes put back: node:http2 reads buffered bytes when the session starts.
        s.pause()
        s.unshift(seen)
        if (seen.toString('latin1', 0, preface.length) === preface) toH2(s)
        else {
          toHttp(s)
          s.resume()
        }
      }
      s.on('data', onData)
    })
  }
  return {
    server,
    secure: t !== undefined,
    reload() {
      if (t) (server as tls.Server).setSecureContext(readKeyPair(t))
    },
    destroyAll() {
      for (const s of sockets) s.destroy()
    },
  }
}
