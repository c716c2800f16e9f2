/**
 * Micro-benchmarks, run in their own (pinned) process by bench/run.ts, or alone:
 *   npx node bench/micro.ts [--quick]      prints `RESULT {json}`
 *
 * - macaroon mint and verify: turnpike's codec against the npm `macaroon` package (3.0.4) in the
 *   same process. That package is used to decode/verify only for tokens with more than 2 caveats:
 *   its ByteBuffer never updates its capacity, so exporting a macaroon doubles the buffer on every
 *   append (6 ms with 1 caveat, 25 ms with 2, RangeError from 4; shared/reference/clients.md §6).
 * - the full credential check: L402.parseAuthorization + Token.verify (base64, HMAC chain, sha256 of
 *   the preimage, identifier, caveats) — the CPU work behind every paid request;
 * - BOLT11 sign (Bolt11.encode, what the dev node does per challenge; the row names the secp256k1
 *   implementation it used) and the bare signature with tiny-secp256k1 (WASM, when installed) and
 *   noble, decode (with signature recovery), plus light-bolt11-decoder's decode (no signature check);
 * - the gateway core's challenge (decide() for an unpaid request on the memory store, no HTTP).
 */
import { createHmac, randomBytes } from 'node:crypto'
import { secp256k1 } from '@noble/curves/secp256k1.js'
import macaroonJs from 'macaroon'
import { sha256 } from '@noble/hashes/sha2.js'
import { decode as lightDecode } from 'light-bolt11-decoder'
import * as Bolt11 from '../src/Bolt11.ts'
import * as Caveat from '../src/Caveat.ts'
import * as Config from '../src/Config.ts'
import * as Gateway from '../src/Gateway.ts'
import * as Identifier from '../src/Identifier.ts'
import * as L402 from '../src/L402.ts'
import * as Macaroon from '../src/Macaroon.ts'
import * as Token from '../src/Token.ts'
import { memory } from '../src/store/memory.ts'
import { loadWasm, noble, signer } from '../src/internal/secp256k1.ts'
import { dev } from '../src/lightning/dev.ts'
import { fromRecord } from '../src/RequestView.ts'
import type { MicroResult } from './lib/report.ts'

type MacaroonJs = {
  addFirstPartyCaveat(c: string | Uint8Array): void
  exportBinary(): Uint8Array
  verify(rootKey: Uint8Array, check: (cond: string) => string | null, discharges?: unknown[]): void
}
const mjs = macaroonJs as unknown as {
  newMacaroon(p: { identifier: Uint8Array; location: string; rootKey: Uint8Array; version: number }): MacaroonJs
  importMacaroon(b: Uint8Array): MacaroonJs
}


const quick = process.argv.includes('--quick')
const batches = quick ? 5 : 11
const batchMs = quick ? 60 : 150
let sink: unknown

