import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, it } from 'node:test'
import { tempDir } from '../../test/harness.ts'
import { memory } from '../store/memory.ts'
import { sqlite } from '../store/sqlite.ts'
import { watchRevocations } from './revocation.ts'

const bin = fileURLToPath(new URL('../bin.ts', import.meta.url))
const id = (c: string) => c.repeat(64)

describe('revocation watcher', () => {
  it('behavior: picks up revocations on refresh; a failing store keeps the last known set, warning once', async () => {
    const store = memory({ pruneIntervalMs: 0 })
    const warnings: string[] = []
    const log = { debug() {}, info() {}, warn: (m: string) => void warnings.push(m), error() {} }
    const w = watchRevocations(store, log as never, 60_000)
    try {
      await w.refresh()
      assert.equal(w.has(id('a')), false)
      await store.revoke!(id('a'), Date.now() + 60_000)
      await w.refresh()
      assert.equal(w.has(id('a')), true)
      assert.equal(w.has(id('b')), false)
      await store.close()
      await w.refresh()
      await w.refresh()
      assert.equal(w.has(id('a')), true, 'fails safe: still revoked')
      assert.equal(warnings.length, 1)
    } finally {
      w.stop()
    }
  })

  it('behavior: a store without listRevoked revokes nothing', () => {
    const { listRevoked: _l, ...rest } = memory({ pruneIntervalMs: 0 })
    const w = watchRevocations(rest, console as never)
    assert.equal(w.has(id('a')), false)
    w.stop()
  })
})

describe('turnpike token revoke', () => {
  it('behavior: --config writes the revocation to the configured store', async () => {
    const dir = tempDir()
    try {
      const db = join(dir.path, 'db.sqlite')
      const config = join(dir.path, 'turnpike.yaml')
      writeFileSync(config, `store: { type: sqlite, path: ${db} }\nupstream: http://127.0.0.1:1\nroutes:\n  - { name: p, path: /p/*, price: 1sat, access: pass:30d }\n`)
      const r = spawnSync(process.execPath, [bin, 'token', 'revoke', id('C'), '--config', config], { encoding: 'utf8', timeout: 30_000 })
      assert.equal(r.status, 0, r.stderr)
      const out = JSON.parse(r.stdout) as { token_id: string; until: string }
      assert.equal(out.token_id, id('c'))
      assert.ok(Date.parse(out.until) > Date.now() + 30 * 86_400_000, 'outlives the longest pass')
      const store = sqlite({ path: db, pruneIntervalMs: 0 })
      assert.deepEqual(await store.listRevoked!(), [id('c')])
      await store.close()
    } finally {
      dir.remove()
    }
  })

  it('error: a bad token id, or neither/both of --config and --store, is a usage error (exit 2)', () => {
    for (const args of [['xyz', '--store', 'memory'], [id('a')], [id('a'), '--store', 'memory', '--config', 'x.yaml']]) {
      const r = spawnSync(process.execPath, [bin, 'token', 'revoke', ...args], { encoding: 'utf8', timeout: 30_000 })
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`)
    }
  })
})
