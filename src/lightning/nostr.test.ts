import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { bytesToHex, hexToBytes, randomBytes } from '@noble/hashes/utils.js'
import * as tools from 'nostr-tools'
import { WebSocketServer } from 'ws'
import {
  finalizeEvent,
  nip04Decrypt,
  nip04Encrypt,
  nip44ConversationKey,
  nip44Decrypt,
  nip44Encrypt,
  publicKeyOf,
  verifyEvent,
} from './nostr.ts'
import type { NostrEvent } from './nostr.ts'
import { relayPool } from './nostr-relay.ts'
import { startRelay } from '../../test/relay.ts'

describe('nostr primitives (checked against nostr-tools)', () => {
  const a = tools.generateSecretKey()
  const b = tools.generateSecretKey()
  const A = tools.getPublicKey(a)
  const B = tools.getPublicKey(b)

  it('behavior: NIP-44 v2 matches the spec vector and nostr-tools byte for byte, both ways', () => {
    // NIP-44 spec vector: sec1 = 1, sec2 = 2, nonce = 1, plaintext "a".
    const one = hexToBytes(`${'00'.repeat(31)}01`)
    const ck = nip44ConversationKey(one, tools.getPublicKey(hexToBytes(`${'00'.repeat(31)}02`)))
    assert.equal(bytesToHex(ck), 'c41c775356fd92eadc63ff5a0dc1da211b268cbea22316767095b2871ea1412d')
    assert.equal(
      nip44Encrypt('a', ck, hexToBytes(`${'00'.repeat(31)}01`)),
      'AgAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAABee0G5VSK0/9YypIObAtDKfYEAjD35uVkHyB0F4DwrcNaCXlCWZKaArsGrY6M9wnuTMxWfp1RTN9Xga8no+kF5Vsb',
    )
    const key = nip44ConversationKey(a, B)
    assert.equal(bytesToHex(key), bytesToHex(tools.nip44.getConversationKey(b, A)))
    for (const text of ['x', 'y'.repeat(32), 'z'.repeat(33), 'é€😀'.repeat(99), 'q'.repeat(65535)]) {
      const nonce = randomBytes(32)
      assert.equal(nip44Encrypt(text, key, nonce), tools.nip44.v2.encrypt(text, key, nonce))
      assert.equal(nip44Decrypt(tools.nip44.encrypt(text, key), key), text)
      assert.equal(tools.nip44.decrypt(nip44Encrypt(text, key), key), text)
    }
  })

  it('error: NIP-44 refuses tampered, truncated and empty payloads', () => {
    const key = nip44ConversationKey(a, B)
    const payload = nip44Encrypt('hello', key)
    const bytes = Buffer.from(payload, 'base64')
    bytes[40]! ^= 1
    assert.throws(() => nip44Decrypt(bytes.toString('base64'), key), /MAC/)
    assert.throws(() => nip44Decrypt(payload.slice(0, 100), key), /size/)
    assert.throws(() => nip44Decrypt(`#${payload.slice(1)}`, key), /version/)
    assert.throws(() => nip44Encrypt('', key), RangeError)
  })

  it('behavior: NIP-04 interoperates with nostr-tools', async () => {
    assert.equal(await tools.nip04.decrypt(b, A, nip04Encrypt('legacy ü', a, B)), 'legacy ü')
    assert.equal(nip04Decrypt(await tools.nip04.encrypt(b, A, 'back'), a, B), 'back')
  })

  it('behavior: events verify in both libraries; any change breaks them', () => {
    const mine = finalizeEvent({ kind: 23194, created_at: 1, tags: [['p', B], ['x', '"\n\\']], content: 'c\u2028\u0001' }, a)
    assert.equal(mine.pubkey, publicKeyOf(a))
    assert.ok(tools.verifyEvent(structuredClone(mine) as tools.Event))
    const theirs = tools.finalizeEvent({ kind: 1, created_at: 2, tags: [], content: 'hi' }, b)
    assert.ok(verifyEvent(theirs))
    assert.ok(!verifyEvent({ ...theirs, content: 'ho' }))
    assert.ok(!verifyEvent({ ...theirs, pubkey: A }))
    assert.ok(!verifyEvent({ ...theirs, sig: '00'.repeat(64) }))
    assert.ok(!verifyEvent({ ...theirs, tags: 'no' }))
  })
})

describe('relay pool', () => {
  it('behavior: forged or unsigned events from a relay never reach a handler', async () => {
    const relay = await startRelay()
    const pool = relayPool({ urls: [relay.url], WebSocket: globalThis.WebSocket })
    const key = tools.generateSecretKey()
    const author = tools.getPublicKey(key)
    try {
      const got: NostrEvent[] = []
      let eose!: () => void
      const ready = new Promise<void>((r) => (eose = r))
      pool.subscribe(() => ({ kinds: [1], authors: [author] }), { onevent: (e) => got.push(e), oneose: () => eose() })
      await ready
      // nostrmini does not check signatures, so it relays these as is.
      const good = finalizeEvent({ kind: 1, created_at: Math.floor(Date.now() / 1000), tags: [], content: 'real' }, key)
      const raw = new WebSocket(relay.url)
      await new Promise((r) => raw.addEventListener('open', r, { once: true }))
      raw.send(JSON.stringify(['EVENT', { ...good, content: 'forged' }]))
      raw.send(JSON.stringify(['EVENT', { ...finalizeEvent({ ...good, content: 'other sig' }, tools.generateSecretKey()), pubkey: author }]))
      raw.close()
      await pool.publish(good, AbortSignal.timeout(2000))
      await new Promise((r) => setTimeout(r, 100))
      assert.deepEqual(got.map((e) => e.content), ['real'])
    } finally {
      pool.close()
      await relay.close()
    }
  })

  it('error: a relay answering OK false makes publish reject with its reason', async () => {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 })
    await new Promise((r) => wss.once('listening', r))
    wss.on('connection', (ws) => ws.on('message', (m) => {
      const msg = JSON.parse(String(m)) as [string, { id: string }]
      if (msg[0] === 'EVENT') ws.send(JSON.stringify(['OK', msg[1].id, false, 'blocked: rate-limited']))
    }))
    const pool = relayPool({ urls: [`ws://127.0.0.1:${(wss.address() as { port: number }).port}`], WebSocket: globalThis.WebSocket })
    try {
      const e = finalizeEvent({ kind: 1, created_at: 1, tags: [], content: 'x' }, tools.generateSecretKey())
      await assert.rejects(pool.publish(e, AbortSignal.timeout(2000)), (err: AggregateError) => /rate-limited/.test(String(err.errors[0])))
    } finally {
      pool.close()
      for (const c of wss.clients) c.terminate()
      await new Promise((r) => wss.close(r))
    }
  })

  it('error: connect and publish reject when no relay is reachable, and after close', async () => {
    const relay = await startRelay()
    await relay.close()
    const pool = relayPool({ urls: [relay.url, 'ws://127.0.0.1:9/'], WebSocket: globalThis.WebSocket })
    await assert.rejects(pool.connect(AbortSignal.timeout(3000)), AggregateError)
    pool.close()
    await assert.rejects(pool.connect(AbortSignal.timeout(3000)))
  })
})
