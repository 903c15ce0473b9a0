import type { Logger } from 'pino';
import { z } from 'zod';
import { LANGUAGES } from '../../domain/languages.js';
import type { SessionService } from '../../session/session-service.js';
import { decodeFile, fileSchema } from '../http/execute-request-body.js';
import { sessionStateToWire, sessionToWire } from '../wire-session.js';
import { text } from './mcp-content.js';
import { networkArgument, requestedNetwork } from './network-argument.js';
import { defineTool, type McpTool, type ToolCall } from './mcp-tool.js';
import {
  describeImages,
  describeNetwork,
  describeSessionLimits,
  type SandboxFacts,
} from './sandbox-description.js';
import { SessionCalls } from './session-calls.js';
import { executeForTool } from './tool-execution.js';

export const sessionIdSchema = z.string().describe('The session_id create_session returned.');

/** Opens the session door for one tool call, bound to the caller who made it. */
export type SessionDoor = (call: ToolCall) => SessionCalls;

export function sessionDoor(sessions: SessionService, logger: Logger): SessionDoor {
  return (call) => new SessionCalls(sessions, call.caller, logger);
}

/** create_session, run_in_session, close_session: a persistent interpreter per conversation. */
export function sessionTools(door: SessionDoor, facts: SandboxFacts): McpTool[] {
  const createSession = defineTool({
    name: 'create_session',
    title: 'Start a persistent sandbox session',
    description: [
      'Start a persistent interpreter in its own isolated sandbox, for step-by-step work: variables, ' +
        'imports and files stay between run_in_session calls until close_session. Python sessions are an ' +
        'IPython (Jupyter) kernel: the value of the last expression is shown, and matplotlib plots ' +
        '(plt.show()) come back as images. Node.js sessions keep top-level let/const/function between calls.',
      'Available:',
      describeImages(facts),
      describeSessionLimits(facts),
      describeNetwork(facts),
      'Returns the session_id the other session tools take. Close the session when done.',
    ].join('\n'),
    inputSchema: z
      .object({
        language: z.enum(LANGUAGES).describe('The interpreter to start.'),
        files: z
          .array(fileSchema)
          .optional()
          .describe(
            'Files to put in the working directory first: {"path", "content"} or {"path", "content_b64"}.',
          ),
        idle_timeout_ms: z
          .number()
          .int()
          .optional()
          .describe(
            `Close the session after this long without a call; at most ${facts.sessionIdleTimeoutMs}.`,
          ),
        ...networkArgument(
          facts,
          "Hosts the session may reach for its whole life, within the server's allowlist.",
        ),
      })
      .strict(),
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
    call: async (args, call) => {
      const created = await door(call).create(
        {
          language: args.language,
          idleTimeoutMs: args.idle_timeout_ms,
          files: (args.files ?? []).map(decodeFile),
          ...requestedNetwork(args),
        },
        call.signal,
      );
      const wire = sessionToWire(created);
      return {
        content: [
          text(
            `session_id: ${created.sessionId}\n${created.language} session; closes after ` +
              `${created.idleTimeoutMs} ms without a call, at the latest at ${new Date(created.expiresAtMs).toISOString()}.`,
          ),
        ],
        structuredContent: wire,
      };
    },
  });

  const runInSession = defineTool({
    name: 'run_in_session',
    title: 'Run code in a session',
    description:
      "Run code as the session's next cell: it sees everything earlier cells defined. Returns stdout, " +
      'stderr, the value of the last expression and plots (as images). A cell past its timeout is ' +
      'interrupted and the session keeps its variables; a failing cell returns isError with the reason.',
    inputSchema: z
      .object({
        session_id: sessionIdSchema,
        code: z.string().describe('The code of the cell.'),
        timeout_ms: z
          .number()
          .int()
          .optional()
          .describe(
            `Wall-clock limit of this cell; default ${facts.sessionDefaultLimits.timeoutMs}, at most ${facts.limitCeilings.timeoutMs}.`,
          ),
      })
      .strict(),
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
    call: (args, call) =>
      executeForTool(
        (options) =>
          door(call).execute(
            args.session_id,
            {
              code: args.code,
              limits: args.timeout_ms === undefined ? {} : { timeoutMs: args.timeout_ms },
            },
            options,
          ),
        call,
      ),
  });

  const closeSession = defineTool({
    name: 'close_session',
    title: 'Close a session',
    description: 'End a session: its interpreter, variables and files are gone, its sandbox is removed.',
    inputSchema: z.object({ session_id: sessionIdSchema }).strict(),
    annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: false },
    call: async (args, call) => {
      await door(call).close(args.session_id);
      return { content: [text(`session ${args.session_id} closed`)] };
    },
  });

  const pauseSession = defineTool({
    name: 'pause_session',
    title: 'Pause a session',
    description:
      'Pause a session you will not use for a while: its whole state (variables, imports, files) is saved ' +
      'to disk and it holds no memory. The next run_in_session or file call resumes it (under a second), ' +
      'so pausing is never required; idle sessions are paused by themselves too.',
    inputSchema: z.object({ session_id: sessionIdSchema }).strict(),
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: false },
    call: async (args, call) => {
      const state = await door(call).pause(args.session_id, call.signal);
      return {
        content: [text(`session ${args.session_id} is ${state.paused ? 'paused' : 'running'}`)],
        structuredContent: sessionStateToWire(state),
      };
    },
  });

  const resumeSession = defineTool({
    name: 'resume_session',
    title: 'Resume a paused session',
    description: 'Start a paused session again now, exactly where it stopped (any call on it does this too).',
    inputSchema: z.object({ session_id: sessionIdSchema }).strict(),
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: false },
    call: async (args, call) => {
      const state = await door(call).resume(args.session_id, call.signal);
      const took = state.resumeMs === undefined ? '' : ` (resumed in ${state.resumeMs} ms)`;
      return {
        content: [text(`session ${args.session_id} is ${state.paused ? 'paused' : 'running'}${took}`)],
        structuredContent: sessionStateToWire(state),
      };
    },
  });

  return [createSession, runInSession, closeSession, pauseSession, resumeSession];
}
