/** Shared CLI plumbing: flag parsing with friendly errors, and config assembly from file + flags. */
import { readFileSync } from 'node:fs'
import { parseArgs, type ParseArgsConfig } from 'node:util'
import YAML from 'yaml'
import { ConfigError } from '../Errors.ts'

export class UsageError extends Error {}

/** parseArgs with strict checking; unknown flags become a UsageError naming the command's help. */
export function parseFlags<T extends NonNullable<ParseArgsConfig['options']>>(argv: string[], options: T, command: string) {
  try {
    return parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true })
  } catch (e) {
    throw new UsageError(`${(e as Error).message}\nRun \`turnpike ${command} --help\` for usage.`)
  }
}

/** Reads a YAML (or JSON) config file into a plain object. */
export function readConfigFile(path: string): Record<string, unknown> {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (e) {
    throw new ConfigError([{ path: 'config', message: `cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? 'error'}` }])
  }
  const doc = YAML.parseDocument(text, { prettyErrors: true })
  if (doc.errors.length > 0) {
    throw new ConfigError(doc.errors.map((e) => ({ path: `${path}:${e.linePos?.[0]?.line ?? '?'}`, message: e.message.split('\n')[0]! })))
  }
  const value: unknown = doc.toJS()
  if (value === null || value === undefined) return {}
  if (typeof value !== 'object' || Array.isArray(value)) throw new ConfigError([{ path: '', message: `${path} must hold a mapping` }])
  return value as Record<string, unknown>
}
