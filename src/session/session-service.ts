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
import type {
  CellOutcome,
  CheckpointSupport,
  SessionFile,
  SessionSandboxProvider,
} from './session-sandbox.js';
import { pauseRefusal, sessionToPauseForRoom } from './session-capacity.js';
import type { SessionRecord, SessionRegistryFile } from './session-registry.js';
import type { PauseReason, ResumeReason } from './session-metrics.js';

/** `checkpointing.detail` until the start-up probe has answered (tests wait for it to change). */
export const CHECKPOINT_NOT_PROBED = 'not probed yet';

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
  /** A session without a call for this long is paused (SANDBOX_SESSION_PAUSE_AFTER_MS); 0: never. */
  pauseAfterMs: number;
  /** SANDBOX_MAX_PAUSED_SESSIONS. */
  maxPausedSessions: number;
  /** SANDBOX_SESSION_CHECKPOINT_BUDGET_BYTES: checkpoints of paused sessions on disk, at most. */
  checkpointBudgetBytes: number;
  /** Where paused sessions are recorded for the next process (undefined: not recorded). */
  registry: SessionRegistryFile | undefined;
  metrics: SessionMetrics;
  logger: Logger;
}

/** A session's state as PauseSession and ResumeSession answer it. */
export interface SessionState {
  sessionId: string;
  language: Language;
  limits: Limits;
  idleTimeoutMs: number;
  expiresAtMs: number;
  paused: boolean;
  /** Bytes of its checkpoint on disk while paused, else 0. */
  checkpointBytes: number;
  /** How long the resume this call did took; undefined when it did none. */
  resumeMs: number | undefined;
}

/** Told when a call had to resume its paused session first, with how long that took. */
export type ResumeListener = (resumeMs: number) => void;

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
 * caller runs at most `maxSessionsPerCaller` of the `maxSessions` running slots; its paused sessions
 * count against the paused bounds only, which all callers share.
 */
export class SessionService {
  private readonly sessions = new Map<string, OpenSession>();
  /** Slots each caller holds: its open sessions and those being created. */
  private readonly held = new Map<CallerIdentity, number>();
  private creating = 0;
  private closed = false;
  /** Checkpoint bytes of each paused session. */
  private readonly checkpoints = new Map<string, number>();
  /** Registry writes, one after another (each writes the whole current list). */
  private registryWrites: Promise<void> = Promise.resolve();
  private support: CheckpointSupport = { works: false, detail: CHECKPOINT_NOT_PROBED };

  constructor(private readonly options: SessionServiceOptions) {}

  get openCount(): number {
    return this.sessions.size;
  }

  get pausedCount(): number {
    return this.checkpoints.size;
  }

  get checkpointBytesOnDisk(): number {
    let total = 0;
    for (const bytes of this.checkpoints.values()) total += bytes;
    return total;
  }

  /** Whether pausing works here (for /readyz): settled once the start-up probe ran. */
  get checkpointing(): CheckpointSupport {
    return this.support;
  }

  /**
   * Starts the pools, adopts the paused sessions an earlier process of this instance recorded, and
   * probes (in the background) whether sessions can be paused at all.
   */
  async start(): Promise<void> {
    this.options.provider.start();
    await this.adoptRecorded();
    void this.options.provider.checkpointing().then((support) => {
      this.support = support;
      this.options.metrics.checkpointSupported(support.works);
      if (support.works)
        this.options.logger.info({ detail: support.detail }, 'session pause and resume: available');
      else
        this.options.logger.warn(
          { detail: support.detail },
          'session pause and resume: NOT available (sessions stay resident until they end; set "experimental": true in dockerd\'s daemon.json)',
        );
    });
  }

  /** Checkpoints the session now (PauseSession); a paused one is answered as it is. */
  async pause(caller: CallerIdentity, sessionId: string, signal: AbortSignal): Promise<SessionState> {
    return this.refusalsCounted(async () => {
      const session = this.get(caller, sessionId);
      await session.exclusive(() => this.pauseNow(session, 'explicit'), signal);
      return this.stateOf(session, undefined);
    });
  }