function bench(group: string, impl: string, name: string, fn: () => unknown, o: { note?: string; maxIter?: number } = {}): MicroResult {
  // Warm up (JIT) and calibrate the batch size to ~batchMs.
  let n = 1
  for (;;) {
    const t = performance.now()
    for (let i = 0; i < n; i++) sink = fn()
    const dt = performance.now() - t
    if (dt >= batchMs / 4 || n >= (o.maxIter ?? Infinity)) {
      n = Math.max(1, Math.min(o.maxIter ?? Infinity, Math.round((n * batchMs) / Math.max(dt, 0.001))))
      break
    }
    n *= 2
  }
  const per: number[] = []
  const cpu: number[] = []
  for (let b = 0; b < batches; b++) {
    const c = process.cpuUsage()
    const t = process.hrtime.bigint()
    for (let i = 0; i < n; i++) sink = fn()
    per.push(Number(process.hrtime.bigint() - t) / 1000 / n)
    const d = process.cpuUsage(c)
    cpu.push((d.user + d.system) / n)
  }
  return summarize(group, impl, name, per, cpu, n * batches, o.note)
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

function summarize(group: string, impl: string, name: string, per: number[], cpu: number[], iterations: number, note?: string): MicroResult {
  const us = median(per)
  const r: MicroResult = { name, group, impl, us, cpuUs: median(cpu), minUs: Math.min(...per), opsPerS: 1e6 / us, iterations, ...(note ? { note } : {}) }
  process.stderr.write(`  ${group.padEnd(32)} ${impl.padEnd(26)} ${us.toFixed(2).padStart(10)} µs wall ${r.cpuUs.toFixed(2).padStart(10)} µs cpu ${r.minUs.toFixed(2).padStart(10)} µs best\n`)
  return r
}

const results: MicroResult[] = []
const secret = randomBytes(32)
const now = Math.floor(Date.now() / 1000)

// ---- macaroons: the Aperture-layout token turnpike mints (66-byte identifier, 4 caveats).
const preimage = randomBytes(32)
const paymentHash = new Uint8Array(await crypto.subtle.digest('SHA-256', preimage))
const identifier = Identifier.encode({ version: 0, paymentHash, tokenId: randomBytes(32) })
const rootKey = Token.rootKey(secret, identifier)
const caveats = [
  Caveat.services([{ name: 'api', tier: 0 }]),
  Caveat.path('/bench/item'),
  Caveat.method(['GET']),
  Caveat.validUntil('api', now + 3600),
]
const minted = Macaroon.mint({ rootKey, identifier, location: 'lsat', caveats })
const bytes = Macaroon.encode(minted)

// Cross-checks: the npm package verifies turnpike's token (so both sides do the same work), and
// Token.rootKey (which reuses a key object) equals a plain HMAC-SHA256 under the secret.
mjs.importMacaroon(bytes).verify(rootKey, () => null)
const plainRootKey = createHmac('sha256', secret).update('turnpike/root-key/v0\0').update(identifier).digest()
if (!plainRootKey.equals(rootKey)) throw new Error('Token.rootKey differs from HMAC-SHA256(secret, label ‖ identifier)')

results.push(
  bench('macaroon mint (4 caveats)', 'turnpike', 'mint: HMAC chain + V2 binary', () => Macaroon.encode(Macaroon.mint({ rootKey, identifier, location: 'lsat', caveats }))),
  bench('macaroon mint (4 caveats)', 'npm macaroon 3.0.4', 'mint: HMAC chain only', () => {
    const m = mjs.newMacaroon({ identifier, location: 'lsat', rootKey, version: 2 })
    for (const c of caveats) m.addFirstPartyCaveat(c)
    return m
  }, { note: 'no exportBinary: its buffer bug makes export with 4 caveats throw' }),
  bench('macaroon mint+export (1 caveat)', 'turnpike', 'mint+encode, 1 caveat', () => Macaroon.encode(Macaroon.mint({ rootKey, identifier, location: 'lsat', caveats: caveats.slice(0, 1) }))),
  bench('macaroon mint+export (1 caveat)', 'npm macaroon 3.0.4', 'mint+exportBinary, 1 caveat', () => {
    const m = mjs.newMacaroon({ identifier, location: 'lsat', rootKey, version: 2 })
    m.addFirstPartyCaveat(caveats[0]!)
    return m.exportBinary()
  }, { note: 'dominated by the ByteBuffer growth bug', maxIter: 40 }),
  bench('macaroon verify (4 caveats)', 'turnpike', 'decode + HMAC chain', () => Macaroon.verifySignature(Macaroon.decode(bytes), rootKey)),
  bench('macaroon verify (4 caveats)', 'npm macaroon 3.0.4', 'importMacaroon + verify', () => mjs.importMacaroon(bytes).verify(rootKey, () => null)),
)

// ---- the full credential check, as the gateway runs it for a paid request.
const perRequest = Token.mint({ secret, paymentHash, service: 'api', path: '/bench/item', methods: ['GET'], validUntil: now + 86400 })
const header = `L402 ${perRequest.serialized}:${preimage.toString('hex')}`
const ctx = { service: 'api', path: '/bench/item', method: 'GET', now }
const check = () => {
  const creds = L402.parseAuthorization([header])
  const r = Token.verify(creds[0]!, secret, ctx)
  if (!r.ok) throw new Error(r.reason)
  return r
}
check()
results.push(
  bench('full credential check', 'turnpike', 'L402.parseAuthorization + Token.verify', check),
  bench('  of which parseAuthorization', 'turnpike', 'L402.parseAuthorization', () => L402.parseAuthorization([header])),
)
const cred = L402.parseAuthorization([header])[0]!
results.push(bench('  of which Token.verify', 'turnpike', 'Token.verify', () => Token.verify(cred, secret, ctx)))

// ---- the gateway core's whole decision for a request with a pass credential (no HTTP, no store).
{
  const config = Config.parse({ listen: '127.0.0.1:0', backend: 'dev', dataDir: '/nonexistent', store: 'memory', upstream: 'http://127.0.0.1:1', routes: [{ name: 'api', path: '/*', price: '10sat', access: 'pass:1h' }] })
  const backend = dev({ privateKey: secp256k1.utils.randomSecretKey() })
  const store = memory({ pruneIntervalMs: 0 })
  const gw = Gateway.create({ config, backend, store, secret })
  const c = await gw.decide(fromRecord({ method: 'GET', path: '/bench/item', host: '127.0.0.1' }))
  if (c.kind === 'allow') throw new Error('expected a challenge')
  const line = c.headers.find(([k, v]) => k === 'www-authenticate' && v.startsWith('L402 '))![1]
  const [, mac, inv] = /macaroon="([^"]+)", invoice="([^"]+)"/.exec(line)!
  const { preimage: pre } = await backend.pay(inv!)
  const view = fromRecord({ method: 'GET', path: '/bench/item', host: '127.0.0.1', headers: { authorization: `L402 ${mac}:${pre}` } })
  const decide = () => {
    const d = gw.decide(view)
    if (d instanceof Promise || d.kind !== 'allow') throw new Error('expected a synchronous allow')
    return d
  }
  decide()
  results.push(bench('gateway decide, pass (no HTTP)', 'turnpike', 'Gateway.decide with a pass credential', decide, { note: 'route match, credential parse and check, caveats' }))
  await store.close()
}

// ---- BOLT11
const key = secp256k1.utils.randomSecretKey()
const invParams = {
  network: 'regtest' as const, amountMsat: 10_000n, timestamp: now, paymentHash: Buffer.from(paymentHash).toString('hex'),
  paymentSecret: randomBytes(32).toString('hex'), description: 'api', expiry: 3600, minFinalCltvExpiry: 80, features: [8, 14], privateKey: key,
}
const invoice = Bolt11.encode(invParams)
// Bolt11.encode signs with tiny-secp256k1 (WASM) when installed, else noble; the signature alone is
// measured with each implementation.
const digest = sha256(Bolt11.signingData('lnbcrt', [0, 1, 2]))
const wasmSigner = loadWasm()
results.push(
  bench('BOLT11 sign', 'turnpike', `Bolt11.encode (${signer().name})`, () => Bolt11.encode(invParams)),
  ...(wasmSigner === undefined ? [] : [bench('BOLT11 signature alone', 'tiny-secp256k1 (WASM)', 'signRecoverable', () => wasmSigner.sign(digest, key))]),
  bench('BOLT11 signature alone', '@noble/curves', 'sign, recovered format', () => noble.sign(digest, key), { note: 'the fallback without tiny-secp256k1' }),
  bench('BOLT11 decode', 'turnpike', 'Bolt11.decode (+ pubkey recovery)', () => Bolt11.decode(invoice)),
  bench('BOLT11 decode', 'light-bolt11-decoder 3.2', 'decode (no signature check)', () => lightDecode(invoice), { note: 'parses only; does not verify or recover the signature' }),
)

// ---- the gateway core's challenge path, no HTTP: a new invoice + macaroon per call.
{
  const config = Config.parse({ listen: '127.0.0.1:0', backend: 'dev', dataDir: '/nonexistent', store: 'memory', upstream: 'http://127.0.0.1:1', routes: [{ name: 'api', path: '/*', price: '10sat' }] })
  const store = memory({ pruneIntervalMs: 0 })
  const backend = dev({ privateKey: key })
  const gw = Gateway.create({ config, backend, store, secret })
  const view = fromRecord({ method: 'GET', path: '/bench/item', host: '127.0.0.1' })
  // decide() is async on this path; measure sequential calls.
  const N = quick ? 300 : 1500
  for (let i = 0; i < 100; i++) await gw.decide(view)
  const per: number[] = []
  const cpu: number[] = []
  const n = Math.floor(N / batches)
  for (let b = 0; b < batches; b++) {
    const c = process.cpuUsage()
    const t = process.hrtime.bigint()
    for (let i = 0; i < n; i++) await gw.decide(view)
    per.push(Number(process.hrtime.bigint() - t) / 1000 / n)
    const d = process.cpuUsage(c)
    cpu.push((d.user + d.system) / n)
  }
  results.push(summarize('challenge (core, no HTTP)', 'turnpike + dev node', 'Gateway.decide, unpaid request', per, cpu, n * batches, 'memory store'))
  await store.close()
}

void sink
process.stdout.write(`RESULT ${JSON.stringify(results)}\n`)
