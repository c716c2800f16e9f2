import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { DatabaseSync } from 'node:sqlite'
import { after, before, describe, it } from 'node:test'
import * as Config from '../src/Config.ts'
import * as Gateway from '../src/Gateway.ts'
import * as Metrics from '../src/Metrics.ts'
import { fromRecord } from '../src/RequestView.ts'
import type { Store } from '../src/Store.ts'
import * as Token from '../src/Token.ts'
import { dev } from '../src/lightning/dev.ts'
import { memory } from '../src/store/memory.ts'
import { echo, listen, startGateway, type Gateway as TestGateway } from './harness.ts'

const secret = new Uint8Array(32).fill(7)

const reads = new Set(['getInvoice', 'getValue', 'listInvoices', 'listRevoked'])

/** A memory store that records every state-changing method called on it. */
function recording(): { store: Store; calls: string[] } {
  const inner = memory({ pruneIntervalMs: 0 })
  const calls: string[] = []
  const store = new Proxy(inner, {
    get(t, p, r) {
      const v = Reflect.get(t, p, r) as unknown
      if (typeof v !== 'function' || typeof p !== 'string') return v
      return (...a: unknown[]) => {
        if (!reads.has(p)) calls.push(p)
        return (v as (...x: unknown[]) => unknown).apply(t, a)
      }
    },
  })
  return { store, calls }
}

/** A paid credential for `route` (mints the token the gateway would have issued). */
async function credentialFor(node: ReturnType<typeof dev>, key: Uint8Array, route: string, path: string): Promise<string> {
  const invoice = await node.createInvoice({ amountMsat: 10_000n, expirySeconds: 600 })
  const { preimage } = await node.pay(invoice.paymentRequest)
  const t = Token.mint({
    secret: key,
    paymentHash: Buffer.from(invoice.paymentHash, 'hex'),
    service: route,
    path,
    methods: ['GET'],
    validUntil: Math.floor(Date.now() / 1000) + 600,
  })
  return `L402 ${t.serialized}:${preimage}`
}

describe('dry-run (gateway core)', () => {
  it('behavior: evaluates, always allows, reports the outcome, and never writes to the store', async () => {
    const { store, calls } = recording()
    const backend = dev()
    let invoices = 0
    const counted = { ...backend, createInvoice: (p: Parameters<typeof backend.createInvoice>[0]) => (invoices++, backend.createInvoice(p)) }
    const config = Config.parse({
      backend: 'dev',
      upstream: 'http://127.0.0.1:9',
      routes: [
        { name: 'shadow', path: '/s/*', price: '10sat', dryRun: true },
        { name: 'sampled', path: '/x/*', price: '10sat', dryRun: { invoiceSample: 1 } },
        { name: 'live', path: '/*', price: '10sat' },
      ],
    })
    const g = Gateway.create({ config, backend: counted, store, secret })
    const decide = async (path: string, authorization?: string) =>
      g.decide(fromRecord({ method: 'GET', path, headers: authorization ? { authorization } : {} }))
    const header = (d: Awaited<ReturnType<typeof decide>>) => {
      assert.equal(d.kind, 'allow')
      return d.kind === 'allow' ? Object.fromEntries(d.responseHeaders)['x-turnpike-dry-run'] : undefined
    }

    assert.equal(header(await decide('/s/a')), 'challenge')
    assert.equal(invoices, 0, 'unsampled: no invoice')
    assert.equal(header(await decide('/x/a')), 'challenge')
    assert.equal(invoices, 1, 'sampled: the backend was asked')

    const cred = await credentialFor(backend, secret, 'shadow', '/s/paid')
    const paid = await decide('/s/paid', cred)
    assert.equal(header(paid), 'paid')
    assert.equal(paid.kind === 'allow' ? paid.claim : 'x', undefined, 'no claim to release')
    assert.equal(header(await decide('/s/paid', cred)), 'paid', 'nothing was claimed: the credential is still unspent')
    assert.equal(header(await decide('/s/other', cred)), 'invalid')
    assert.equal(header(await decide('/s/paid', 'L402 !!!')), 'malformed')
    assert.equal(calls.join(), '', 'nothing was written to the store')

    // The same credential on an enforcing route would have been claimed.
    const live = await credentialFor(backend, secret, 'live', '/live')
    const d = await decide('/live', live)
    assert.equal(d.kind, 'allow')
    assert.ok(calls.includes('claim'))
    await store.close()
    await backend.close?.()
  })

  it('error: a backend failure on a sampled challenge is reported, and still allows', async () => {
    const backend = dev()
    const broken = { ...backend, createInvoice: async () => { throw new Error('down') } }
    const config = Config.parse({ backend: 'dev', upstream: 'http://127.0.0.1:9', routes: [{ name: 'x', path: '/*', price: 1, dryRun: { invoiceSample: 1 } }] })
    const { store, calls } = recording()
    const g = Gateway.create({ config, backend: broken, store, secret })
    const d = await g.decide(fromRecord({ method: 'GET', path: '/a' }))
    assert.equal(d.kind, 'allow')
    assert.deepEqual(d.kind === 'allow' && d.responseHeaders, [['x-turnpike-dry-run', 'backend-error']])
    assert.equal(calls.join(), '')
    await backend.close?.()
  })

  it('error: config rejects bad dryRun values with their path', () => {
    assert.throws(
      () => Config.parse({ backend: 'dev', upstream: 'http://x', dryRun: 'yes', routes: [{ path: '/*', price: 1, dryRun: { invoiceSample: 2 } }] }),
      (e: Error) => /dryRun: must be true, false/.test(e.message) && /routes\[0\]\.dryRun\.invoiceSample: must be a number/.test(e.message),
    )
    const c = Config.parse({ backend: 'dev', upstream: 'http://x', dryRun: true, routes: [{ name: 'a', path: '/a', price: 1 }, { name: 'b', path: '/*', price: 1, dryRun: false }] })
    assert.deepEqual(c.routes.map((r) => r.dryRun), [{ invoiceSample: 0 }, undefined])
  })
})

