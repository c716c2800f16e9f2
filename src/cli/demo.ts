/** `turnpike demo`: demo upstream + gateway + dev node in one process, with copy-paste steps. */
import { createLogger } from '../internal/log.ts'
import { startDemoUpstream } from './demo-upstream.ts'
import { parseFlags } from './args.ts'
import { banner, start, untilSignal } from './serve.ts'
import { payAndFetch } from './client.ts'

export const demoHelp = `turnpike demo — a Lightning paywall you can try in one command (no real money)

Starts a demo upstream, the gateway and the built-in dev Lightning node, and prints curl steps.

Usage:
  turnpike demo [--listen 127.0.0.1:8402] [--data-dir ./.turnpike] [--auto]

Options:
  --listen <addr>      where the gateway listens (default 127.0.0.1:8402)
  --price <price>      price of /api/* (default 10sat)
  --data-dir <dir>     data directory (default ./.turnpike, or $TURNPIKE_DATA_DIR)
  --store <store>      sqlite (default) or memory
  --auto               run the whole 402 → pay → retry loop itself; exit 0 only after a paid 200
  --log-format <fmt>   text (default) or json
  -h, --help           show this help
`

export async function demo(argv: string[]): Promise<number> {
  const { values } = parseFlags(
    argv,
    { listen: { type: 'string' }, price: { type: 'string' }, 'data-dir': { type: 'string' }, store: { type: 'string' }, auto: { type: 'boolean' }, 'log-format': { type: 'string' } },
    'demo',
  )
  if (values.help) {
    process.stdout.write(demoHelp)
    return 0
  }
  const upstream = await startDemoUpstream()
  const logger = createLogger({ format: values['log-format'] === 'json' ? 'json' : 'text' })
  let started
  try {
    started = await start(
      {
        listen: values.listen ?? (values.auto ? '127.0.0.1:0' : '127.0.0.1:8402'),
        upstream: upstream.url,
        backend: 'dev',
        store: values.store ?? 'sqlite',
        dataDir: values['data-dir'] ?? process.env.TURNPIKE_DATA_DIR ?? '.turnpike',
        log: { format: values['log-format'] ?? 'text' },
        routes: [
          { name: 'api', path: '/api/*', price: values.price ?? '10sat', description: 'turnpike demo API call' },
          { name: 'free', path: '/*', price: 0 },
        ],
      },
      logger,
    )
  } catch (e) {
    await upstream.close()
    throw e
  }
  const { rt, proxy } = started
  banner(rt, proxy, logger)
  const out = (s: string) => process.stdout.write(s + '\n')
  let code = 0
  if (values.auto) {
    try {
      const { response } = await payAndFetch(`${proxy.url}/api/fact`, proxy.url, (l) => out(l))
      const body = await response.text()
      out(body)
      if (response.status !== 200) {
        out(`demo failed: expected 200 after paying, got ${response.status}`)
        code = 1
      } else out('demo ok: 402 → paid → 200')
    } catch (e) {
      out(`demo failed: ${(e as Error).message}`)
      code = 1
    }
  } else {
    const u = proxy.url
    out(`
turnpike demo is running. No real money moves: the dev node simulates Lightning.

  1. Ask for a paid resource (you get 402 and a challenge):
       curl -i ${u}/api/fact

  2. Pay the invoice from the challenge with the dev node:
       turnpike pay <invoice> --gateway ${u}        (or: npx turnpike pay …)

  3. Retry with the macaroon from the challenge and the preimage you got:
       curl -i -H 'Authorization: L402 <macaroon>:<preimage>' ${u}/api/fact

  All in one go (needs jq):
       R=$(curl -s ${u}/api/fact); M=$(echo "$R" | jq -r .macaroon); I=$(echo "$R" | jq -r .invoice)
       P=$(curl -s -X POST ${u}/.turnpike/dev/pay -d "{\\"invoice\\":\\"$I\\"}" | jq -r .preimage)
       curl -i -H "Authorization: L402 $M:$P" ${u}/api/fact

Press Ctrl-C to stop.`)
    await untilSignal()
  }
  await proxy.close()
  await rt.close()
  await upstream.close()
  return code
}
