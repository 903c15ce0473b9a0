import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { InputFile } from '../domain/execution-request.js';
import type { ExecutionResult } from '../domain/execution-result.js';
import type { Language } from '../domain/languages.js';
import { resolveLimits, type Limits } from '../domain/limits.js';
import {
  InvalidArgumentError,
  NotFoundError,
  ResourceExhaustedError,
  toServiceError,
  UnavailableError,
} from '../errors/service-error.js';
import type { ExecuteOptions } from '../execution/execution-service.js';
import type { CallerIdentity } from '../domain/caller-identity.js';
import { startedEvent } from '../execution/started-event.js';
import type { InstallReport } from '../domain/install-report.js';
import { validatePackages, type PackageSpec } from '../domain/package-request.js';
import { splitCellInstall } from './cell-install.js';
import { describeEnd, OpenSession, type SessionCloseReason } from './open-session.js';
import { newSessionId } from './session-id.js';
import { sessionLogId } from './session-log-id.js';
import type { SessionMetrics } from './session-metrics.js';
import {
  checkFilePath,
  checkSessionId,
  validateCell,
  validateCreateSession,
  type CellInput,
  type CreateSessionInput,
  type SessionPolicy,
} from './session-request.js';
import type { CellOutcome, SessionFile, SessionSandboxProvider } from './session-sandbox.js';

export interface SessionServiceOptions {
  provider: SessionSandboxProvider;
  /** This process's name; every session id starts with it (see newSessionId). */
  instanceId: string;
  /** Sessions open at once, those being created included. */
  maxSessions: number;
  /** Sessions one caller may hold at once (SANDBOX_MAX_SESSIONS_PER_CALLER), those being created included. */
  maxSessionsPerCaller: number;
  maxLifetimeMs: number;
  defaultLimits: Readonly<Limits>;
  limitCeilings: Readonly<Limits>;
  policy: SessionPolicy;
  /** Largest file DownloadFile returns. */
  maxDownloadBytes: number;
  /** Most time one install may take (SANDBOX_PACKAGES_INSTALL_TIMEOUT_MS). */
  installTimeoutMs: number;
  metrics: SessionMetrics;
  logger: Logger;
}

export interface SessionCreated {
  sessionId: string;
  language: Language;
  limits: Limits;
  idleTimeoutMs: number;
  expiresAtMs: number;
  warm: boolean;
}

/** Files a listing returns at most. */
export const MAX_LISTED_FILES = 1000;
/** Suggested wait before retrying when every session slot is taken. */
const SESSIONS_FULL_RETRY_MS = 10_000;

/**
 * The session use case: a registry of live sessions of this process, each with a dedicated sandbox,
 * their lifetime (close, idle timeout, maximum lifetime, sandbox death) and one call at a time per
 * session. Transports call only this; it knows nothing of gRPC, HTTP or Docker.
 *
 * A session belongs to the caller that created it: every call names its caller, and a session of
 * another caller is answered exactly like one that does not exist (NOT_FOUND, same message). Each
 * caller holds at most `maxSessionsPerCaller` of the `maxSessions` slots.
 */
export class SessionService {
  private readonly sessions = new Map<string, OpenSession>();
  /** Slots each caller holds: its open sessions and those being created. */
  private readonly held = new Map<CallerIdentity, number>();
  private creating = 0;
  private closed = false;

  constructor(private readonly options: SessionServiceOptions) {}

  get openCount(): number {
    return this.sessions.size;
  }

  start(): void {
    this.options.provider.start();
  }

