/**
 * Recoverable secp256k1 ECDSA signatures for BOLT11 signing. Internal, never exported from the
 * package. Uses libsecp256k1 compiled to WebAssembly (the optional dependency `tiny-secp256k1`)
 * when it can be loaded, about 5× faster than `@noble/curves` (pure JS, BigInt), which remains the
 * fallback. Both sign deterministically (RFC 6979, no extra entropy) and normalise to low S, so they
 * give byte-identical signatures and recovery ids (`Bolt11.test.ts` checks it).
 * @module
 */
import { secp256k1 } from '@noble/curves/secp256k1.js'

/** A 64-byte compact `r ‖ s` signature (low S) and its recovery id (0–3). */
export type RecoverableSignature = { signature: Uint8Array; recoveryId: number }

/** One implementation of {@link RecoverableSignature} signing. */
export type Signer = {
  readonly name: 'tiny-secp256k1' | '@noble/curves'
  /** Signs a 32-byte digest as is (no pre-hashing) with a valid 32-byte secret key. */
  sign(digest: Uint8Array, privateKey: Uint8Array): RecoverableSignature
}

/** The part of `tiny-secp256k1` (v2) used here. */
type Tiny = {
  signRecoverable(h: Uint8Array, d: Uint8Array): { signature: Uint8Array; recoveryId: number }
}

/** `@noble/curves`: always available. */
export const noble: Signer = {
  name: '@noble/curves',
  sign(digest, privateKey) {
    // 'recovered' format: byte 0 is the recovery id, then r ‖ s.
    const sig = secp256k1.sign(digest, privateKey, { prehash: false, format: 'recovered' })
    return { signature: sig.subarray(1), recoveryId: sig[0]! }
  },
}

/**
 * Builds the WASM signer from a module-loading function (`require` by default); undefined when the
 * module is missing or not tiny-secp256k1 v2.
 */
export function loadWasm(load: (id: string) => unknown = requireOptional): Signer | undefined {
  let tiny: Partial<Tiny> | undefined
  try {
    tiny = load('tiny-secp256k1') as Partial<Tiny> | undefined
  } catch {
    return undefined
  }
  const signRecoverable = tiny?.signRecoverable
  if (typeof signRecoverable !== 'function') return undefined
  return {
    name: 'tiny-secp256k1',
    sign: (digest, privateKey) => signRecoverable(digest, privateKey),
  }
}

let selected: Signer | undefined

/**
 * The signer BOLT11 signing uses: tiny-secp256k1 when installed, else noble. Chosen on the first
 * call, which loads and compiles the WASM module synchronously (about 15 ms), so importing this
 * module costs nothing extra for callers that never sign.
 */
export function signer(): Signer {
  selected ??= loadWasm() ?? noble
  return selected
}

/**
 * `require` through `process.getBuiltinModule`, so this module imports no Node built-in statically
 * and simply falls back to noble where there is no CommonJS loader.
 */
function requireOptional(id: string): unknown {
  const nodeModule = globalThis.process?.getBuiltinModule?.('node:module')
  if (nodeModule === undefined) return undefined
  return nodeModule.createRequire(import.meta.url)(id)
}
