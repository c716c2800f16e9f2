import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { inspect } from 'node:util'
import { after, before, describe, it } from 'node:test'
import { secp256k1 } from '@noble/curves/secp256k1.js'
import { sha256 } from '@noble/hashes/sha2.js'
import { bytesToHex, hexToBytes, randomBytes } from '@noble/hashes/utils.js'
import { NWCClient } from '@getalby/sdk/nwc'
import * as Config from '../Config.ts'
import { ConfigError, TurnpikeError } from '../Errors.ts'
import type { Code } from '../Errors.ts'
import { waitForSettlement } from '../Lightning.ts'
import type { Backend } from '../Lightning.ts'
import { describeBackend } from './conformance.ts'
import { finalizeEvent } from './nostr.ts'
import type { NostrEvent } from './nostr.ts'
import { relayPool } from './nostr-relay.ts'
import { nwc, parseConnectionUri, toState } from './nwc.ts'
import { createWalletBackend } from './walletConfig.ts'
import { startRelay } from '../../test/relay.ts'
import type { TestRelay } from '../../test/relay.ts'
import { startNwcWallet } from '../../test/simulators/nwc-wallet.ts'
import type { NwcWallet, NwcWalletOptions } from '../../test/simulators/nwc-wallet.ts'
import { challengeOf, echo, listen, startGateway, tempDir } from '../../test/harness.ts'
import { code } from '../../test/assert.ts'


/** Relay + wallet + backend, torn down together. */
async function setupNwc(
  walletOptions: Omit<NwcWalletOptions, 'relays'> = {},
  backendOptions: { timeoutMs?: number; notifications?: boolean } = {},
): Promise<{ relay: TestRelay; wallet: NwcWallet; backend: Backend; teardown(): Promise<void> }> {
  const relay = await startRelay()
  const wallet = await startNwcWallet({ relays: [relay.url], ...walletOptions })
  const backend = nwc({ connectionUri: wallet.connectionUri, timeoutMs: 5000, ...backendOptions })
  return {
    relay,
    wallet,
    backend,
    async teardown() {
      await backend.close?.()
      await wallet.close()
      await relay.close()
    },
  }
}

describeBackend('nwc (NIP-44, notifications, preimages of unpaid invoices revealed)', async () => {
  const s = await setupNwc()
  return { backend: s.backend, pay: async (pr) => void (await s.wallet.pay(pr)), teardown: s.teardown }
})

describeBackend('nwc (NIP-04-only wallet: no encryption tag, kind 23196 notifications)', async () => {
  const s = await setupNwc({ encryption: 'legacy' })
  return { backend: s.backend, pay: async (pr) => void (await s.wallet.pay(pr)), teardown: s.teardown }
})

describeBackend('nwc (wallet omits state: settled_at decides; polling only)', async () => {
  const s = await setupNwc({ omitState: true, notifications: false }, { notifications: false })
  return { backend: s.backend, pay: async (pr) => void (await s.wallet.pay(pr)), teardown: s.teardown }
})

describe('nwc: connection URI', () => {
  const wallet = bytesToHex(secp256k1.getPublicKey(secp256k1.utils.randomSecretKey(), true).subarray(1))
  const secret = bytesToHex(secp256k1.utils.randomSecretKey())

  it('behavior: parses pubkey, every relay, secret and lud16; legacy scheme and missing // accepted', () => {
    const uri = `nostr+walletconnect://${wallet}?relay=${encodeURIComponent('wss://relay.one/')}&relay=wss%3A%2F%2Frelay.two%2Fpath&secret=${secret}&lud16=me%40x.com`
    const c = parseConnectionUri(uri)
    assert.equal(c.walletPubkey, wallet)
    assert.deepEqual(c.relays, ['wss://relay.one/', 'wss://relay.two/path'])
    assert.equal(bytesToHex(c.secret), secret)
    assert.equal(c.lud16, 'me@x.com')
    assert.equal(parseConnectionUri(`nostrwalletconnect:${wallet.toUpperCase()}?relay=ws://127.0.0.1:1&secret=${secret}`).walletPubkey, wallet)
  })

  it('error: malformed URIs are refused without repeating the secret', () => {
    const bad = [
      `https://${wallet}?relay=wss://r&secret=${secret}`,
      `nostr+walletconnect://${wallet}?secret=${secret}`,
      `nostr+walletconnect://${wallet}?relay=https://r&secret=${secret}`,
      `nostr+walletconnect://${wallet}?relay=wss://r`,
      `nostr+walletconnect://${wallet}?relay=wss://r&secret=${secret}&secret=${secret}`,
      `nostr+walletconnect://${wallet}?relay=wss://r&secret=${'00'.repeat(32)}`,
      `nostr+walletconnect://${wallet}?relay=wss://r&secret=${secret.slice(2)}`,
      `nostr+walletconnect://${'ff'.repeat(32)}?relay=wss://r&secret=${secret}`,
    ]
    for (const uri of bad) {
      assert.throws(() => parseConnectionUri(uri), (e: Error) => {
        assert.ok(e instanceof TypeError)
        assert.ok(!e.message.includes(secret) && !e.message.includes(secret.slice(2)), e.message)
        return true
      }, uri)
    }
  })
})

