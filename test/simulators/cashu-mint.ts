/**
 * A Cashu mint on loopback speaking the real NUT HTTP API (NUT-01/02 keys and keysets, NUT-03 swap,
 * NUT-04 bolt11 mint with quotes that are paid at once, NUT-07 checkstate, NUT-11/14 spending
 * conditions, NUT-12 DLEQ on every signature), so `@cashu/cashu-ts`'s wallet and turnpike talk to it
 * as to a real mint. Mint-side crypto is turnpike's own (`src/cashu/crypto.ts`, checked against the
 * NUT vectors): cashu-ts 2.x does not export its mint-side functions.
 */
import { createHmac, randomUUID } from 'node:crypto'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import * as C from '../../src/cashu/crypto.ts'
import * as Nut11 from '../../src/cashu/nut11.ts'

export type Sim = {
  readonly url: string
  readonly keysetId: string
  /** Amount → public key hex. */
  readonly keys: Readonly<Record<string, string>>
  /** Number of successful swaps. */
  swaps: number
  /** Y (hex) of every spent proof. */
  readonly spent: Set<string>
  /** While true every endpoint answers 503. */
  down: boolean
  /** Every request path, in order. */
  readonly requests: string[]
  close(): Promise<void>
}

type Json = Record<string, unknown>

class MintError extends Error {
  code: number
  constructor(code: number, detail: string) {
    super(detail)
    this.code = code
  }
}

