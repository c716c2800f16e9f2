/**
 * The admin bearer token: from `admin.token`, `$TURNPIKE_ADMIN_TOKEN`, `admin.tokenFile`, or
 * generated on first start into `<dataDir>/admin-token` (mode 0600), like the master secret.
 * Compared in constant time; never logged.
 * @module
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { ConfigError } from '../Errors.ts'

export type TokenSource = 'config' | 'env' | 'file' | 'data-dir' | 'generated'

/** File name of the generated token inside the data directory. */
export const tokenFileName = 'admin-token'

function check(token: string, where: string): string {
  const t = token.trim()
  if (t.length < 16 || /\s/.test(t)) throw new ConfigError([{ path: where, message: 'the admin token must be at least 16 characters without spaces' }])
  return t
}

/** Resolves the admin token; creates `<dataDir>/admin-token` (0600) when nothing else is set. */
export function resolveAdminToken(o: { token?: string | undefined; tokenFile?: string | undefined; dataDir: string; env?: NodeJS.ProcessEnv }): {
  token: string
  source: TokenSource
  path?: string
} {
  if (o.token) return { token: check(o.token, 'admin.token'), source: 'config' }
  const fromEnv = (o.env ?? process.env).TURNPIKE_ADMIN_TOKEN
  if (fromEnv) return { token: check(fromEnv, 'TURNPIKE_ADMIN_TOKEN'), source: 'env' }
  if (o.tokenFile) {
    let text: string
    try {
      text = readFileSync(o.tokenFile, 'utf8')
    } catch (cause) {
      throw new ConfigError([{ path: 'admin.tokenFile', message: `cannot read ${o.tokenFile}: ${(cause as NodeJS.ErrnoException).code ?? 'error'}` }])
    }
    return { token: check(text, 'admin.tokenFile'), source: 'file', path: o.tokenFile }
  }
  const path = join(o.dataDir, tokenFileName)
  try {
    return { token: check(readFileSync(path, 'utf8'), path), source: 'data-dir', path }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e
  }
  mkdirSync(o.dataDir, { recursive: true, mode: 0o700 })
  const token = randomBytes(32).toString('base64url')
  try {
    writeFileSync(path, token + '\n', { mode: 0o600, flag: 'wx' })
  } catch (e) {
    // Another process (a cluster sibling) created it first: use theirs.
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return { token: check(readFileSync(path, 'utf8'), path), source: 'data-dir', path }
    throw e
  }
  chmodSync(path, 0o600)
  return { token, source: 'generated', path }
}

/**
 * A checker for `Authorization: Bearer <token>`. Both sides are hashed first, so the comparison
 * takes the same time whatever the presented length.
 */
export function bearerChecker(token: string): (authorization: string | undefined) => boolean {
  const expected = createHash('sha256').update(token).digest()
  return (authorization) => {
    if (authorization === undefined) return false
    const m = /^\s*Bearer\s+(\S+)\s*$/i.exec(authorization)
    const got = createHash('sha256').update(m?.[1] ?? '').digest()
    return timingSafeEqual(got, expected) && m !== null
  }
}