describe('nwc: state comes from state/settled_at, never from a preimage', () => {
  const preimage = bytesToHex(randomBytes(32))
  const hash = bytesToHex(sha256(hexToBytes(preimage)))
  const now = 1_800_000_000_000

  it('behavior: pending with a preimage is open; settled_at fallback only without state', () => {
    assert.deepEqual(toState({ state: 'pending', preimage, payment_hash: hash, amount: 5 }, hash, now), { paymentHash: hash, status: 'open', amountMsat: 5n })
    assert.equal(toState({ state: 'accepted', preimage, settled_at: 1_700_000_000 }, hash, now).status, 'open')
    assert.equal(toState({ preimage, settled_at: 1_700_000_000 }, hash, now).status, 'settled')
    assert.equal(toState({ preimage, settled_at: 0 }, hash, now).status, 'open')
    assert.equal(toState({ state: 'SETTLED', preimage }, hash, now).status, 'settled')
    assert.equal(toState({ state: 'expired' }, hash, now).status, 'expired')
    assert.equal(toState({ state: 'failed' }, hash, now).status, 'canceled')
    assert.equal(toState({ state: 'pending', expires_at: now / 1000 - 1 }, hash, now).status, 'expired')
  })

  it('error: a settled answer with a foreign preimage or about another hash is a backend error', () => {
    assert.throws(() => toState({ state: 'settled', preimage: bytesToHex(randomBytes(32)) }, hash, now), code('TURNPIKE_BACKEND_ERROR'))
    assert.throws(() => toState({ state: 'settled', preimage, payment_hash: '00'.repeat(32) }, hash, now), code('TURNPIKE_BACKEND_ERROR'))
  })
})

