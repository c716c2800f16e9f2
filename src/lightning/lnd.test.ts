import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { TurnpikeError } from '../Errors.ts'
import { hasOpenssl, selfSignedCert, type TlsMaterial } from '../../test/simulators/common.ts'
import { startLndSimulator, type LndSimulator, type SentDocument } from '../../test/simulators/lnd.ts'
import { hasSwagger, loadSwagger, responseSchema, validate, type Swagger } from '../../test/simulators/swagger.ts'
import { challengeOf, echo, listen, startGateway, tempDir } from '../../test/harness.ts'
import { describeBackend } from './conformance.ts'
import { pinnedFetch } from './internal/tls.ts'
import { lnd } from './lnd.ts'
import { code } from '../../test/assert.ts'

const tls = hasOpenssl()
const certA: TlsMaterial | undefined = tls ? selfSignedCert('lnd-a') : undefined
const certB: TlsMaterial | undefined = tls ? selfSignedCert('lnd-b') : undefined
const needsTls = { skip: tls ? false : 'openssl not available' }


/** Every JSON document the simulators sent, validated against the swagger at the end. */
const recorded: SentDocument[] = []

describeBackend('lnd (REST, pinned TLS, subscribe over /v1/invoices/subscribe)', async () => {
  const sim = await startLndSimulator(certA ? { tls: certA } : {})
  const backend = lnd({ url: sim.url, macaroon: sim.invoiceMacaroon, ...(certA ? { tlsCert: certA.cert } : {}) })
  return {
    backend,
    pay: async (pr) => void sim.pay(pr),
    teardown: async () => {
      recorded.push(...sim.sent)
      await backend.close!()
      await sim.close()
    },
  }
})

describeBackend('lnd (plain HTTP, polling only)', async () => {
  const sim = await startLndSimulator()
  const inner = lnd({ url: sim.url, macaroon: sim.macaroon })
  return {
    backend: { name: 'lnd-polling', createInvoice: (p) => inner.createInvoice(p), lookupInvoice: (h, o) => inner.lookupInvoice(h, o) },
    pay: async (pr) => void sim.pay(pr),
    teardown: async () => {
      recorded.push(...sim.sent)
      await sim.close()
    },
  }
})

