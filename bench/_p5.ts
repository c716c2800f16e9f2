import { randomBytes, createHash, createHmac, hash } from 'node:crypto'
import * as L402 from '../src/L402.ts'
import * as Token from '../src/Token.ts'
const secret = randomBytes(32)
const preimage = randomBytes(32)
const paymentHash = createHash('sha256').update(preimage).digest()
const now = Math.floor(Date.now() / 1000)
const t = Token.mint({ secret, paymentHash, service: 'api', path: '/bench/item', methods: ['GET'], validUntil: now + 86400 })
const header = `L402 ${t.serialized}:${preimage.toString('hex')}`
const ctx = { service: 'api', path: '/bench/item', method: 'GET', now }
const b = (name: string, f: () => unknown, N = 50000) => { for (let i = 0; i < 5000; i++) f(); const c = process.cpuUsage(); for (let i = 0; i < N; i++) f(); const d = process.cpuUsage(c); console.log(name.padEnd(20), ((d.user + d.system) / N).toFixed(2), 'us cpu') }
b('full', () => Token.verify(L402.parseAuthorization([header])[0]!, secret, ctx))
b('createHash', () => createHash('sha256').update(preimage).digest())
b('hash()', () => hash('sha256', preimage, 'buffer'))
b('createHmac', () => createHmac('sha256', secret).update(preimage).update(preimage).digest())
b('rootKey', () => Token.rootKey(secret, preimage))
if (process.argv[2]) { for (let i = 0; i < 200000; i++) Token.verify(L402.parseAuthorization([header])[0]!, secret, ctx) }
