/** A minimal L402 client for the CLI (`turnpike demo --auto`, `turnpike pay`): pay through the dev node. */
import * as L402 from '../L402.ts'

/** Asks the gateway's dev node to pay an invoice; resolves the preimage. */
export async function devPay(gateway: string, invoice: string): Promise<{ preimage: string; payment_hash: string }> {
  const res = await fetch(new URL('/.turnpike/dev/pay', gateway), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ invoice }),
  })
  const body = (await res.json()) as { preimage: string; payment_hash: string; detail?: string }
  if (!res.ok) throw new Error(`dev pay failed (${res.status}): ${body.detail ?? JSON.stringify(body)}`)
  return body
}

/** GET → 402 → pay → retry. Resolves the final response and the credential used. */
export async function payAndFetch(url: string, gateway: string, log: (line: string) => void = () => {}) {
  const first = await fetch(url)
  log(`GET ${url} → ${first.status}`)
  if (first.status !== 402) return { response: first, credential: undefined }
  await first.body?.cancel()
  const challenge = L402.parseChallenges(first.headers.get('www-authenticate') ?? '').find((c) => c.macaroon && c.invoice)
  if (!challenge?.macaroon || !challenge.invoice) throw new Error('402 without an L402 challenge')
  log(`invoice: ${challenge.invoice.slice(0, 40)}…`)
  const paid = await devPay(gateway, challenge.invoice)
  log(`paid; preimage ${paid.preimage.slice(0, 16)}…`)
  const credential = `L402 ${challenge.macaroon}:${paid.preimage}`
  const response = await fetch(url, { headers: { authorization: credential } })
  log(`GET ${url} with Authorization: L402 <macaroon>:<preimage> → ${response.status}`)
  return { response, credential }
}
