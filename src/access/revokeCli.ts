/**
 * `turnpike token revoke <token-id>`: writes a revocation to the shared store; every gateway using that
 * store refuses the token within about a second (access/revocation.ts).
 * @module
 */
import * as Config from '../Config.ts'
import { parseFlags, readConfigFile, UsageError } from '../cli/args.ts'
import { parseDuration } from '../internal/units.ts'

export const revokeHelp = `turnpike token revoke — refuse a token on every gateway sharing the store

Usage:
  turnpike token revoke <token-id> --config turnpike.yaml
  turnpike token revoke <token-id> --store redis://127.0.0.1:6379 [--until 30d]

<token-id> is the 64-hex token id (\`turnpike token inspect\` shows it; so does the admin API's
transaction list). Every instance reading the same store refuses it within about a second.
Options:
  --config <file>   the gateway's config: its store, and the longest token life as the default --until
  --store <url>     a store URL instead (redis://…, postgres://…, sqlite:<path>)
  --data-dir <dir>  where a sqlite store without a path lives (default .turnpike)
  --until <dur>     how long the revocation lasts (default: the longest a token can live, plus 1h)
`

export async function revoke(argv: string[]): Promise<number> {
  const { values, positionals } = parseFlags(argv, {
    config: { type: 'string', short: 'c' }, store: { type: 'string' }, 'data-dir': { type: 'string' }, until: { type: 'string' },
  }, 'token revoke')
  if (values.help) {
    process.stdout.write(revokeHelp)
    return 0
  }
  const tokenId = positionals[0]?.toLowerCase()
  if (positionals.length !== 1 || !/^[0-9a-f]{64}$/.test(tokenId ?? '')) throw new UsageError('Usage: turnpike token revoke <64-hex token id> (--config <file> | --store <url>)')
  if ((values.config === undefined) === (values.store === undefined)) throw new UsageError('token revoke: give --config or --store (one of them)')
  const raw = values.config !== undefined
    ? readConfigFile(values.config)
    : { store: values.store, routes: [{ path: '/*', price: 0 }] }
  const config = Config.parse({ ...raw, ...(values['data-dir'] ? { dataDir: values['data-dir'] } : {}) }, { requireUpstream: false })
  let untilMs = lifetimeSeconds(config) * 1000
  if (values.until !== undefined) {
    const s = parseDuration(values.until)
    if (s === undefined || s <= 0) throw new UsageError('token revoke: --until must be a duration like 1h or 30d')
    untilMs = s * 1000
  }
  const { openStore } = await import('../runtime.ts')
  const store = await openStore(config.store, config.dataDir)
  try {
    if (store.revoke === undefined) throw new UsageError(`token revoke: the ${store.name} store keeps no revocation list`)
    const expiresAt = Date.now() + untilMs
    await store.revoke(tokenId!, expiresAt)
    process.stdout.write(JSON.stringify({ token_id: tokenId, revoked: true, until: new Date(expiresAt).toISOString(), store: store.name }) + '\n')
    return 0
  } finally {
    await store.close()
  }
}

/** The longest a token of this config can be presented, plus an hour. */
function lifetimeSeconds(config: Config.Config): number {
  const { invoiceExpirySeconds, tokenTtlSeconds } = config.challenge
  const passes = config.routes.map((r) => (r.access.kind === 'pass' ? r.access.seconds : 0))
  return Math.max(invoiceExpirySeconds + tokenTtlSeconds, invoiceExpirySeconds + Math.max(0, ...passes)) + 3600
}
