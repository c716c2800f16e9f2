/**
 * The admin operations as MCP tools, for AI agents that operate a gateway: typed inputs (the JSON
 * Schemas of `admin/operations.ts`), read-only and destructive hints, JSON results. Calls go to the admin API, so
 * the agent holds no more power than the admin token grants and the gateway stays the only
 * process that touches its store. The SDK is loaded lazily (`@modelcontextprotocol/sdk`).
 * @module
 */
import { AdminCallError, call, type ClientOptions } from '../admin/client.ts'
import { InputError, operations, validateInput, type Operation } from '../admin/operations.ts'

/** MCP tool name of each admin operation. */
export const toolNames: Readonly<Record<string, string>> = {
  health: 'get_health',
  info: 'get_gateway_info',
  routes: 'list_routes',
  route: 'get_route',
  transactions: 'list_transactions',
  revenue: 'get_revenue',
  stats: 'get_request_stats',
  revoke: 'revoke_token',
  set_route: 'set_route',
  delete_route: 'delete_route',
}

/** The tool list (`tools/list`). */
export function tools() {
  return operations.map((op) => ({
    name: toolNames[op.name] ?? op.name,
    title: op.title,
    description: op.description,
    inputSchema: op.input as unknown as { type: 'object'; properties: Record<string, object>; required: string[] },
    annotations: { title: op.title, readOnlyHint: !op.mutates, destructiveHint: op.mutates, idempotentHint: true, openWorldHint: false },
  }))
}

type ToolResult = { content: { type: 'text'; text: string }[]; structuredContent?: Record<string, unknown>; isError?: boolean }

const byTool = new Map<string, Operation>(operations.map((op) => [toolNames[op.name] ?? op.name, op]))

/** Runs one tool call (`tools/call`) against the admin API. Never throws: errors are tool results. */
export async function callTool(client: ClientOptions, name: string, args: Record<string, unknown> = {}): Promise<ToolResult> {
  const op = byTool.get(name)
  const fail = (text: string, extra?: unknown): ToolResult => ({
    content: [{ type: 'text', text: extra === undefined ? text : `${text}\n${JSON.stringify(extra, null, 2)}` }],
    isError: true,
  })
  if (!op) return fail(`Unknown tool ${name}`)
  let input: Record<string, unknown>
  try {
    input = validateInput(op, args)
  } catch (e) {
    if (e instanceof InputError) return fail(`Invalid input: ${e.param} ${e.message}`)
    throw e
  }
  try {
    const result = (await call(client, op.name, input)) as Record<string, unknown>
    return { content: [{ type: 'text', text: JSON.stringify(result, null, 2) }], structuredContent: result }
  } catch (e) {
    if (e instanceof AdminCallError) {
      // A refused route lists each issue with its path: name them first, then the whole problem.
      const issues = e.failure.problem?.issues
      const listed = Array.isArray(issues) ? issues.map((i: { path?: string; message?: string }) => `\n- ${i.path || '(route)'}: ${i.message}`).join('') : ''
      return fail(`The admin API refused: ${e.message}${listed}`, e.failure.problem)
    }
    return fail(`The call failed: ${(e as Error).message}`)
  }
}

/** Creates the MCP server (not connected). */
export async function createServer(client: ClientOptions, version: string) {
  const { Server } = await import('@modelcontextprotocol/sdk/server/index.js')
  const { CallToolRequestSchema, ListToolsRequestSchema } = await import('@modelcontextprotocol/sdk/types.js')
  const server = new Server(
    { name: 'turnpike', version },
    {
      capabilities: { tools: {} },
      instructions:
        'Operate a turnpike Lightning (L402) payment gateway through its admin API: inspect routes and prices, ' +
        'list issued invoices and their payment status, read revenue and request statistics, revoke a ' +
        'token, and create, replace or delete routes live (set_route, delete_route). Amounts are ' +
        'millisatoshis (1 sat = 1000 msat).',
    },
  )
  server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools: tools() }))
  server.setRequestHandler(CallToolRequestSchema, async (req) => callTool(client, req.params.name, req.params.arguments ?? {}))
  return server
}
