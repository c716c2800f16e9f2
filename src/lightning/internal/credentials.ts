/**
 * Reading credentials from files for the backend factories. Secrets never come from the command
 * line; the config names a file or an environment variable (see `internal/backendConfig.ts`).
 * @module
 */
import { Buffer } from 'node:buffer'
import { readFileSync } from 'node:fs'

/** Reads a text secret (rune, password, API key): trimmed, non-empty. Throws a plain Error naming the file. */
export function readSecretFile(file: string, what: string): string {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (e) {
    throw new Error(`cannot read the ${what} file ${file}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`)
  }
  const secret = text.trim()
  if (secret.length === 0) throw new Error(`the ${what} file ${file} is empty`)
  return secret
}

/** A macaroon as hex, from a binary macaroon file (as lnd writes it) or a file holding hex. */
export function readMacaroonFile(file: string): string {
  let bytes: Buffer
  try {
    bytes = readFileSync(file)
  } catch (e) {
    throw new Error(`cannot read the macaroon file ${file}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`)
  }
  if (bytes.length === 0) throw new Error(`the macaroon file ${file} is empty`)
  const asText = bytes.toString('latin1').trim()
  if (/^(?:[0-9a-fA-F]{2})+$/.test(asText)) return asText.toLowerCase()
  return bytes.toString('hex')
}

/** Normalises a macaroon given as hex or bytes; throws a TypeError naming the option. */
export function macaroonHex(m: string | Uint8Array, option: string): string {
  if (m instanceof Uint8Array) {
    if (m.length === 0) throw new TypeError(`${option} is empty`)
    return Buffer.from(m).toString('hex')
  }
  if (typeof m !== 'string' || !/^(?:[0-9a-fA-F]{2})+$/.test(m.trim())) {
    throw new TypeError(`${option} must be the macaroon as hex (or bytes)`)
  }
  return m.trim().toLowerCase()
}

/** Reads a PEM certificate file. */
export function readPemFile(file: string): string {
  try {
    return readFileSync(file, 'utf8')
  } catch (e) {
    throw new Error(`cannot read the certificate file ${file}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`)
  }
}