describe('nwc: faults against a real relay and wallet service', () => {
  let s: Awaited<ReturnType<typeof setupNwc>>
  before(async () => {
    s = await setupNwc({}, { timeoutMs: 1500 })
  })
  after(() => s.teardown())

  it('behavior: the wallet reveals the preimage of an unpaid invoice, the backend still reports open', async () => {
    const inv = await s.backend.createInvoice({ amountMsat: 9000n, description: 'peek', expirySeconds: 600 })
    // Look at the wallet's raw answer through Alby's own client.
    const client = new NWCClient({ nostrWalletConnectUrl: s.wallet.connectionUri })
    try {
      const raw = await client.lookupInvoice({ payment_hash: inv.paymentHash })
      assert.equal(raw.state, 'pending')
      assert.equal(bytesToHex(sha256(hexToBytes(raw.preimage))), inv.paymentHash, 'the simulator does reveal it')
    } finally {
      client.close()
    }
    const state = await s.backend.lookupInvoice(inv.paymentHash)
    assert.equal(state.status, 'open')
    assert.equal(state.preimage, undefined)
  })

  it('error: wallet error codes map to 503 (transient) or 502 (operator action), without the wallet text', async () => {
    const cases: [string, Code, number | undefined][] = [
      ['RATE_LIMITED', 'TURNPIKE_BACKEND_UNAVAILABLE', 5],
      ['INTERNAL', 'TURNPIKE_BACKEND_UNAVAILABLE', 5],
      ['QUOTA_EXCEEDED', 'TURNPIKE_BACKEND_UNAVAILABLE', 60],
      ['RESTRICTED', 'TURNPIKE_BACKEND_ERROR', undefined],
      ['UNAUTHORIZED', 'TURNPIKE_BACKEND_ERROR', undefined],
      ['NOT_IMPLEMENTED', 'TURNPIKE_BACKEND_ERROR', undefined],
      ['INSUFFICIENT_BALANCE', 'TURNPIKE_BACKEND_ERROR', undefined],
      ['OTHER', 'TURNPIKE_BACKEND_ERROR', undefined],
      ['NOT_FOUND', 'TURNPIKE_BACKEND_ERROR', undefined],
      ['SOMETHING_NEW', 'TURNPIKE_BACKEND_ERROR', undefined],
    ]
    for (const [walletCode, expected, retryAfter] of cases) {
      s.wallet.failNext(walletCode, 'secret internal detail')
      await assert.rejects(s.backend.createInvoice({ amountMsat: 1000n, expirySeconds: 60 }), (e) => {
        code(expected)(e)
        const err = e as TurnpikeError
        assert.equal(err.retryAfter, retryAfter, walletCode)
        assert.ok(err.message.includes(walletCode) && !err.message.includes('secret internal detail'))
        assert.match(String((err.cause as Error).message), /secret internal detail/)
        return true
      })
    }
  })

  it('error: NOT_FOUND on lookup_invoice is an unknown invoice', async () => {
    await assert.rejects(s.backend.lookupInvoice(bytesToHex(randomBytes(32))), code('TURNPIKE_INVOICE_UNKNOWN'))
  })

  it('error: a wallet that does not answer times out as 503 within the timeout', async () => {
    s.wallet.goOffline()
    try {
      const started = Date.now()
      await assert.rejects(s.backend.createInvoice({ amountMsat: 1000n, expirySeconds: 60 }), (e) => {
        code('TURNPIKE_BACKEND_UNAVAILABLE')(e)
        assert.match((e as Error).message, /did not answer make_invoice within 1500 ms/)
        return true
      })
      const took = Date.now() - started
      assert.ok(took >= 1400 && took < 3000, `took ${took} ms`)
    } finally {
      await s.wallet.goOnline()
    }
    const inv = await s.backend.createInvoice({ amountMsat: 1000n, expirySeconds: 60 })
    assert.match(inv.paymentHash, /^[0-9a-f]{64}$/)
  })

  it('error: a slow wallet past the timeout is a 503, a caller abort rejects with its reason', async () => {
    s.wallet.setLatency(2500)
    try {
      await assert.rejects(s.backend.createInvoice({ amountMsat: 1000n, expirySeconds: 60 }), code('TURNPIKE_BACKEND_UNAVAILABLE'))
      const ac = new AbortController()
      const pending = s.backend.createInvoice({ amountMsat: 1000n, expirySeconds: 60, signal: ac.signal })
      setTimeout(() => ac.abort(new Error('caller gave up')), 100)
      await assert.rejects(pending, /caller gave up/)
    } finally {
      s.wallet.setLatency(0)
    }
    const aborted = AbortSignal.abort(new Error('already'))
    await assert.rejects(s.backend.lookupInvoice('00'.repeat(32), { signal: aborted }), /already/)
  })

  it('behavior: an expired invoice is reported expired and ends waitForSettlement', async () => {
    const inv = await s.backend.createInvoice({ amountMsat: 2000n, description: 'late', expirySeconds: 600 })
    s.wallet.expire(inv.paymentHash)
    assert.equal((await s.backend.lookupInvoice(inv.paymentHash)).status, 'expired')
    await assert.rejects(waitForSettlement(s.backend, inv.paymentHash, { intervalMs: 20, timeoutMs: 3000 }), code('TURNPIKE_INVOICE_EXPIRED'))
  })

  it('error: bad input is refused before anything is sent', async () => {
    const before = s.wallet.requests.make_invoice ?? 0
    await assert.rejects(s.backend.createInvoice({ amountMsat: 0n, expirySeconds: 60 }), code('TURNPIKE_BAD_REQUEST'))
    await assert.rejects(s.backend.createInvoice({ amountMsat: 2n ** 60n, expirySeconds: 60 }), code('TURNPIKE_BAD_REQUEST'))
    await assert.rejects(s.backend.createInvoice({ amountMsat: 1000n, expirySeconds: 0 }), code('TURNPIKE_BAD_REQUEST'))
    await assert.rejects(s.backend.lookupInvoice('xyz'), code('TURNPIKE_BAD_REQUEST'))
    assert.equal(s.wallet.requests.make_invoice ?? 0, before)
  })
})