describe('dry-run (reverse proxy, SQLite store)', () => {
  let upstream: Awaited<ReturnType<typeof listen>>
  let g: TestGateway
  let db: DatabaseSync
  const rows = () => ({
    claims: (db.prepare('SELECT count(*) AS n FROM claims').get() as { n: number }).n,
    invoices: (db.prepare('SELECT count(*) AS n FROM invoices').get() as { n: number }).n,
  })

  before(async () => {
    upstream = await listen(echo)
    g = await startGateway({
      upstream: upstream.url,
      store: 'sqlite',
      routes: [{ name: 'shadow', path: '/api/*', price: '10sat', dryRun: { invoiceSample: 1 } }],
    })
    const { DatabaseSync } = process.getBuiltinModule('node:sqlite') as typeof import('node:sqlite')
    db = new DatabaseSync(join(g.dir.path, 'turnpike.db'))
  })
  after(async () => {
    db.close()
    await g.close()
    await upstream.close()
  })

  it('behavior: requests reach the upstream with the outcome header; the store is unchanged', async () => {
    const start = rows()
    const res = await fetch(`${g.url}/api/thing`)
    assert.equal(res.status, 200)
    assert.equal(res.headers.get('x-turnpike-dry-run'), 'challenge')
    assert.equal(res.headers.get('www-authenticate'), null)
    await res.body?.cancel()

    const key = new Uint8Array(Buffer.from(readFileSync(join(g.dir.path, 'secret'), 'utf8').trim(), 'hex'))
    const cred = await credentialFor(g.rt.devNode!, key, 'shadow', '/api/paid')
    for (let i = 0; i < 2; i++) {
      const paid = await fetch(`${g.url}/api/paid`, { headers: { authorization: cred } })
      assert.equal(paid.headers.get('x-turnpike-dry-run'), 'paid')
      const seen = (await paid.json()) as { headers: Record<string, string> }
      assert.equal(seen.headers.authorization, undefined, 'the credential is not forwarded')
    }
    assert.deepEqual(rows(), start)

    const m = g.rt.metrics.snapshot()
    assert.equal(Metrics.valueOf(m, 'turnpike_dry_run_total', { route: 'shadow', outcome: 'challenge' }), 1)
    assert.equal(Metrics.valueOf(m, 'turnpike_dry_run_total', { route: 'shadow', outcome: 'paid' }), 2)
    assert.equal(Metrics.valueOf(m, 'turnpike_challenges_issued_total'), 0, 'dry-run is counted apart from enforcement')
    assert.equal(Metrics.valueOf(m, 'turnpike_invoice_creation_seconds', { outcome: 'ok' }), 1, 'the sampled invoice was created')
  })
})
