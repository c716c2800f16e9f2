/**
 * The Lightning backend conformance suite (node:test). Every backend's test runs it against its
 * simulator; a backend is done when it passes.
 * @module
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { sha256 } from '@noble/hashes/sha2.js'
import { bytesToHex, hexToBytes, randomBytes } from '@noble/hashes/utils.js'
import * as Bolt11 from '../Bolt11.ts'
import { TurnpikeError } from '../Errors.ts'
import { waitForSettlement } from '../Lightning.ts'
import type { Backend, InvoiceState } from '../Lightning.ts'

/** What a backend's test provides: the backend, a payer hook for its simulator, and cleanup. */
export type ConformanceSetup = {
  backend: Backend
  /** Pays a BOLT11 invoice issued by `backend` (through the simulator's test hook). */
  pay(paymentRequest: string): Promise<void>
  teardown(): Promise<void>
}

/** Options of {@link describeBackend}. */
export type ConformanceOptions = {
  /**
   * Whether the backend invoices amounts that are not whole satoshis (default true). When false,
   * a 2500 msat request must be refused with a TurnpikeError or reported at the invoiced amount.
   */
  readonly msatAmounts?: boolean
  /**
   * The service, not the caller, sets the invoice's description and expiry (default false). True for
   * LNURL-pay: LUD-06 has no such parameters and the invoice commits to `h` = sha256(metadata). The
   * suite then checks that the reported times are the invoice's own instead.
   */
  readonly serviceSetsTerms?: boolean
}

const hexHash = /^[0-9a-f]{64}$/

/**
 * Registers the conformance suite for one backend; `setup` runs once before the suite.
 * @example
 * describeBackend('dev', async () => {
 *   const backend = dev()
 *   return { backend, pay: async (pr) => void (await backend.pay(pr)), teardown: async () => {} }
 * })
 */
