/** Shared pieces of the property tests: every decoder returns or throws a TurnpikeError, never anything else. */
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { is } from '../src/Errors.ts'

export const runs = { numRuns: 2000 }

/** Runs `f`; a TurnpikeError counts as a clean refusal (undefined), any other throw fails the property. */
export function returnsOrTurnpike<T>(f: () => T): T | undefined {
  try {
    return f()
  } catch (e) {
    assert.ok(is(e), `threw a non-TurnpikeError: ${String(e)}`)
    return undefined
  }
}

/** Arbitrary text, including lone surrogates and control characters. */
export const anyText = fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.string({ unit: 'binary-ascii' }))
