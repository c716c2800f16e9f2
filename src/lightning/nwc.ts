/**
 * Nostr Wallet Connect (NIP-47) backend: invoices through any NWC wallet service (Alby Hub, Primal,
 * Coinos, LNbits' NWC extension, …). Requests are kind 23194 events, answers kind 23195 matched by
 * their `e` tag, encrypted with NIP-44 v2 (NIP-04 only when the wallet's kind 13194 info event
 * advertises no encryption). Settlement comes from the transaction's `state` (else `settled_at`),
 * never from a preimage; `payment_received` notifications feed `subscribe`. Formats:
 * `protocols.md` §4, `backends.md` §6.
 * @module
 */
import { secp256k1 } from '@noble/curves/secp256k1.js'
import { sha256 } from '@noble/hashes/sha2.js'
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js'
import * as Bolt11 from '../Bolt11.ts'
import { TurnpikeError } from '../Errors.ts'
import type { Backend, CreateInvoiceParameters, Invoice, InvoiceState, NodeInfo } from '../Lightning.ts'
import {
  finalizeEvent,
  isPublicKey,
  nip04Decrypt,
  nip04Encrypt,
  nip44ConversationKey,
  nip44Decrypt,
  nip44Encrypt,
  publicKeyOf,
  tagValue,
} from './nostr.ts'
import type { Filter, NostrEvent } from './nostr.ts'
import { relayPool } from './nostr-relay.ts'
import type { RelayPool, WebSocketConstructor } from './nostr-relay.ts'
import { subscription } from './internal/subscription.ts'

export type { WebSocketConstructor } from './nostr-relay.ts'

/** The parts of a `nostr+walletconnect://` URI. `secret` is the client's private key. */
export type NwcConnection = {
  readonly walletPubkey: string
  readonly relays: readonly string[]
  readonly secret: Uint8Array
  readonly lud16?: string
}

/** Options of {@link nwc}: a connection URI, or its parts. */
export type NwcParameters = {
  /** `nostr+walletconnect://<wallet pubkey>?relay=…&secret=…`; holds a secret: load it from a file or the environment. */
  readonly connectionUri?: string | undefined
  readonly walletPubkey?: string | undefined
  readonly relays?: readonly string[] | undefined
  /** Client private key, 64 hex or 32 bytes. */
  readonly secret?: string | Uint8Array | undefined
  /** Per request, from connecting to the wallet's answer (default 30 000). */
  readonly timeoutMs?: number | undefined
  /** WebSocket implementation (default: the global one, Node ≥ 22). */
  readonly WebSocket?: WebSocketConstructor | undefined
  /**
   * `subscribe` through `payment_received` notifications (default true). When the wallet's info
   * event lists no notifications the stream simply ends and callers poll; `false` removes
   * `subscribe` altogether.
   */
  readonly notifications?: boolean | undefined
  /** Clock in unix ms (default `Date.now`). */
  readonly now?: (() => number) | undefined
}

type Encryption = 'nip44_v2' | 'nip04'
type WalletInfo = { methods: Set<string>; notifications: Set<string>; encryption: Encryption; at: number }
type Pending = { method: string; resolve(body: unknown): void; reject(e: Error): void }
type Tx = Record<string, unknown>

const hex32 = /^[0-9a-f]{64}$/
const infoTtlMs = 10 * 60_000
/** Answers and notifications up to this old are accepted (tolerates the wallet's clock skew). */
const sinceSlackS = 600
const maxSeen = 4096
const defaultTimeoutMs = 30_000

/**
 * Parses a NWC connection URI (`nostr+walletconnect:` or legacy `nostrwalletconnect:`).
 * @remarks Throws a TypeError that never repeats the URI or its secret.
 * @example
 * const { walletPubkey, relays } = parseConnectionUri(process.env.TURNPIKE_NWC_URI!)
 */
