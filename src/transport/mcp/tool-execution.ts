import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { collect, type Execute } from '../http/execute-collecting.js';
import { executionContent } from './mcp-content.js';
import type { ToolCall } from './mcp-tool.js';

/**
 * Runs an execution (one-shot or session cell) for a tool call: cancelled by the call's signal, its
 * output streamed as progress notifications when the client asked for progress, and answered as MCP
 * content once it ends (after the last notification).
 */
export async function executeForTool(execute: Execute, call: ToolCall): Promise<CallToolResult> {
  const collected = await collect(
    (options) =>
      execute({
        ...options,
        onEvent: (event) => {
          options.onEvent(event);
          if (event.type === 'stdout' || event.type === 'stderr')
            call.progress?.output(event.type, event.data);
        },
      }),
    call.signal,
    call.caller.peer ?? 'mcp',
  );
  await call.progress?.flushed();
  return executionContent(collected);
}
