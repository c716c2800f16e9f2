import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import * as grpc from '@grpc/grpc-js'
import * as loader from '@grpc/proto-loader'
import { selfSigned } from '../src/cli/cert.ts'
import { echo, listen, startGateway, tempDir, type Gateway } from './harness.ts'

type Ping = { text: string; count?: number }
type Pong = { text: string; index: number }
type EchoClient = grpc.Client & {
  Unary(req: Ping, md: grpc.Metadata, cb: (e: grpc.ServiceError | null, r?: Pong) => void): grpc.ClientUnaryCall
  Stream(req: Ping, md: grpc.Metadata): grpc.ClientReadableStream<Pong>
}
type EchoCtor = new (address: string, creds: grpc.ChannelCredentials) => EchoClient

const def = loader.loadSync(join(import.meta.dirname, 'fixtures/grpc/echo.proto'), { keepCase: true, defaults: true })
const pkg = grpc.loadPackageDefinition(def) as unknown as { turnpike: { test: { Echo: EchoCtor & { service: grpc.ServiceDefinition } } } }
const Echo = pkg.turnpike.test.Echo

/** A grpc-js upstream; records the metadata of each call it sees. */
async function startUpstream() {
  const seen: grpc.Metadata[] = []
  const server = new grpc.Server()
  server.addService(Echo.service, {
    Unary(call: grpc.ServerUnaryCall<Ping, Pong>, cb: grpc.sendUnaryData<Pong>) {
      seen.push(call.metadata)
      cb(null, { text: `echo:${call.request.text}`, index: 0 })
    },
    Stream(call: grpc.ServerWritableStream<Ping, Pong>) {
      seen.push(call.metadata)
      for (let i = 0; i < (call.request.count ?? 0); i++) call.write({ text: `${call.request.text}#${i}`, index: i })
      call.end()
    },
  })
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
  )
  return { url: `http://127.0.0.1:${port}`, seen, close: () => new Promise<void>((r) => server.tryShutdown(() => r())) }
}

function unary(c: EchoClient, req: Ping, md = new grpc.Metadata()): Promise<Pong> {
  return new Promise((resolve, reject) => c.Unary(req, md, (e, r) => (e ? reject(e) : resolve(r!))))
}

function stream(c: EchoClient, req: Ping, md = new grpc.Metadata()): Promise<Pong[]> {
  return new Promise((resolve, reject) => {
    const out: Pong[] = []
    const s = c.Stream(req, md)
    s.on('data', (p: Pong) => out.push(p))
    s.on('error', reject)
    s.on('end', () => resolve(out))
  })
}

