import { toJsonSchemaCompat } from '@modelcontextprotocol/sdk/server/zod-json-schema-compat.js';
import type { Tool } from '@modelcontextprotocol/sdk/types.js';
import type { McpTool } from './mcp-tool.js';

/**
 * The tools one server offers, with their `tools/list` entries computed once: the input schemas
 * converted to JSON Schema the way the SDK's McpServer converts them, so a model sees exactly what
 * the arguments are checked against.
 */
export class McpToolbox {
  readonly listing: readonly Tool[];
  private readonly byName: ReadonlyMap<string, McpTool>;

  constructor(tools: readonly McpTool[]) {
    this.byName = new Map(tools.map((tool) => [tool.name, tool]));
    this.listing = Object.freeze(
      tools.map((tool) => ({
        name: tool.name,
        title: tool.title,
        description: tool.description,
        inputSchema: toJsonSchemaCompat(tool.inputSchema, { pipeStrategy: 'input' }) as Tool['inputSchema'],
        annotations: tool.annotations,
      })),
    );
  }

  get(name: string): McpTool | undefined {
    return this.byName.get(name);
  }
}
