import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import * as Config from '../../Config.ts'
import { ConfigError } from '../../Errors.ts'
import { tempDir } from '../../../test/harness.ts'
import { applyBackendFlags } from './backendFlags.ts'
import { createNodeBackend } from './fromConfig.ts'

const base = { upstream: 'http://127.0.0.1:1', routes: [{ name: 'r', path: '/*', price: '10sat' }] }
const dir = tempDir('turnpike-backend-config-')
after(() => dir.remove())

function issues(raw: Record<string, unknown>): { path: string; message: string }[] {
  try {
    Config.parse({ ...base, ...raw })
  } catch (e) {
    if (e instanceof ConfigError) return [...e.issues]
    throw e
  }
  return []
}

describe('Config: node backends', () => {
  it('behavior: each type parses with its defaults', () => {
    assert.deepEqual(Config.parse({ ...base, backend: 'lnd' }).backend, {
      type: 'lnd', url: 'https://127.0.0.1:8080', macaroonFile: undefined, tlsCertFile: undefined, timeoutMs: 10_000, network: undefined,
    })
    assert.deepEqual(Config.parse({ ...base, backend: { type: 'cln', socket: '/rpc' } }).backend, {
      type: 'cln', url: undefined, socket: '/rpc', runeFile: undefined, tlsCertFile: undefined, timeoutMs: 10_000, network: undefined,
    })
    assert.equal((Config.parse({ ...base, backend: 'eclair' }).backend as { url: string }).url, 'http://127.0.0.1:8080')
    assert.equal((Config.parse({ ...base, backend: 'phoenixd' }).backend as { url: string }).url, 'http://127.0.0.1:9740')
    const lnbits = Config.parse({ ...base, backend: { type: 'lnbits', url: 'https://lnbits.example/', apiKeyFile: '/k', timeout: '3s', network: 'mainnet' } }).backend
    assert.deepEqual(lnbits, { type: 'lnbits', url: 'https://lnbits.example', apiKeyFile: '/k', timeoutMs: 3000, network: 'mainnet' })
  })

  it('behavior: `lightning:` is an alias of `backend:`, with its own paths; not both', () => {
    assert.equal(Config.parse({ ...base, lightning: { type: 'eclair', passwordFile: '/p' } }).backend?.type, 'eclair')
    assert.deepEqual(issues({ lightning: { type: 'eclair', password: 'x' } }).map((i) => i.path), ['lightning.password'])
    assert.deepEqual(issues({ backend: 'dev', lightning: 'dev' }).map((i) => i.path), ['lightning'])
  })

  it('error: inline secrets are refused, naming the file key and the environment variable', () => {
    const cases: [Record<string, unknown>, string, RegExp][] = [
      [{ type: 'lnd', macaroon: 'SECRET-VALUE' }, 'backend.macaroon', /backend\.macaroonFile.*\$TURNPIKE_LND_MACAROON/],
      [{ type: 'cln', url: 'http://127.0.0.1:3010', rune: 'SECRET-VALUE' }, 'backend.rune', /backend\.runeFile.*\$TURNPIKE_CLN_RUNE/],
      [{ type: 'eclair', password: 'SECRET-VALUE' }, 'backend.password', /\$TURNPIKE_ECLAIR_PASSWORD/],
      [{ type: 'phoenixd', password: 'SECRET-VALUE' }, 'backend.password', /\$TURNPIKE_PHOENIXD_PASSWORD/],
      [{ type: 'lnbits', url: 'https://l.example', apiKey: 'SECRET-VALUE' }, 'backend.apiKey', /backend\.apiKeyFile.*\$TURNPIKE_LNBITS_API_KEY/],
    ]
    for (const [backend, path, message] of cases) {
      const found = issues({ backend })
      assert.equal(found.length, 1, JSON.stringify(found))
      assert.equal(found[0]!.path, path)
      assert.match(found[0]!.message, message)
      assert.ok(!found[0]!.message.includes('SECRET-VALUE'), 'the secret is not echoed')
    }
  })

  it('error: every issue with its path (several at once)', () => {
    const found = issues({ backend: { type: 'lnd', url: 'http://lnd.example:8080', timeout: 'soon', network: 'moon', bogus: 1, tlsCertFile: 7 } })
    assert.deepEqual(found.map((i) => i.path).sort(), ['backend.bogus', 'backend.network', 'backend.timeout', 'backend.tlsCertFile', 'backend.url'])
    assert.match(found.find((i) => i.path === 'backend.url')!.message, /clear text/)
    assert.deepEqual(issues({ backend: { type: 'cln' } }).map((i) => i.path), ['backend.url'])
    assert.deepEqual(issues({ backend: { type: 'cln', url: 'http://127.0.0.1:1', socket: '/s' } }).map((i) => i.path), ['backend.url'])
    assert.deepEqual(issues({ backend: { type: 'cln', socket: '/s', runeFile: '/r' } }).map((i) => i.path), ['backend.socket'])
    assert.deepEqual(issues({ backend: { type: 'lnbits' } }).map((i) => i.path), ['backend.url'])
    assert.deepEqual(issues({ backend: { type: 'eclair', url: 'https://user:pw@e.example' } }).map((i) => i.path), ['backend.url'])
    assert.deepEqual(issues({ backend: { type: 'lnbits', url: 'https://l.example' }, routes: [{ name: 'a', price: '1500msat' }] }).map((i) => i.path), ['routes[0].price'])
    assert.match(issues({ backend: 'ldk' })[0]!.message, /supported: dev, lnd, cln, eclair, phoenixd, lnbits/)
  })
})

