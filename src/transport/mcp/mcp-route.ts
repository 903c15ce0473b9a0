import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { Implementation } from '@modelcontextprotocol/sdk/types.js';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { cutStalledResponse } from './cut-stalled-response.js';
import type { McpCaller } from './mcp-caller.js';
import { createMcpServer } from './mcp-server.js';
import type { McpToolbox } from './mcp-toolbox.js';

export interface McpRouteOptions {
  toolbox: McpToolbox;
  info: Implementation;
  /** The caller the HTTP admission let in for this request (it runs before any route). */
  callerOf(request: FastifyRequest): McpCaller;
  /** A response blocked this long on a client that does not read is cut (and its call cancelled). */
  writeTimeoutMs: number;
  logger: Logger;
}

/**
 * MCP over Streamable HTTP at POST /mcp, stateless: every POST gets a server and transport of its own,
 * built for the caller the admission hook let in for that very request, and dropped when the response
 * ends. Nothing of one request (its JSON-RPC ids, its in-flight calls, its caller) can reach another,
 * there is no MCP session table to expire or to be guessed, and any replica can answer any request.
 * The tools need nothing stateful from MCP: sandbox sessions are named by their session_id argument,
 * and progress goes out on the POST's own SSE stream. The price: a `notifications/cancelled` arrives
 * in a POST of its own and reaches no call; a client cancels by dropping the connection, which closes
 * the server, aborts its calls and so cancels their executions (killing the sandbox).
 */
export function registerMcpRoute(app: FastifyInstance, options: McpRouteOptions): void {
  const logger = options.logger.child({ transport: 'mcp' });

  app.post('/mcp', async (request, reply) => {
    const server = createMcpServer(options.toolbox, options.callerOf(request), options.info, logger);
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
    // Also on a disconnect mid-call: closing aborts the calls still running, which cancels them.
    reply.raw.on('close', () => {
      server.close().catch((error: unknown) => logger.warn({ err: error }, 'closing an MCP server failed'));
    });
    await server.connect(transport);
    reply.hijack();
    cutStalledResponse(reply.raw, options.writeTimeoutMs);
    try {
      await transport.handleRequest(request.raw, reply.raw, request.body);
    } catch (error) {
      logger.error({ err: error }, 'MCP request failed');
      // Once a stream has begun nothing can be said in it any more: the client sees it end.
      if (reply.raw.headersSent) return void reply.raw.destroy();
      reply.raw.writeHead(500, { 'content-type': 'application/json' });
      reply.raw.end(
        JSON.stringify({ jsonrpc: '2.0', error: { code: -32603, message: 'internal error' }, id: null }),
      );
    }
  });

  // Stateless: no standalone notification stream (GET) and no MCP session to end (DELETE).
  const notAllowed = async (_request: FastifyRequest, reply: FastifyReply) =>
    reply
      .status(405)
      .header('allow', 'POST')
      .send({
        jsonrpc: '2.0',
        error: { code: -32000, message: 'method not allowed: this MCP endpoint is stateless, use POST' },
        id: null,
      });
  app.get('/mcp', notAllowed);
  app.delete('/mcp', notAllowed);
}
