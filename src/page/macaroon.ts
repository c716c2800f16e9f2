/** Proof of holding a challenge's macaroon, for revealing a settled invoice's preimage to its page. */
import * as Identifier from '../Identifier.ts'
import * as Macaroon from '../Macaroon.ts'
import * as Token from '../Token.ts'
import { toHex } from '../internal/hex.ts'

/** The payment hash (hex) of a macaroon minted under `secret` (its HMAC chain verifies), else undefined. */
export function macaroonHash(secret: Uint8Array, serialized: string): string | undefined {
  try {
    const m = Macaroon.deserialize(serialized)
    if (!Macaroon.verifySignature(m, Token.rootKey(secret, m.identifier))) return undefined
    return toHex(Identifier.decode(m.identifier).paymentHash)
  } catch {
    return undefined
  }
}
