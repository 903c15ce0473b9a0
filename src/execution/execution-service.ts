import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import {
  validateExecutionRequest,
  type ExecutionRequestInput,
  type RequestPolicy,
} from '../domain/execution-request.js';
import type { ExecutionEvent, ExecutionResult } from '../domain/execution-result.js';
import { resolveLimits, type Limits } from '../domain/limits.js';
import { toServiceError } from '../errors/service-error.js';
import type { ExecutionMetrics } from './execution-metrics.js';
import type { ExecutionScheduler } from './execution-scheduler.js';
import type { ReadinessCheck, SandboxRunner } from './sandbox-runner.js';
import { startedEvent } from './started-event.js';

export interface ExecutionServiceOptions {
  runner: SandboxRunner;
  scheduler: ExecutionScheduler;
  defaultLimits: Readonly<Limits>;
  limitCeilings: Readonly<Limits>;
  requestPolicy: RequestPolicy;
  metrics: ExecutionMetrics;
  logger: Logger;
}

export interface ExecuteOptions {
  /** Aborting it cancels the execution: never started if still queued, killed if running. */
  signal: AbortSignal;
  /** Receives started, stdout, stderr and result events in order. Must not throw. */
  onEvent(event: ExecutionEvent): void;
  /** Who is asking (e.g. the peer address): the queue serves waiting clients in turn. */
  clientKey?: string;
}

export interface Readiness {
  /** Every check is ok (and, when warmth was required, `warm` too). */
  ready: boolean;
  /** Every warm pool has been full at least once since the start (true without pools). */
  warm: boolean;
  checks: ReadinessCheck[];
}

/**
 * The use case: validate, apply limits, wait for a slot, run in a sandbox, report. Transports call
 * only this; it knows nothing of gRPC, HTTP or Docker.
 */
export class ExecutionService {
  private readonly inFlight = new Set<AbortController>();

  constructor(private readonly options: ExecutionServiceOptions) {}

  /**
   * Runs one request to its result. Rejects (with a ServiceError) only when the request cannot be
   * taken: invalid, queue full, cancelled while queued, sandboxes unavailable.
   */
  async execute(input: ExecutionRequestInput, options: ExecuteOptions): Promise<ExecutionResult> {
    try {
      return await this.executeValidated(input, options);
    } catch (error) {
      this.options.metrics.executionRefused(toServiceError(error).code);
      throw error;
    }
  }

  private async executeValidated(
    input: ExecutionRequestInput,
    options: ExecuteOptions,
  ): Promise<ExecutionResult> {
    const receivedAt = performance.now();
    const { runner, scheduler, defaultLimits, limitCeilings, requestPolicy } = this.options;
    const request = validateExecutionRequest(input, requestPolicy);
    const limits = resolveLimits(request.limits, defaultLimits, limitCeilings);
    const executionId = randomUUID();
    const logger = this.options.logger.child({ executionId });
    // Shutdown must be able to cancel running work even if the client never does.
    const controller = new AbortController();
    const signal = AbortSignal.any([options.signal, controller.signal]);

    this.inFlight.add(controller);
    try {
      return await scheduler.run(
        async (queueWaitMs) => {
          logger.info({ language: request.language, queueWaitMs, limits }, 'execution started');
          const outcome = await runner.run({ executionId, ...request, limits }, signal, {
            onStart: (sandbox) => options.onEvent(startedEvent(executionId, queueWaitMs, limits, sandbox)),
            onOutput: (stream, data) => options.onEvent({ type: stream, data }),
            onArtifact: (artifact) => options.onEvent({ type: 'artifact', artifact }),
          });
          const result: ExecutionResult = {
            executionId,
            exitCode: outcome.exitCode,
            signal: outcome.signal,
            exitReason: outcome.exitReason,
            detail: outcome.detail,
            durationMs: outcome.durationMs,
            queueWaitMs,
            totalMs: Math.round(performance.now() - receivedAt),
            stdoutTruncated: outcome.stdoutTruncated,
            stderrTruncated: outcome.stderrTruncated,
            peakMemoryKb: outcome.peakMemoryKb,
            limits,
            returnValue: outcome.returnValue,
            skippedArtifacts: outcome.skippedArtifacts,
            skippedArtifactsTotal: outcome.skippedArtifactsTotal,
            egress: outcome.egress,
            ...(outcome.install ? { install: outcome.install } : {}),
          };
          logger.info(
            {
              exitReason: result.exitReason,
              exitCode: result.exitCode,
              durationMs: result.durationMs,
              totalMs: result.totalMs,
              sandboxId: outcome.sandbox.sandboxId,
              warm: outcome.sandbox.warm,
              acquireMs: outcome.sandbox.acquireMs,
            },
            'execution finished',
          );
          this.options.metrics.executionFinished(request.language, result, outcome.sandbox);
          options.onEvent({ type: 'result', result });
          return result;
        },
        signal,
        options.clientKey,
      );
    } finally {
      this.inFlight.delete(controller);
    }
  }

  /** Starts background work (the runner's warm pools). */
  start(): void {
    this.options.runner.start();
  }

  /**
   * Whether executions can run now; with `requireWarm`, also whether the first ones after the start
   * will find pre-started sandboxes (until then they are cold starts: ~0.3-0.5 s more each).
   */
  async readiness({ requireWarm = false }: { requireWarm?: boolean } = {}): Promise<Readiness> {
    const checks = await this.options.runner.readiness();
    const warm = checks.every((check) => check.warm !== false);
    return { ready: checks.every((check) => check.ok) && (warm || !requireWarm), warm, checks };
  }

  /**
   * Graceful stop: refuse new work, let queued and running work finish for up to `graceMs`, then
   * cancel whatever is left (which kills its sandboxes) and wait for it to wind down.
   */
  async shutdown(graceMs: number): Promise<void> {
    const { scheduler } = this.options;
    scheduler.close();
    let timer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, graceMs);
    });
    await Promise.race([scheduler.onIdle(), graceOver]);
    clearTimeout(timer);
    for (const controller of this.inFlight) controller.abort();
    await scheduler.onIdle();
    await this.options.runner.close();
  }
}
