/** A tiny structured logger: text or JSON lines on stderr. Never pass secrets in fields. */

export type Level = 'debug' | 'info' | 'warn' | 'error'
export type Fields = Record<string, unknown>
export type Logger = Record<Level, (msg: string, fields?: Fields) => void>

const order: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 }

function text(fields: Fields): string {
  let out = ''
  for (const [k, v] of Object.entries(fields)) {
    if (v === undefined) continue
    const s = typeof v === 'string' ? v : v instanceof Error ? v.message : JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? x.toString() : x))
    out += ` ${k}=${/[\s"=]/.test(s) ? JSON.stringify(s) : s}`
  }
  return out
}

/** Creates a logger writing to `write` (default: process.stderr). */
export function createLogger(o: { format?: 'text' | 'json'; level?: Level; write?: (line: string) => void } = {}): Logger {
  const min = order[o.level ?? 'info']
  const write = o.write ?? ((line: string) => process.stderr.write(line))
  const emit = (level: Level) => (msg: string, fields: Fields = {}) => {
    if (order[level] < min) return
    if (o.format === 'json') {
      const entry: Fields = { time: new Date().toISOString(), level, msg, ...fields }
      for (const [k, v] of Object.entries(entry)) if (v instanceof Error) entry[k] = { message: v.message, code: (v as { code?: unknown }).code }
      write(JSON.stringify(entry, (_k, x) => (typeof x === 'bigint' ? x.toString() : x)) + '\n')
    } else {
      write(`${new Date().toISOString()} ${level.toUpperCase().padEnd(5)} ${msg}${text(fields)}\n`)
    }
  }
  return { debug: emit('debug'), info: emit('info'), warn: emit('warn'), error: emit('error') }
}

/** A logger that drops everything (tests, embedding). */
export const silent: Logger = { debug() {}, info() {}, warn() {}, error() {} }
