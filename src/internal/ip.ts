/**
 * IP addresses for trusted proxies and rate-limit keys: CIDR matching (node's `BlockList`),
 * IPv4-mapped IPv6 folded to IPv4, and the RFC 7239 `Forwarded` header.
 * @module
 */
import { BlockList, isIP } from 'node:net'

/** Named groups accepted in `trustProxy` next to addresses and CIDR ranges. */
const named: Record<string, readonly string[]> = {
  loopback: ['127.0.0.0/8', '::1/128'],
  private: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7'],
  linklocal: ['169.254.0.0/16', 'fe80::/10'],
}

/** `::ffff:1.2.3.4` → `1.2.3.4`; brackets and an IPv6 zone (`%eth0`) removed. Others unchanged. */
export function normalizeIp(address: string): string {
  let a = address.trim()
  if (a.startsWith('[') && a.endsWith(']')) a = a.slice(1, -1)
  const zone = a.indexOf('%')
  if (zone !== -1 && a.includes(':')) a = a.slice(0, zone)
  if (/^::ffff:\d+\.\d+\.\d+\.\d+$/i.test(a)) a = a.slice(7)
  return a
}

/** Why a `trustProxy` entry is unacceptable, or undefined when it is an address, a CIDR range or a name. */
export function trustEntryProblem(entry: string): string | undefined {
  if (named[entry] !== undefined) return undefined
  const [addr, bits, extra] = entry.split('/')
  const family = isIP(normalizeIp(addr ?? ''))
  if (family === 0 || extra !== undefined) {
    return `must be an IP address, a CIDR range (10.0.0.0/8) or one of ${Object.keys(named).join(', ')}; got ${JSON.stringify(entry)}`
  }
  if (bits !== undefined && !(/^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128))) {
    return `prefix length must be 0–${family === 4 ? 32 : 128}; got ${JSON.stringify(entry)}`
  }
  return undefined
}

/** A predicate: is this address one of the trusted proxies? Entries are assumed valid (see {@link trustEntryProblem}). */
export type Trust = (address: string | undefined) => boolean

const compiled = new WeakMap<readonly string[], Trust>()

/** Compiles `trustProxy` entries once per (frozen) list. */
export function trustMatcher(entries: readonly string[]): Trust {
  const cached = compiled.get(entries)
  if (cached) return cached
  let trust: Trust
  if (entries.length === 0) trust = () => false
  else {
    const list = new BlockList()
    for (const entry of entries.flatMap((e) => named[e] ?? [e])) {
      const [addr, bits] = entry.split('/')
      const a = normalizeIp(addr!)
      const type = isIP(a) === 6 ? 'ipv6' : 'ipv4'
      if (bits === undefined) list.addAddress(a, type)
      else list.addSubnet(a, Number(bits), type)
    }
    trust = (address) => {
      if (!address) return false
      const a = normalizeIp(address)
      const family = isIP(a)
      return family !== 0 && list.check(a, family === 6 ? 'ipv6' : 'ipv4')
    }
  }
  compiled.set(entries, trust)
  return trust
}

/**
 * The `for=` nodes of RFC 7239 `Forwarded` header lines, in order (client first). Quotes, ports and
 * brackets are removed from addresses; obfuscated identifiers (`_hidden`, `unknown`) are kept as is.
 */
export function forwardedFor(lines: readonly string[]): string[] {
  const out: string[] = []
  for (const element of lines.join(',').split(',')) {
    for (const pair of element.split(';')) {
      const eq = pair.indexOf('=')
      if (eq === -1 || pair.slice(0, eq).trim().toLowerCase() !== 'for') continue
      let v = pair.slice(eq + 1).trim()
      if (v.startsWith('"') && v.endsWith('"') && v.length >= 2) v = v.slice(1, -1)
      if (v.startsWith('[')) v = v.slice(1, v.indexOf(']') === -1 ? undefined : v.indexOf(']'))
      else if (/^\d+\.\d+\.\d+\.\d+:\d+$/.test(v)) v = v.slice(0, v.lastIndexOf(':'))
      if (v) out.push(v)
    }
  }
  return out
}
