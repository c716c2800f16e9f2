/** `turnpike pay`: settle an invoice through a gateway's dev node. */
import { parseFlags, UsageError } from './args.ts'
import { devPay } from './client.ts'

export const payHelp = `turnpike pay — pay an invoice with a gateway's dev Lightning node (no real money)

Usage:
  turnpike pay <invoice> [--gateway http://127.0.0.1:8402]

Prints {"preimage":"…","payment_hash":"…"}. Works only against a gateway running --backend dev.
`

export async function pay(argv: string[]): Promise<number> {
  const { values, positionals } = parseFlags(argv, { gateway: { type: 'string' } }, 'pay')
  if (values.help) {
    process.stdout.write(payHelp)
    return 0
  }
  const invoice = positionals[0]
  if (!invoice || positionals.length > 1) throw new UsageError('Expected exactly one invoice.\nRun `turnpike pay --help` for usage.')
  const paid = await devPay(values.gateway ?? 'http://127.0.0.1:8402', invoice)
  process.stdout.write(JSON.stringify(paid) + '\n')
  return 0
}