describe('nwc: relay outages', () => {
  it('error: relay down → 503 quickly; the backend recovers when the relay is back', async () => {
    const s = await setupNwc({}, { timeoutMs: 4000 })
    try {
      await s.backend.createInvoice({ amountMsat: 1000n, expirySeconds: 60 })
      await s.relay.stop()
      const started = Date.now()
      await assert.rejects(s.backend.createInvoice({ amountMsat: 1000n, expirySeconds: 60 }), (e) => {
        code('TURNPIKE_BACKEND_UNAVAILABLE')(e)
        assert.equal((e as TurnpikeError).retryAfter, 5)
        return true
      })
      assert.ok(Date.now() - started < 1000, `took ${Date.now() - started} ms`)
      await s.relay.restart()
      // The wallet service (Alby's pool) reconnects after ~1 s; the backend on demand.
      let inv
      for (let i = 0; i < 10 && inv === undefined; i++) {
        inv = await s.backend.createInvoice({ amountMsat: 1000n, expirySeconds: 60 }).catch(() => undefined)
      }
      assert.ok(inv !== undefined, 'recovered after the relay came back')
    } finally {
      await s.teardown()
    }
  })

  it('error: no relay listening at all → 503 well within the timeout', async () => {
    const relay = await startRelay()
    await relay.close()
    const backend = nwc({
      walletPubkey: bytesToHex(secp256k1.getPublicKey(secp256k1.utils.randomSecretKey(), true).subarray(1)),
      relays: [relay.url],
      secret: secp256k1.utils.randomSecretKey(),
      timeoutMs: 10_000,
    })
    try {
      const started = Date.now()
      await assert.rejects(backend.createInvoice({ amountMsat: 1000n, expirySeconds: 60 }), code('TURNPIKE_BACKEND_UNAVAILABLE'))
      assert.ok(Date.now() - started < 2000)
    } finally {
      await backend.close?.()
    }
  })

  it('error: a wallet that never published its info event → 503 (no request sent)', async () => {
    const relay = await startRelay()
    const backend = nwc({
      walletPubkey: bytesToHex(secp256k1.getPublicKey(secp256k1.utils.randomSecretKey(), true).subarray(1)),
      relays: [relay.url],
      secret: secp256k1.utils.randomSecretKey(),
      timeoutMs: 5000,
    })
    try {
      await assert.rejects(backend.createInvoice({ amountMsat: 1000n, expirySeconds: 60 }), (e) => {
        code('TURNPIKE_BACKEND_UNAVAILABLE')(e)
        assert.match((e as Error).message, /info event/)
        return true
      })
    } finally {
      await backend.close?.()
      await relay.close()
    }
  })
})

