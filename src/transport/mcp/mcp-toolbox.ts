import type { Tool } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import type { McpTool } from './mcp-tool.js';

/**
 * The tools one server offers, with their `tools/list` entries computed once: the input schemas
 * converted to JSON Schema as the SDK's McpServer converts zod 4 schemas (draft-07, input side), so a
 * model sees exactly what the arguments are checked against.
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
        inputSchema: toolInputJsonSchema(tool.inputSchema),
        annotations: tool.annotations,
      })),
    );
  }

  get(name: string): McpTool | undefined {
    return this.byName.get(name);
  }
}

/**
 * JSON Schema of a tool's input. zod states an integer's safe-integer range as bounds; they say nothing
 * to a model (the service narrows limits itself, as for /v1/execute) and are left out.
 */
export function toolInputJsonSchema(schema: z.ZodObject): Tool['inputSchema'] {
  return z.toJSONSchema(schema, {
    target: 'draft-7',
    io: 'input',
    override: ({ jsonSchema }) => {
      if (jsonSchema.minimum === Number.MIN_SAFE_INTEGER) delete jsonSchema.minimum;
      if (jsonSchema.maximum === Number.MAX_SAFE_INTEGER) delete jsonSchema.maximum;
    },
  }) as Tool['inputSchema'];
}
