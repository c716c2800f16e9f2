/**
 * Argument checks shared by every store's credit and revocation methods (Store.debit, refund, revoke),
 * so each implementation rejects the same misuse with the same TypeError.
 * @module
 */

/** Throws TypeError unless the debit arguments are well-formed. */
export function checkDebit(account: string, amount: number, initial: number, expiresAt: number): void {
  if (typeof account !== 'string' || account.length === 0) throw new TypeError('debit: account must be a non-empty string')
  if (!Number.isSafeInteger(amount) || amount <= 0) throw new TypeError('debit: amount must be a positive safe integer')
  if (!Number.isSafeInteger(initial) || initial < 0) throw new TypeError('debit: initial must be a non-negative safe integer')
  if (!Number.isFinite(expiresAt)) throw new TypeError('debit: expiresAt must be finite unix ms')
}

/** Throws TypeError unless the refund arguments are well-formed. */
export function checkRefund(account: string, amount: number): void {
  if (typeof account !== 'string' || account.length === 0) throw new TypeError('refund: account must be a non-empty string')
  if (!Number.isSafeInteger(amount) || amount <= 0) throw new TypeError('refund: amount must be a positive safe integer')
}

/** Throws TypeError unless the revocation arguments are well-formed. */
export function checkRevoke(tokenId: string, expiresAt: number): void {
  if (typeof tokenId !== 'string' || !/^[0-9a-f]{64}$/.test(tokenId)) throw new TypeError('revoke: tokenId must be 64 lowercase hex digits')
  if (!Number.isFinite(expiresAt)) throw new TypeError('revoke: expiresAt must be finite unix ms')
}

/** Runs a check, turning its TypeError into a rejection (store methods never throw synchronously). */
export function checked(fn: () => void): Promise<never> | undefined {
  try {
    fn()
    return undefined
  } catch (e) {
    return Promise.reject(e)
  }
}
