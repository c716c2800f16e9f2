import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { hasOpenssl, selfSignedCert, type TlsMaterial } from '../../test/simulators/common.ts'
import { startLndSimulator, type LndSimulator } from '../../test/simulators/lnd.ts'
import { startPhoenixdSimulator } from '../../test/simulators/phoenixd.ts'
import { tempDir } from '../../test/harness.ts'
import { doctor, type Report } from './doctor.ts'

const bin = fileURLToPath(new URL('../bin.ts', import.meta.url))

async function run(argv: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; out: string }> {
  let out = ''
  const sink = new Writable({
    write(chunk, _enc, cb) {
      out += String(chunk)
      cb()
    },
  })
  const code = await doctor(argv, sink, env)
  return { code, out }
}

describe('turnpike doctor', () => {
  let sim: LndSimulator
  let cert: TlsMaterial | undefined
  const dir = tempDir('turnpike-doctor-')
  let args: string[]
  before(async () => {
    cert = hasOpenssl() ? selfSignedCert() : undefined
    sim = await startLndSimulator(cert ? { tls: cert } : {})
    const mac = join(dir.path, 'invoice.macaroon')
    writeFileSync(mac, Buffer.from(sim.invoiceMacaroon, 'hex'))
    const tls = join(dir.path, 'tls.cert')
    if (cert) writeFileSync(tls, cert.cert)
    args = ['--backend', 'lnd', '--lnd-url', sim.url, '--lnd-macaroon-file', mac, ...(cert ? ['--lnd-tls-cert', tls] : [])]
  })
  after(async () => {
    await sim.close()
    dir.remove()
  })

  it('behavior: an invoice-only macaroon passes (node info refused is a warning); network read from the invoice', async () => {
    const { code, out } = await run([...args, '--network', 'regtest'])
    assert.equal(code, 0, out)
    assert.match(out, /! node +reachable, but it refused node info/)
    assert.match(out, /✓ invoice +created a 1 sat test invoice on regtest signed by/)
    assert.match(out, /✓ lookup +the test invoice reads back as open/)
    assert.match(out, /✓ network +on regtest as expected/)
    assert.ok(!out.includes(sim.invoiceMacaroon), 'the macaroon is never printed')
  })

  it('behavior: with an admin macaroon it reports the node key and checks the invoice signer', async () => {
    const adminFile = join(dir.path, 'admin.macaroon')
    writeFileSync(adminFile, sim.macaroon)
    const { code, out } = await run([...args.slice(0, 4), '--lnd-macaroon-file', adminFile, ...args.slice(6), '--json'])
    assert.equal(code, 0, out)
    const report = JSON.parse(out) as Report
    assert.equal(report.ok, true)
    assert.equal(report.backend, 'lnd')
    const node = report.checks.find((c) => c.name === 'node')!
    assert.equal(node.status, 'ok')
    assert.ok(node.detail.startsWith(sim.node.pubkey))
  })

  it('error: a network mismatch fails with exit 1', async () => {
    const { code, out } = await run([...args, '--network', 'mainnet'])
    assert.equal(code, 1)
    assert.match(out, /✗ network +the node is on regtest, but mainnet is expected/)
  })

  it('error: a wrong macaroon and an unreachable node fail with exit 1 and say why', async () => {
    const bad = join(dir.path, 'bad.macaroon')
    writeFileSync(bad, 'ab'.repeat(30))
    const wrong = await run([...args.slice(0, 4), '--lnd-macaroon-file', bad, ...args.slice(6)])
    assert.equal(wrong.code, 1)
    assert.match(wrong.out, /rejected the macaroon/)
    const down = await run(['--backend', 'lnd', '--lnd-url', 'https://127.0.0.1:9', '--backend-timeout', '2s'], { TURNPIKE_LND_MACAROON: 'ab' })
    assert.equal(down.code, 1)
    assert.match(down.out, /✗ connection +Lightning backend unavailable \(lnd: unreachable\)/)
  })

  it('behavior: --skip-invoice checks read access with an unknown hash instead', async () => {
    const before = sim.node.invoices.size
    const { code, out } = await run([...args, '--skip-invoice'])
    assert.equal(code, 0, out)
    assert.match(out, /✓ lookup +invoice lookups work/)
    assert.equal(sim.node.invoices.size, before, 'no invoice created')
  })

  it('error: invalid configuration → 78 (in JSON mode too), with paths', async () => {
    const r = await run(['--backend', 'phoenixd', '--json'], {})
    assert.equal(r.code, 78)
    assert.match(r.out, /backend\.passwordFile: no limited-access password/)
    const cli = spawnSync(process.execPath, [bin, 'doctor', '--backend', 'lnd', '--lnd-url', 'ftp://x'], { encoding: 'utf8', env: { ...process.env, TURNPIKE_LND_MACAROON: 'ab' } })
    assert.equal(cli.status, 78)
    assert.match(cli.stderr, /backend\.url: must be an http or https URL/)
  })

  it('behavior: reads the backend section of a config file; a phoenixd node via $TURNPIKE_PHOENIXD_PASSWORD', async () => {
    const p = await startPhoenixdSimulator()
    try {
      const file = join(dir.path, 'turnpike.yaml')
      writeFileSync(file, `backend:\n  type: phoenixd\n  url: ${p.url}\n  network: regtest\nupstream: http://127.0.0.1:3000\nroutes:\n  - price: 10sat\n`)
      const { code, out } = await run(['--config', file], { TURNPIKE_PHOENIXD_PASSWORD: p.limitedPassword })
      assert.equal(code, 0, out)
      assert.match(out, /✓ credentials +limited-access password from \$TURNPIKE_PHOENIXD_PASSWORD/)
      assert.match(out, /✓ network +on regtest as expected/)
    } finally {
      await p.close()
    }
  })
})