  /** Starts a paused session again (ResumeSession); a running one is answered as it is. */
  async resume(caller: CallerIdentity, sessionId: string, signal: AbortSignal): Promise<SessionState> {
    return this.refusalsCounted(async () => {
      const session = this.get(caller, sessionId);
      const resumeMs = await session.run(() => this.resumed(session, 'explicit'), signal);
      return this.stateOf(session, resumeMs);
    });
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
      await this.roomForCaller(caller, undefined, signal);
      if (this.runningBy(caller) >= maxSessionsPerCaller) {
        throw new ResourceExhaustedError(
          `this caller already runs ${maxSessionsPerCaller} sessions, its limit (SANDBOX_MAX_SESSIONS_PER_CALLER); close one or retry later`,
          SESSIONS_FULL_RETRY_MS,
        );
      }
      await this.roomForOneMore(undefined, signal);
      if (this.residentCount() + this.creating >= maxSessions) {
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
          pauseAfterMs: this.options.pauseAfterMs,
          onIdle: (idle) => this.pauseWhenIdle(idle),
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
        const resumeMs = await this.resumed(session, 'call', options.signal);
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
          cell: {
            sessionId,
            executionCount,
            interpreterRestarted,
            ...(resumeMs === undefined ? {} : { resumeMs }),
          },
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
    onResume?: ResumeListener,
  ): Promise<number> {
    return this.refusalsCounted(async () => {
      const session = this.get(caller, sessionId);
      return this.uploadInto(session, { path: checkFilePath(path), content }, signal, onResume);
    });
  }

  async download(
    caller: CallerIdentity,
    sessionId: string,
    path: string,
    signal: AbortSignal,
    onResume?: ResumeListener,
  ): Promise<Buffer> {
    return this.refusalsCounted(async () => {
      const session = this.get(caller, sessionId);
      checkFilePath(path);
      return session.run(async () => {
        await this.resumedFor(session, signal, onResume);
        return session.sandbox.download(path, this.options.maxDownloadBytes);
      }, signal);
    });
  }

  async list(
    caller: CallerIdentity,
    sessionId: string,
    signal: AbortSignal,
    onResume?: ResumeListener,
  ): Promise<{ files: SessionFile[]; truncated: boolean }> {
    return this.refusalsCounted(async () => {
      const session = this.get(caller, sessionId);
      return session.run(async () => {
        await this.resumedFor(session, signal, onResume);
        return session.sandbox.list(MAX_LISTED_FILES);
      }, signal);
    });
  }

  /**
   * Graceful stop. Where pausing works, every open session is checkpointed (those whose running
   * cell ends in time, within `graceMs`) and left, recorded in the registry, for the next process of
   * this instance; every other session ends and its sandbox is removed.
   */
  async shutdown(graceMs = 0): Promise<void> {
    this.closed = true;
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(), graceMs);
    try {
      if (this.support.works && this.options.registry) {
        await Promise.all(
          [...this.sessions.values()].map(async (session) => {
            if (session.paused) return;
            await session
              .exclusive(() => this.pauseNow(session, 'shutdown'), deadline.signal)
              .catch((error: unknown) =>
                this.options.logger.warn(
                  { session: sessionLogId(session.id), err: toServiceError(error).message },
                  'session not checkpointed at shutdown; it ends',
                ),
              );
          }),
        );
      }
    } finally {
      clearTimeout(timer);
    }
    for (const session of [...this.sessions.values()]) {
      if (session.paused && this.options.registry) this.leave(session);
      else this.end(session, 'shutdown');
    }
    await this.registryWrites;
    await this.options.provider.close();
  }

  private uploadInto(
    session: OpenSession,
    file: InputFile,
    signal: AbortSignal,
    onResume?: ResumeListener,
  ): Promise<number> {
    const { maxInputBytes } = this.options.policy;
    if (file.content.length > maxInputBytes) {
      throw new InvalidArgumentError(
        `is ${file.content.length} bytes; the limit is ${maxInputBytes}`,
        'content',
      );
    }
    return session.run(async () => {
      await this.resumedFor(session, signal, onResume);
      return session.sandbox.upload(file.path, file.content);
    }, signal);
  }