export async function startCashuMint(o: { inputFeePpk?: number; seed?: string; amounts?: number } = {}): Promise<Sim> {
  const seed = o.seed ?? 'turnpike-test-mint'
  const inputFeePpk = o.inputFeePpk ?? 0
  const priv = new Map<number, bigint>()
  const keys: Record<string, string> = {}
  for (let i = 0; i < (o.amounts ?? 21); i++) {
    const a = 2 ** i
    const k = BigInt('0x' + createHmac('sha256', seed).update(`amount:${a}`).digest('hex')) % C.N
    priv.set(a, k)
    keys[String(a)] = C.publicKey(k)
  }
  const keysetId = C.keysetId(keys)
  const spent = new Set<string>()
  const signed = new Set<string>()
  const quotes = new Map<string, { amount: number; state: 'PAID' | 'ISSUED'; expiry: number }>()
  const requests: string[] = []

  const keyFor = (id: unknown, amount: unknown): bigint => {
    if (id !== keysetId) throw new MintError(12001, 'keyset is not known')
    const k = typeof amount === 'number' ? priv.get(amount) : undefined
    if (k === undefined) throw new MintError(10002, `no key for amount ${String(amount)}`)
    return k
  }

  const signOutputs = (outputs: unknown[]): Json[] => {
    const blinds = outputs.map((x) => {
      const out = x as Json
      const k = keyFor(out.id, out.amount)
      if (typeof out.B_ !== 'string') throw new MintError(10002, 'B_ missing')
      if (signed.has(out.B_)) throw new MintError(10002, 'blinded message already signed')
      return { amount: out.amount as number, B_: C.point(out.B_), k, hex: out.B_ }
    })
    return blinds.map((b) => {
      signed.add(b.hex)
      const C_ = C.sign(b.B_, b.k)
      return { amount: b.amount, id: keysetId, C_: C_.toHex(true), dleq: C.proveDleq(b.k, b.B_, C_) }
    })
  }

  const routes: Record<string, (body: Json, rest: string) => Json> = {
    'GET /v1/info': () => ({
      name: 'turnpike test mint',
      pubkey: keys['1'],
      version: 'turnpike-sim/0.1',
      nuts: {
        '4': { methods: [{ method: 'bolt11', unit: 'sat' }], disabled: false },
        '5': { methods: [{ method: 'bolt11', unit: 'sat' }], disabled: false },
        '7': { supported: true },
        '10': { supported: true },
        '11': { supported: true },
        '12': { supported: true },
      },
    }),
    'GET /v1/keysets': () => ({ keysets: [{ id: keysetId, unit: 'sat', active: true, input_fee_ppk: inputFeePpk }] }),
    'GET /v1/keys': (_b, rest) => {
      if (rest && rest !== keysetId) throw new MintError(12001, 'keyset is not known')
      return { keysets: [{ id: keysetId, unit: 'sat', keys }] }
    },
    'POST /v1/mint/quote/bolt11': (b) => {
      const amount = b.amount
      if (typeof amount !== 'number' || !Number.isSafeInteger(amount) || amount <= 0) throw new MintError(11000, 'bad amount')
      const quote = randomUUID()
      const q = { amount, state: 'PAID' as const, expiry: Math.floor(Date.now() / 1000) + 600 }
      quotes.set(quote, q)
      return { quote, request: `lnbcrt${amount}0n1simulated`, amount, unit: 'sat', state: q.state, paid: true, expiry: q.expiry }
    },
    'GET /v1/mint/quote/bolt11': (_b, rest) => {
      const q = quotes.get(rest)
      if (!q) throw new MintError(20004, 'quote not found')
      return { quote: rest, request: 'lnbcrt1simulated', amount: q.amount, unit: 'sat', state: q.state, paid: true, expiry: q.expiry }
    },
    'POST /v1/mint/bolt11': (b) => {
      const q = quotes.get(String(b.quote))
      if (!q) throw new MintError(20004, 'quote not found')
      if (q.state !== 'PAID') throw new MintError(20002, 'quote already issued')
      const outputs = Array.isArray(b.outputs) ? b.outputs : []
      if (outputs.reduce((a: number, x) => a + ((x as Json).amount as number), 0) !== q.amount) throw new MintError(11005, 'outputs do not match the quote')
      const signatures = signOutputs(outputs)
      q.state = 'ISSUED'
      return { signatures }
    },
    'POST /v1/swap': (b) => {
      const inputs = (Array.isArray(b.inputs) ? b.inputs : []) as Nut11.Input[]
      const outputs = (Array.isArray(b.outputs) ? b.outputs : []) as Nut11.Output[]
      if (inputs.length === 0 || outputs.length === 0) throw new MintError(11005, 'no inputs or outputs')
      const ys: string[] = []
      for (const p of inputs) {
        const k = keyFor(p.id, p.amount)
        const Y = C.proofY(String(p.secret))
        if (!C.point(String(p.C)).equals(Y.multiply(k))) throw new MintError(10001, 'Proof verification failed')
        const y = Y.toHex(true)
        if (spent.has(y) || ys.includes(y)) throw new MintError(11001, 'Token already spent')
        ys.push(y)
      }
      if (!Nut11.verifyInputs(inputs, outputs, Math.floor(Date.now() / 1000))) throw new MintError(10001, 'Witness is missing or invalid')
      const fee = Math.ceil((inputs.length * inputFeePpk) / 1000)
      const inSum = inputs.reduce((a, p) => a + p.amount, 0)
      const outSum = outputs.reduce((a, x) => a + x.amount, 0)
      if (inSum - fee !== outSum) throw new MintError(11005, `Transaction is not balanced (inputs ${inSum}, fee ${fee}, outputs ${outSum})`)
      const signatures = signOutputs(outputs)
      for (const y of ys) spent.add(y)
      sim.swaps++
      return { signatures }
    },
    'POST /v1/checkstate': (b) => {
      const Ys = Array.isArray(b.Ys) ? (b.Ys as string[]) : []
      return { states: Ys.map((Y) => ({ Y, state: spent.has(Y) ? 'SPENT' : 'UNSPENT', witness: null })) }
    },
  }

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const path = (req.url ?? '/').split('?')[0]!
      requests.push(`${req.method} ${path}`)
      const send = (status: number, body: unknown) => {
        const text = JSON.stringify(body)
        res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
        res.end(text)
      }
      if (sim.down) return send(503, { detail: 'down for maintenance' })
      const m = /^(\/v1\/(?:keys|mint\/quote\/bolt11))\/([^/]+)$/.exec(path)
      const key = `${req.method} ${m ? m[1] : path}`
      const handler = routes[key]
      if (!handler) return send(404, { detail: 'not found' })
      try {
        const body = chunks.length > 0 ? (JSON.parse(Buffer.concat(chunks).toString('utf8')) as Json) : {}
        send(200, handler(body, m ? m[2]! : ''))
      } catch (e) {
        if (e instanceof MintError) return send(400, { detail: e.message, code: e.code })
        send(400, { detail: e instanceof Error ? e.message : 'bad request', code: 10000 })
      }
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const { port } = server.address() as AddressInfo
  const sim: Sim = {
    url: `http://127.0.0.1:${port}`,
    keysetId,
    keys,
    swaps: 0,
    spent,
    down: false,
    requests,
    close: () => new Promise((r) => {
      server.close(() => r())
      server.closeAllConnections()
    }),
  }
  return sim
}