describe('lnd', () => {
  let sim: LndSimulator
  const dir = tempDir('turnpike-lnd-')
  before(async () => {
    sim = await startLndSimulator(certA ? { tls: certA } : {})
  })
  after(async () => {
    recorded.push(...sim.sent)
    await sim.close()
    dir.remove()
  })
  const make = (o: Partial<Parameters<typeof lnd>[0]> = {}) =>
    lnd({ url: sim.url, macaroon: sim.invoiceMacaroon, ...(certA ? { tlsCert: certA.cert } : {}), timeoutMs: 2000, ...o })

  it('behavior: an open invoice whose r_preimage LND hands out is still open (state, not preimage)', async () => {
    const backend = make()
    const inv = await backend.createInvoice({ amountMsat: 9000n, description: 'not paid', expirySeconds: 600 })
    const raw = sim.sent.findLast((d) => d.route === 'GET /v1/invoice/{r_hash_str}')
    const s = await backend.lookupInvoice(inv.paymentHash)
    const rawAfter = sim.sent.findLast((d) => d.route === 'GET /v1/invoice/{r_hash_str}')
    assert.notEqual(raw, rawAfter)
    const body = rawAfter!.body as { r_preimage: string; state: string; settled: boolean }
    assert.equal(body.state, 'OPEN')
    assert.ok(body.r_preimage.length > 0, 'the simulator exposes the preimage like LND does')
    assert.equal(s.status, 'open')
    assert.equal(s.preimage, undefined)
    await backend.close!()
  })

  it('behavior: ACCEPTED (held HTLC) is not settled; CANCELED is canceled; OPEN past expiry is expired', async () => {
    const backend = make()
    const a = await backend.createInvoice({ amountMsat: 1000n, expirySeconds: 600 })
    sim.accept(a.paymentHash)
    assert.equal((await backend.lookupInvoice(a.paymentHash)).status, 'open')
    const c = await backend.createInvoice({ amountMsat: 1000n, expirySeconds: 600 })
    sim.cancel(c.paymentHash)
    assert.equal((await backend.lookupInvoice(c.paymentHash)).status, 'canceled')
    const e = await backend.createInvoice({ amountMsat: 1000n, expirySeconds: 600 })
    sim.expire(e.paymentHash)
    assert.equal((await backend.lookupInvoice(e.paymentHash)).status, 'expired')
    await backend.close!()
  })

  it('behavior: subscribeInvoice follows one invoice over the b64url path: OPEN, then SETTLED, then ends', async () => {
    const backend = make()
    // Find a hash whose base64 needs the url-safe alphabet ('/' or '+' in std base64).
    let inv
    for (;;) {
      inv = await backend.createInvoice({ amountMsat: 2000n, expirySeconds: 600 })
      if (/[+/]/.test(Buffer.from(inv.paymentHash, 'hex').toString('base64'))) break
    }
    const ac = new AbortController()
    const seen: string[] = []
    const done = (async () => {
      for await (const s of backend.subscribeInvoice(inv.paymentHash, { signal: ac.signal })) seen.push(s.status)
    })()
    await new Promise((r) => setTimeout(r, 50))
    sim.pay(inv.paymentRequest)
    await done
    assert.deepEqual(seen, ['open', 'settled'])
    await backend.close!()
  })

  it('behavior: subscribe reconnects after the stream drops and replays settles since the last index', async () => {
    const backend = make()
    const ac = new AbortController()
    const it1 = backend.subscribe!({ signal: ac.signal })[Symbol.asyncIterator]()
    const first = await backend.createInvoice({ amountMsat: 1000n, expirySeconds: 600 })
    const next1 = it1.next()
    await new Promise((r) => setTimeout(r, 30))
    sim.pay(first.paymentRequest)
    // adds are streamed too; read until the settlement
    let r = await next1
    while (r.value?.status !== 'settled') r = await it1.next()
    assert.equal(r.value.paymentHash, first.paymentHash)
    // drop the stream server-side, settle while disconnected, and expect the replay
    const second = await backend.createInvoice({ amountMsat: 1000n, expirySeconds: 600 })
    const before = sim.streams()
    assert.ok(before >= 1)
    sim.faults.failNext({ status: 503, body: '{"code":14,"message":"unavailable","details":[]}' })
    sim.dropStreams()
    sim.pay(second.paymentRequest)
    const deadline = Date.now() + 5000
    let got
    while (Date.now() < deadline) {
      const n = await it1.next()
      if (n.value?.paymentHash === second.paymentHash && n.value.status === 'settled') {
        got = n.value
        break
      }
    }
    ac.abort()
    assert.ok(got, 'the settlement made while disconnected was replayed')
    await backend.close!()
  })

  it('behavior: /v2/invoices/subscribe waits silently for an unknown hash; /v1/invoices/subscribe replays adds; /v2/invoices/lookup', async () => {
    const f = certA ? pinnedFetch(certA.cert) : (u: string, i?: RequestInit) => fetch(u, i)
    const headers = { 'grpc-metadata-macaroon': sim.macaroon }
    const preimage = Buffer.alloc(32, 0x5a)
    const hash = createHash('sha256').update(preimage).digest()
    const backend = make()
    const ac = new AbortController()
    const seen: string[] = []
    const following = (async () => {
      for await (const s of backend.subscribeInvoice(hash.toString('hex'), { signal: ac.signal })) seen.push(s.status)
    })()
    await new Promise((r) => setTimeout(r, 100))
    assert.deepEqual(seen, [], 'no message for a hash lnd does not know yet')
    const addIndexBefore = sim.node.invoices.size
    const created = await f(`${sim.url}/v1/invoices`, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json' },
      body: JSON.stringify({ value: '5', memo: 'preset', r_preimage: preimage.toString('base64') }),
    })
    assert.equal(created.status, 200)
    const { payment_request: pr } = (await created.json()) as { payment_request: string }
    await new Promise((r) => setTimeout(r, 50))
    sim.pay(pr)
    await following
    assert.deepEqual(seen, ['open', 'settled'])
    // duplicate preimage → lnd's error
    const dup = await f(`${sim.url}/v1/invoices`, { method: 'POST', headers, body: JSON.stringify({ value: '5', r_preimage: preimage.toString('base64') }) })
    assert.equal(dup.status, 500)
    assert.match(((await dup.json()) as { message: string }).message, /already exists/)
    // add_index replay: every invoice added after index N comes first on the stream
    const replay = new AbortController()
    const res = await f(`${sim.url}/v1/invoices/subscribe?add_index=${addIndexBefore}`, { headers, signal: replay.signal })
    const reader = res.body!.getReader()
    const { value } = await reader.read()
    replay.abort()
    const line = JSON.parse(new TextDecoder().decode(value).split('\n')[0]!) as { result: { memo: string; add_index: string } }
    assert.equal(line.result.memo, 'preset')
    assert.equal(line.result.add_index, String(addIndexBefore + 1))
    const lookup = await f(`${sim.url}/v2/invoices/lookup?payment_hash=${hash.toString('base64url')}`, { headers })
    assert.equal(((await lookup.json()) as { state: string }).state, 'SETTLED')
    ac.abort()
    await backend.close!()
    if ('close' in f) (f as { close(): void }).close()
  })

  it('error: HTTP 500 and 503 → TURNPIKE_BACKEND_UNAVAILABLE with Retry-After', async () => {
    const backend = make()
    sim.faults.failNext({ status: 500, body: '{"code":2,"message":"internal error","details":[]}' })
    await assert.rejects(backend.createInvoice({ amountMsat: 1000n, expirySeconds: 60 }), (e) => {
      code('TURNPIKE_BACKEND_UNAVAILABLE')(e)
      assert.equal((e as TurnpikeError).status, 503)
      assert.equal((e as TurnpikeError).retryAfter, 5)
      assert.doesNotMatch((e as Error).message, /internal error/, 'node text stays in the cause')
      return true
    })
    sim.faults.failNext({ status: 503, body: 'upstream connect error', contentType: 'text/plain' })
    await assert.rejects(backend.lookupInvoice('00'.repeat(32)), code('TURNPIKE_BACKEND_UNAVAILABLE'))
    await backend.close!()
  })

  it('error: a node that hangs → TURNPIKE_BACKEND_UNAVAILABLE after the timeout', async () => {
    const backend = make({ timeoutMs: 200 })
    sim.faults.hang = true
    const t = Date.now()
    try {
      await assert.rejects(backend.createInvoice({ amountMsat: 1000n, expirySeconds: 60 }), (e) => {
        code('TURNPIKE_BACKEND_UNAVAILABLE')(e)
        assert.match((e as Error).message, /timed out after 200 ms/)
        return true
      })
    } finally {
      sim.faults.hang = false
    }
    assert.ok(Date.now() - t < 1500)
    await backend.close!()
  })

  it('error: malformed JSON, or JSON of the wrong shape → TURNPIKE_BACKEND_UNAVAILABLE', async () => {
    const backend = make()
    sim.faults.failNext({ status: 200, body: '{"r_hash": "abc", "payment_req' })
    await assert.rejects(backend.createInvoice({ amountMsat: 1000n, expirySeconds: 60 }), code('TURNPIKE_BACKEND_UNAVAILABLE'))
    sim.faults.failNext({ status: 200, body: '<html>proxy</html>', contentType: 'text/html' })
    await assert.rejects(backend.lookupInvoice('11'.repeat(32)), code('TURNPIKE_BACKEND_UNAVAILABLE'))
    sim.faults.failNext({ status: 200, body: '{"r_hash":"' + Buffer.alloc(32).toString('base64') + '","state":"PAID"}' })
    await assert.rejects(backend.lookupInvoice('00'.repeat(32)), code('TURNPIKE_BACKEND_UNAVAILABLE'))
    await backend.close!()
  })

  it('error: an invoice whose hash is not the reported one → TURNPIKE_BACKEND_ERROR', async () => {
    const backend = make()
    const other = await backend.createInvoice({ amountMsat: 1000n, expirySeconds: 60 })
    sim.faults.failNext({
      status: 200,
      body: JSON.stringify({ r_hash: Buffer.alloc(32, 7).toString('base64'), payment_request: other.paymentRequest, add_index: '1', payment_addr: '' }),
    })
    await assert.rejects(backend.createInvoice({ amountMsat: 1000n, expirySeconds: 60 }), code('TURNPIKE_BACKEND_ERROR'))
    await backend.close!()
  })

  it('error: a wrong or missing macaroon → TURNPIKE_BACKEND_ERROR that never shows the macaroon', async () => {
    const wrong = 'ab'.repeat(40)
    const backend = make({ macaroon: wrong })
    await assert.rejects(backend.createInvoice({ amountMsat: 1000n, expirySeconds: 60 }), (e) => {
      code('TURNPIKE_BACKEND_ERROR')(e)
      assert.match((e as Error).message, /rejected the macaroon/)
      let all = ''
      for (let c: unknown = e; c instanceof Error; c = c.cause) all += `${c.message}\n${c.stack ?? ''}`
      assert.ok(!all.includes(wrong), 'no macaroon in messages or causes')
      return true
    })
    const raw = await fetchRaw(sim, '/v1/getinfo', {})
    assert.equal(raw.status, 500)
    assert.deepEqual(raw.body, { code: 2, message: 'expected 1 macaroon, got 0', details: [] })
    await backend.close!()
  })

  it('error: an invoice-only macaroon cannot getinfo (permission denied → TURNPIKE_BACKEND_ERROR); admin can', async () => {
    const limited = make()
    await assert.rejects(limited.getInfo!(), code('TURNPIKE_BACKEND_ERROR'))
    const admin = make({ macaroon: sim.macaroon })
    assert.deepEqual(await admin.getInfo!(), { pubkey: sim.node.pubkey, network: 'regtest', alias: 'turnpike-lnd-sim' })
    await limited.close!()
    await admin.close!()
  })

  it('error: TLS certificate mismatch → TURNPIKE_BACKEND_UNAVAILABLE (503), never an unverified connection', needsTls, async () => {
    const backend = make({ tlsCert: certB!.cert })
    await assert.rejects(backend.createInvoice({ amountMsat: 1000n, expirySeconds: 60 }), (e) => {
      code('TURNPIKE_BACKEND_UNAVAILABLE')(e)
      assert.equal((e as TurnpikeError).status, 503)
      assert.match((e as Error).message, /TLS certificate verification failed/)
      return true
    })
    // Without a pin, the system trust store refuses the self-signed certificate too.
    const unpinned = lnd({ url: sim.url, macaroon: sim.invoiceMacaroon, timeoutMs: 2000 })
    await assert.rejects(unpinned.createInvoice({ amountMsat: 1000n, expirySeconds: 60 }), code('TURNPIKE_BACKEND_UNAVAILABLE'))
    await backend.close!()
  })

  it('behavior: a regenerated tls.cert is re-read from tlsCertFile on verification failure', needsTls, async () => {
    const file = join(dir.path, 'tls.cert')
    writeFileSync(file, certB!.cert) // stale certificate
    const backend = make({ tlsCert: undefined, tlsCertFile: file })
    writeFileSync(file, certA!.cert) // lnd rewrote it
    const inv = await backend.createInvoice({ amountMsat: 1000n, expirySeconds: 60 })
    assert.match(inv.paymentHash, /^[0-9a-f]{64}$/)
    await backend.close!()
  })

  it('behavior: reads the macaroon from a binary file (as lnd writes it) or a hex file', async () => {
    const bin = join(dir.path, 'invoice.macaroon')
    writeFileSync(bin, Buffer.from(sim.invoiceMacaroon, 'hex'))
    const hex = join(dir.path, 'invoice.macaroon.hex')
    writeFileSync(hex, `${sim.invoiceMacaroon}\n`)
    for (const f of [bin, hex]) {
      const backend = make({ macaroon: undefined, macaroonFile: f })
      await backend.createInvoice({ amountMsat: 1000n, expirySeconds: 60 })
      await backend.close!()
    }
  })

  it('error: construction refuses missing or malformed options with a TypeError naming them', () => {
    assert.throws(() => lnd({ url: sim.url }), /exactly one of macaroon/)
    assert.throws(() => lnd({ url: sim.url, macaroon: 'xyz' }), /macaroon must be the macaroon as hex/)
    assert.throws(() => lnd({ url: 'ftp://x', macaroon: 'ab' }), /url must use http: or https:/)
    assert.throws(() => lnd({ url: 'https://u:p@x', macaroon: 'ab' }), /must not embed credentials/)
    assert.throws(() => lnd({ url: sim.url, macaroon: 'ab', tlsCert: 'not a cert' }), /PEM certificate/)
    assert.throws(() => lnd({ url: sim.url, macaroon: 'ab', timeoutMs: 0 }), /timeoutMs/)
  })

  it('error: a caller abort rejects with the abort reason, not a backend error', async () => {
    const backend = make()
    sim.faults.latencyMs = 300
    try {
      const ac = new AbortController()
      const p = backend.lookupInvoice('22'.repeat(32), { signal: ac.signal })
      setTimeout(() => ac.abort(new Error('caller gave up')), 20)
      await assert.rejects(p, /caller gave up/)
    } finally {
      sim.faults.latencyMs = 0
    }
    await backend.close!()
  })
})