  private async resumedFor(
    session: OpenSession,
    signal: AbortSignal,
    onResume?: ResumeListener,
  ): Promise<void> {
    const resumeMs = await this.resumed(session, 'call', signal);
    if (resumeMs !== undefined) onResume?.(resumeMs);
  }

  private residentCount(): number {
    return this.sessions.size - this.checkpoints.size;
  }

  /**
   * Runs inside the session's queue. Resumes a paused session (after making room among the resident
   * ones) and resolves with how long the resume took, or undefined when it was running.
   */
  private async resumed(
    session: OpenSession,
    reason: ResumeReason,
    signal?: AbortSignal,
  ): Promise<number | undefined> {
    if (!session.paused) return undefined;
    const { maxSessionsPerCaller } = this.options;
    await this.roomForCaller(session.owner, session.id, signal ?? new AbortController().signal);
    if (this.runningBy(session.owner) >= maxSessionsPerCaller) {
      throw new ResourceExhaustedError(
        `this caller already runs ${maxSessionsPerCaller} sessions, its limit (SANDBOX_MAX_SESSIONS_PER_CALLER); this paused session can resume once one of them is closed or idle`,
        SESSIONS_FULL_RETRY_MS,
      );
    }
    await this.roomForOneMore(session.id, signal ?? new AbortController().signal);
    if (this.residentCount() >= this.options.maxSessions) {
      throw new ResourceExhaustedError(
        `all ${this.options.maxSessions} running sessions are busy; this paused session can resume once one is free`,
        SESSIONS_FULL_RETRY_MS,
      );
    }
    const startedAt = performance.now();
    try {
      await session.sandbox.resume();
    } catch (error) {
      this.options.metrics.sessionResumeFailed(session.language, reason);
      this.options.logger.error(
        { session: sessionLogId(session.id), err: error },
        'session resume failed; it ends',
      );
      this.end(session, 'crashed');
      throw new UnavailableError('the paused session could not be resumed; it has ended', { cause: error });
    }
    const resumeMs = Math.round(performance.now() - startedAt);
    this.checkpoints.delete(session.id);
    this.options.metrics.sessionResumed(session.language, reason, resumeMs / 1000);
    this.options.logger.info({ session: sessionLogId(session.id), reason, resumeMs }, 'session resumed');
    this.saveRegistry();
    return resumeMs;
  }

  /**
   * When every resident slot is taken, pauses the least recently used idle running session (never
   * `exclude`) to make room; does nothing where pausing does not work or nothing is idle.
   */
  private roomForOneMore(exclude: string | undefined, signal: AbortSignal): Promise<void> {
    return this.pauseForRoom(
      () => this.residentCount() + this.creating < this.options.maxSessions,
      () => this.sessions.values(),
      exclude,
      signal,
    );
  }

  /**
   * The same within one caller's share: when the caller runs SANDBOX_MAX_SESSIONS_PER_CALLER sessions,
   * its own least recently used idle one is paused (its paused ones count only against the paused
   * bounds, shared by all callers, so pausing is how one agent keeps many sessions).
   */
  private roomForCaller(
    caller: CallerIdentity,
    exclude: string | undefined,
    signal: AbortSignal,
  ): Promise<void> {
    return this.pauseForRoom(
      () => this.runningBy(caller) < this.options.maxSessionsPerCaller,
      () => [...this.sessions.values()].filter((session) => session.owner === caller),
      exclude,
      signal,
    );
  }

  /** Pauses idle running sessions among `candidates`, least recently used first, until `roomy`. */
  private async pauseForRoom(
    roomy: () => boolean,
    candidates: () => Iterable<OpenSession>,
    exclude: string | undefined,
    signal: AbortSignal,
  ): Promise<void> {
    if (roomy()) return;
    this.support = await this.options.provider.checkpointing();
    if (!this.support.works) return;
    while (!roomy()) {
      const victim = sessionToPauseForRoom(
        [...candidates()].filter((session) => session.sandbox.pausable),
        exclude,
      );
      if (!victim) return;
      try {
        await victim.exclusive(() => this.pauseNow(victim, 'room'), signal);
      } catch {
        return; // the caller's own check refuses it
      }
      if (!victim.paused) return;
    }
  }