export function describeBackend(
  name: string,
  setup: () => Promise<ConformanceSetup>,
  options: ConformanceOptions = {},
): void {
  describe(`Backend conformance: ${name}`, () => {
    let ctx: ConformanceSetup
    before(async () => {
      ctx = await setup()
    })
    after(async () => {
      await ctx?.teardown()
    })

    it('behavior: createInvoice returns a signed BOLT11 matching the request', async () => {
      const started = Date.now()
      const inv = await ctx.backend.createInvoice({ amountMsat: 21_000n, description: 'conformance', expirySeconds: 900 })
      assert.match(inv.paymentHash, hexHash)
      assert.equal(inv.amountMsat, 21_000n)
      const d = Bolt11.decode(inv.paymentRequest)
      assert.equal(d.paymentHash, inv.paymentHash)
      assert.equal(d.amountMsat, 21_000n)
      if (options.serviceSetsTerms !== true) {
        assert.equal(d.description, 'conformance')
        assert.equal(d.expiry, 900)
      }
      assert.ok(d.features.includes(14) || d.features.includes(15), 'payment_secret feature')
      assert.ok(d.features.includes(8) || d.features.includes(9), 'var_onion_optin feature')
      assert.equal(inv.expiresAt - inv.createdAt, options.serviceSetsTerms === true ? d.expiry * 1000 : 900_000)
      assert.ok(Math.abs(inv.createdAt - d.timestamp * 1000) < 1000, 'createdAt matches the invoice timestamp')
      assert.ok(inv.createdAt >= started - 5 * 60_000, 'createdAt is recent')
    })

    it('behavior: two invoices have distinct payment hashes', async () => {
      const a = await ctx.backend.createInvoice({ amountMsat: 1000n, expirySeconds: 600 })
      const b = await ctx.backend.createInvoice({ amountMsat: 1000n, expirySeconds: 600 })
      assert.notEqual(a.paymentHash, b.paymentHash)
    })

    it('behavior: an unpaid invoice is open and carries no preimage', async () => {
      const inv = await ctx.backend.createInvoice({ amountMsat: 5000n, description: 'open', expirySeconds: 600 })
      const s = await ctx.backend.lookupInvoice(inv.paymentHash)
      assert.equal(s.paymentHash, inv.paymentHash)
      assert.equal(s.status, 'open')
      assert.equal(s.preimage, undefined, 'a known preimage is not proof of payment')
      assert.equal(s.settledAt, undefined)
    })

    it('behavior: after payment the invoice is settled with a preimage hashing to the payment hash', async () => {
      const inv = await ctx.backend.createInvoice({ amountMsat: 7000n, description: 'pay me', expirySeconds: 600 })
      await ctx.pay(inv.paymentRequest)
      const s = await ctx.backend.lookupInvoice(inv.paymentHash)
      assert.equal(s.status, 'settled')
      assert.ok(s.preimage !== undefined)
      assert.match(s.preimage, hexHash)
      assert.equal(bytesToHex(sha256(hexToBytes(s.preimage))), inv.paymentHash)
      if (s.amountMsat !== undefined) assert.equal(s.amountMsat, 7000n)
    })

    it('error: looking up an unknown hash rejects with a TurnpikeError', async () => {
      await assert.rejects(ctx.backend.lookupInvoice(bytesToHex(randomBytes(32))), (e) => e instanceof TurnpikeError)
    })

    it('behavior: waitForSettlement resolves after payment', async () => {
      const inv = await ctx.backend.createInvoice({ amountMsat: 3000n, description: 'wait', expirySeconds: 600 })
      const waiting = waitForSettlement(ctx.backend, inv.paymentHash, { intervalMs: 25, timeoutMs: 10_000 })
      await new Promise((r) => setTimeout(r, 50))
      await ctx.pay(inv.paymentRequest)
      const s = await waiting
      assert.equal(s.status, 'settled')
      assert.equal(bytesToHex(sha256(hexToBytes(s.preimage!))), inv.paymentHash)
    })

    it('error: waitForSettlement rejects with a TimeoutError when unpaid', async () => {
      const inv = await ctx.backend.createInvoice({ amountMsat: 3000n, description: 'unpaid', expirySeconds: 600 })
      await assert.rejects(
        waitForSettlement(ctx.backend, inv.paymentHash, { intervalMs: 25, timeoutMs: 150 }),
        (e) => e instanceof Error && e.name === 'TimeoutError',
      )
    })

    it('behavior: subscribe (when offered) reports the settlement', async (t) => {
      if (ctx.backend.subscribe === undefined) return t.skip('no subscribe capability')
      const inv = await ctx.backend.createInvoice({ amountMsat: 4000n, description: 'sub', expirySeconds: 600 })
      const ac = new AbortController()
      const updates = ctx.backend.subscribe({ signal: ac.signal })[Symbol.asyncIterator]()
      const first = (async (): Promise<InvoiceState | undefined> => {
        for (let r = await updates.next(); r.done !== true; r = await updates.next()) {
          if (r.value.paymentHash === inv.paymentHash && r.value.status === 'settled') return r.value
        }
        return undefined
      })()
      await new Promise((r) => setTimeout(r, 50))
      await ctx.pay(inv.paymentRequest)
      const timeout = AbortSignal.timeout(10_000)
      timeout.addEventListener('abort', () => ac.abort())
      const s = await first
      ac.abort()
      assert.ok(s !== undefined, 'no settlement update before the timeout')
      assert.equal(bytesToHex(sha256(hexToBytes(s.preimage!))), inv.paymentHash)
    })

    it('behavior: millisatoshi amounts round-trip exactly', async () => {
      let inv
      try {
        inv = await ctx.backend.createInvoice({ amountMsat: 2500n, description: 'msat', expirySeconds: 600 })
      } catch (e) {
        if (options.msatAmounts === false && e instanceof TurnpikeError) return
        throw e
      }
      const d = Bolt11.decode(inv.paymentRequest)
      if (options.msatAmounts === false) {
        assert.equal(d.amountMsat, inv.amountMsat, 'the reported amount is the invoiced one')
        assert.ok(inv.amountMsat >= 2500n)
        return
      }
      assert.equal(inv.amountMsat, 2500n)
      assert.equal(d.amountMsat, 2500n)
      await ctx.pay(inv.paymentRequest)
      const s = await ctx.backend.lookupInvoice(inv.paymentHash)
      assert.equal(s.status, 'settled')
      if (s.amountMsat !== undefined) assert.equal(s.amountMsat, 2500n)
    })
  })
}
