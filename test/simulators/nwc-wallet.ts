/**
 * A NIP-47 wallet service for tests, built on `@getalby/sdk`'s `NWCWalletService` (the real
 * request/response loop, encryption negotiation and signing), with a simulated node behind it:
 * real signed BOLT11 invoices, per-invoice state, `lookup_invoice`, `payment_received`
 * notifications, and test hooks (pay, expire, error injection, latency, going offline).
 * Like some real services, it hands out the preimage of unpaid invoices (so the backend's
 * "state, never the preimage" rule is exercised).
 */
import { secp256k1 } from '@noble/curves/secp256k1.js'
import { sha256 } from '@noble/hashes/sha2.js'
import { bytesToHex, randomBytes } from '@noble/hashes/utils.js'
import { NWCWalletService, NWCWalletServiceKeyPair } from '@getalby/sdk/nwc'
import type {
  Nip47LookupInvoiceRequest,
  Nip47MakeInvoiceRequest,
  Nip47SingleMethod,
  Nip47Transaction,
  NWCWalletServiceRequestHandler,
  NWCWalletServiceResponse,
} from '@getalby/sdk/nwc'
import * as Bolt11 from '../../src/Bolt11.ts'
import type { Network } from '../../src/Bolt11.ts'

export type NwcWalletOptions = {
  readonly relays: readonly string[]
  readonly network?: Network
  /**
   * `nip44` (default): info event tagged `encryption: nip04 nip44_v2` (the SDK's default).
   * `legacy`: no `encryption` tag, i.e. a NIP-04-only wallet; notifications as kind 23196.
   */
  readonly encryption?: 'nip44' | 'legacy'
  /** Advertise and send `payment_received` notifications (default true). */
  readonly notifications?: boolean
  /** Methods in the info event and served (default make_invoice, lookup_invoice, get_info). */
  readonly methods?: readonly Nip47SingleMethod[]
  /** Include the preimage of unpaid invoices in answers (default true, as some services do). */
  readonly revealPreimage?: boolean
  /** Omit `state` from transactions (services that only fill `settled_at`). */
  readonly omitState?: boolean
}

export type NwcWallet = {
  /** `nostr+walletconnect://…` for the client side. */
  readonly connectionUri: string
  readonly walletPubkey: string
  readonly clientPubkey: string
  /** Node key that signs the invoices (33-byte compressed, hex). */
  readonly nodePubkey: string
  /** Requests received, by method. */
  readonly requests: Record<string, number>
  /** Settles an invoice this wallet issued and sends `payment_received`; returns the preimage. */
  pay(paymentRequest: string): Promise<{ preimage: string; paymentHash: string }>
  /** Makes an open invoice expire now. */
  expire(paymentHash: string): void
  /** The next request is answered with this NIP-47 error. */
  failNext(code: string, message?: string): void
  /** Delay before each answer. */
  setLatency(ms: number): void
  /** Stops answering (the wallet goes offline; requests stay unanswered). */
  goOffline(): void
  goOnline(): Promise<void>
  close(): Promise<void>
}

type Entry = {
  tx: Nip47Transaction
  preimage: string
}

const ok = <T>(result: T): NWCWalletServiceResponse<T> => ({ result, error: undefined })
const err = <T>(code: string, message: string): NWCWalletServiceResponse<T> => ({ result: undefined, error: { code, message } })

