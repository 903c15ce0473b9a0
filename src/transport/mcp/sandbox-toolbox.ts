import type { Logger } from 'pino';
import type { ExecutionService } from '../../execution/execution-service.js';
import type { SessionService } from '../../session/session-service.js';
import { McpToolbox } from './mcp-toolbox.js';
import { runCodeTool } from './run-code-tool.js';
import type { SandboxFacts } from './sandbox-description.js';
import { sessionFileTools } from './session-file-tools.js';
import { sessionDoor, sessionTools } from './session-tools.js';

/** Every tool the service offers over MCP: run_code, and the session tools unless sessions are off. */
export function sandboxToolbox(
  executions: ExecutionService,
  sessions: SessionService,
  facts: SandboxFacts,
  logger: Logger,
): McpToolbox {
  const door = sessionDoor(sessions, logger.child({ transport: 'mcp' }));
  return new McpToolbox([
    runCodeTool(executions, facts),
    ...(facts.maxSessions > 0 ? [...sessionTools(door, facts), ...sessionFileTools(door, facts)] : []),
  ]);
}
