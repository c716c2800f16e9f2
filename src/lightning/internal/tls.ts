/**
 * A `fetch` that trusts exactly one certificate (a node's self-signed `tls.cert`, or the CA that
 * signed it) and nothing else: certificate pinning on `node:https`, since Node's built-in fetch
 * exposes no TLS options. Verification is never skipped; the dialled host must be in the
 * certificate's SANs, as with any TLS client.
 * @module
 */
import { Buffer } from 'node:buffer'
import https from 'node:https'
import { Readable } from 'node:stream'
import type { Fetch } from './http.ts'

export type PinnedFetch = Fetch & {
  /** Closes the pooled connections. */
  close(): void
}

/** PEM check at construction: a TypeError naming the option when it is not a certificate. */
export function checkPem(pem: string | Uint8Array, option: string): string {
  const text = typeof pem === 'string' ? pem : Buffer.from(pem).toString('utf8')
  if (!/-----BEGIN CERTIFICATE-----[\s\S]+-----END CERTIFICATE-----/.test(text)) {
    throw new TypeError(`${option} must be a PEM certificate (-----BEGIN CERTIFICATE-----)`)
  }
  return text
}

const nullBodyStatus = new Set([101, 103, 204, 205, 304])

/**
 * Creates a fetch whose only trust anchor is `ca` (PEM). Plain `http:` URLs are refused: a pinned
 * client that silently downgrades would defeat the pin.
 * @example
 * const f = pinnedFetch(readFileSync('tls.cert', 'utf8'))
 * const res = await f('https://127.0.0.1:8080/v1/getinfo', { headers: { 'Grpc-Metadata-macaroon': hex } })
 */
export function pinnedFetch(ca: string): PinnedFetch {
  const agent = new https.Agent({ ca, keepAlive: true, maxSockets: 64 })
  const f = (input: string, init: RequestInit = {}): Promise<Response> =>
    new Promise<Response>((resolve, reject) => {
      const url = new URL(input)
      if (url.protocol !== 'https:') return reject(new TypeError('pinnedFetch only speaks https'))
      const signal = init.signal ?? undefined
      if (signal?.aborted === true) return reject(signal.reason)
      const headers: Record<string, string> = {}
      new Headers(init.headers).forEach((v, k) => (headers[k] = v))
      const body = init.body
      if (body !== undefined && body !== null && typeof body !== 'string') {
        return reject(new TypeError('pinnedFetch only sends string bodies'))
      }
      if (typeof body === 'string') headers['content-length'] = String(Buffer.byteLength(body))
      const req = https.request(url, { method: init.method ?? 'GET', headers, agent, ...(signal ? { signal } : {}) }, (res) => {
        const h = new Headers()
        for (const [k, v] of Object.entries(res.headers)) {
          if (v === undefined) continue
          for (const one of Array.isArray(v) ? v : [v]) h.append(k, one)
        }
        const status = res.statusCode ?? 502
        if (nullBodyStatus.has(status) || init.method === 'HEAD') {
          res.resume()
          return resolve(new Response(null, { status: status < 200 ? 200 : status, headers: h }))
        }
        const stream = Readable.toWeb(res) as ReadableStream<Uint8Array>
        resolve(new Response(stream, { status, statusText: res.statusMessage ?? '', headers: h }))
      })
      req.on('error', (e) => reject(signal?.aborted === true ? signal.reason : new TypeError('fetch failed', { cause: e })))
      if (typeof body === 'string') req.end(body)
      else req.end()
    })
  return Object.assign(f, { close: () => agent.destroy() })
}