/** Starts the wallet service and publishes its info event. */
export async function startNwcWallet(o: NwcWalletOptions): Promise<NwcWallet> {
  const relays = [...o.relays]
  const network = o.network ?? 'regtest'
  const legacy = o.encryption === 'legacy'
  const notify = o.notifications !== false
  const methods = o.methods ?? ['make_invoice', 'lookup_invoice', 'get_info']
  const revealPreimage = o.revealPreimage !== false
  const walletSecret = bytesToHex(secp256k1.utils.randomSecretKey())
  const clientSecret = bytesToHex(secp256k1.utils.randomSecretKey())
  const nodeKey = secp256k1.utils.randomSecretKey()
  const nodePubkey = bytesToHex(secp256k1.getPublicKey(nodeKey, true))
  const clientPubkey = bytesToHex(secp256k1.getPublicKey(Buffer.from(clientSecret, 'hex'), true).subarray(1))
  const keypair = new NWCWalletServiceKeyPair(walletSecret, clientPubkey)
  const service = new NWCWalletService({ relayUrls: relays })
  const invoices = new Map<string, Entry>()
  const requests: Record<string, number> = {}
  let failure: { code: string; message: string } | undefined
  let latencyMs = 0
  let unsubscribe: (() => void) | undefined

  const nowS = (): number => Math.floor(Date.now() / 1000)

  function view(e: Entry): Nip47Transaction {
    const tx: Record<string, unknown> = { ...e.tx }
    if (tx.state === 'pending' && nowS() >= e.tx.expires_at) tx.state = 'expired'
    if (tx.state !== 'settled' && !revealPreimage) delete tx.preimage
    if (o.omitState === true) delete tx.state
    if (tx.settled_at === 0) delete tx.settled_at
    return tx as Nip47Transaction
  }

  /** Wraps a handler with counting, injected errors and latency. */
  function wrap<A extends unknown[], T>(method: string, f: (...a: A) => NWCWalletServiceResponse<T>) {
    return async (...a: A): Promise<NWCWalletServiceResponse<T>> => {
      requests[method] = (requests[method] ?? 0) + 1
      if (latencyMs > 0) await new Promise((r) => setTimeout(r, latencyMs))
      if (failure !== undefined) {
        const f2 = failure
        failure = undefined
        return err(f2.code, f2.message)
      }
      return f(...a)
    }
  }

  const handler: NWCWalletServiceRequestHandler = {}
  if (methods.includes('make_invoice')) {
    handler.makeInvoice = wrap('make_invoice', (r: Nip47MakeInvoiceRequest) => {
      if (!Number.isSafeInteger(r.amount) || r.amount <= 0) return err('OTHER', 'amount must be a positive integer (msat)')
      const preimage = randomBytes(32)
      const paymentHash = bytesToHex(sha256(preimage))
      const timestamp = nowS()
      const expiry = r.expiry ?? 86_400
      const invoice = Bolt11.encode({
        network,
        amountMsat: BigInt(r.amount),
        timestamp,
        paymentHash,
        paymentSecret: bytesToHex(randomBytes(32)),
        description: r.description ?? '',
        expiry,
        minFinalCltvExpiry: 80,
        privateKey: nodeKey,
      })
      const entry: Entry = {
        preimage: bytesToHex(preimage),
        tx: {
          type: 'incoming',
          state: 'pending',
          invoice,
          description: r.description ?? '',
          description_hash: '',
          preimage: bytesToHex(preimage),
          payment_hash: paymentHash,
          amount: r.amount,
          fees_paid: 0,
          created_at: timestamp,
          expires_at: timestamp + expiry,
          settled_at: 0,
        },
      }
      invoices.set(paymentHash, entry)
      return ok(view(entry))
    })
  }
  if (methods.includes('lookup_invoice')) {
    handler.lookupInvoice = wrap('lookup_invoice', (r: Nip47LookupInvoiceRequest) => {
      let hash = r.payment_hash
      if (hash === undefined && r.invoice !== undefined) {
        try {
          hash = Bolt11.decode(r.invoice).paymentHash
        } catch {
          return err('OTHER', 'invalid invoice')
        }
      }
      const e = hash === undefined ? undefined : invoices.get(hash)
      return e === undefined ? err('NOT_FOUND', 'invoice not found') : ok(view(e))
    })
  }
  if (methods.includes('get_info')) {
    handler.getInfo = wrap('get_info', () =>
      ok({
        alias: 'turnpike-nwc-sim',
        color: '#000000',
        pubkey: nodePubkey,
        network,
        block_height: 1,
        block_hash: '00'.repeat(32),
        methods: [...methods],
        ...(notify ? { notifications: ['payment_received' as const] } : {}),
      }),
    )
  }

  async function publishInfo(): Promise<void> {
    if (!legacy) {
      await service.publishWalletServiceInfoEvent(walletSecret, [...methods], notify ? ['payment_received'] : [])
      return
    }
    const event = await service.signEvent(
      { kind: 13194, created_at: nowS(), tags: notify ? [['notifications', 'payment_received']] : [], content: methods.join(' ') },
      walletSecret,
    )
    await Promise.any(service.pool.publish(relays, event))
  }

  async function sendNotification(tx: Nip47Transaction): Promise<void> {
    const content = JSON.stringify({ notification_type: 'payment_received', notification: tx })
    // Wallets that speak NIP-44 send both kinds (23197, and 23196 for NIP-04 clients).
    const kinds: [number, 'nip44_v2' | 'nip04'][] = legacy ? [[23196, 'nip04']] : [[23197, 'nip44_v2'], [23196, 'nip04']]
    for (const [kind, encryption] of kinds) {
      const event = await service.signEvent(
        { kind, created_at: nowS(), tags: [['p', clientPubkey]], content: await service.encrypt(keypair, content, encryption) },
        walletSecret,
      )
      await Promise.any(service.pool.publish(relays, event))
    }
  }

  async function goOnline(): Promise<void> {
    unsubscribe ??= await service.subscribe(keypair, handler)
  }

  await publishInfo()
  await goOnline()

  const query = new URLSearchParams()
  for (const r of relays) query.append('relay', r)
  query.set('secret', clientSecret)
  return {
    connectionUri: `nostr+walletconnect://${keypair.walletPubkey}?${query.toString()}`,
    walletPubkey: keypair.walletPubkey,
    clientPubkey,
    nodePubkey,
    requests,

    async pay(paymentRequest) {
      const d = Bolt11.decode(paymentRequest)
      const e = invoices.get(d.paymentHash)
      if (e === undefined) throw new Error('not an invoice of this wallet')
      if (e.tx.state === 'settled') throw new Error('invoice already paid')
      if (nowS() >= e.tx.expires_at) throw new Error('invoice expired')
      e.tx.state = 'settled'
      e.tx.settled_at = nowS()
      if (notify) await sendNotification(view(e))
      return { preimage: e.preimage, paymentHash: d.paymentHash }
    },

    expire(paymentHash) {
      const e = invoices.get(paymentHash)
      if (e !== undefined) e.tx.expires_at = nowS() - 1
    },

    failNext(code, message = 'injected failure') {
      failure = { code, message }
    },

    setLatency(ms) {
      latencyMs = ms
    },

    goOffline() {
      unsubscribe?.()
      unsubscribe = undefined
    },

    goOnline,

    async close() {
      unsubscribe?.()
      unsubscribe = undefined
      service.close()
    },
  }
}
