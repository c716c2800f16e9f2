/**
 * nginx `auth_request` against the verdict service, with a real nginx whose config is the shipped
 * examples/nginx files: default.conf.template rendered like envsubst, turnpike.conf and
 * turnpike-headers.conf included unchanged (symlinked).
 */
import assert from 'node:assert/strict'
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { parse } from 'yaml'
import { tempDir } from './harness.ts'
import { describeHostFlow, examples, findBinary, freePort, readExample, render, spawnHost, startEcho, startService, type HostProcess, type Service } from './forward-auth.harness.ts'

const nginx = findBinary('nginx', '/usr/sbin/nginx')

/** A throwaway nginx: single process, foreground, every path under `dir`. */
export function wrapper(dir: string): string {
  return [
    'daemon off;',
    'master_process off;',
    `pid ${dir}/nginx.pid;`,
    `lock_file ${dir}/nginx.lock;`,
    `error_log ${dir}/error.log warn;`,
    'events { worker_connections 256; }',
    'http {',
    '  access_log off;',
    `  client_body_temp_path ${dir}/tmp/body;`,
    `  proxy_temp_path ${dir}/tmp/proxy;`,
    `  fastcgi_temp_path ${dir}/tmp/fastcgi;`,
    `  uwsgi_temp_path ${dir}/tmp/uwsgi;`,
    `  scgi_temp_path ${dir}/tmp/scgi;`,
    `  include ${dir}/conf.d/*.conf;`,
    '}',
    '',
  ].join('\n')
}

describe('forward-auth: nginx auth_request (examples/nginx)', { skip: nginx ? false : 'nginx is not installed here (CI installs it from Debian); skipping the real-nginx flow' }, () => {
  const dir = tempDir('turnpike-nginx-')
  let service: Service
  let upstream: Awaited<ReturnType<typeof startEcho>>
  let host: HostProcess
  let site = ''

  before(async () => {
    // The LSAT line too: two WWW-Authenticate lines must survive both nginx hops.
    service = await startService({ challenge: { lsat: true } })
    upstream = await startEcho()
    const port = await freePort()
    mkdirSync(join(dir.path, 'conf.d'))
    mkdirSync(join(dir.path, 'tmp'))
    // Relative includes resolve against the directory of the main config file.
    for (const f of ['turnpike.conf', 'turnpike-headers.conf']) symlinkSync(join(examples, 'nginx', f), join(dir.path, f))
    const site_ = render(readExample('nginx/default.conf.template'), { TURNPIKE_ADDR: service.addr, APP_ADDR: upstream.addr, SITE_PORT: `127.0.0.1:${port}` })
    writeFileSync(join(dir.path, 'conf.d', 'default.conf'), site_)
    writeFileSync(join(dir.path, 'nginx.conf'), wrapper(dir.path))
    const errorLog = () => {
      try {
        return readFileSync(join(dir.path, 'error.log'), 'utf8')
      } catch {
        return ''
      }
    }
    host = await spawnHost(nginx!, ['-p', dir.path, '-c', join(dir.path, 'nginx.conf'), '-e', join(dir.path, 'error.log')], { port, extraLogs: errorLog })
    site = `http://127.0.0.1:${port}`
  })

  after(async () => {
    await host?.stop()
    await upstream?.close()
    await service?.close()
    dir.remove()
  })

  describeHostFlow(() => ({ site, service, upstreamHits: upstream.hits }), { challengeLines: 2 })

  it('behavior: the 401 hop stays inside nginx', async () => {
    const res = await fetch(`${site}/api/x`)
    await res.arrayBuffer()
    assert.equal(res.status, 402)
    assert.equal(res.headers.get('x-turnpike-challenge'), null)
    assert.equal(res.headers.getSetCookie().length, 0)
  })

  it('behavior: the internal auth location cannot be called from outside', async () => {
    const res = await fetch(`${site}/.turnpike/auth`)
    await res.arrayBuffer()
    assert.equal(res.status, 404)
  })
})

/**
 * ingress-nginx cannot run here, so this renders what the controller's template makes of the
 * shipped examples/kubernetes-ingress-nginx/ingress.yaml (abridged: the auth location with the
 * headers the controller sets, the auth-response-headers lines, and the two snippets verbatim) and
 * runs the same paid flow through a real nginx.
 */
describe('forward-auth: ingress-nginx annotations (examples/kubernetes-ingress-nginx), rendered for a real nginx', { skip: nginx ? false : 'nginx is not installed here (CI installs it from Debian)' }, () => {
  const dir = tempDir('turnpike-ingress-')
  let service: Service
  let upstream: Awaited<ReturnType<typeof startEcho>>
  let host: HostProcess
  let site = ''

  before(async () => {
    service = await startService()
    upstream = await startEcho()
    const port = await freePort()
    const ingress = parse(readExample('kubernetes-ingress-nginx/ingress.yaml')) as { metadata: { annotations: Record<string, string> } }
    const a = ingress.metadata.annotations
    const svc = (v: string) => v.replaceAll('turnpike.turnpike.svc.cluster.local:8402', service.addr)
    const copy = a['nginx.ingress.kubernetes.io/auth-response-headers']!.split(',').map((h) => h.trim())
    const server = [
      'server {',
      `  listen 127.0.0.1:${port};`,
      svc(a['nginx.ingress.kubernetes.io/server-snippet']!),
      '  location = /_external-auth {',
      '    internal;',
      '    proxy_pass_request_body off;',
      '    proxy_set_header Content-Length "";',
      '    proxy_set_header Host turnpike.turnpike.svc.cluster.local;',
      '    proxy_set_header X-Original-URL $scheme://$http_host$request_uri;',
      '    proxy_set_header X-Original-Method $request_method;',
      '    proxy_set_header X-Sent-From "nginx-ingress-controller";',
      '    proxy_set_header X-Real-IP $remote_addr;',
      '    proxy_set_header X-Forwarded-For $remote_addr;',
      '    proxy_set_header X-Auth-Request-Redirect $request_uri;',
      '    proxy_http_version 1.1;',
      `    set $target ${svc(a['nginx.ingress.kubernetes.io/auth-url']!)};`,
      '    proxy_pass $target;',
      '  }',
      '  location / {',
      '    auth_request /_external-auth;',
      '    auth_request_set $auth_cookie $upstream_http_set_cookie;',
      '    add_header Set-Cookie $auth_cookie;',
      ...copy.flatMap((h, i) => [`    auth_request_set $authHeader${i} $upstream_http_${h.toLowerCase().replaceAll('-', '_')};`, `    proxy_set_header '${h}' $authHeader${i};`]),
      '    proxy_set_header Host $http_host;',
      '    proxy_http_version 1.1;',
      svc(a['nginx.ingress.kubernetes.io/configuration-snippet']!),
      `    proxy_pass http://${upstream.addr};`,
      '  }',
      '}',
      '',
    ].join('\n')
    mkdirSync(join(dir.path, 'conf.d'))
    mkdirSync(join(dir.path, 'tmp'))
    writeFileSync(join(dir.path, 'conf.d', 'ingress.conf'), server)
    writeFileSync(join(dir.path, 'nginx.conf'), wrapper(dir.path))
    host = await spawnHost(nginx!, ['-p', dir.path, '-c', join(dir.path, 'nginx.conf'), '-e', join(dir.path, 'error.log')], { port })
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
