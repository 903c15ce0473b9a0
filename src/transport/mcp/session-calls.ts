import type { Logger } from 'pino';
import type { ExecutionResult } from '../../domain/execution-result.js';
import type { ExecuteOptions } from '../../execution/execution-service.js';
import type { CellInput, CreateSessionInput } from '../../session/session-request.js';
import type { SessionCreated, SessionService, SessionState } from '../../session/session-service.js';
import type { SessionFile } from '../../session/session-sandbox.js';
import { sessionLogId } from '../../session/session-log-id.js';
import type { McpCaller } from './mcp-caller.js';

/**
 * The one door from the MCP tools to the session use case, bound to the admitted caller: a session
 * belongs to the identity that created it, over MCP as over gRPC and REST.
 */
export class SessionCalls {
  constructor(
    private readonly sessions: SessionService,
    private readonly caller: McpCaller,
    private readonly logger: Logger,
  ) {}

  create(input: CreateSessionInput, signal: AbortSignal): Promise<SessionCreated> {
    this.trace('create_session');
    return this.sessions.create(this.caller.identity, input, signal);
  }

  execute(sessionId: string, input: CellInput, options: ExecuteOptions): Promise<ExecutionResult> {
    this.trace('run_in_session', sessionId);
    return this.sessions.execute(this.caller.identity, sessionId, input, options);
  }

  upload(sessionId: string, path: string, content: Buffer, signal: AbortSignal): Promise<number> {
    this.trace('upload_file', sessionId);
    return this.sessions.upload(this.caller.identity, sessionId, path, content, signal);
  }

  download(sessionId: string, path: string, signal: AbortSignal): Promise<Buffer> {
    this.trace('download_file', sessionId);
    return this.sessions.download(this.caller.identity, sessionId, path, signal);
  }

  list(sessionId: string, signal: AbortSignal): Promise<{ files: SessionFile[]; truncated: boolean }> {
    this.trace('list_files', sessionId);
    return this.sessions.list(this.caller.identity, sessionId, signal);
  }

  pause(sessionId: string, signal: AbortSignal): Promise<SessionState> {
    this.trace('pause_session', sessionId);
    return this.sessions.pause(this.caller.identity, sessionId, signal);
  }

  resume(sessionId: string, signal: AbortSignal): Promise<SessionState> {
    this.trace('resume_session', sessionId);
    return this.sessions.resume(this.caller.identity, sessionId, signal);
  }

  close(sessionId: string): Promise<void> {
    this.trace('close_session', sessionId);
    return this.sessions.close(this.caller.identity, sessionId);
  }

  private trace(tool: string, sessionId?: string): void {
    this.logger.debug(
      {
        tool,
        session: sessionId === undefined ? undefined : sessionLogId(sessionId),
        peer: this.caller.peer,
      },
      'mcp session call',
    );
  }
}
