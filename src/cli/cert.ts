/** `turnpike cert --self-signed`: a development certificate and key for `--tls-cert`/`--tls-key`. */
import { execFileSync } from 'node:child_process'
import { chmodSync, existsSync, mkdirSync, rmSync } from 'node:fs'
import { isIP } from 'node:net'
import { join } from 'node:path'
import { parseFlags, UsageError } from './args.ts'

export const certHelp = `turnpike cert — make a self-signed TLS certificate for development

Usage:
  turnpike cert --self-signed [--out dir] [--host name]… [--days 365] [--force]

Writes <dir>/cert.pem and <dir>/key.pem (mode 0600; default dir ./.turnpike/tls), an ECDSA P-256
certificate for localhost, 127.0.0.1, ::1 and every --host. Then:
  turnpike serve --tls-cert <dir>/cert.pem --tls-key <dir>/key.pem …
Clients must trust cert.pem (it is its own CA), e.g. curl --cacert <dir>/cert.pem. Needs openssl.
Not for production: use a certificate from a real CA there.
`

export type SelfSigned = { certFile: string; keyFile: string }

/** Creates the pair with the openssl binary. Throws if the files exist and `force` is not set. */
export function selfSigned(o: { out: string; hosts?: readonly string[]; days?: number; force?: boolean }): SelfSigned {
  const hosts = ['localhost', '127.0.0.1', '::1', ...(o.hosts ?? [])]
  const certFile = join(o.out, 'cert.pem')
  const keyFile = join(o.out, 'key.pem')
  if (!o.force && (existsSync(certFile) || existsSync(keyFile))) throw new UsageError(`${certFile} or ${keyFile} exists; pass --force to replace them`)
  mkdirSync(o.out, { recursive: true, mode: 0o700 })
  rmSync(keyFile, { force: true })
  const san = [...new Set(hosts)].map((h) => (isIP(h) ? `IP:${h}` : `DNS:${h}`)).join(',')
  const cn = o.hosts?.[0] ?? 'localhost'
  try {
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', keyFile, '-out', certFile, '-days', String(o.days ?? 365), '-subj', `/CN=${cn}`,
      '-addext', `subjectAltName=${san}`, '-addext', 'basicConstraints=critical,CA:TRUE',
      '-addext', 'keyUsage=critical,digitalSignature,keyCertSign',
      '-addext', 'extendedKeyUsage=serverAuth',
    ], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, OPENSSL_CONF: '/dev/null' } })
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: Buffer }
    if (err.code === 'ENOENT') throw new Error('openssl was not found on PATH; install it or bring your own certificate')
    throw new Error(`openssl failed: ${err.stderr?.toString().trim() || err.message}`)
  }
  chmodSync(keyFile, 0o600)
  return { certFile, keyFile }
}

export async function cert(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, {
    'self-signed': { type: 'boolean' },
    out: { type: 'string' },
    host: { type: 'string', multiple: true },
    days: { type: 'string' },
    force: { type: 'boolean' },
  }, 'cert')
  if (values.help) {
    process.stdout.write(certHelp)
    return 0
  }
  if (!values['self-signed']) throw new UsageError('only --self-signed is supported.\nRun `turnpike cert --help` for usage.')
  const days = values.days === undefined ? 365 : Number(values.days)
  if (!Number.isInteger(days) || days < 1) throw new UsageError('--days must be a positive whole number')
  const out = values.out ?? join(process.env.TURNPIKE_DATA_DIR ?? '.turnpike', 'tls')
  const r = selfSigned({ out, hosts: values.host ?? [], days, force: values.force === true })
  process.stdout.write(`wrote ${r.certFile} and ${r.keyFile} (self-signed, for development)\n` +
    `serve with: turnpike serve --tls-cert ${r.certFile} --tls-key ${r.keyFile} …\n`)
  return 0
}