describe('createNodeBackend (credentials from files or the environment)', () => {
  const cfg = (raw: Record<string, unknown>) => Config.parse({ ...base, backend: raw }).backend as Parameters<typeof createNodeBackend>[0]

  it('behavior: the file wins over the environment; sources never contain the secret', () => {
    const file = join(dir.path, 'pw')
    writeFileSync(file, 'from-file-secret\n')
    const built = createNodeBackend(cfg({ type: 'eclair', passwordFile: file }), { env: { TURNPIKE_ECLAIR_PASSWORD: 'from-env-secret' } })
    assert.equal(built.backend.name, 'eclair')
    assert.deepEqual(built.sources, [`API password from ${file}`])
    const fromEnv = createNodeBackend(cfg({ type: 'eclair' }), { env: { TURNPIKE_ECLAIR_PASSWORD: 'from-env-secret' } })
    assert.deepEqual(fromEnv.sources, ['API password from $TURNPIKE_ECLAIR_PASSWORD'])
  })

  it('error: a missing credential names the key and the variable; an unreadable file names its path', () => {
    assert.throws(
      () => createNodeBackend(cfg({ type: 'lnd' }), { env: {} }),
      (e) => e instanceof ConfigError && e.issues[0]!.path === 'backend.macaroonFile' && /\$TURNPIKE_LND_MACAROON/.test(e.issues[0]!.message),
    )
    assert.throws(
      () => createNodeBackend(cfg({ type: 'phoenixd', passwordFile: join(dir.path, 'missing') }), { env: {} }),
      (e) => e instanceof ConfigError && e.issues[0]!.path === 'backend.passwordFile' && /ENOENT/.test(e.issues[0]!.message),
    )
    assert.throws(
      () => createNodeBackend(cfg({ type: 'lnd', tlsCertFile: join(dir.path, 'nope.cert') }), { env: { TURNPIKE_LND_MACAROON: 'zz-not-hex' } }),
      (e) => e instanceof ConfigError && e.issues.map((i) => i.path).sort().join() === 'backend.macaroonFile,backend.tlsCertFile',
    )
    const notPem = join(dir.path, 'bad.cert')
    writeFileSync(notPem, 'hello')
    assert.throws(
      () => createNodeBackend(cfg({ type: 'lnd', tlsCertFile: notPem }), { env: { TURNPIKE_LND_MACAROON: '0201' } }),
      (e) => e instanceof ConfigError && /PEM certificate/.test(e.message),
    )
  })

  it('error: the runtime refuses to start without the credential', async () => {
    const { createRuntime } = await import('../../runtime.ts')
    const { silent } = await import('../../internal/log.ts')
    const config = Config.parse({ ...base, backend: { type: 'lnbits', url: 'https://l.example' }, store: 'memory', dataDir: dir.path })
    await assert.rejects(createRuntime(config, { logger: silent, env: {} }), (e) => e instanceof ConfigError && /TURNPIKE_LNBITS_API_KEY/.test(e.message))
  })
})

describe('backend flags', () => {
  it('behavior: flags fill the chosen backend section; flags of another type are reported', () => {
    const raw: Record<string, unknown> = { backend: { type: 'lnd', tlsCertFile: '/old' } }
    const found: { path: string; message: string }[] = []
    applyBackendFlags(raw, { 'lnd-url': 'https://n:8080', 'lnd-tls-cert': '/tls.cert', 'cln-socket': '/rpc', 'backend-timeout': '3s' }, found)
    assert.deepEqual(raw.backend, { type: 'lnd', url: 'https://n:8080', tlsCertFile: '/tls.cert', timeout: '3s' })
    assert.deepEqual(found, [{ path: '--cln-socket', message: 'applies to --backend cln, not lnd' }])
    const none: Record<string, unknown> = {}
    const found2: { path: string; message: string }[] = []
    applyBackendFlags(none, { 'eclair-url': 'http://x' }, found2)
    assert.deepEqual(found2, [{ path: '--eclair-url', message: 'needs --backend eclair' }])
    const alias: Record<string, unknown> = { lightning: 'phoenixd' }
    applyBackendFlags(alias, { 'phoenixd-url': 'http://p:9740' }, [])
    assert.deepEqual(alias, { lightning: { type: 'phoenixd', url: 'http://p:9740' } })
  })

  it('behavior: turnpike serve maps --backend and the backend flags into the config', async () => {
    const { rawConfig } = await import('../../cli/serve.ts')
    const raw = rawConfig({ backend: 'cln', 'cln-socket': '/x/lightning-rpc', upstream: 'http://127.0.0.1:1', price: '1sat' } as never, {})
    assert.deepEqual(raw.backend, { type: 'cln', socket: '/x/lightning-rpc' })
    assert.throws(() => rawConfig({ backend: 'lnd', 'lnbits-url': 'https://l' } as never, {}), (e) => e instanceof ConfigError && e.issues[0]!.path === '--lnbits-url')
  })
})
