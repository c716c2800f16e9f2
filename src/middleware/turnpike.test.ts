import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { describe, it } from 'node:test'
import * as Config from '../Config.ts'
import { dev } from '../lightning/dev.ts'
import { memory } from '../store/memory.ts'
import { createTurnpike, infoHeaders, infoOf } from './turnpike.ts'

describe('createTurnpike', () => {
  it('behavior: builds a gateway from a raw config without upstreams, backend, store and a hex secret', async () => {
    const backend = dev()
    const gateway = createTurnpike({ config: { routes: [{ name: 'api', path: '/api/*', price: '3sat', access: 'pass:10m' }] }, backend, store: memory(), secret: randomBytes(32).toString('hex') })
    const d = await gateway.decide({ method: 'GET', path: '/api/x', host: 'h', header: () => undefined, clientAddress: undefined })
    assert.equal(d.kind, 'challenge')
    const free = await gateway.decide({ method: 'OPTIONS', path: '/nowhere', host: 'h', header: () => undefined, clientAddress: undefined })
    assert.equal(free.kind, 'allow')
    const info = infoOf(gateway, free as Extract<typeof free, { kind: 'allow' }>)
    assert.deepEqual(info, { route: '', reason: 'options', paymentHash: undefined, access: undefined, passSeconds: undefined, priceMsat: 0n })
    assert.deepEqual(infoHeaders(info).map(([, v]) => v), ['', '', '', ''])
    await backend.close?.()
  })

  it('behavior: takes a parsed config and passes a ready gateway through', () => {
    const config = Config.parse({ routes: [{ path: '/*', price: 1 }] }, { requireUpstream: false })
    const gateway = createTurnpike({ config, backend: dev(), store: memory(), secret: randomBytes(32) })
    assert.equal(gateway.config, config)
    assert.equal(createTurnpike({ gateway }), gateway)
  })

  it('error: misuse fails at construction with a clear message', () => {
    assert.throws(() => createTurnpike({} as never), /pass \{ gateway \} or \{ config, backend, store, secret \}/)
    assert.throws(() => createTurnpike({ config: { routes: [{ path: '/*', price: 1 }] }, backend: dev(), store: memory(), secret: 'abcd' }), /at least 32 bytes/)
    assert.throws(() => createTurnpike({ gateway: {} as never }), /Gateway.create/)
  })
})
