import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { describe, it } from 'node:test'
import { codes, ConfigError, is, TurnpikeError } from './Errors.ts'

describe('Errors', () => {
  it('behavior: docs/errors.md lists exactly the registry, with the same statuses', () => {
    const doc = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8')
    const rows = [...doc.matchAll(/^\| `(TURNPIKE_[A-Z0-9_]+)` \| (\d{3}) \|/gm)].map((m) => [m[1], Number(m[2])])
    assert.deepEqual(rows, Object.entries(codes).map(([c, v]) => [c, v.status]))
  })

  it('behavior: problem details never include the cause', () => {
    const e = new TurnpikeError('TURNPIKE_BACKEND_UNAVAILABLE', 'backend down', { cause: new Error('password=hunter2'), retryAfter: 5 })
    const p = e.toProblemDetails()
    assert.equal(p.status, 503)
    assert.equal(p.code, 'TURNPIKE_BACKEND_UNAVAILABLE')
    assert.doesNotMatch(JSON.stringify(p), /hunter2/)
  })

  it('behavior: is() matches by brand and code, ConfigError lists every issue', () => {
    const e = new ConfigError([{ path: 'a', message: 'x' }, { path: 'b.c', message: 'y' }])
    assert.ok(is(e, 'TURNPIKE_CONFIG_INVALID'))
    assert.ok(!is(new Error('x')))
    assert.match(e.message, /a: x/)
    assert.match(e.message, /b\.c: y/)
  })
})