describe('lnd simulator responses match data/lnd/*.swagger.json', { skip: hasSwagger() ? false : 'reference data not available' }, () => {
  let lightning: Swagger
  let invoices: Swagger
  before(() => {
    lightning = loadSwagger('lightning')
    invoices = loadSwagger('invoices')
  })

  it('behavior: every recorded answer (unary and streamed) validates, with every field present', () => {
    assert.ok(recorded.length > 50, `recorded ${recorded.length} documents`)
    const routes = new Set<string>()
    for (const d of recorded) {
      const [method, path] = d.route.split(' ') as [string, string]
      const spec = path.startsWith('/v2/') ? invoices : lightning
      const schema = responseSchema(spec, method, path, d.status)
      if (schema === undefined) continue // unknown routes (404/405 answers)
      routes.add(`${d.route} ${d.status}`)
      const body = d.stream ? (d.body as { result: unknown }).result : d.body
      const target = d.stream ? ((schema.properties?.result ?? schema) as typeof schema) : schema
      const problems = validate(spec, target, body)
      assert.deepEqual(problems, [], `${d.route} ${d.status}: ${problems.join('; ')}`)
    }
    for (const r of [
      'POST /v1/invoices 200',
      'GET /v1/invoice/{r_hash_str} 200',
      'GET /v1/invoice/{r_hash_str} 404',
      'GET /v2/invoices/subscribe/{r_hash} 200',
      'GET /v1/invoices/subscribe 200',
      'GET /v1/getinfo 200',
      'GET /v1/getinfo 500',
      'GET /v2/invoices/lookup 200',
      'POST /v1/invoices 500',
    ]) {
      assert.ok(routes.has(r), `no recorded ${r}`)
    }
  })

  it('behavior: the validator catches what LND would never send', () => {
    const inv = recorded.find((d) => d.route === 'GET /v1/invoice/{r_hash_str}' && d.status === 200)!.body as Record<string, unknown>
    const schema = { $ref: '#/definitions/lnrpcInvoice' }
    const bad = (patch: Record<string, unknown>, drop?: string) => {
      const v: Record<string, unknown> = { ...inv, ...patch }
      if (drop) delete v[drop]
      return validate(lightning, schema, v)
    }
    assert.deepEqual(validate(lightning, schema, inv), [])
    assert.notDeepEqual(bad({ value_msat: 1000 }), [], 'int64 as a number')
    assert.notDeepEqual(bad({ r_hash: Buffer.alloc(32, 0xfb).toString('base64url') }), [], 'bytes in the url-safe alphabet')
    assert.notDeepEqual(bad({ state: 'PAID' }), [], 'unknown enum')
    assert.notDeepEqual(bad({ valueMsat: '1' }), [], 'camelCase key')
    assert.notDeepEqual(bad({}, 'settle_index'), [], 'missing field')
    assert.notDeepEqual(bad({ htlcs: null }), [], 'null array')
  })
})