  /** Idle for SANDBOX_SESSION_PAUSE_AFTER_MS: paused if it can be; refusals are logged, never thrown. */
  private pauseWhenIdle(session: OpenSession): void {
    if (!this.support.works || this.closed) return;
    session
      .exclusive(async () => {
        // A call may have come and gone while this waited in the queue.
        if (performance.now() - session.lastUsedAt < this.options.pauseAfterMs || session.busy) return;
        await this.pauseNow(session, 'idle');
      }, new AbortController().signal)
      .catch((error: unknown) =>
        this.options.logger.info(
          { session: sessionLogId(session.id), reason: toServiceError(error).message },
          'idle session not paused',
        ),
      );
  }

  /** Runs inside the session's queue: checkpoints it and stops its container. */
  private async pauseNow(session: OpenSession, reason: PauseReason): Promise<void> {
    if (session.paused || session.ended) return;
    if (!session.sandbox.pausable) {
      // Resumed once already: a second checkpoint could not be restored (the session would be lost).
      this.options.metrics.sessionPauseSkipped(reason, 'resumed_once');
      return;
    }
    // An explicit pause right after start-up waits for the probe (it runs once; later calls get its answer).
    this.support = await this.options.provider.checkpointing();
    if (!this.support.works) {
      // Not a failed call: the session goes on as it would have without pausing.
      this.options.metrics.sessionPauseSkipped(reason, 'unsupported');
      return;
    }
    if (reason !== 'shutdown') {
      const refusal = pauseRefusal(
        { count: this.checkpoints.size, bytes: this.checkpointBytesOnDisk },
        {
          maxPaused: this.options.maxPausedSessions,
          checkpointBudgetBytes: this.options.checkpointBudgetBytes,
        },
        session.limits.memoryBytes,
      );
      if (refusal) {
        this.options.metrics.sessionPauseSkipped(reason, 'full');
        throw new ResourceExhaustedError(`the session cannot be paused: ${refusal}`, SESSIONS_FULL_RETRY_MS);
      }
    }
    const startedAt = performance.now();
    let checkpointBytes: number;
    try {
      ({ checkpointBytes } = await session.sandbox.pause());
    } catch (error) {
      this.options.metrics.sessionPauseSkipped(reason, 'failed');
      this.options.logger.warn({ session: sessionLogId(session.id), err: error }, 'session pause failed');
      throw toServiceError(error).code === 'NOT_FOUND'
        ? error
        : new UnavailableError('the session could not be paused; it goes on running', { cause: error });
    }
    const pauseMs = Math.round(performance.now() - startedAt);
    this.checkpoints.set(session.id, checkpointBytes);
    this.options.metrics.sessionPaused(session.language, reason, pauseMs / 1000);
    this.options.logger.info(
      { session: sessionLogId(session.id), reason, pauseMs, checkpointBytes },
      'session paused',
    );
    this.saveRegistry();
  }

  private stateOf(session: OpenSession, resumeMs: number | undefined): SessionState {
    return {
      sessionId: session.id,
      language: session.language,
      limits: session.limits,
      idleTimeoutMs: session.idleTimeoutMs,
      expiresAtMs: session.expiresAtMs,
      paused: session.paused,
      checkpointBytes: this.checkpoints.get(session.id) ?? 0,
      resumeMs,
    };
  }

