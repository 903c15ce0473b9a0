import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import {
  CallToolRequestSchema,
  ListToolsRequestSchema,
  type Implementation,
} from '@modelcontextprotocol/sdk/types.js';
import type { Logger } from 'pino';
import { InvalidArgumentError } from '../../errors/service-error.js';
import type { McpCaller } from './mcp-caller.js';
import { toMcpError } from './mcp-errors.js';
import type { McpToolbox } from './mcp-toolbox.js';
import { OutputProgress } from './output-progress.js';

const INSTRUCTIONS =
  'Runs untrusted Python and Node.js code in isolated gVisor sandboxes. Use run_code for a one-off ' +
  'program (nothing persists between calls); use create_session, run_in_session, upload_file, ' +
  'list_files, download_file and close_session for step-by-step work that keeps variables and files. ' +
  'Pass a progressToken to see output while a program runs.';

/**
 * An MCP server over `toolbox` for one admitted caller. The SDK's low-level Server rather than its
 * McpServer: McpServer turns every error a tool throws (invalid arguments included) into a tool
 * result, and here only a program's own failure is one; a request the service cannot take is a
 * JSON-RPC error (mapped in mcp-errors.ts).
 */
export function createMcpServer(
  toolbox: McpToolbox,
  caller: McpCaller,
  info: Implementation,
  logger: Logger,
): Server {
  const server = new Server(info, { capabilities: { tools: {} }, instructions: INSTRUCTIONS });
  server.setRequestHandler(ListToolsRequestSchema, () => ({ tools: [...toolbox.listing] }));
  server.setRequestHandler(CallToolRequestSchema, async (request, extra) => {
    const progressToken = request.params._meta?.progressToken;
    const progress =
      progressToken === undefined
        ? undefined
        : new OutputProgress(progressToken, (notification) => extra.sendNotification(notification));
    try {
      const tool = toolbox.get(request.params.name);
      if (!tool) {
        throw new InvalidArgumentError(`unknown tool "${request.params.name.slice(0, 100)}"`, 'name');
      }
      return await tool.call(request.params.arguments, { signal: extra.signal, caller, progress });
    } catch (error) {
      throw toMcpError(error, logger);
    }
  });
  return server;
}
