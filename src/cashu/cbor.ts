/**
 * The CBOR (RFC 8949) subset Cashu uses for V4 tokens and NUT-18 requests: unsigned and negative
 * integers, byte and text strings, arrays, maps, true/false/null/undefined. Definite and
 * indefinite lengths are read; definite lengths are written, map keys in insertion order.
 * @module
 */
import { TurnpikeError } from '../Errors.ts'

export type Value = number | bigint | string | Uint8Array | boolean | null | undefined | Value[] | { [k: string]: Value }

const MAX_DEPTH = 32
const utf8 = new TextDecoder('utf-8', { fatal: true })
const enc = new TextEncoder()

function bad(why: string): never {
  throw new TurnpikeError('TURNPIKE_CREDENTIAL_MALFORMED', `invalid CBOR: ${why}`)
}

/** Encodes a value. Throws TypeError on what CBOR here cannot carry (floats, symbols). */
export function encode(v: Value): Uint8Array {
  const out: number[] = []
  const head = (major: number, n: number | bigint) => {
    const x = BigInt(n)
    if (x < 24n) out.push((major << 5) | Number(x))
    else if (x < 0x100n) out.push((major << 5) | 24, Number(x))
    else if (x < 0x10000n) out.push((major << 5) | 25, Number(x >> 8n), Number(x & 0xffn))
    else if (x < 0x100000000n) out.push((major << 5) | 26, ...[24n, 16n, 8n, 0n].map((s) => Number((x >> s) & 0xffn)))
    else if (x < 0x10000000000000000n) out.push((major << 5) | 27, ...[56n, 48n, 40n, 32n, 24n, 16n, 8n, 0n].map((s) => Number((x >> s) & 0xffn)))
    else throw new TypeError('CBOR integer out of range')
  }
  const write = (x: Value): void => {
    if (x === null) return void out.push(0xf6)
    if (x === undefined) return void out.push(0xf7)
    if (x === true) return void out.push(0xf5)
    if (x === false) return void out.push(0xf4)
    if (typeof x === 'number' || typeof x === 'bigint') {
      if (typeof x === 'number' && !Number.isSafeInteger(x)) throw new TypeError('CBOR: only integers are supported')
      return BigInt(x) >= 0n ? head(0, x) : head(1, -1n - BigInt(x))
    }
    if (typeof x === 'string') {
      const b = enc.encode(x)
      head(3, b.length)
      for (const c of b) out.push(c)
      return
    }
    if (x instanceof Uint8Array) {
      head(2, x.length)
      for (const c of x) out.push(c)
      return
    }
    if (Array.isArray(x)) {
      head(4, x.length)
      for (const e of x) write(e)
      return
    }
    if (typeof x === 'object') {
      const keys = Object.keys(x).filter((k) => x[k] !== undefined)
      head(5, keys.length)
      for (const k of keys) {
        write(k)
        write(x[k])
      }
      return
    }
    throw new TypeError(`CBOR: cannot encode ${typeof x}`)
  }
  write(v)
  return Uint8Array.from(out)
}

/** Decodes exactly one item filling `bytes`. Throws TURNPIKE_CREDENTIAL_MALFORMED. */
export function decode(bytes: Uint8Array): Value {
  let i = 0
  const need = (n: number) => {
    if (i + n > bytes.length) bad('truncated')
  }
  const arg = (info: number): number | bigint | undefined => {
    if (info < 24) return info
    if (info === 31) return undefined // indefinite
    const size = info === 24 ? 1 : info === 25 ? 2 : info === 26 ? 4 : info === 27 ? 8 : bad('reserved length')
    need(size)
    let x = 0n
    for (let k = 0; k < size; k++) x = (x << 8n) | BigInt(bytes[i++]!)
    return x <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(x) : x
  }
  const len = (n: number | bigint | undefined): number => {
    if (typeof n !== 'number' || n > bytes.length) bad('length out of range')
    return n
  }
  const chunks = (major: number, info: number): Uint8Array => {
    const n = arg(info)
    if (n !== undefined) {
      const l = len(n)
      need(l)
      return bytes.subarray(i, (i += l))
    }
    const parts: Uint8Array[] = []
    for (;;) {
      need(1)
      if (bytes[i] === 0xff) {
        i++
        break
      }
      const ib = bytes[i++]!
      if (ib >> 5 !== major) bad('mixed indefinite string')
      parts.push(chunks(major, ib & 31))
    }
    const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0))
    let o = 0
    for (const p of parts) out.set(p, (o += p.length) - p.length)
    return out
  }
  const item = (depth: number): Value => {
    if (depth > MAX_DEPTH) bad('nested too deeply')
    need(1)
    const ib = bytes[i++]!
    const major = ib >> 5
    const info = ib & 31
    switch (major) {
      case 0: {
        const n = arg(info)
        return n ?? bad('indefinite integer')
      }
      case 1: {
        const n = arg(info)
        if (n === undefined) bad('indefinite integer')
        const v = -1n - BigInt(n)
        return v >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(v) : v
      }
      case 2:
        return Uint8Array.from(chunks(2, info))
      case 3:
        try {
          return utf8.decode(chunks(3, info))
        } catch (e) {
          if (e instanceof TurnpikeError) throw e
          return bad('text is not UTF-8')
        }
      case 4: {
        const n = arg(info)
        const out: Value[] = []
        if (n === undefined) {
          while ((need(1), bytes[i]) !== 0xff) out.push(item(depth + 1))
          i++
        } else for (let k = len(n); k > 0; k--) out.push(item(depth + 1))
        return out
      }
      case 5: {
        const n = arg(info)
        const out: { [k: string]: Value } = Object.create(null)
        const entry = () => {
          const k = item(depth + 1)
          if (typeof k !== 'string' && typeof k !== 'number') bad('map key is not text')
          const key = String(k)
          if (key in out) bad('duplicate map key')
          out[key] = item(depth + 1)
        }
        if (n === undefined) {
          while ((need(1), bytes[i]) !== 0xff) entry()
          i++
        } else for (let k = len(n); k > 0; k--) entry()
        return { ...out }
      }
      case 6:
        arg(info) // tag: ignored, the tagged item is returned
        return item(depth + 1)
      default:
        if (info === 20) return false
        if (info === 21) return true
        if (info === 22) return null
        if (info === 23) return undefined
        return bad('floats and other simple values are not supported')
    }
  }
  const v = item(0)
  if (i !== bytes.length) bad('trailing bytes')
  return v
}
