/**
 * Cashu over HTTP 402 (NUT-24): an `X-Cashu: creqA…` NUT-18 request in the challenge, `cashuA`/
 * `cashuB` tokens accepted in `X-Cashu` (or legacy `Authorization: Cashu …`). Two modes
 * (protocols.md §3.7): `swap` exchanges the proofs at the mint before serving (the mint is the
 * double-spend authority); `p2pk` accepts proofs locked to the gateway key offline, after checking
 * the lock and the DLEQ against cached mint keys, and claims every proof's `Y` once in the store.
 * Accepted value is appended to a sink (by default `<dataDir>/cashu/received.jsonl`) before the
 * request passes.
 * @module
 */
import { createHmac, randomBytes } from 'node:crypto'
import { appendFile, mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { TurnpikeError, is } from './Errors.ts'
import type { Store } from './Store.ts'
import type { CashuConfig } from './cashu/config.ts'
import * as Crypto from './cashu/crypto.ts'
import { mintClient, type BlindedMessage, type MintClient } from './cashu/mint.ts'
import * as Nut11 from './cashu/nut11.ts'
import * as Token from './cashu/token.ts'
import type { Logger } from './internal/log.ts'
import type { Outcome, Refused } from './internal/outcome.ts'

export type Mode = 'swap' | 'p2pk'

export type { CashuConfig }

/** What was accepted: proofs the operator now holds (p2pk: still locked to the gateway key). */
export type Received = {
  readonly kind: 'p2pk-locked' | 'swapped' | 'redeemed'
  readonly mint: string
  readonly unit: string
  readonly route?: string
  readonly at: string
  readonly proofs: readonly Token.Proof[]
}

export type CreateOptions = {
  readonly config: CashuConfig
  /** The master secret; the P2PK key is derived from it, never the secret itself. */
  readonly secret: Uint8Array
  readonly store: Store
  /** Where accepted proofs are written; default: append to `<dataDir>/cashu/received.jsonl`. */
  readonly sink?: (r: Received) => Promise<void>
  readonly dataDir?: string
  readonly fetch?: typeof globalThis.fetch
  /** Unix milliseconds. */
  readonly now?: () => number
  readonly logger?: Logger
}

export type CashuGateway = {
  /** Compressed public key (hex) tokens must be locked to in p2pk mode. */
  readonly pubkey: string
  /** The `X-Cashu` value of a challenge for a price in whole sats. */
  request(p: { amountSat: bigint; description?: string }): string
  /** Verifies (and in swap mode, swaps) a token sent for a route. Rejects on mint/store outages. */
  accept(value: string, route: { name: string; priceMsat: bigint }): Promise<Outcome>
  /** Swaps p2pk proofs locked to the gateway key for fresh unlocked ones, recorded as `redeemed`. */
  redeem(mint: string, proofs: readonly Token.Proof[]): Promise<Token.Proof[]>
}

const keyLabel = 'turnpike/cashu-p2pk/v0'

/** The gateway's P2PK private key: HMAC-SHA256(master secret, label) reduced to a scalar. */
export function deriveKey(master: Uint8Array): bigint {
  const k = BigInt('0x' + createHmac('sha256', master).update(keyLabel).digest('hex')) % Crypto.N
  if (k === 0n) throw new TurnpikeError('TURNPIKE_INTERNAL', 'derived a zero Cashu key')
  return k
}

const toHex32 = (x: bigint) => x.toString(16).padStart(64, '0')

function rejected(detail: string): Refused {
  return { ok: false, challenge: false, code: 'TURNPIKE_CASHU_TOKEN_REJECTED', detail }
}

function fileSink(dataDir: string): (r: Received) => Promise<void> {
  const dir = join(dataDir, 'cashu')
  let ready: Promise<unknown> | undefined
  return async (r) => {
    ready ??= mkdir(dir, { recursive: true, mode: 0o700 })
    await ready
    await appendFile(join(dir, 'received.jsonl'), JSON.stringify(r) + '\n', { mode: 0o600 })
  }
}

/** Powers of two summing to `n`, largest first. */
function split(n: number): number[] {
  const out: number[] = []
  for (let bit = 2 ** 52; bit >= 1; bit /= 2) if (n >= bit) (out.push(bit), (n -= bit))
  return out
}

/** Creates the Cashu acceptor for a gateway. */
export function create(o: CreateOptions): CashuGateway {
  const { config, store } = o
  const now = o.now ?? Date.now
  const key = deriveKey(o.secret)
  const pubkey = Crypto.publicKey(key)
  const xonly = pubkey.slice(2)
  const allowed = new Set(config.mints.map(Token.normalizeMint))
  const clients = new Map<string, MintClient>()
  const sink = o.sink ?? fileSink(o.dataDir ?? '.turnpike')
  const claimTtlMs = config.mode === 'p2pk' ? 400 * 86_400_000 : 86_400_000

  const client = (mint: string): MintClient => {
    let c = clients.get(mint)
    if (!c) clients.set(mint, (c = mintClient(mint, { timeoutMs: config.timeoutMs, ...(o.fetch ? { fetch: o.fetch } : {}) })))
    return c
  }

  /** Why a proof is not locked to us strongly enough, or undefined when it is. */
  function lockProblem(p: Token.Proof, nowS: number): string | undefined {
    const s = Nut11.parseSecret(p.secret)
    if (!s || s.kind !== 'P2PK') return 'proofs must be P2PK-locked to the gateway key'
    const c = Nut11.conditions(s)
    if (c.pubkeys.some((k) => k !== xonly)) return 'the lock names keys other than the gateway key'
    if (c.nSigs !== 1) return 'the lock needs more signatures than the gateway can give'
    if (c.sigflag !== 'SIG_INPUTS') return 'only SIG_INPUTS locks are accepted'
    if (c.locktime !== undefined && c.locktime < nowS + config.lockHorizonSeconds) return 'the lock expires too soon'
    return undefined
  }

  /** Claims every proof's Y once; on a clash undoes its own claims. */
  async function claimAll(ys: readonly string[]): Promise<boolean> {
    const taken: string[] = []
    try {
      for (const y of ys) {
        if (!(await store.claim(`cashu:${y}`, now() + claimTtlMs))) {
          await Promise.all(taken.map((k) => store.release(k)))
          return false
        }
        taken.push(`cashu:${y}`)
      }
    } catch (e) {
      await Promise.allSettled(taken.map((k) => store.release(k)))
      throw e
    }
    return true
  }
  const releaseAll = (ys: readonly string[]) => Promise.allSettled(ys.map((y) => store.release(`cashu:${y}`)))

  async function swapFor(mint: MintClient, unit: string, inputs: readonly Token.Proof[], amount: number): Promise<Token.Proof[]> {
    const ks = await mint.activeKeyset(unit)
    const pending = split(amount).map((a) => {
      if (ks.keys[String(a)] === undefined) throw new TurnpikeError('TURNPIKE_CASHU_MINT_UNAVAILABLE', `the mint's keyset has no ${a} key`, { retryAfter: 60 })
      const secret = randomBytes(32).toString('hex')
      const r = BigInt('0x' + randomBytes(32).toString('hex')) % Crypto.N || 1n
      const B_ = Crypto.blind(new TextEncoder().encode(secret), r)
      return { amount: a, secret, r, B_ }
    })
    const outputs: BlindedMessage[] = pending.map((x) => ({ amount: x.amount, id: ks.id, B_: x.B_.toHex(true) }))
    const sigs = await mint.swap(inputs, outputs)
    return sigs.map((sig, i) => {
      const x = pending[i]!
      const K = Crypto.point(ks.keys[String(x.amount)]!)
      const C = Crypto.unblind(Crypto.point(sig.C_), x.r, K)
      return { amount: x.amount, id: ks.id, secret: x.secret, C: C.toHex(true) }
    })
  }

  async function accept(value: string, route: { name: string; priceMsat: bigint }): Promise<Outcome> {
    let token: Token.Token
    try {
      token = Token.decode(value)
    } catch (e) {
      if (!is(e)) throw e
      return rejected(e.message)
    }
    if (!allowed.has(token.mint)) return rejected(`tokens from ${token.mint} are not accepted`)
    if (token.unit !== 'sat') return rejected('the token unit must be sat')
    const mint = client(token.mint)
    const nowS = Math.floor(now() / 1000)
    const keysets = new Map<string, Awaited<ReturnType<MintClient['keyset']>>>()
    try {
      for (const p of token.proofs) if (!keysets.has(p.id)) keysets.set(p.id, await mint.keyset(p.id))
    } catch (e) {
      if (is(e, 'TURNPIKE_CASHU_TOKEN_REJECTED')) return rejected(e.message)
      throw e
    }
    let feePpk = 0
    for (const p of token.proofs) {
      const ks = keysets.get(p.id)!
      if (ks.unit !== 'sat') return rejected('the token unit must be sat')
      if (ks.keys[String(p.amount)] === undefined) return rejected(`keyset ${ks.id} has no ${p.amount} key`)
      feePpk += ks.inputFeePpk
    }
    const fee = Math.ceil(feePpk / 1000)
    const price = Number(route.priceMsat / 1000n)
    const sum = Token.total(token)
    if (sum - fee < price) return rejected(`the token carries ${sum} sat${fee ? ` (fee ${fee})` : ''}; this resource costs ${price} sat`)
    // Ecash cannot hand back change inside a 402 exchange: an overpayment is refused, not kept.
    if (sum - fee > price) return rejected(`the token carries ${sum} sat${fee ? ` (fee ${fee})` : ''}, more than the ${price} sat this resource costs; send the exact amount`)
    const ys = [...new Set(token.proofs.map((p) => Crypto.proofY(p.secret).toHex(true)))]
    if (ys.length !== token.proofs.length) return rejected('the token repeats a proof')

    if (config.mode === 'p2pk') {
      for (const p of token.proofs) {
        const why = lockProblem(p, nowS)
        if (why) return rejected(why)
        const A = Crypto.point(keysets.get(p.id)!.keys[String(p.amount)]!)
        if (!p.dleq?.r || !Crypto.verifyProofDleq(p.secret, Crypto.point(p.C), p.dleq as Crypto.Dleq & { r: string }, A)) {
          return rejected('every proof needs a valid DLEQ proof (NUT-12) with its blinding factor')
        }
      }
      if (!(await claimAll(ys))) return rejected('this token was already used')
      try {
        await sink({ kind: 'p2pk-locked', mint: token.mint, unit: token.unit, route: route.name, at: new Date(now()).toISOString(), proofs: token.proofs })
      } catch (cause) {
        await releaseAll(ys)
        throw new TurnpikeError('TURNPIKE_STORE_UNAVAILABLE', 'Could not record the token; it was not used, retry later', { cause, retryAfter: 2 })
      }
      return { ok: true, scheme: 'cashu', responseHeaders: [] }
    }

    if (!(await claimAll(ys))) return rejected('this token was already used')
    let fresh: Token.Proof[]
    try {
      fresh = await swapFor(mint, token.unit, token.proofs, sum - fee)
    } catch (e) {
      if (is(e, 'TURNPIKE_CASHU_TOKEN_REJECTED')) {
        await releaseAll(ys) // the mint refused: nothing was spent
        return rejected(e.message)
      }
      o.logger?.error('cashu swap failed; the token may be spent', { mint: token.mint, error: e })
      throw is(e) && e.status >= 500 ? e : new TurnpikeError('TURNPIKE_CASHU_MINT_UNAVAILABLE', 'The Cashu swap failed', { cause: e, retryAfter: 5 })
    }
    try {
      await sink({ kind: 'swapped', mint: token.mint, unit: token.unit, route: route.name, at: new Date(now()).toISOString(), proofs: fresh })
    } catch (cause) {
      o.logger?.error('could not record swapped Cashu proofs', { mint: token.mint, amount: sum - fee, error: cause })
      throw new TurnpikeError('TURNPIKE_INTERNAL', 'Could not record the payment', { cause })
    }
    return { ok: true, scheme: 'cashu', responseHeaders: [] }
  }

  return {
    pubkey,
    request(p) {
      return Token.encodeRequest({
        a: Number(p.amountSat),
        u: 'sat',
        s: true,
        m: [...allowed],
        ...(p.description ? { d: p.description } : {}),
        ...(config.mode === 'p2pk' ? { nut10: { k: 'P2PK', d: pubkey, t: [['sigflag', 'SIG_INPUTS']] } } : {}),
      })
    },
    accept,
    async redeem(mintUrl, proofs) {
      const mint = client(Token.normalizeMint(mintUrl))
      const priv = Buffer.from(toHex32(key), 'hex')
      const signed = proofs.map((p) => ({ ...p, witness: JSON.stringify({ signatures: [Nut11.signMessage(p.secret, priv)] }) }))
      let feePpk = 0
      for (const p of proofs) feePpk += (await mint.keyset(p.id)).inputFeePpk
      const amount = proofs.reduce((a, p) => a + p.amount, 0) - Math.ceil(feePpk / 1000)
      const fresh = await swapFor(mint, 'sat', signed, amount)
      await sink({ kind: 'redeemed', mint: mint.url, unit: 'sat', at: new Date(now()).toISOString(), proofs: fresh })
      return fresh
    },
  }
}
