/**
 * The end-to-end check every backend test runs: a gateway configured (through Config) with that
 * backend answers 402, the invoice is paid in the simulator, the retry with the preimage gets 200.
 * @module
 */
import assert from 'node:assert/strict'
import { challengeOf, echo, listen, startGateway } from '../harness.ts'

/** Runs one paid request through a gateway whose `backend:` section is `backend`. */
export async function paidRoundTrip(
  backend: Record<string, unknown>,
  pay: (invoice: string) => { preimage: string } | Promise<{ preimage: string }>,
  o: { price?: string; expectBackend?: string } = {},
): Promise<void> {
  const upstream = await listen(echo)
  const g = await startGateway({ backend, upstream: upstream.url, routes: [{ name: 'paid', path: '/*', price: o.price ?? '21sat' }] })
  try {
    if (o.expectBackend !== undefined) assert.equal(g.rt.backend.name, o.expectBackend)
    const res = await fetch(`${g.url}/resource?x=1`)
    assert.equal(res.status, 402)
    await res.body?.cancel()
    const { macaroon, invoice } = challengeOf(res)
    const { preimage } = await pay(invoice)
    const ok = await fetch(`${g.url}/resource?x=1`, { headers: { authorization: `L402 ${macaroon}:${preimage}` } })
    assert.equal(ok.status, 200)
    assert.equal(((await ok.json()) as { url: string }).url, '/resource?x=1')
    // single use: the same credential again gets a fresh challenge
    const again = await fetch(`${g.url}/resource?x=1`, { headers: { authorization: `L402 ${macaroon}:${preimage}` } })
    assert.equal(again.status, 402)
    await again.body?.cancel()
  } finally {
    await g.close()
    await upstream.close()
  }
}
