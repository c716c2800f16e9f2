/**
 * Caddy `forward_auth` against the verdict service, with a real Caddy running the shipped
 * examples/caddy/Caddyfile and turnpike.caddy unchanged: ports come in through the Caddyfile's own
 * `{$VAR:default}` environment placeholders. Only the global options (admin off) are the test's.
 */
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe } from 'node:test'
import { tempDir } from './harness.ts'
import { describeHostFlow, examples, findBinary, freePort, spawnHost, startEcho, startService, type HostProcess, type Service } from './forward-auth.harness.ts'

const caddy = findBinary('caddy', '/usr/bin/caddy')

describe('forward-auth: Caddy forward_auth (examples/caddy)', { skip: caddy ? false : 'caddy is not installed here (CI installs it from Debian); skipping the real-Caddy flow' }, () => {
  const dir = tempDir('turnpike-caddy-')
  let service: Service
  let upstream: Awaited<ReturnType<typeof startEcho>>
  let host: HostProcess
  let site = ''

  before(async () => {
    service = await startService()
    upstream = await startEcho()
    const port = await freePort()
    const main = join(dir.path, 'Caddyfile')
    // No admin endpoint (it would take the shared port 2019), then the shipped site verbatim.
    writeFileSync(main, `{\n\tadmin off\n}\nimport ${join(examples, 'caddy', 'Caddyfile')}\n`)
    host = await spawnHost(caddy!, ['run', '--config', main, '--adapter', 'caddyfile'], {
      port,
      cwd: dir.path,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: dir.path,
        XDG_CONFIG_HOME: join(dir.path, 'config'),
        XDG_DATA_HOME: join(dir.path, 'data'),
        TURNPIKE_ADDR: service.addr,
        APP_ADDR: upstream.addr,
        SITE_PORT: String(port),
      },
    })
    site = `http://127.0.0.1:${port}`
  })

  after(async () => {
    await host?.stop()
    await upstream?.close()
    await service?.close()
    dir.remove()
  })

  describeHostFlow(() => ({ site, service, upstreamHits: upstream.hits }))
})
