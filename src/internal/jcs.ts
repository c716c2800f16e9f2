/**
 * RFC 8785 JSON Canonicalization Scheme. Internal, never exported from the package.
 * ECMAScript's own number and string serialisation is what RFC 8785 §3.2.2 prescribes, so only the
 * member ordering (UTF-16 code units, which is JavaScript's default string order) is done by hand.
 * @module
 */
import { TurnpikeError } from '../Errors.ts'

const MAX_DEPTH = 64

/** The canonical JSON text of a JSON value. Throws TURNPIKE_BAD_REQUEST on non-JSON input (NaN, bigint, cycles, depth). */
export function canonicalize(value: unknown): string {
  return write(value, 0)
}

/** Parses JSON text and returns its canonical form. Throws TURNPIKE_BAD_REQUEST on malformed JSON. */
export function canonicalizeText(text: string): string {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    throw new TurnpikeError('TURNPIKE_BAD_REQUEST', 'malformed JSON')
  }
  return write(value, 0)
}

function write(v: unknown, depth: number): string {
  if (v === null) return 'null'
  switch (typeof v) {
    case 'boolean':
      return v ? 'true' : 'false'
    case 'string':
      return JSON.stringify(v)
    case 'number':
      if (!Number.isFinite(v)) bad('non-finite number')
      return JSON.stringify(v) // shortest round-trip form; -0 renders as 0
    case 'object':
      break
    default:
      bad(`cannot canonicalize a ${typeof v}`)
  }
  if (depth >= MAX_DEPTH) bad('nesting too deep')
  if (Array.isArray(v)) return '[' + v.map((x) => write(x, depth + 1)).join(',') + ']'
  const o = v as Record<string, unknown>
  const keys = Object.keys(o).filter((k) => o[k] !== undefined).sort()
  let out = '{'
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i]!
    if (i > 0) out += ','
    out += JSON.stringify(k) + ':' + write(o[k], depth + 1)
  }
  return out + '}'
}

function bad(why: string): never {
  throw new TurnpikeError('TURNPIKE_BAD_REQUEST', `not canonicalizable JSON: ${why}`)
}
