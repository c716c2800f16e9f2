/** `turnpike mcp`: the admin API as an MCP server on stdio. */
import { resolveClient } from '../admin/client.ts'
import { parseFlags } from './args.ts'

export const mcpHelp = `turnpike mcp — the admin API of a running gateway as an MCP server (stdio)

Usage:
  turnpike mcp [--url http://127.0.0.1:9402] [--token-file <file>]

Tools: get_health, get_gateway_info, list_routes, get_route, list_transactions, get_revenue,
get_request_stats, revoke_token, set_route, delete_route. Configure it in an MCP client as the command
"npx turnpike mcp" with $TURNPIKE_ADMIN_TOKEN (or --token-file) in its environment.

Options:
  --url <url>          admin listener (default $TURNPIKE_ADMIN_URL or http://127.0.0.1:9402)
  --token-file <file>  admin token file (default $TURNPIKE_ADMIN_TOKEN, else <data-dir>/admin-token)
  --data-dir <dir>     where turnpike generated the token (default $TURNPIKE_DATA_DIR or ./.turnpike)
  -h, --help           show this help
`

const options = { url: { type: 'string' }, 'token-file': { type: 'string' }, 'data-dir': { type: 'string' } } as const

export async function mcp(argv: string[]): Promise<number> {
  const { values, positionals } = parseFlags(argv, options, 'mcp')
  if (values.help) {
    process.stdout.write(mcpHelp)
    return 0
  }
  if (positionals.length > 0) {
    process.stderr.write(`turnpike mcp: unexpected argument ${positionals[0]}\n`)
    return 2
  }
  const client = resolveClient({ url: values.url, tokenFile: values['token-file'], dataDir: values['data-dir'] }, process.env)
  let mod: typeof import('../mcp/server.ts')
  let stdio: typeof import('@modelcontextprotocol/sdk/server/stdio.js')
  try {
    mod = await import('../mcp/server.ts')
    stdio = await import('@modelcontextprotocol/sdk/server/stdio.js')
  } catch {
    process.stderr.write('turnpike mcp needs the "@modelcontextprotocol/sdk" package: npm install @modelcontextprotocol/sdk\n')
    return 1
  }
  const { version } = await import('../internal/version.ts')
  const server = await mod.createServer(client, version)
  const transport = new stdio.StdioServerTransport()
  const closed = new Promise<void>((resolve) => {
    server.onclose = () => resolve()
    process.stdin.once('end', () => void server.close())
  })
  await server.connect(transport)
  process.stderr.write(`turnpike mcp: serving the admin API at ${client.url} on stdio\n`)
  await closed
  return 0
}
