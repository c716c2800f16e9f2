/** The master secret: every token's root key is derived from it, so verifying needs no store read. */
import { randomBytes } from 'node:crypto'
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { ConfigError } from '../Errors.ts'

export type SecretSource = 'env' | 'file' | 'generated' | 'data-dir'

function decode(text: string, where: string): Uint8Array {
  const t = text.trim()
  const bytes = /^[0-9a-fA-F]+$/.test(t) && t.length % 2 === 0 ? Buffer.from(t, 'hex') : Buffer.from(t, 'base64')
  if (bytes.length < 32) {
    throw new ConfigError([{ path: where, message: 'the secret must be at least 32 bytes (64 hex characters)' }])
  }
  return new Uint8Array(bytes)
}

/**
 * Resolves the master secret: `TURNPIKE_SECRET` (hex or base64), else `secretFile`, else
 * `<dataDir>/secret`, created with mode 0600 on first start. Never a constant.
 */
export function resolveSecret(o: { env?: NodeJS.ProcessEnv; secretFile?: string | undefined; dataDir: string }): {
  key: Uint8Array
  source: SecretSource
  path?: string
} {
  const fromEnv = (o.env ?? process.env).TURNPIKE_SECRET
  if (fromEnv) return { key: decode(fromEnv, 'TURNPIKE_SECRET'), source: 'env' }
  if (o.secretFile) {
    let text: string
    try {
      text = readFileSync(o.secretFile, 'utf8')
    } catch (cause) {
      throw new ConfigError([{ path: 'secretFile', message: `cannot read ${o.secretFile}: ${(cause as NodeJS.ErrnoException).code ?? 'error'}` }])
    }
    return { key: decode(text, 'secretFile'), source: 'file', path: o.secretFile }
  }
  const path = join(o.dataDir, 'secret')
  try {
    return { key: decode(readFileSync(path, 'utf8'), path), source: 'data-dir', path }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e
  }
  mkdirSync(o.dataDir, { recursive: true, mode: 0o700 })
  const key = randomBytes(32)
  writeFileSync(path, key.toString('hex') + '\n', { mode: 0o600, flag: 'wx' })
  chmodSync(path, 0o600)
  return { key: new Uint8Array(key), source: 'generated', path }
}
