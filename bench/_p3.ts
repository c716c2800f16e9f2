import * as Config from '../src/Config.ts'
import { createRuntime } from '../src/runtime.ts'
import { silent } from '../src/internal/log.ts'
import { mkdtempSync } from 'node:fs'
const dir = mkdtempSync('/tmp/bs/d-')
const config = Config.parse({ listen: '127.0.0.1:0', backend: 'dev', dataDir: dir, store: process.argv[2] ?? 'sqlite', upstream: 'http://127.0.0.1:1', routes: [{ name: 'api', path: '/*', price: '10sat' }] })
const rt = await createRuntime(config, { logger: silent, env: {} })
const view = { method: 'GET', path: '/bench', host: 'x', header: () => undefined, clientAddress: '127.0.0.1' }
const N = 3000
for (let i = 0; i < 300; i++) await rt.gateway.decide(view as any)
let t = performance.now()
for (let i = 0; i < N; i++) await rt.gateway.decide(view as any)
console.log('challenge us', ((performance.now() - t) * 1000) / N)
await rt.close()
