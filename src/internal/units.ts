/** Parsers for the human units used in config and flags: prices and durations. */

/** `10sat`, `2500msat`, `0`, `1btc` → bigint msat; undefined if unparsable. */
export function parsePrice(input: string | number): bigint | undefined {
  if (typeof input === 'number') {
    return Number.isSafeInteger(input) && input >= 0 ? BigInt(input) * 1000n : undefined
  }
  const m = /^\s*(\d{1,18})\s*(msat|msats|sat|sats|btc)?\s*$/i.exec(input)
  if (!m) return undefined
  const n = BigInt(m[1]!)
  const unit = (m[2] ?? 'sat').toLowerCase()
  if (unit.startsWith('msat')) return n
  if (unit === 'btc') return n * 100_000_000_000n
  return n * 1000n
}

/** Formats msat for humans: whole sats as `10 sat`, otherwise `2500 msat`. */
export function formatPrice(msat: bigint): string {
  return msat % 1000n === 0n ? `${msat / 1000n} sat` : `${msat} msat`
}

const durationUnits: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 }

/** `30s`, `10m`, `1h`, `7d`, `1h30m` or a number of seconds → seconds; undefined if unparsable. */
export function parseDuration(input: string | number): number | undefined {
  if (typeof input === 'number') return Number.isSafeInteger(input) && input > 0 ? input : undefined
  const s = input.trim()
  if (/^\d+$/.test(s)) return parseDuration(Number(s))
  if (!/^(\d+[smhdw])+$/i.test(s)) return undefined
  let total = 0
  for (const [, n, u] of s.matchAll(/(\d+)([smhdw])/gi)) total += Number(n) * durationUnits[u!.toLowerCase()]!
  return total > 0 && Number.isSafeInteger(total) ? total : undefined
}