export function parseConnectionUri(uri: string): NwcConnection {
  if (typeof uri !== 'string') throw new TypeError('NWC connection URI must be a string')
  const m = /^(?:nostr\+walletconnect|nostrwalletconnect):(?:\/\/)?([^?#/]*)\/?\?([^#]*)$/i.exec(uri.trim())
  if (m === null) throw new TypeError('NWC connection URI must look like nostr+walletconnect://<wallet pubkey>?relay=…&secret=…')
  const query = new URLSearchParams(m[2]!)
  const secrets = query.getAll('secret')
  if (secrets.length !== 1) throw new TypeError('NWC connection URI must carry exactly one secret parameter')
  const lud16 = query.get('lud16') ?? undefined
  return {
    walletPubkey: checkWalletPubkey(m[1]!),
    relays: checkRelays(query.getAll('relay')),
    secret: checkSecret(secrets[0]!),
    ...(lud16 !== undefined ? { lud16 } : {}),
  }
}

function checkWalletPubkey(v: unknown): string {
  const key = typeof v === 'string' ? v.toLowerCase() : ''
  if (!isPublicKey(key)) throw new TypeError('NWC wallet pubkey must be a 64-hex x-only public key')
  return key
}

function checkRelays(v: readonly unknown[] | undefined): string[] {
  if (v === undefined || v.length === 0) throw new TypeError('NWC connection needs at least one relay')
  return [...new Set(v.map((r) => {
    let u: URL
    try {
      u = new URL(String(r))
    } catch {
      throw new TypeError('NWC relay must be a ws:// or wss:// URL')
    }
    if (u.protocol !== 'wss:' && u.protocol !== 'ws:') throw new TypeError('NWC relay must be a ws:// or wss:// URL')
    return u.href
  }))]
}

function checkSecret(v: unknown): Uint8Array {
  const key = v instanceof Uint8Array ? v : typeof v === 'string' && /^[0-9a-fA-F]{64}$/.test(v) ? hexToBytes(v.toLowerCase()) : undefined
  if (key === undefined || !secp256k1.utils.isValidSecretKey(key)) {
    throw new TypeError('NWC secret must be a valid 32-byte secp256k1 private key (64 hex)')
  }
  return Uint8Array.from(key)
}

/**
 * Creates a NWC backend. Nothing connects until the first call; `close()` releases the relays.
 * @remarks The wallet chooses the invoice, so its terms are checked: a valid signed BOLT11 with the
 * requested amount and the reported payment hash. Timeouts and unreachable relays reject with
 * `TURNPIKE_BACKEND_UNAVAILABLE`; wallet errors map as `RATE_LIMITED`/`INTERNAL`/`QUOTA_EXCEEDED` →
 * `TURNPIKE_BACKEND_UNAVAILABLE`, `NOT_FOUND` on lookup → `TURNPIKE_INVOICE_UNKNOWN`, the rest →
 * `TURNPIKE_BACKEND_ERROR`. The secret never appears in errors.
 * @example
 * const backend = nwc({ connectionUri: readFileSync('/run/secrets/nwc', 'utf8'), timeoutMs: 20_000 })
 */
export function nwc(o: NwcParameters): Backend {
  const conn: NwcConnection =
    o.connectionUri !== undefined
      ? parseConnectionUri(o.connectionUri)
      : { walletPubkey: checkWalletPubkey(o.walletPubkey), relays: checkRelays(o.relays), secret: checkSecret(o.secret) }
  const timeoutMs = o.timeoutMs ?? defaultTimeoutMs
  if (!Number.isSafeInteger(timeoutMs) || timeoutMs <= 0) throw new TypeError('nwc(): timeoutMs must be a positive integer')
  const WebSocketImpl = o.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket
  if (WebSocketImpl === undefined) throw new TypeError('nwc() needs a global WebSocket (Node.js ≥ 22) or the WebSocket option')
  const now = o.now ?? Date.now
  const wallet = conn.walletPubkey
  const secret = conn.secret
  const client = publicKeyOf(secret)
  const conversationKey = nip44ConversationKey(secret, wallet)
  const pool: RelayPool = relayPool({ urls: conn.relays, WebSocket: WebSocketImpl })
  const lifetime = new AbortController()
  const pending = new Map<string, Pending>()
  const listeners = new Set<(s: InvoiceState) => void>()
  const closers = new Set<() => void>()
  const seen = new Set<string>()
  let info: { promise: Promise<WalletInfo>; at: number } | undefined
  let responses: ReturnType<typeof readySubscription> | undefined
  let notifications: Promise<boolean> | undefined
  let closed = false

  const nowS = (): number => Math.floor(now() / 1000)

  function decrypt(content: string): string {
    return content.includes('?iv=') ? nip04Decrypt(content, secret, wallet) : nip44Decrypt(content, conversationKey)
  }

  function encrypt(encryption: Encryption, plaintext: string): string {
    return encryption === 'nip44_v2' ? nip44Encrypt(plaintext, conversationKey) : nip04Encrypt(plaintext, secret, wallet)
  }

  /** A persistent subscription plus "has a relay finished sending stored events?". */
  function readySubscription(filter: () => Filter, onevent: (e: NostrEvent) => void) {
    const eosed = new Set<string>()
    let waiters: (() => void)[] = []
    const sub = pool.subscribe(filter, {
      onevent,
      oneose(url) {
        eosed.add(url)
        const ws = waiters
        waiters = []
        for (const w of ws) w()
      },
      onclose(url) {
        eosed.delete(url)
      },
    })
    return {
      close: () => sub.close(),
      async ready(signal: AbortSignal): Promise<void> {
        if (eosed.size > 0) return
        await pool.connect(signal)
        if (eosed.size > 0) return
        await untilAborted(signal, (resolve) => waiters.push(resolve))
      },
    }
  }

  function onResponse(e: NostrEvent): void {
    if (e.kind !== 23195 || e.pubkey !== wallet) return
    const id = tagValue(e, 'e')
    const p = id === undefined ? undefined : pending.get(id)
    if (p === undefined) return
    pending.delete(id!)
    let body: unknown
    try {
      body = JSON.parse(decrypt(e.content))
    } catch (cause) {
      return p.reject(new TurnpikeError('TURNPIKE_BACKEND_ERROR', `cannot read the NWC wallet's answer to ${p.method}`, { cause }))
    }
    p.resolve(body)
  }

  async function fetchInfo(signal: AbortSignal): Promise<WalletInfo> {
    await pool.connect(signal)
    const event = await new Promise<NostrEvent | undefined>((resolve, reject) => {
      let best: NostrEvent | undefined
      let grace: ReturnType<typeof setTimeout> | undefined
      const finish = (e: NostrEvent | undefined): void => {
        clearTimeout(grace)
        sub.close()
        signal.removeEventListener('abort', onAbort)
        resolve(e)
      }
      const onAbort = (): void => {
        clearTimeout(grace)
        sub.close()
        reject(signal.reason)
      }
      const sub = pool.subscribe(() => ({ kinds: [13194], authors: [wallet] }), {
        onevent(e) {
          if (e.kind === 13194 && e.pubkey === wallet && (best === undefined || e.created_at > best.created_at)) best = e
        },
        oneose() {
          // One relay finished: take its answer, or give the others a moment before concluding.
          if (best !== undefined) finish(best)
          else if (grace === undefined) grace = setTimeout(() => finish(best), 1000)
        },
      })
      signal.addEventListener('abort', onAbort, { once: true })
    })
    if (event === undefined) {
      throw new TurnpikeError('TURNPIKE_BACKEND_UNAVAILABLE', 'the NWC wallet has not published its info event (kind 13194) on its relays', { retryAfter: 5 })
    }
    const words = (s: string | undefined): Set<string> => new Set((s ?? '').split(/[\s,]+/).filter((w) => w !== ''))
    const tag = tagValue(event, 'encryption')
    // No `encryption` tag means a NIP-04-only wallet (NIP-47).
    const offered = tag === undefined ? new Set(['nip04']) : words(tag)
    const encryption: Encryption | undefined = offered.has('nip44_v2') ? 'nip44_v2' : offered.has('nip04') ? 'nip04' : undefined
    if (encryption === undefined) {
      throw new TurnpikeError('TURNPIKE_BACKEND_ERROR', 'the NWC wallet offers no encryption turnpike supports (nip44_v2, nip04)')
    }
    return { methods: words(event.content), notifications: words(tagValue(event, 'notifications')), encryption, at: now() }
  }

  function walletInfo(signal: AbortSignal): Promise<WalletInfo> {
    if (info === undefined || now() - info.at > infoTtlMs) {
      const promise = fetchInfo(AbortSignal.any([lifetime.signal, AbortSignal.timeout(timeoutMs)]))
      const entry = { promise, at: now() }
      info = entry
      promise.catch(() => {
        if (info === entry) info = undefined
      })
    }
    return raceSignal(info.promise, signal)
  }

  async function request(method: string, params: Tx, outer: AbortSignal | undefined): Promise<Tx> {
    if (closed) throw new TurnpikeError('TURNPIKE_BACKEND_UNAVAILABLE', 'the NWC backend is closed')
    outer?.throwIfAborted()
    const deadline = AbortSignal.timeout(timeoutMs)
    const signal = AbortSignal.any(outer === undefined ? [deadline, lifetime.signal] : [outer, deadline, lifetime.signal])
    let id: string | undefined
    try {
      const w = await walletInfo(signal)
      if (w.methods.size > 0 && !w.methods.has(method)) {
        throw new TurnpikeError('TURNPIKE_BACKEND_ERROR', `the NWC wallet does not offer ${method} (check the connection's permissions)`)
      }
      responses ??= readySubscription(
        () => ({ kinds: [23195], authors: [wallet], '#p': [client], since: nowS() - sinceSlackS }),
        onResponse,
      )
      await responses.ready(signal)
      const createdAt = nowS()
      const event = finalizeEvent(
        {
          kind: 23194,
          created_at: createdAt,
          tags: [['p', wallet], ['encryption', w.encryption], ['expiration', String(createdAt + Math.ceil(timeoutMs / 1000) + 60)]],
          content: encrypt(w.encryption, JSON.stringify({ method, params })),
        },
        secret,
      )
      id = event.id
      const answer = new Promise<unknown>((resolve, reject) => pending.set(event.id, { method, resolve, reject }))
      answer.catch(() => {})
      try {
        await pool.publish(event, signal)
      } catch (cause) {
        if (signal.aborted) throw cause
        throw new TurnpikeError('TURNPIKE_BACKEND_UNAVAILABLE', 'the NWC relays did not accept the request', { cause, retryAfter: 5 })
      }
      const body = await raceSignal(answer, signal)
      return readResult(method, body, () => {
        info = undefined
      })
    } catch (e) {
      if (outer?.aborted === true) throw outer.reason
      if (e instanceof TurnpikeError) throw e
      if (closed) throw new TurnpikeError('TURNPIKE_BACKEND_UNAVAILABLE', 'the NWC backend is closed')
      if (deadline.aborted) {
        throw new TurnpikeError('TURNPIKE_BACKEND_UNAVAILABLE', `the NWC wallet did not answer ${method} within ${timeoutMs} ms`, { cause: e, retryAfter: 5 })
      }
      throw new TurnpikeError('TURNPIKE_BACKEND_UNAVAILABLE', 'cannot reach the NWC relays', { cause: e, retryAfter: 5 })
    } finally {
      if (id !== undefined) pending.delete(id)
    }
  }

  function emit(state: InvoiceState): void {
    for (const listener of listeners) listener(state)
  }

  function onNotification(e: NostrEvent, kind: number): void {
    if (e.kind !== kind || e.pubkey !== wallet || seen.has(e.id)) return
    seen.add(e.id)
    if (seen.size > maxSeen) seen.delete(seen.values().next().value!)
    let body: { notification_type?: unknown; notification?: unknown }
    try {
      body = JSON.parse(decrypt(e.content))
    } catch {
      return // not for us, or garbled: the lookups behind subscribe catch up
    }
    const tx = body?.notification
    if (body?.notification_type !== 'payment_received' || typeof tx !== 'object' || tx === null) return
    const hash = (tx as Tx).payment_hash
    if (typeof hash !== 'string' || !hex32.test(hash.toLowerCase())) return
    try {
      const state = toState(tx as Tx, hash.toLowerCase(), now())
      if (state.status === 'settled') emit(state)
    } catch {
      // inconsistent notification (e.g. a preimage that does not match): ignore it
    }
  }

  /** Starts the shared notification subscription once; false when the wallet sends none. */
  function startNotifications(): Promise<boolean> {
    notifications ??= walletInfo(lifetime.signal).then(
      (w) => {
        if (!w.notifications.has('payment_received')) return false
        const kind = w.encryption === 'nip44_v2' ? 23197 : 23196
        const since = nowS() - sinceSlackS
        pool.subscribe(() => ({ kinds: [kind], authors: [wallet], '#p': [client], since }), {
          onevent: (e) => onNotification(e, kind),
        })
        return true
      },
      (e: unknown) => {
        notifications = undefined
        throw e
      },
    )
    return notifications
  }

  const backend: Backend = {
    name: 'nwc',

    async createInvoice(p: CreateInvoiceParameters): Promise<Invoice> {
      if (typeof p.amountMsat !== 'bigint' || p.amountMsat <= 0n || p.amountMsat > BigInt(Number.MAX_SAFE_INTEGER)) {
        badRequest('amountMsat must be a bigint > 0 and < 2^53')
      }
      if (!Number.isSafeInteger(p.expirySeconds) || p.expirySeconds <= 0) badRequest('expirySeconds must be a positive integer')
      const tx = await request(
        'make_invoice',
        { amount: Number(p.amountMsat), description: p.description ?? '', expiry: p.expirySeconds },
        p.signal,
      )
      return checkInvoice(tx, p.amountMsat)
    },

    async lookupInvoice(paymentHash: string, lo?: { signal?: AbortSignal }): Promise<InvoiceState> {
      if (typeof paymentHash !== 'string' || !/^[0-9a-fA-F]{64}$/.test(paymentHash)) badRequest('payment hash must be 32 bytes of hex')
      const hash = paymentHash.toLowerCase()
      const tx = await request('lookup_invoice', { payment_hash: hash }, lo?.signal)
      return toState(tx, hash, now())
    },

    async getInfo(): Promise<NodeInfo> {
      const r = await request('get_info', {}, undefined)
      const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined)
      const alias = str(r.alias)
      return { pubkey: str(r.pubkey) ?? wallet, network: str(r.network) ?? 'unknown', ...(alias !== undefined ? { alias } : {}) }
    },

    async close(): Promise<void> {
      if (closed) return
      closed = true
      lifetime.abort(new TurnpikeError('TURNPIKE_BACKEND_UNAVAILABLE', 'the NWC backend is closed'))
      for (const p of pending.values()) p.reject(new TurnpikeError('TURNPIKE_BACKEND_UNAVAILABLE', 'the NWC backend is closed'))
      pending.clear()
      for (const close of closers) close()
      pool.close()
    },
  }
  if (o.notifications !== false) {
    backend.subscribe = (so: { signal: AbortSignal }): AsyncIterable<InvoiceState> => {
      const it = subscription(so.signal, listeners, closers)
      if (closed) it.end()
      else startNotifications().then((ok) => ok || it.end(), () => it.end())
      return it
    }
  }
  return backend
}

/** Unwraps `{result_type, error, result}`; wallet errors become TurnpikeErrors. */
function readResult(method: string, body: unknown, dropInfo: () => void): Tx {
  if (typeof body !== 'object' || body === null) {
    throw new TurnpikeError('TURNPIKE_BACKEND_ERROR', `the NWC wallet's answer to ${method} is not an object`)
  }
  const b = body as { result_type?: unknown; error?: unknown; result?: unknown }
  if (b.error !== undefined && b.error !== null) {
    const err = b.error as { code?: unknown; message?: unknown }
    const code = typeof err.code === 'string' && /^[A-Z_]{1,40}$/.test(err.code) ? err.code : 'OTHER'
    const cause = new Error(`NWC ${code}: ${String(err.message ?? '').slice(0, 300)}`)
    if (code === 'UNSUPPORTED_ENCRYPTION') dropInfo()
    throw walletError(method, code, cause)
  }
  if (b.result_type !== undefined && b.result_type !== method) {
    throw new TurnpikeError('TURNPIKE_BACKEND_ERROR', `the NWC wallet answered ${String(b.result_type).slice(0, 40)} to ${method}`)
  }
  if (typeof b.result !== 'object' || b.result === null) {
    throw new TurnpikeError('TURNPIKE_BACKEND_ERROR', `the NWC wallet's answer to ${method} has no result`)
  }
  return b.result as Tx
}

/** NIP-47 error code → TurnpikeError. The wallet's own message stays in `cause` (logs only). */
function walletError(method: string, code: string, cause: Error): TurnpikeError {
  const message = `the NWC wallet answered ${method} with ${code}`
  switch (code) {
    case 'NOT_FOUND':
      if (method === 'lookup_invoice') return new TurnpikeError('TURNPIKE_INVOICE_UNKNOWN', 'unknown payment hash', { cause })
      return new TurnpikeError('TURNPIKE_BACKEND_ERROR', message, { cause })
    case 'RATE_LIMITED':
    case 'INTERNAL':
      return new TurnpikeError('TURNPIKE_BACKEND_UNAVAILABLE', message, { cause, retryAfter: 5 })
    case 'QUOTA_EXCEEDED':
      return new TurnpikeError('TURNPIKE_BACKEND_UNAVAILABLE', message, { cause, retryAfter: 60 })
    default:
      // NOT_IMPLEMENTED, RESTRICTED, UNAUTHORIZED, UNSUPPORTED_ENCRYPTION, INSUFFICIENT_BALANCE,
      // PAYMENT_FAILED, OTHER and unknown codes: the operator has to act.
      return new TurnpikeError('TURNPIKE_BACKEND_ERROR', message, { cause })
  }
}

/** Checks what `make_invoice` returned against the request. */
function checkInvoice(tx: Tx, amountMsat: bigint): Invoice {
  if (typeof tx.invoice !== 'string') throw new TurnpikeError('TURNPIKE_BACKEND_ERROR', 'the NWC wallet returned no invoice')
  let d: Bolt11.Invoice
  try {
    d = Bolt11.decode(tx.invoice)
  } catch (cause) {
    throw new TurnpikeError('TURNPIKE_BACKEND_ERROR', 'the NWC wallet returned an invalid BOLT11 invoice', { cause })
  }
  if (d.amountMsat !== amountMsat) {
    throw new TurnpikeError('TURNPIKE_BACKEND_ERROR', `the NWC wallet's invoice is for ${String(d.amountMsat ?? 'any')} msat, not ${amountMsat}`)
  }
  if (typeof tx.payment_hash === 'string' && tx.payment_hash.toLowerCase() !== d.paymentHash) {
    throw new TurnpikeError('TURNPIKE_BACKEND_ERROR', "the NWC wallet's payment_hash does not match its invoice")
  }
  return {
    paymentRequest: tx.invoice,
    paymentHash: d.paymentHash,
    amountMsat,
    createdAt: d.timestamp * 1000,
    expiresAt: d.expiresAt * 1000,
  }
}

/**
 * A NIP-47 transaction → InvoiceState. Settled only on `state == "settled"` (or, without `state`,
 * a non-zero `settled_at`); a preimage on an unsettled invoice is ignored.
 */
export function toState(tx: Tx, paymentHash: string, nowMs: number): InvoiceState {
  if (typeof tx.payment_hash === 'string' && tx.payment_hash.toLowerCase() !== paymentHash) {
    throw new TurnpikeError('TURNPIKE_BACKEND_ERROR', 'the NWC wallet answered about another payment hash')
  }
  const amountMsat = typeof tx.amount === 'number' && Number.isSafeInteger(tx.amount) && tx.amount >= 0 ? BigInt(tx.amount) : undefined
  const withAmount = amountMsat === undefined ? {} : { amountMsat }
  const state = typeof tx.state === 'string' ? tx.state.toLowerCase() : undefined
  const settledAt = typeof tx.settled_at === 'number' && tx.settled_at > 0 ? tx.settled_at * 1000 : undefined
  if (state === 'settled' || (state === undefined && settledAt !== undefined)) {
    let preimage: string | undefined
    if (typeof tx.preimage === 'string' && tx.preimage !== '') {
      preimage = tx.preimage.toLowerCase()
      if (!hex32.test(preimage) || bytesToHex(sha256(hexToBytes(preimage))) !== paymentHash) {
        throw new TurnpikeError('TURNPIKE_BACKEND_ERROR', "the NWC wallet's preimage does not match the payment hash")
      }
    }
    return {
      paymentHash,
      status: 'settled',
      ...(preimage !== undefined ? { preimage } : {}),
      ...withAmount,
      ...(settledAt !== undefined ? { settledAt } : {}),
    }
  }
  if (state === 'expired') return { paymentHash, status: 'expired', ...withAmount }
  if (state === 'failed') return { paymentHash, status: 'canceled', ...withAmount }
  const expiresAt = typeof tx.expires_at === 'number' && tx.expires_at > 0 ? tx.expires_at * 1000 : undefined
  return { paymentHash, status: expiresAt !== undefined && nowMs >= expiresAt ? 'expired' : 'open', ...withAmount }
}

function badRequest(message: string): never {
  throw new TurnpikeError('TURNPIKE_BAD_REQUEST', message)
}

/** Resolves or rejects with `p`, or rejects with `signal.reason` first. */
function raceSignal<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason)
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason)
    signal.addEventListener('abort', onAbort, { once: true })
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort)
        resolve(v)
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort)
        reject(e)
      },
    )
  })
}

/** Waits until `register`'s callback fires, or rejects on abort. */
function untilAborted(signal: AbortSignal, register: (resolve: () => void) => void): Promise<void> {
  return raceSignal(new Promise<void>((resolve) => register(resolve)), signal)
}

