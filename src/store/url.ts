/**
 * Store selection from one string, as `--store` and `store:` take it:
 * `sqlite`, `sqlite:<path>`, `<path>.db`, `memory`, `redis://…`, `rediss://…`, `postgres://…`,
 * `postgresql://…`. Anything else is passed on as a type name for `Config.parse` to judge.
 * @module
 */

/** The raw `store` config object for a store string. */
export function storeFromString(s: string): Record<string, unknown> | string {
  if (/^rediss?:\/\//i.test(s)) return { type: 'redis', url: s }
  if (/^postgres(ql)?:\/\//i.test(s)) return { type: 'postgres', url: s }
  if (/^sqlite:/i.test(s)) {
    // sqlite:./turnpike.db, sqlite:/var/lib/turnpike.db, sqlite:///var/lib/turnpike.db, sqlite::memory:
    const rest = s.slice('sqlite:'.length)
    const path = rest.startsWith('///') ? rest.slice(2) : rest.startsWith('//') ? rest.slice(2) : rest
    return path === '' ? { type: 'sqlite' } : { type: 'sqlite', path }
  }
  if (s.endsWith('.db')) return { type: 'sqlite', path: s }
  return s
}