  async create(
    caller: CallerIdentity,
    input: CreateSessionInput,
    signal: AbortSignal,
  ): Promise<SessionCreated> {
    return this.refusalsCounted(async () => {
      const { policy, defaultLimits, limitCeilings, maxSessions, maxSessionsPerCaller, maxLifetimeMs } =
        this.options;
      const request = validateCreateSession(input, policy);
      const limits = resolveLimits(request.limits, defaultLimits, limitCeilings);
      if (this.closed) throw new UnavailableError('the service is shutting down');
      if (this.heldBy(caller) >= maxSessionsPerCaller) {
        throw new ResourceExhaustedError(
          `this caller already holds ${maxSessionsPerCaller} sessions, its limit (SANDBOX_MAX_SESSIONS_PER_CALLER); close one or retry later`,
          SESSIONS_FULL_RETRY_MS,
        );
      }
      if (this.sessions.size + this.creating >= maxSessions) {
        throw new ResourceExhaustedError(
          `all ${maxSessions} sessions are in use; close one or retry later`,
          SESSIONS_FULL_RETRY_MS,
        );
      }
      const sessionId = newSessionId(this.options.instanceId);
      const expiresAtMs = Date.now() + maxLifetimeMs;
      this.creating += 1;
      this.hold(caller, 1);
      let session: OpenSession | undefined;
      try {
        const sandbox = await this.options.provider.acquire({
          sandboxId: sessionLogId(sessionId),
          language: request.language,
          limits,
          expiresAtMs,
        });
        session = new OpenSession({
          id: sessionId,
          owner: caller,
          language: request.language,
          limits,
          network: request.network,
          idleTimeoutMs: request.idleTimeoutMs,
          expiresAtMs,
          sandbox,
          onExpire: (expired, reason) => this.end(expired, reason),
        });
        this.sessions.set(sessionId, session);
        for (const file of request.files) await this.uploadInto(session, file, signal);
        if (request.packages.length > 0)
          await this.installAtCreate(session, request.packages, limits, signal);
      } catch (error) {
        // A session that exists gives its slot back when it ends; one that never did, here.
        if (session) this.end(session, 'closed');
        else this.hold(caller, -1);
        throw error;
      } finally {
        this.creating -= 1;
      }
      if (this.closed || signal.aborted) {
        // Nobody will ever learn this id: do not keep the sandbox.
        this.end(session, this.closed ? 'shutdown' : 'closed');
        throw new UnavailableError('the session was not handed out (cancelled or shutting down)');
      }
      this.options.metrics.sessionOpened(request.language, session.sandbox.warm);
      this.options.logger.info(
        {
          session: sessionLogId(sessionId),
          caller,
          sandboxId: session.sandbox.sandboxId,
          language: request.language,
          limits,
          egressRules: request.network.rules.length,
          warm: session.sandbox.warm,
        },
        'session created',
      );
      return {
        sessionId,
        language: request.language,
        limits,
        idleTimeoutMs: request.idleTimeoutMs,
        expiresAtMs,
        warm: session.sandbox.warm,
      };
    });
  }

  /** Runs `input` as the session's next cell. Events and result as ExecutionService.execute. */
  async execute(
    caller: CallerIdentity,
    sessionId: string,
    input: CellInput,
    options: ExecuteOptions,
  ): Promise<ExecutionResult> {
    return this.refusalsCounted(async () => {
      const receivedAt = performance.now();
      const session = this.get(caller, sessionId);
      const cell = validateCell(input, session.language, this.options.policy);
      const install = this.cellInstall(session.language, cell.code);
      const limits = resolveLimits(cell.limits, session.limits, this.options.limitCeilings);
      const executionId = randomUUID();
      const logger = this.options.logger.child({ executionId, session: sessionLogId(sessionId) });
      return session.run(async (queueWaitMs) => {
        const { sandbox } = session;
        options.onEvent(startedEvent(executionId, queueWaitMs, limits, sandbox));
        let report: InstallReport | undefined;
        let cellLimits = limits;
        if (install) {
          const budgetMs = Math.min(this.options.installTimeoutMs, limits.timeoutMs);
          report = await sandbox.installPackages(
            { executionId, specs: install.specs, limits, budgetMs },
            options.signal,
          );
          cellLimits = { ...limits, timeoutMs: Math.max(1, limits.timeoutMs - report.durationMs) };
        }
        const runsCode = !install || (report?.outcome === 'ok' && install.code.trim() !== '');
        const outcome = runsCode
          ? await sandbox.runCell(
              { executionId, code: install?.code ?? cell.code, limits: cellLimits, network: session.network },
              options.signal,
              {
                onOutput: (stream, data) => options.onEvent({ type: stream, data }),
                onDisplay: (display) => options.onEvent({ type: 'display', display }),
              },
            )
          : installOnlyOutcome(report!);
        const { executionCount, interpreterRestarted, ...ended } = outcome;
        const result: ExecutionResult = {
          ...ended,
          ...(report ? { install: report } : {}),
          executionId,
          queueWaitMs,
          totalMs: Math.round(performance.now() - receivedAt),
          limits,
          returnValue: null,
          skippedArtifacts: [],
          skippedArtifactsTotal: 0,
          cell: { sessionId, executionCount, interpreterRestarted },
        };
        logger.info(
          {
            exitReason: result.exitReason,
            durationMs: result.durationMs,
            totalMs: result.totalMs,
            executionCount,
            interpreterRestarted,
          },
          'cell finished',
        );
        this.options.metrics.cellFinished(session.language, result);
        options.onEvent({ type: 'result', result });
        return result;
      }, options.signal);
    });
  }

  /** A cell's leading `%pip install` / `%npm install` lines, validated like a request's `packages`. */
  private cellInstall(language: Language, code: string): { specs: PackageSpec[]; code: string } | undefined {
    const install = splitCellInstall(language, code);
    if (!install) return undefined;
    if (install.requirements.length === 0) {
      throw new InvalidArgumentError('names no package to install', 'code');
    }
    const specs = validatePackages(
      { [language]: install.requirements },
      language,
      this.options.policy.packages,
    );
    return { specs, code: install.code };
  }

