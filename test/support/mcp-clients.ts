import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { packageRoot } from '../../src/config/package-root.js';

/** The MCP SDK's own client, connected to the service's /mcp over Streamable HTTP. */
export async function httpMcpClient(httpUrl: string, token: string | undefined): Promise<Client> {
  const client = new Client({ name: 'code-sandbox-test', version: '0' });
  const transport = new StreamableHTTPClientTransport(new URL('/mcp', httpUrl), {
    requestInit: { headers: token ? { authorization: `Bearer ${token}` } : {} },
  });
  await client.connect(transport);
  return client;
}

/**
 * The MCP SDK's client driving the stdio bridge (`code-sandbox mcp`) as a child process, the way a
 * desktop agent starts it. Its stderr is collected.
 */
export async function stdioBridgeClient(
  httpUrl: string,
  token: string | undefined,
): Promise<{ client: Client; stderr: () => string }> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: ['--import', 'tsx', 'src/cli.ts', 'mcp', '--url', httpUrl],
    cwd: packageRoot(),
    env: { PATH: process.env.PATH ?? '', ...(token ? { CODE_SANDBOX_TOKEN: token } : {}) },
    stderr: 'pipe',
  });
  let stderr = '';
  transport.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const client = new Client({ name: 'code-sandbox-bridge-test', version: '0' });
  try {
    await client.connect(transport);
  } catch (error) {
    await transport.close(); // ends the child process
    throw error;
  }
  return { client, stderr: () => stderr };
}

/** The text blocks of a tool result, in order. */
export function texts(result: CallToolResult): string[] {
  return result.content.flatMap((block) => (block.type === 'text' ? [block.text] : []));
}