  /** Writes the paused sessions to the registry (in the background, one write after another). */
  private saveRegistry(): void {
    const { registry, logger } = this.options;
    if (!registry) return;
    const records: SessionRecord[] = [];
    for (const session of this.sessions.values()) {
      const checkpointBytes = this.checkpoints.get(session.id);
      if (checkpointBytes === undefined || session.ended) continue;
      records.push({
        id: session.id,
        owner: session.owner,
        language: session.language,
        limits: { ...session.limits },
        network: {
          rules: session.network.rules.map((rule) => ({
            ...rule,
            ports: rule.ports ? [...rule.ports] : undefined,
          })),
        },
        idleTimeoutMs: session.idleTimeoutMs,
        createdAtMs: session.createdAt,
        expiresAtMs: session.expiresAtMs,
        checkpointBytes,
        sandbox: session.sandbox.location,
      });
    }
    this.registryWrites = this.registryWrites
      .then(() => registry.save(records))
      .catch((error: unknown) =>
        logger.error({ err: error, path: registry.path }, 'writing the session registry failed'),
      );
  }

  /**
   * Takes over the paused sessions an earlier process of this instance recorded: same ids (so the
   * routing prefix holds), owners, limits, network and expiry. Expired ones are removed; records
   * that are not exactly valid, or whose sandbox is not where they say, are logged and not adopted.
   */
  private async adoptRecorded(): Promise<void> {
    const { registry, logger, metrics, provider } = this.options;
    if (!registry) return;
    let contents;
    try {
      contents = await registry.load();
    } catch (error) {
      logger.error(
        { err: error, path: registry.path },
        'the session registry could not be read; nothing adopted',
      );
      return;
    }
    for (const reason of contents.refused) {
      metrics.sessionAdoption('refused');
      logger.warn({ path: registry.path, reason }, 'session registry entry refused');
    }
    for (const record of contents.records) {
      const logId = sessionLogId(record.id);
      if (record.expiresAtMs <= Date.now()) {
        metrics.sessionAdoption('expired');
        logger.info({ session: logId }, 'recorded session expired; removing its sandbox');
        await provider.discard(record.sandbox);
        continue;
      }
      const sandbox = await provider.adopt(record.sandbox, record.language, record.limits);
      if (!sandbox) {
        metrics.sessionAdoption('refused');
        continue;
      }
      const owner = record.owner as CallerIdentity;
      const session = new OpenSession({
        id: record.id,
        owner,
        language: record.language,
        limits: record.limits,
        network: { rules: record.network.rules.map((rule) => ({ ...rule, ports: rule.ports })) },
        idleTimeoutMs: record.idleTimeoutMs,
        expiresAtMs: record.expiresAtMs,
        createdAt: record.createdAtMs,
        sandbox,
        onExpire: (expired, reason) => this.end(expired, reason),
        pauseAfterMs: this.options.pauseAfterMs,
        onIdle: (idle) => this.pauseWhenIdle(idle),
      });
      this.sessions.set(record.id, session);
      this.checkpoints.set(record.id, record.checkpointBytes);
      this.hold(owner, 1);
      metrics.sessionAdoption('adopted');
      logger.info({ session: logId, caller: owner, language: record.language }, 'paused session adopted');
    }
    this.saveRegistry();
    await this.registryWrites;
  }

  /** Lets go of a paused session at shutdown: its sandbox stays for the next process. */
  private leave(session: OpenSession): void {
    if (!session.release()) return;
    this.sessions.delete(session.id);
    this.hold(session.owner, -1);
    this.options.logger.info(
      { session: sessionLogId(session.id) },
      'session left paused for the next process',
    );
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

  /** The caller's sessions that hold memory: those it holds (being created included) but paused ones. */
  private runningBy(caller: CallerIdentity): number {
    let paused = 0;
    for (const session of this.sessions.values()) if (session.owner === caller && session.paused) paused += 1;
    return this.heldBy(caller) - paused;
  }

  private hold(caller: CallerIdentity, change: 1 | -1): void {
    const count = this.heldBy(caller) + change;
    if (count > 0) this.held.set(caller, count);
    else this.held.delete(caller);
  }

  private end(session: OpenSession, reason: SessionCloseReason): void {
    if (!session.end(reason)) return;
    this.sessions.delete(session.id);
    // Its container goes, and the checkpoint with it (Docker keeps it in the container's directory).
    if (this.checkpoints.delete(session.id)) this.saveRegistry();
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