  /** CreateSession's `packages`, installed before the session is handed out; a failure refuses it. */
  private async installAtCreate(
    session: OpenSession,
    specs: PackageSpec[],
    limits: Limits,
    signal: AbortSignal,
  ): Promise<void> {
    const budgetMs = this.options.installTimeoutMs;
    const report = await session.run(
      () => session.sandbox.installPackages({ executionId: randomUUID(), specs, limits, budgetMs }, signal),
      signal,
    );
    if (report.outcome !== 'ok') {
      throw new InvalidArgumentError(
        `did not install (${report.outcome}); the installer said:\n${report.output.slice(-4000)}`,
        `packages.${session.language}`,
      );
    }
  }

  async close(caller: CallerIdentity, sessionId: string): Promise<void> {
    await this.refusalsCounted(async () => {
      this.end(this.get(caller, sessionId), 'closed');
    });
  }

  async upload(
    caller: CallerIdentity,
    sessionId: string,
    path: string,
    content: Buffer,
    signal: AbortSignal,
  ): Promise<number> {
    return this.refusalsCounted(async () => {
      const session = this.get(caller, sessionId);
      return this.uploadInto(session, { path: checkFilePath(path), content }, signal);
    });
  }

  async download(
    caller: CallerIdentity,
    sessionId: string,
    path: string,
    signal: AbortSignal,
  ): Promise<Buffer> {
    return this.refusalsCounted(async () => {
      const session = this.get(caller, sessionId);
      checkFilePath(path);
      return session.run(() => session.sandbox.download(path, this.options.maxDownloadBytes), signal);
    });
  }

  async list(
    caller: CallerIdentity,
    sessionId: string,
    signal: AbortSignal,
  ): Promise<{ files: SessionFile[]; truncated: boolean }> {
    return this.refusalsCounted(async () => {
      const session = this.get(caller, sessionId);
      return session.run(() => session.sandbox.list(MAX_LISTED_FILES), signal);
    });
  }

  /** Ends every session (their running cells are cut) and removes every session sandbox. */
  async shutdown(): Promise<void> {
    this.closed = true;
    for (const session of [...this.sessions.values()]) this.end(session, 'shutdown');
    await this.options.provider.close();
  }

  private uploadInto(session: OpenSession, file: InputFile, signal: AbortSignal): Promise<number> {
    const { maxInputBytes } = this.options.policy;
    if (file.content.length > maxInputBytes) {
      throw new InvalidArgumentError(
        `is ${file.content.length} bytes; the limit is ${maxInputBytes}`,
        'content',
      );
    }
    return session.run(() => session.sandbox.upload(file.path, file.content), signal);
  }

  /**
   * The caller's session by id. Another caller's session is not found, in the same words and by the
   * same steps (one map lookup, one comparison) as an id nobody holds.
   */
  private get(caller: CallerIdentity, sessionId: string): OpenSession {
    const session = this.sessions.get(checkSessionId(sessionId));
    if (session === undefined || session.owner !== caller)
      throw new NotFoundError(`no session "${sessionId}" (closed, expired, or owned by another replica)`);
    return session;
  }

  private heldBy(caller: CallerIdentity): number {
    return this.held.get(caller) ?? 0;
  }

  private hold(caller: CallerIdentity, change: 1 | -1): void {
    const count = this.heldBy(caller) + change;
    if (count > 0) this.held.set(caller, count);
    else this.held.delete(caller);
  }

  private end(session: OpenSession, reason: SessionCloseReason): void {
    if (!session.end(reason)) return;
    this.sessions.delete(session.id);
    this.hold(session.owner, -1);
    this.options.metrics.sessionClosed(session.language, reason);
    const level = reason === 'oom' || reason === 'crashed' ? 'warn' : 'info';
    this.options.logger[level](
      { session: sessionLogId(session.id), caller: session.owner, reason, detail: describeEnd(reason) },
      'session ended',
    );
  }

  private async refusalsCounted<T>(call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (error) {
      this.options.metrics.sessionRefused(toServiceError(error).code);
      throw error;
    }
  }
}

/** A cell that only installed (or whose install failed): nothing ran in the interpreter. */
function installOnlyOutcome(report: InstallReport): CellOutcome {
  const ok = report.outcome === 'ok';
  return {
    exitCode: 0,
    signal: 0,
    exitReason: ok ? 'ok' : 'install_error',
    detail: ok
      ? ''
      : `installing ${report.packages.join(', ')} ended as ${report.outcome}; the installer's output is in install.output`,
    durationMs: 0,
    stdoutTruncated: false,
    stderrTruncated: false,
    peakMemoryKb: 0,
    egress: null,
    executionCount: 0,
    interpreterRestarted: false,
  };
}
