import { packagesFromWire } from '../wire-install.js';
import type { sendUnaryData, ServerUnaryCall, UntypedServiceImplementation } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { mimeTypeFor } from '../../domain/artifact.js';
import type { SessionService } from '../../session/session-service.js';
import type { CallerIdentity } from '../auth/caller-admission.js';
import { requestedLimitsFromWire, type WireLimits } from '../wire-limits.js';
import { sessionStateToWire, sessionToWire } from '../wire-session.js';
import type { GrpcAdmission } from './grpc-admission.js';
import { toGrpcError } from './grpc-status.js';

interface CreateSessionRequest {
  language: string;
  limits: WireLimits | null;
  idle_timeout_ms: number;
  files: { path: string; content: Buffer }[];
  network: { allow: string[] } | null;
  packages: { python: string[]; nodejs: string[] } | null;
}
interface SessionRequest {
  session_id: string;
  path: string;
  content: Buffer;
}

/**
 * One unary call: its caller (admitted on its metadata), the use case (cancelled with the call), its
 * answer; anything thrown goes through the one error mapping.
 */
function unary<Request>(
  admission: GrpcAdmission,
  logger: Logger,
  handle: (request: Request, caller: CallerIdentity, signal: AbortSignal) => Promise<Record<string, unknown>>,
) {
  return (
    call: ServerUnaryCall<Request, Record<string, unknown>>,
    callback: sendUnaryData<Record<string, unknown>>,
  ) => {
    const controller = new AbortController();
    call.on('cancelled', () => controller.abort());
    Promise.resolve()
      .then(() => handle(call.request, admission.callerOf(call.metadata), controller.signal))
      .then(
        (response) => callback(null, response),
        (error: unknown) => callback(toGrpcError(error, logger)),
      );
  };
}

/** Whether a file call resumed its session, as the response's `resumed` and `resume_ms` fields. */
function resumeNote(): { listener: (resumeMs: number) => void; fields(): Record<string, unknown> } {
  let resumeMs: number | undefined;
  return {
    listener: (ms) => (resumeMs = ms),
    fields: () => ({ resumed: resumeMs !== undefined, resume_ms: resumeMs ?? 0 }),
  };
}

/** CreateSession, CloseSession, UploadFile, DownloadFile, ListFiles, PauseSession, ResumeSession. */
export function sessionHandlers(
  sessions: SessionService,
  admission: GrpcAdmission,
  logger: Logger,
): UntypedServiceImplementation {
  return {
    CreateSession: unary<CreateSessionRequest>(admission, logger, async (request, caller, signal) => {
      const created = await sessions.create(
        caller,
        {
          language: request.language,
          limits: requestedLimitsFromWire(request.limits, (value) => value === 0),
          idleTimeoutMs: request.idle_timeout_ms,
          files: request.files.map((file) => ({ path: file.path, content: file.content })),
          ...(request.network ? { network: { allow: request.network.allow } } : {}),
          ...packagesFromWire(request.packages),
        },
        signal,
      );
      return sessionToWire(created);
    }),
    CloseSession: unary<SessionRequest>(admission, logger, async (request, caller) => {
      await sessions.close(caller, request.session_id);
      return {};
    }),
    UploadFile: unary<SessionRequest>(admission, logger, async (request, caller, signal) => {
      const resumed = resumeNote();
      const size = await sessions.upload(
        caller,
        request.session_id,
        request.path,
        request.content,
        signal,
        resumed.listener,
      );
      return { path: request.path, size, ...resumed.fields() };
    }),
    DownloadFile: unary<SessionRequest>(admission, logger, async (request, caller, signal) => {
      const resumed = resumeNote();
      const content = await sessions.download(
        caller,
        request.session_id,
        request.path,
        signal,
        resumed.listener,
      );
      return {
        path: request.path,
        mime_type: mimeTypeFor(request.path),
        size: content.length,
        content,
        ...resumed.fields(),
      };
    }),
    ListFiles: unary<SessionRequest>(admission, logger, async (request, caller, signal) => {
      const resumed = resumeNote();
      const listing = await sessions.list(caller, request.session_id, signal, resumed.listener);
      return { files: listing.files, truncated: listing.truncated, ...resumed.fields() };
    }),
    PauseSession: unary<SessionRequest>(admission, logger, async (request, caller, signal) =>
      sessionStateToWire(await sessions.pause(caller, request.session_id, signal)),
    ),
    ResumeSession: unary<SessionRequest>(admission, logger, async (request, caller, signal) =>
      sessionStateToWire(await sessions.resume(caller, request.session_id, signal)),
    ),
  };
}
