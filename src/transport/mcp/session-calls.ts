import type { Logger } from 'pino';
import type { ExecutionResult } from '../../domain/execution-result.js';
import type { ExecuteOptions } from '../../execution/execution-service.js';
import type { CellInput, CreateSessionInput } from '../../session/session-request.js';
import type { SessionCreated, SessionService } from '../../session/session-service.js';
import type { SessionFile } from '../../session/session-sandbox.js';
import type { McpCaller } from './mcp-caller.js';

/**
 * The one door from the MCP tools to the session use case, bound to the admitted caller. Sessions are
 * about to be bound to their creator (SessionService methods gain an owner derived from the
 * admission): that change is made here and nowhere else in the MCP transport. Until then the caller
 * is only logged.
 */
export class SessionCalls {
  constructor(
    private readonly sessions: SessionService,
    private readonly caller: McpCaller,
    private readonly logger: Logger,
  ) {}

  create(input: CreateSessionInput, signal: AbortSignal): Promise<SessionCreated> {
    this.trace('create_session');
    return this.sessions.create(input, signal);
  }

  execute(sessionId: string, input: CellInput, options: ExecuteOptions): Promise<ExecutionResult> {
    this.trace('run_in_session', sessionId);
    return this.sessions.execute(sessionId, input, options);
  }

  upload(sessionId: string, path: string, content: Buffer, signal: AbortSignal): Promise<number> {
    this.trace('upload_file', sessionId);
    return this.sessions.upload(sessionId, path, content, signal);
  }

  download(sessionId: string, path: string, signal: AbortSignal): Promise<Buffer> {
    this.trace('download_file', sessionId);
    return this.sessions.download(sessionId, path, signal);
  }

  list(sessionId: string, signal: AbortSignal): Promise<{ files: SessionFile[]; truncated: boolean }> {
    this.trace('list_files', sessionId);
    return this.sessions.list(sessionId, signal);
  }

  close(sessionId: string): Promise<void> {
    this.trace('close_session', sessionId);
    return this.sessions.close(sessionId);
  }

  private trace(tool: string, sessionId?: string): void {
    this.logger.debug(
      { tool, sessionId, admission: this.caller.admission, peer: this.caller.peer },
      'mcp session call',
    );
  }
}
