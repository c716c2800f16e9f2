/**
 * Mints genuine paid credentials for the per-request scenarios, ahead of the measurement.
 *
 * It builds the same runtime as the gateway under test (same config file, same data directory, so
 * the same master secret and the same dev node key, and the same store), asks the gateway core for
 * a challenge exactly as an unpaid request would (`gateway.decide` → 402 with a fresh invoice and
 * macaroon, the invoice recorded in the store), then pays the invoice through the dev node
 * (`devNode.pay`, which settles it and returns the preimage). Nothing is forged: the gateway verifies
 * these credentials like any other. It runs in its own process so the gateway's memory (peak RSS)
 * and event loop are untouched by the minting.
 *
 * Run: node bench/servers/mint.ts <config.json> <count> <out-file> [path] [method]
 * Writes one `L402 <macaroon>:<preimage>` per line to <out-file>, the payment hashes to <out-file>.hashes.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import * as Config from '../../src/Config.ts'
import { silent } from '../../src/internal/log.ts'
import { fromRecord } from '../../src/RequestView.ts'
import { createRuntime } from '../../src/runtime.ts'

const [file, countArg, out, path = '/bench/item', method = 'GET'] = process.argv.slice(2)
if (!file || !countArg || !out) throw new Error('usage: mint.ts <config.json> <count> <out-file> [path] [method]')
const count = Number(countArg)
const config = Config.parse(JSON.parse(readFileSync(file, 'utf8')))
const rt = await createRuntime(config, { logger: silent })
const node = rt.devNode
if (!node) throw new Error('minting needs the dev backend')
const view = fromRecord({ method, path, host: config.listen.host })
const L402_LINE = /^L402 macaroon="([^"]+)", invoice="([^"]+)"/
const creds: string[] = []
const hashes: string[] = []
for (let i = 0; i < count; i++) {
  const d = await rt.gateway.decide(view)
  if (d.kind === 'allow' || d.status !== 402) throw new Error(`expected a 402 challenge, got ${d.kind} ${'status' in d ? d.status : ''}`)
  let m: RegExpExecArray | null = null
  for (const [k, v] of d.headers) if (k === 'www-authenticate' && (m = L402_LINE.exec(v))) break
  if (!m) throw new Error('no L402 challenge line in the 402')
  const { preimage, paymentHash } = await node.pay(m[2]!)
  creds.push(`L402 ${m[1]}:${preimage}`)
  hashes.push(paymentHash)
}
// Let the fire-and-forget putInvoice writes settle before closing the store.
await new Promise((r) => setTimeout(r, 200))
writeFileSync(out, creds.join('\n') + '\n')
writeFileSync(`${out}.hashes`, hashes.join('\n') + '\n')
await rt.close()
process.exit(0)
