/**
 * `turnpike price set <route> <price>` / `turnpike price clear <route>`: runtime price overrides in the
 * shared store, picked up by every gateway within about a second (access/overrides.ts).
 * @module
 */
import * as Config from '../Config.ts'
import { parseFlags, readConfigFile, UsageError } from '../cli/args.ts'
import { parsePrice } from '../internal/units.ts'
import { overrideKey, overrideTtlMs } from './overrides.ts'

export const priceHelp = `turnpike price — change a route's price at runtime on every instance

Usage:
  turnpike price set <route> <price> (--config turnpike.yaml | --store <url>)
  turnpike price clear <route>       (--config turnpike.yaml | --store <url>)

Only routes with \`priceOverride: true\` follow overrides; gateways reading the same store pick a
change up within about a second. Their tokens carry the price paid (\`<route>_price\`), so raising
the price makes credentials bought for less answer 402.
`

export async function price(argv: string[]): Promise<number> {
  const { values, positionals } = parseFlags(argv, { config: { type: 'string', short: 'c' }, store: { type: 'string' }, 'data-dir': { type: 'string' } }, 'price')
  if (values.help || positionals.length === 0) {
    process.stdout.write(priceHelp)
    return values.help ? 0 : 2
  }
  const [op, route, amount] = positionals
  if (!((op === 'set' && positionals.length === 3) || (op === 'clear' && positionals.length === 2))) throw new UsageError('Usage: turnpike price set <route> <price> | price clear <route>')
  const msat = op === 'set' ? parsePrice(amount!) : undefined
  if (op === 'set' && msat === undefined) throw new UsageError(`price: ${JSON.stringify(amount)} is not a price like 10sat or 2500msat`)
  if ((values.config === undefined) === (values.store === undefined)) throw new UsageError('price: give --config or --store (one of them)')
  const raw = values.config !== undefined ? readConfigFile(values.config) : { store: values.store, routes: [{ path: '/*', price: 0 }] }
  const config = Config.parse({ ...raw, ...(values['data-dir'] ? { dataDir: values['data-dir'] } : {}) }, { requireUpstream: false })
  if (values.config !== undefined) {
    const r = config.routes.find((x) => x.name === route)
    if (r === undefined) throw new UsageError(`price: no route ${JSON.stringify(route)} in ${values.config}`)
    if (!r.priceOverride) throw new UsageError(`price: route ${JSON.stringify(route)} does not have priceOverride: true; gateways would ignore the override`)
  }
  const { openStore } = await import('../runtime.ts')
  const store = await openStore(config.store, config.dataDir)
  try {
    if (!store.putValue || !store.deleteValue) throw new UsageError(`price: the ${store.name} store keeps no values`)
    // Replace: values are first-write-wins, so the old one goes first (a poll in between sees the config price).
    await store.deleteValue(overrideKey(route!))
    if (msat !== undefined) await store.putValue(overrideKey(route!), msat.toString(), Date.now() + overrideTtlMs)
    process.stdout.write(JSON.stringify({ route, price_msat: msat === undefined ? null : msat.toString(), store: store.name }) + '\n')
    return 0
  } finally {
    await store.close()
  }
}