/** The call must fail as a payment challenge; returns the paid `authorization` metadata. */
async function payFor(g: Gateway, call: Promise<unknown>): Promise<grpc.Metadata> {
  const e = (await call.then(() => assert.fail('expected payment required'), (x: unknown) => x)) as grpc.ServiceError
  assert.equal(e.code, grpc.status.INTERNAL)
  assert.equal(e.details, 'payment required')
  const challenge = e.metadata.get('www-authenticate').map(String)
  const line = challenge.find((l) => l.startsWith('L402 '))
  const m = /L402 macaroon="([^"]+)", invoice="([^"]+)"/.exec(line ?? '')
  assert.ok(m, `no L402 challenge in ${JSON.stringify(challenge)}`)
  const { preimage } = await g.rt.devNode!.pay(m[2]!)
  const md = new grpc.Metadata()
  md.set('authorization', `L402 ${m[1]}:${preimage}`)
  return md
}

async function paidFlows(g: Gateway, client: EchoClient, upstream: Awaited<ReturnType<typeof startUpstream>>) {
  // Unary: challenge, pay, succeed; the payment credential does not reach the upstream; replay refused.
  const before = upstream.seen.length
  const md = await payFor(g, unary(client, { text: 'hi' }))
  assert.equal(upstream.seen.length, before, 'the challenge is answered without upstream contact')
  assert.deepEqual(await unary(client, { text: 'hi' }, md), { text: 'echo:hi', index: 0 })
  assert.equal(upstream.seen.at(-1)!.get('authorization').length, 0)
  await payFor(g, unary(client, { text: 'again' }, md))

  // Server streaming: the very first call obtains a token.
  const smd = await payFor(g, stream(client, { text: 's', count: 5 }))
  const got = await stream(client, { text: 's', count: 5 }, smd)
  assert.deepEqual(got.map((p) => p.text), ['s#0', 's#1', 's#2', 's#3', 's#4'])
  await payFor(g, stream(client, { text: 's', count: 1 }, smd))
}

const routes = [{ name: 'grpc', path: '/turnpike.test.Echo/*', price: '5sat' }, { name: 'free', path: '/*', price: 0 }]

describe('gRPC over h2c (same port as HTTP/1.1)', () => {
  let upstream: Awaited<ReturnType<typeof startUpstream>>
  let http1: Awaited<ReturnType<typeof listen>>
  let g: Gateway
  let client: EchoClient

  before(async () => {
    upstream = await startUpstream()
    http1 = await listen(echo)
    g = await startGateway({
      h2c: true,
      routes: [{ ...routes[0], upstream: upstream.url }, { ...routes[1], upstream: http1.url }],
    })
    client = new Echo(new URL(g.url).host, grpc.credentials.createInsecure())
  })
  after(async () => {
    client.close()
    await g.close()
    await upstream.close()
    await http1.close()
  })

  it('challenges unpaid unary and server-streaming calls, then proxies paid ones', async () => {
    await paidFlows(g, client, upstream)
  })

  it('still serves HTTP/1.1 on the port', async () => {
    const res = await fetch(`${g.url}/plain`)
    assert.equal(res.status, 200)
    assert.equal(((await res.json()) as { url: string }).url, '/plain')
  })
})

describe('gRPC upstream failure', () => {
  it('answers a rate-limited call with RESOURCE_EXHAUSTED', async () => {
    const up = await startUpstream()
    const g = await startGateway({ h2c: true, routes: [{ name: 'limited', path: '/*', price: 0, upstream: up.url, rateLimit: { requests: 1, per: '1h' } }] })
    const c = new Echo(new URL(g.url).host, grpc.credentials.createInsecure())
    try {
      assert.equal((await unary(c, { text: 'one' })).text, 'echo:one')
      const e = (await unary(c, { text: 'two' }).catch((x: unknown) => x)) as grpc.ServiceError
      assert.equal(e.code, grpc.status.RESOURCE_EXHAUSTED)
      assert.equal(e.details, 'rate limit exceeded')
      assert.ok(e.metadata.get('retry-after').length > 0)
    } finally {
      c.close()
      await g.close()
      await up.close()
    }
  })

  it('answers UNAVAILABLE once paid and releases the claim so the call can be retried', async () => {
    const g = await startGateway({ h2c: true, routes: [{ name: 'grpc', path: '/*', price: '5sat', upstream: 'http://127.0.0.1:1' }] })
    const c = new Echo(new URL(g.url).host, grpc.credentials.createInsecure())
    try {
      const md = await payFor(g, unary(c, { text: 'x' }))
      for (let i = 0; i < 2; i++) {
        const e = (await unary(c, { text: 'x' }, md).catch((x: unknown) => x)) as grpc.ServiceError
        assert.equal(e.code, grpc.status.UNAVAILABLE)
      }
    } finally {
      c.close()
      await g.close()
    }
  })
})

describe('gRPC over TLS (h2 by ALPN)', () => {
  const certs = tempDir()
  let upstream: Awaited<ReturnType<typeof startUpstream>>
  let g: Gateway
  let client: EchoClient

  before(async () => {
    const pair = selfSigned({ out: certs.path })
    upstream = await startUpstream()
    g = await startGateway({ tls: pair, upstream: upstream.url, routes })
    client = new Echo(`localhost:${new URL(g.url).port}`, grpc.credentials.createSsl(readFileSync(pair.certFile)))
  })
  after(async () => {
    client.close()
    await g.close()
    await upstream.close()
    certs.remove()
  })

  it('challenges and proxies unary and streaming calls', async () => {
    await paidFlows(g, client, upstream)
  })
})
