/**
 * The few mint endpoints a gateway uses (protocols.md §3.6): keysets and keys (cached; keys of a
 * keyset id never change), `POST /v1/swap` and `POST /v1/checkstate`. Bounded by a timeout.
 * @module
 */
import { TurnpikeError } from '../Errors.ts'
import { keysetId } from './crypto.ts'
import type { Proof } from './token.ts'

export type Keyset = {
  readonly id: string
  readonly unit: string
  readonly active: boolean
  readonly inputFeePpk: number
  /** Amount (decimal string) → compressed public key hex. */
  readonly keys: Readonly<Record<string, string>>
}
export type BlindedMessage = { amount: number; id: string; B_: string }
export type BlindSignature = { amount: number; id: string; C_: string; dleq?: { e: string; s: string } }
export type ProofState = { Y: string; state: 'UNSPENT' | 'PENDING' | 'SPENT'; witness?: string | null }

export type MintClient = {
  readonly url: string
  /** The keyset a proof names; short (8-byte) ids are resolved against the mint's list, ambiguity is an error. */
  keyset(id: string): Promise<Keyset>
  /** The active keyset for a unit (for swap outputs). */
  activeKeyset(unit: string): Promise<Keyset>
  swap(inputs: readonly Proof[], outputs: readonly BlindedMessage[]): Promise<BlindSignature[]>
  checkState(Ys: readonly string[]): Promise<ProofState[]>
}

export type MintClientOptions = {
  readonly timeoutMs?: number
  readonly fetch?: typeof globalThis.fetch
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

/** A client for one mint URL (no trailing slash). */
export function mintClient(url: string, o: MintClientOptions = {}): MintClient {
  const f = o.fetch ?? globalThis.fetch
  const timeoutMs = o.timeoutMs ?? 10_000
  const keysets = new Map<string, Keyset>()
  let list: { at: number; value: { id: string; unit: string; active: boolean; inputFeePpk: number }[] } | undefined

  async function call(path: string, body?: unknown): Promise<unknown> {
    let res: Response
    try {
      res = await f(url + path, {
        method: body === undefined ? 'GET' : 'POST',
        headers: body === undefined ? { accept: 'application/json' } : { 'content-type': 'application/json', accept: 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(timeoutMs),
      })
    } catch (cause) {
      throw new TurnpikeError('TURNPIKE_CASHU_MINT_UNAVAILABLE', 'The Cashu mint could not be reached', { cause, retryAfter: 5 })
    }
    let json: unknown
    try {
      json = await res.json()
    } catch (cause) {
      throw new TurnpikeError('TURNPIKE_CASHU_MINT_UNAVAILABLE', `The Cashu mint answered ${res.status} without JSON`, { cause, retryAfter: 5 })
    }
    if (res.status === 400 && isRecord(json)) {
      const detail = typeof json.detail === 'string' ? json.detail : 'rejected'
      throw new TurnpikeError('TURNPIKE_CASHU_TOKEN_REJECTED', `The mint refused the token: ${detail}`, { details: { mintCode: json.code } })
    }
    if (!res.ok) throw new TurnpikeError('TURNPIKE_CASHU_MINT_UNAVAILABLE', `The Cashu mint answered ${res.status}`, { retryAfter: 5 })
    return json
  }

  async function keysetList(force = false) {
    if (!list || force || Date.now() - list.at > 300_000) {
      const v = await call('/v1/keysets')
      const arr = isRecord(v) && Array.isArray(v.keysets) ? v.keysets : []
      list = {
        at: Date.now(),
        value: arr.filter(isRecord).map((k) => ({
          id: String(k.id).toLowerCase(),
          unit: String(k.unit),
          active: k.active === true,
          inputFeePpk: typeof k.input_fee_ppk === 'number' ? k.input_fee_ppk : 0,
        })),
      }
    }
    return list.value
  }

  async function load(id: string): Promise<Keyset> {
    const hit = keysets.get(id)
    if (hit) return hit
    const meta = (await keysetList()).find((k) => k.id === id) ?? (await keysetList(true)).find((k) => k.id === id)
    if (!meta) throw new TurnpikeError('TURNPIKE_CASHU_TOKEN_REJECTED', `unknown keyset ${id}`)
    const v = await call(`/v1/keys/${id}`)
    const entry = isRecord(v) && Array.isArray(v.keysets) ? v.keysets.find((k) => isRecord(k) && String(k.id).toLowerCase() === id) : undefined
    if (!isRecord(entry) || !isRecord(entry.keys)) throw new TurnpikeError('TURNPIKE_CASHU_MINT_UNAVAILABLE', `the mint returned no keys for ${id}`, { retryAfter: 5 })
    const keys: Record<string, string> = {}
    for (const [a, k] of Object.entries(entry.keys)) if (typeof k === 'string' && /^\d+$/.test(a)) keys[a] = k.toLowerCase()
    // A v1 id commits to the keys: a mint cannot swap keys under a known id.
    if (id.startsWith('00') && keysetId(keys) !== id) {
      throw new TurnpikeError('TURNPIKE_CASHU_MINT_UNAVAILABLE', `keys of ${id} do not match the keyset id`, { retryAfter: 60 })
    }
    const ks: Keyset = { ...meta, keys }
    keysets.set(id, ks)
    return ks
  }

  return {
    url,
    async keyset(id) {
      const short = id.toLowerCase()
      if (short.length === 16 && short.startsWith('01')) {
        // A V4 token may carry the first 8 bytes of a v2 id.
        const matches = (await keysetList()).filter((k) => k.id.startsWith(short))
        if (matches.length !== 1) throw new TurnpikeError('TURNPIKE_CASHU_TOKEN_REJECTED', `keyset ${id} is ${matches.length ? 'ambiguous' : 'unknown'}`)
        return load(matches[0]!.id)
      }
      return load(short)
    },
    async activeKeyset(unit) {
      const k = (await keysetList()).filter((x) => x.active && x.unit === unit).sort((a, b) => a.inputFeePpk - b.inputFeePpk)[0]
      if (!k) throw new TurnpikeError('TURNPIKE_CASHU_MINT_UNAVAILABLE', `the mint has no active ${unit} keyset`, { retryAfter: 60 })
      return load(k.id)
    },
    async swap(inputs, outputs) {
      const v = await call('/v1/swap', { inputs: inputs.map(({ dleq: _d, ...p }) => p), outputs })
      if (!isRecord(v) || !Array.isArray(v.signatures) || v.signatures.length !== outputs.length) {
        throw new TurnpikeError('TURNPIKE_CASHU_MINT_UNAVAILABLE', 'the mint answered the swap without signatures', { retryAfter: 5 })
      }
      return v.signatures as BlindSignature[]
    },
    async checkState(Ys) {
      const v = await call('/v1/checkstate', { Ys })
      return isRecord(v) && Array.isArray(v.states) ? (v.states as ProofState[]) : []
    },
  }
}