describe('lnd end to end through the gateway', () => {
  it('behavior: 402 with an LND invoice → pay in the simulator → retry with the preimage → 200', async () => {
    const sim = await startLndSimulator(certA ? { tls: certA } : {})
    const upstream = await listen(echo)
    const dir = tempDir('turnpike-lnd-e2e-')
    const macaroonFile = join(dir.path, 'invoice.macaroon')
    writeFileSync(macaroonFile, Buffer.from(sim.invoiceMacaroon, 'hex'))
    const tlsCertFile = join(dir.path, 'tls.cert')
    if (certA) writeFileSync(tlsCertFile, certA.cert)
    const g = await startGateway({
      backend: { type: 'lnd', url: sim.url, macaroonFile, ...(certA ? { tlsCertFile } : {}) },
      upstream: upstream.url,
      routes: [{ name: 'paid', path: '/*', price: '21sat' }],
    })
    try {
      assert.equal(g.rt.backend.name, 'lnd')
      const res = await fetch(`${g.url}/weather`)
      assert.equal(res.status, 402)
      await res.body?.cancel()
      const { macaroon, invoice } = challengeOf(res)
      const { preimage } = sim.pay(invoice)
      const ok = await fetch(`${g.url}/weather`, { headers: { authorization: `L402 ${macaroon}:${preimage}` } })
      assert.equal(ok.status, 200)
      assert.equal(((await ok.json()) as { url: string }).url, '/weather')
    } finally {
      await g.close()
      await upstream.close()
      recorded.push(...sim.sent)
      await sim.close()
      dir.remove()
    }
  })

  it('error: the node down → the challenge is 503 problem+json with Retry-After, no node text', async () => {
    const sim = await startLndSimulator()
    const upstream = await listen(echo)
    const dir = tempDir('turnpike-lnd-e2e-')
    const macaroonFile = join(dir.path, 'm.hex')
    writeFileSync(macaroonFile, sim.invoiceMacaroon)
    const g = await startGateway({
      backend: { type: 'lnd', url: sim.url, macaroonFile, timeout: '1s' },
      upstream: upstream.url,
      routes: [{ name: 'paid', path: '/*', price: '21sat' }],
    }, {})
    try {
      sim.faults.failNext({ status: 500, body: '{"code":2,"message":"secret node detail","details":[]}' })
      const res = await fetch(`${g.url}/x`)
      assert.equal(res.status, 503)
      assert.equal(res.headers.get('retry-after'), '5')
      const text = await res.text()
      assert.doesNotMatch(text, /secret node detail/)
    } finally {
      await g.close()
      await upstream.close()
      await sim.close()
      dir.remove()
    }
  })
})

async function fetchRaw(sim: LndSimulator, path: string, headers: Record<string, string>): Promise<{ status: number; body: unknown }> {
  const { request } = await import(sim.url.startsWith('https') ? 'node:https' : 'node:http')
  return new Promise((resolve, reject) => {
    const req = request(`${sim.url}${path}`, { headers, ...(certA ? { ca: certA.cert } : {}) }, (res: import('node:http').IncomingMessage) => {
      let text = ''
      res.on('data', (c: Buffer) => (text += c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }))
    })
    req.on('error', reject)
    req.end()
  })
}