describe('nwc: capabilities from the info event', () => {
  it('error: a wallet without lookup_invoice is refused without sending; createInvoice still works', async () => {
    const s = await setupNwc({ methods: ['make_invoice'] })
    try {
      const inv = await s.backend.createInvoice({ amountMsat: 1000n, expirySeconds: 60 })
      await assert.rejects(s.backend.lookupInvoice(inv.paymentHash), (e) => {
        code('TURNPIKE_BACKEND_ERROR')(e)
        assert.match((e as Error).message, /does not offer lookup_invoice/)
        return true
      })
      assert.equal(s.wallet.requests.lookup_invoice, undefined)
    } finally {
      await s.teardown()
    }
  })

  it('behavior: no notifications advertised → subscribe ends at once and waitForSettlement polls', async () => {
    const s = await setupNwc({ notifications: false })
    try {
      const ac = new AbortController()
      const it = s.backend.subscribe!({ signal: ac.signal })[Symbol.asyncIterator]()
      assert.deepEqual(await it.next(), { value: undefined, done: true })
      const inv = await s.backend.createInvoice({ amountMsat: 3000n, expirySeconds: 60 })
      const waiting = waitForSettlement(s.backend, inv.paymentHash, { intervalMs: 25, timeoutMs: 5000 })
      await new Promise((r) => setTimeout(r, 50))
      await s.wallet.pay(inv.paymentRequest)
      assert.equal((await waiting).status, 'settled')
    } finally {
      await s.teardown()
    }
  })

  it('behavior: requests use NIP-44 v2 when offered and NIP-04 only for wallets without an encryption tag', async () => {
    for (const [encryption, expected] of [['nip44', 'nip44_v2'], ['legacy', 'nip04']] as const) {
      const s = await setupNwc({ encryption })
      const pool = relayPool({ urls: [s.relay.url], WebSocket: globalThis.WebSocket })
      try {
        const seen: NostrEvent[] = []
        let eose!: () => void
        const ready = new Promise<void>((r) => (eose = r))
        pool.subscribe(() => ({ kinds: [23194], authors: [s.wallet.clientPubkey] }), { onevent: (e) => seen.push(e), oneose: () => eose() })
        await ready
        await s.backend.createInvoice({ amountMsat: 1000n, expirySeconds: 60 })
        const request = seen.at(-1)!
        assert.deepEqual(request.tags.find((t) => t[0] === 'encryption'), ['encryption', expected])
        assert.deepEqual(request.tags.find((t) => t[0] === 'p'), ['p', s.wallet.walletPubkey])
        assert.ok(Number(request.tags.find((t) => t[0] === 'expiration')?.[1]) > request.created_at)
        assert.equal(request.content.includes('?iv='), expected === 'nip04')
      } finally {
        pool.close()
        await s.teardown()
      }
    }
  })

  it('error: a wallet offering no encryption turnpike speaks is refused', async () => {
    const relay = await startRelay()
    const walletKey = secp256k1.utils.randomSecretKey()
    const pool = relayPool({ urls: [relay.url], WebSocket: globalThis.WebSocket })
    const info = finalizeEvent({ kind: 13194, created_at: Math.floor(Date.now() / 1000), tags: [['encryption', 'nip99']], content: 'make_invoice' }, walletKey)
    await pool.publish(info, AbortSignal.timeout(2000))
    pool.close()
    const backend = nwc({
      walletPubkey: bytesToHex(secp256k1.getPublicKey(walletKey, true).subarray(1)),
      relays: [relay.url],
      secret: secp256k1.utils.randomSecretKey(),
      timeoutMs: 3000,
    })
    try {
      await assert.rejects(backend.createInvoice({ amountMsat: 1000n, expirySeconds: 60 }), (e) => {
        code('TURNPIKE_BACKEND_ERROR')(e)
        assert.match((e as Error).message, /encryption/)
        return true
      })
    } finally {
      await backend.close?.()
      await relay.close()
    }
  })
})

describe('nwc: the secret stays secret', () => {
  it('behavior: errors, causes and the backend object never show the client secret', async () => {
    const relay = await startRelay()
    await relay.close()
    const secret = bytesToHex(secp256k1.utils.randomSecretKey())
    const walletPubkey = bytesToHex(secp256k1.getPublicKey(secp256k1.utils.randomSecretKey(), true).subarray(1))
    const uri = `nostr+walletconnect://${walletPubkey}?relay=${encodeURIComponent(relay.url)}&secret=${secret}`
    const backend = nwc({ connectionUri: uri, timeoutMs: 1000 })
    const seen: string[] = [inspect(backend, { depth: 10, showHidden: true })]
    try {
      await backend.createInvoice({ amountMsat: 1000n, expirySeconds: 60 })
    } catch (e) {
      seen.push(inspect(e, { depth: 10, showHidden: true }), JSON.stringify((e as TurnpikeError).toProblemDetails()))
    }
    await backend.close?.()
    const dir = tempDir()
    try {
      const file = join(dir.path, 'nwc-uri')
      writeFileSync(file, uri.replace('secret=', 'secret=zz'))
      try {
        createWalletBackend({ type: 'nwc', uriFile: file, timeoutMs: 1000 }, {})
      } catch (e) {
        seen.push(inspect(e, { depth: 10 }))
      }
    } finally {
      dir.remove()
    }
    assert.equal(seen.length, 4)
    for (const text of seen) assert.ok(!text.includes(secret), text)
  })
})

