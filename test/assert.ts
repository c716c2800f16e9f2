/** Assertion helpers shared by the tests. */
import assert from 'node:assert/strict'
import { TurnpikeError, type Code } from '../src/Errors.ts'

/** For `assert.rejects` / `assert.throws`: the error is a TurnpikeError with code `c`. */
export function code(c: Code): (e: unknown) => boolean {
  return (e) => {
    assert.ok(e instanceof TurnpikeError, `expected ${c}, got ${String(e)}`)
    assert.equal(e.code, c, `expected ${c}, got ${e.code}: ${e.message}`)
    return true
  }
}
