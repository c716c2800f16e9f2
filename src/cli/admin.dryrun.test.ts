import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { listen } from '../../test/harness.ts'
import { admin } from './admin.ts'

function io() {
  let out = ''
  let err = ''
  return { stdout: { write: (s: string) => (out += s), isTTY: false }, stderr: { write: (s: string) => (err += s) }, env: {}, out: () => out, err: () => err }
}

describe('turnpike admin --dry-run', () => {
  it('behavior: mutations validate and print the request but send nothing', async () => {
    let hits = 0
    const server = await listen((_req, res) => {
      hits++
      res.writeHead(500).end()
    })
    try {
      const common = ['--url', server.url, '--token-file', '/dev/null', '--dry-run']
      const a = io()
      assert.equal(await admin(['revoke', 'ab'.repeat(32), ...common], a), 0, a.err())
      const plan = JSON.parse(a.out()) as { dry_run: boolean; method: string; input: Record<string, unknown> }
      assert.equal(plan.dry_run, true)
      assert.equal(plan.method, 'POST')
      assert.equal(plan.input.payment_hash, 'ab'.repeat(32))

      const b = io()
      assert.equal(await admin(['routes', 'set', 'api', '{"path":"/api/*","price":"5sat"}', ...common], b), 0, b.err())
      assert.deepEqual(JSON.parse(b.out()), { dry_run: true, method: 'PUT', path: '/api/v1/routes/api', body: { path: '/api/*', price: '5sat' } })

      const c = io()
      assert.equal(await admin(['routes', 'delete', 'api', ...common], c), 0)
      assert.equal((JSON.parse(c.out()) as { method: string }).method, 'DELETE')
      assert.equal(hits, 0, 'a dry run never reaches the admin API')

      // Invalid input is still refused in a dry run.
      await assert.rejects(admin(['revoke', 'not-a-hash', ...common], io()))
      await assert.rejects(admin(['routes', 'set', 'api', '{bad json', ...common], io()))
    } finally {
      await server.close()
    }
  })
})