describe('nwc: config', () => {
  it('behavior: nwc with uriFile or $TURNPIKE_NWC_URI, never inline', () => {
    const base = { upstream: 'http://127.0.0.1:1', routes: [{ path: '/*', price: '2500msat' }] }
    const c = Config.parse({ ...base, backend: { type: 'nwc', uriFile: '/run/secrets/nwc', timeout: '20s' } })
    assert.deepEqual(c.backend, { type: 'nwc', uriFile: '/run/secrets/nwc', timeoutMs: 20_000 })
    assert.deepEqual(Config.parse({ ...base, backend: 'nwc' }).backend, { type: 'nwc', uriFile: undefined, timeoutMs: 30_000 })
    assert.throws(
      () => Config.parse({ ...base, backend: { type: 'nwc', uri: 'nostr+walletconnect://x', timeout: 'soon', uriFile: 3 } }),
      (e: ConfigError) => {
        const paths = e.issues.map((i) => i.path).sort()
        assert.deepEqual(paths, ['backend.timeout', 'backend.uri', 'backend.uriFile'])
        assert.match(e.issues.find((i) => i.path === 'backend.uri')!.message, /TURNPIKE_NWC_URI/)
        assert.ok(!e.message.includes('nostr+walletconnect://x'))
        return true
      },
    )
  })

  it('error: a missing, unreadable or invalid URI is a config error naming where it came from', () => {
    assert.throws(() => createWalletBackend({ type: 'nwc', uriFile: undefined, timeoutMs: 1000 }, {}), (e: ConfigError) =>
      e.issues[0]!.path === 'TURNPIKE_NWC_URI' && /uriFile/.test(e.issues[0]!.message))
    assert.throws(() => createWalletBackend({ type: 'nwc', uriFile: '/nonexistent/nwc', timeoutMs: 1000 }, {}), (e: ConfigError) =>
      e.issues[0]!.path === 'backend.uriFile' && /ENOENT/.test(e.issues[0]!.message))
    assert.throws(() => createWalletBackend({ type: 'nwc', uriFile: undefined, timeoutMs: 1000 }, { TURNPIKE_NWC_URI: 'nope' }), (e: ConfigError) =>
      e.issues[0]!.path === 'TURNPIKE_NWC_URI' && /nostr\+walletconnect/.test(e.issues[0]!.message))
  })
})

describe('nwc: end to end through the gateway', () => {
  it('behavior: 402 → pay through the wallet → retry → 200', async () => {
    const relay = await startRelay()
    const wallet = await startNwcWallet({ relays: [relay.url] })
    const upstream = await listen(echo)
    const dir = tempDir()
    const uriFile = join(dir.path, 'nwc-uri')
    writeFileSync(uriFile, `${wallet.connectionUri}\n`, { mode: 0o600 })
    const g = await startGateway({ backend: { type: 'nwc', uriFile, timeout: '5s' }, upstream: upstream.url, routes: [{ name: 'api', path: '/api/*', price: '2500msat' }] })
    try {
      const first = await fetch(`${g.url}/api/data`)
      assert.equal(first.status, 402)
      await first.body?.cancel()
      const { macaroon, invoice } = challengeOf(first)
      const { preimage } = await wallet.pay(invoice)
      const paid = await fetch(`${g.url}/api/data`, { headers: { authorization: `L402 ${macaroon}:${preimage}` } })
      assert.equal(paid.status, 200)
      assert.equal(((await paid.json()) as { url: string }).url, '/api/data')
      const again = await fetch(`${g.url}/api/data`, { headers: { authorization: `L402 ${macaroon}:${preimage}` } })
      assert.equal(again.status, 402, 'per-request token is single use')
      await again.body?.cancel()
    } finally {
      await g.close()
      await wallet.close()
      await upstream.close()
      await relay.close()
      dir.remove()
    }
  })
})
