/** The `turnpike` command line: dispatches to subcommands and turns errors into clear messages. */
import { is } from '../Errors.ts'
import { UsageError } from './args.ts'

export const help = `turnpike — a Lightning (L402) paywall for any HTTP API

Usage:
  turnpike serve  --backend dev --upstream http://127.0.0.1:3000 --price 10sat
  turnpike serve  --config turnpike.yaml
  turnpike demo   [--auto]           demo upstream + gateway + dev node, no real money
  turnpike pay    <invoice>          pay through a gateway's dev node
  turnpike token  inspect <macaroon> decode a token
  turnpike token  revoke <token-id>  refuse a token on every gateway sharing the store
  turnpike price  set <route> <price> change a route's price at runtime on every instance
  turnpike admin  <command>          the admin API: info, routes, transactions, revenue, revoke, …
  turnpike mcp                       the admin API as an MCP server on stdio (for AI agents)
  turnpike doctor [--config file]    check the Lightning backend: credentials, node, network
  turnpike cert   --self-signed      a development TLS certificate for --tls-cert/--tls-key
  turnpike <command> --help

Docs: README.md
`

/** Runs the CLI; resolves the exit code. */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv
  try {
    switch (command) {
      case 'serve':
        return await (await import('./serve.ts')).serve(rest)
      case 'demo':
        return await (await import('./demo.ts')).demo(rest)
      case 'pay':
        return await (await import('./pay.ts')).pay(rest)
      case 'token':
        if (rest[0] === 'revoke') return await (await import('../access/revokeCli.ts')).revoke(rest.slice(1))
        return await (await import('./token.ts')).token(rest)
      case 'admin':
        return await (await import('./admin.ts')).admin(rest)
      case 'price':
        return await (await import('../access/priceCli.ts')).price(rest)
      case 'mcp':
        return await (await import('./mcp.ts')).mcp(rest)
      case 'cert':
        return await (await import('./cert.ts')).cert(rest)
      case 'doctor':
        return await (await import('./doctor.ts')).doctor(rest)
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        process.stdout.write(help)
        return command === undefined ? 2 : 0
      case '--version':
      case '-v':
        process.stdout.write(`${(await import('../internal/version.ts')).version}\n`)
        return 0
      default:
        process.stderr.write(`turnpike: unknown command "${command}"\n\n${help}`)
        return 2
    }
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`turnpike: ${e.message}\n`)
      return 2
    }
    if (is(e)) {
      process.stderr.write(`turnpike: ${e.message}\n`)
      return e.code === 'TURNPIKE_CONFIG_INVALID' ? 78 : 1
    }
    if ((e as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      process.stderr.write(`turnpike: the listen address is already in use (${(e as Error).message})\n`)
      return 1
    }
    process.stderr.write(`turnpike: ${(e as Error).stack ?? String(e)}\n`)
    return 1
  }
}
