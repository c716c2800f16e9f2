/** `turnpike token inspect`: decode a macaroon and show what it grants. */
import * as Identifier from '../Identifier.ts'
import * as Macaroon from '../Macaroon.ts'
import { toHex } from '../internal/hex.ts'
import { parseFlags, UsageError } from './args.ts'

export const tokenHelp = `turnpike token — work with L402 tokens

Usage:
  turnpike token inspect <macaroon | "L402 <macaroon>:<preimage>">

Decodes the macaroon (any base64 flavour, or hex) and prints its identifier and caveats as JSON.
The signature is shown but cannot be checked without the gateway's secret.
`

export async function token(argv: string[]): Promise<number> {
  const { values, positionals } = parseFlags(argv, {}, 'token')
  if (values.help || positionals.length === 0) {
    process.stdout.write(tokenHelp)
    return values.help ? 0 : 2
  }
  if (positionals[0] !== 'inspect' || positionals.length !== 2) throw new UsageError('Usage: turnpike token inspect <macaroon>')
  let input = positionals[1]!.trim().replace(/^(l402|lsat)\s+/i, '')
  if (input.includes(':')) input = input.slice(0, input.lastIndexOf(':'))
  const m = /^[0-9a-fA-F]+$/.test(input) && input.length % 2 === 0 && input.startsWith('02')
    ? Macaroon.decode(Buffer.from(input, 'hex'))
    : Macaroon.deserialize(input)
  let identifier: unknown
  try {
    const id = Identifier.decode(m.identifier)
    identifier = { version: id.version, payment_hash: toHex(id.paymentHash), token_id: toHex(id.tokenId) }
  } catch {
    identifier = { raw: toHex(m.identifier), note: 'not an Aperture 66-byte identifier' }
  }
  process.stdout.write(
    JSON.stringify({ location: m.location, identifier, caveats: Macaroon.firstPartyCaveats(m), signature: toHex(m.signature) }, null, 2) + '\n',
  )
  return 0
}
