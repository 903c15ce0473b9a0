import type { CallToolResult, ToolAnnotations } from '@modelcontextprotocol/sdk/types.js';
import type { z } from 'zod';
import { parseBody } from '../http/parse-body.js';
import type { McpCaller } from './mcp-caller.js';
import type { OutputProgress } from './output-progress.js';

/** What a tool call gets besides its arguments. */
export interface ToolCall {
  /** Aborted when the client disconnects (or the call is cancelled): it cancels what the tool started. */
  signal: AbortSignal;
  caller: McpCaller;
  /** Present when the client asked for progress (gave a progressToken). */
  progress: OutputProgress | undefined;
}

/**
 * One MCP tool: what `tools/list` shows (name, description, input schema) and what `tools/call` runs.
 * `call` gets arguments already checked against `inputSchema`; it returns the tool result (a failed
 * program is a result with `isError`) and throws a ServiceError for a request the service cannot take.
 */
export interface McpTool {
  name: string;
  title: string;
  description: string;
  inputSchema: z.ZodObject;
  annotations: ToolAnnotations;
  call(args: unknown, context: ToolCall): Promise<CallToolResult>;
}

/** A tool whose `call` sees its arguments typed; bad arguments are INVALID_ARGUMENT naming the field. */
export function defineTool<Schema extends z.ZodObject>(
  tool: Omit<McpTool, 'inputSchema' | 'call'> & {
    inputSchema: Schema;
    call(args: z.infer<Schema>, context: ToolCall): Promise<CallToolResult>;
  },
): McpTool {
  return { ...tool, call: (args, context) => tool.call(parseBody(tool.inputSchema, args ?? {}), context) };
}
