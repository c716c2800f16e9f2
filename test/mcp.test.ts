/** `turnpike mcp` over stdio, driven by the official MCP SDK client. */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js'
import { startAdmin, type AdminServer } from '../src/admin/server.ts'
import { silent } from '../src/internal/log.ts'
import { callTool } from '../src/mcp/server.ts'
import { buyCredential, echo, listen, startGateway, type Gateway } from './harness.ts'

const token = 'mcp-test-token-0123456789abcdef'
const bin = fileURLToPath(new URL('../src/bin.ts', import.meta.url))

type Result = { isError?: boolean; content: { type: string; text: string }[]; structuredContent?: Record<string, any> }

describe('turnpike mcp', () => {
  let upstream: Awaited<ReturnType<typeof listen>>
  let g: Gateway
  let admin: AdminServer
  let client: Client
  let stderr = ''

  before(async () => {
    upstream = await listen(echo)
    g = await startGateway({
      upstream: upstream.url,
      admin: { listen: '127.0.0.1:0', token },
      routes: [{ name: 'api', path: '/api/*', price: '10sat' }, { name: 'day', path: '/day/*', price: '5sat', access: 'pass:1d' }],
    })
    admin = await startAdmin(g.rt, silent)
    await buyCredential(g, `${g.url}/api/a`)
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [bin, 'mcp', '--url', admin.url],
      env: { ...(process.env as Record<string, string>), TURNPIKE_ADMIN_TOKEN: token },
      stderr: 'pipe',
    })
    transport.stderr?.on('data', (d) => (stderr += d))
    client = new Client({ name: 'turnpike-test', version: '1.0.0' })
    await client.connect(transport)
  })
  after(async () => {
    await client?.close()
    await admin.close()
    await g.close()
    await upstream.close()
  })

  it('behavior: lists one typed tool per admin operation, with read-only hints', async () => {
    const { tools } = await client.listTools()
    assert.deepEqual(tools.map((t) => t.name), ['get_health', 'get_gateway_info', 'list_routes', 'get_route', 'list_transactions', 'get_revenue', 'get_request_stats', 'revoke_token', 'set_route', 'delete_route'])
    const tx = tools.find((t) => t.name === 'list_transactions')!
    assert.equal(tx.inputSchema.type, 'object')
    assert.deepEqual(Object.keys(tx.inputSchema.properties ?? {}), ['route', 'status', 'since', 'until', 'limit', 'cursor', 'lookup'])
    assert.equal(tx.annotations?.readOnlyHint, true)
    const revoke = tools.find((t) => t.name === 'revoke_token')!
    assert.deepEqual(Object.keys(revoke.inputSchema.properties ?? {}), ['payment_hash', 'token_id'])
    assert.equal(revoke.annotations?.destructiveHint, true)
    const set = tools.find((t) => t.name === 'set_route')!
    assert.deepEqual(set.inputSchema.required, ['name', 'route'])
    assert.equal((set.inputSchema.properties as Record<string, { type: string }>).route!.type, 'object')
    for (const t of [set, tools.find((t) => t.name === 'delete_route')!]) {
      assert.deepEqual([t.annotations?.readOnlyHint, t.annotations?.destructiveHint, t.annotations?.idempotentHint], [false, true, true], t.name)
    }
    assert.match(client.getInstructions() ?? '', /set_route/)
    assert.match(client.getInstructions() ?? '', /millisatoshis/)
    assert.match(stderr, /serving the admin API/)
  })

  it('behavior: tools return the admin API answers as structured content', async () => {
    const routes = (await client.callTool({ name: 'list_routes', arguments: {} })) as Result
    assert.equal(routes.isError, undefined)
    assert.deepEqual(routes.structuredContent!.routes.map((r: { name: string }) => r.name), ['api', 'day'])
    assert.deepEqual(JSON.parse(routes.content[0]!.text), routes.structuredContent)

    const tx = (await client.callTool({ name: 'list_transactions', arguments: { status: 'settled', limit: 10 } })) as Result
    assert.equal(tx.structuredContent!.transactions.length, 1)
    const hash = tx.structuredContent!.transactions[0].payment_hash as string

    const revenue = (await client.callTool({ name: 'get_revenue', arguments: {} })) as Result
    assert.equal(revenue.structuredContent!.total.settled_msat, '10000')

    const revoked = (await client.callTool({ name: 'revoke_token', arguments: { payment_hash: hash } })) as Result
    assert.equal(revoked.structuredContent!.revoked, true)

    const route = (await client.callTool({ name: 'get_route', arguments: { name: 'day' } })) as Result
    assert.deepEqual(route.structuredContent!.access, { type: 'pass', duration_secs: 86400 })
  })

  it('error: bad input and API refusals come back as tool errors', async () => {
    const bad = (await client.callTool({ name: 'list_transactions', arguments: { limit: 0 } })) as Result
    assert.equal(bad.isError, true)
    assert.match(bad.content[0]!.text, /Invalid input: limit must be an integer from 1 to 200/)
    const extra = (await client.callTool({ name: 'get_health', arguments: { verbose: true } })) as Result
    assert.equal(extra.isError, true)
    const missing = (await client.callTool({ name: 'get_route', arguments: { name: 'nope' } })) as Result
    assert.equal(missing.isError, true)
    assert.match(missing.content[0]!.text, /404 No route named nope/)
    assert.match(missing.content[0]!.text, /"code": "TURNPIKE_NOT_FOUND"/)
    const unknown = (await client.callTool({ name: 'drop_database', arguments: {} })) as Result
    assert.equal(unknown.isError, true)
  })

  it('behavior: an agent sets a priced route, sees it charge, and deletes it', async () => {
    assert.equal((await fetch(`${g.url}/agent/x`)).status, 404)
    const set = (await client.callTool({ name: 'set_route', arguments: { name: 'agent', route: { path: '/agent/*', price: '3sat', access: 'pass:1h' } } })) as Result
    assert.equal(set.isError, undefined, set.content[0]?.text)
    assert.equal(set.structuredContent!.route.price_msat, '3000')
    assert.equal(typeof set.structuredContent!.version, 'number')
    const challenged = await fetch(`${g.url}/agent/x`)
    assert.equal(challenged.status, 402)
    assert.equal(((await challenged.json()) as { amount_msat: number }).amount_msat, 3000)
    const listed = (await client.callTool({ name: 'list_routes', arguments: {} })) as Result
    assert.deepEqual(listed.structuredContent!.routes.map((r: { name: string }) => r.name), ['api', 'day', 'agent'])

    const replaced = (await client.callTool({ name: 'set_route', arguments: { name: 'agent', route: { path: '/agent/*', price: '4sat' } } })) as Result
    assert.equal(replaced.structuredContent!.route.price_msat, '4000')

    const deleted = (await client.callTool({ name: 'delete_route', arguments: { name: 'agent' } })) as Result
    assert.equal(deleted.isError, undefined, deleted.content[0]?.text)
    assert.equal(deleted.structuredContent!.deleted, 'agent')
    assert.equal((await fetch(`${g.url}/agent/x`)).status, 404)
    const again = (await client.callTool({ name: 'delete_route', arguments: { name: 'agent' } })) as Result
    assert.equal(again.isError, true)
    assert.match(again.content[0]!.text, /404 No route named agent/)
  })

  it('error: an invalid route is a tool error listing its issues, and changes nothing', async () => {
    const bad = (await client.callTool({ name: 'set_route', arguments: { name: 'bad', route: { path: 'nope', price: 'lots', extra: 1 } } })) as Result
    assert.equal(bad.isError, true)
    const text = bad.content[0]!.text
    assert.match(text, /The admin API refused: 400/)
    assert.match(text, /^- path: /m)
    assert.match(text, /^- price: /m)
    assert.match(text, /^- extra: /m)
    assert.match(text, /"issues": \[/)
    const notObject = (await client.callTool({ name: 'set_route', arguments: { name: 'bad', route: '/x 3sat' } })) as Result
    assert.equal(notObject.isError, true)
    assert.match(notObject.content[0]!.text, /Invalid input: route must be a JSON object/)
    const badName = (await client.callTool({ name: 'set_route', arguments: { name: 'Bad_Name', route: { path: '/x', price: 1 } } })) as Result
    assert.match(badName.content[0]!.text, /Invalid input: name must be route name/)
    const lastCheck = (await client.callTool({ name: 'list_routes', arguments: {} })) as Result
    assert.deepEqual(lastCheck.structuredContent!.routes.map((r: { name: string }) => r.name), ['api', 'day'])
  })

  it('error: a wrong token or an unreachable admin API is a tool error, not a crash', async () => {
    const refused = await callTool({ url: admin.url, token: 'wrong-wrong-wrong-wrong' }, 'get_health')
    assert.equal(refused.isError, true)
    assert.match(refused.content[0]!.text, /401/)
    const gone = await listen(() => {})
    await gone.close()
    const down = await callTool({ url: gone.url, token }, 'get_health')
    assert.equal(down.isError, true)
    assert.match(down.content[0]!.text, /cannot reach the admin API/)
    assert.ok(!stderr.includes(token), 'the token is not printed')
  })
})
