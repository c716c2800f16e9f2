/**
 * The `cashu:` config block:
 * ```yaml
 * cashu:
 *   mints: [https://mint.example.com]   # accepted mints (required when a route offers cashu)
 *   mode: swap                          # swap (default) | p2pk
 *   lockHorizon: 7d                     # p2pk: a token's locktime must be at least this far ahead
 *   timeout: 10s                        # per mint request
 * ```
 * @module
 */
import { parseDuration } from '../internal/units.ts'
import { normalizeMint } from './token.ts'

export type CashuConfig = {
  readonly mints: readonly string[]
  readonly mode: 'swap' | 'p2pk'
  readonly lockHorizonSeconds: number
  readonly timeoutMs: number
}

type Issue = { path: string; message: string }
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

/** Parses `cashu:`; reports issues with their paths. Required (with a mint) when a route offers `cashu`. */
export function parseCashu(v: unknown, routes: readonly { schemes: readonly string[] }[], issues: Issue[]): CashuConfig | undefined {
  const needed = routes.some((r) => r.schemes.includes('cashu'))
  if (v === undefined) {
    if (needed) issues.push({ path: 'cashu', message: 'a route offers the cashu scheme: set cashu.mints (the mints whose tokens are accepted)' })
    return undefined
  }
  if (!isObject(v)) {
    issues.push({ path: 'cashu', message: 'must be a mapping' })
    return undefined
  }
  for (const k of Object.keys(v)) {
    if (!['mints', 'mode', 'lockHorizon', 'timeout'].includes(k)) issues.push({ path: `cashu.${k}`, message: 'unknown key (allowed: mints, mode, lockHorizon, timeout)' })
  }
  const mints: string[] = []
  if (!Array.isArray(v.mints) || v.mints.length === 0) issues.push({ path: 'cashu.mints', message: 'must be a non-empty list of mint URLs' })
  else v.mints.forEach((m, i) => {
    let ok = false
    try {
      ok = typeof m === 'string' && ['http:', 'https:'].includes(new URL(m).protocol)
    } catch {
      ok = false
    }
    if (ok) mints.push(normalizeMint(m as string))
    else issues.push({ path: `cashu.mints[${i}]`, message: 'must be an http(s) URL' })
  })
  const mode = v.mode ?? 'swap'
  if (mode !== 'swap' && mode !== 'p2pk') issues.push({ path: 'cashu.mode', message: 'must be swap or p2pk' })
  const horizon = v.lockHorizon === undefined ? 7 * 86400 : parseDuration(v.lockHorizon as string | number)
  if (horizon === undefined) issues.push({ path: 'cashu.lockHorizon', message: 'must be a duration like 7d' })
  const timeout = v.timeout === undefined ? 10 : parseDuration(v.timeout as string | number)
  if (timeout === undefined) issues.push({ path: 'cashu.timeout', message: 'must be a duration like 10s' })
  return { mints, mode: mode === 'p2pk' ? 'p2pk' : 'swap', lockHorizonSeconds: horizon ?? 0, timeoutMs: (timeout ?? 10) * 1000 }
}
